"""Public means public: every page of the ``--public`` dashboard, every download and every
``dia export --public`` format, grepped for the host name, the pid, local paths and planted
secrets; and no page shows a traceback, even with unreadable stored rows."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import run_report

pytest.importorskip("streamlit")
from dia.dashboard import _data
from dia.dashboard._serve import stop_server
from streamlit.testing.v1 import AppTest

from dia.record.report import RunReport
from dia.record.store import Store

PAGES = Path(__file__).resolve().parents[2] / "dashboard"
VIEWS = ("overview", "lineage", "runs", "compare", "regions", "methodology")
HOST = "gpu-node-7.corp.internal"
PID = 987_123_456
PASSWORD = "S3cretPw0rd"
TOKEN = "hf_PlantedTokenXq9Zr"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A store whose runs carry a host, a pid, a password URL, an environment token, a path
    under the home directory and one under the store's folder, in notes and host fields."""
    home = tmp_path / "home" / "ana"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    store_dir = tmp_path / "stores"
    store_dir.mkdir()
    url = f"sqlite:///{store_dir}/public.sqlite"
    notes = [
        f"checkpoint to postgresql://ana:{PASSWORD}@db.corp.internal/dia failed",
        f"upload refused for token {TOKEN}",
        f"fallback file written to {home}/.cache/dia/fallback-{TOKEN[:6]}.jsonl",
        f"store at {store_dir}/public.sqlite was locked",
        "NVML unavailable: energy estimated from TDP",
    ]
    reports = [
        run_report("org/base", energy_kwh=10.0, carbon_kg=4.0, water_l=20.0, kind="pretraining",
                   host=HOST, pid=PID, notes=notes),
        run_report("org/base-lora", energy_kwh=1.0, carbon_kg=0.4, water_l=2.0, parents=[("org/base", "adapter")],
                   host=f"{HOST}-{TOKEN}", pid=PID, notes=notes),
        run_report("org/base", energy_kwh=0.5, carbon_kg=0.2, kind="inference", host=HOST, pid=PID,
                   notes=notes, source_ref=f"{home}/cards/org/base/README.md"),
        run_report("org/base-lora", energy_kwh=0.1, carbon_kg=0.04, host=HOST, pid=PID, notes=notes),
    ]
    with Store(url) as store:
        store.save_runs(reports)
    return {"url": url, "home": str(home), "tmp": str(tmp_path), "reports": reports, "path": store_dir / "public.sqlite"}


def _forbidden(planted: dict[str, Any]) -> dict[str, str]:
    return {"host": HOST, "pid": str(PID), "password": PASSWORD, "token": TOKEN,
            "home dir": planted["home"], "tmp path": planted["tmp"], "traceback": "Traceback"}


def _assert_clean(text: str, planted: dict[str, Any], where: str) -> None:
    leaked = [name for name, value in _forbidden(planted).items() if value in text]
    assert not leaked, f"{where} leaks {leaked}"


def _protos(node: Any) -> Iterator[str]:
    """Every element the page sent to the browser, as text (tables as CSV)."""
    proto = getattr(node, "proto", None)
    if proto is not None:
        yield str(proto)
    value = getattr(node, "value", None)
    if hasattr(value, "to_csv"):
        yield value.to_csv()
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _protos(child)


def _page(name: str, url: str, monkeypatch: pytest.MonkeyPatch, *, public: bool = True) -> AppTest:
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "1" if public else "0")
    at = AppTest.from_file(str(PAGES / "views" / f"{name}.py"), default_timeout=60)
    at.run()
    return at


def _shown(at: AppTest) -> str:
    return "\n".join(_protos(at._tree))


def _run_details(at: AppTest) -> Iterator[AppTest]:
    """The Runs page once per run in its detail picker."""
    yield at
    for run_id in at.selectbox(key="runs_detail").options[1:]:
        at.selectbox(key="runs_detail").set_value(run_id).run()
        yield at


@pytest.mark.parametrize("view", VIEWS)
def test_public_page_shows_no_host_pid_path_or_secret(planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                      view: str) -> None:
    at = _page(view, planted["url"], monkeypatch)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    states = _run_details(at) if view == "runs" else iter([at])
    for state in states:
        _assert_clean(_shown(state), planted, f"public {view} page")
    if view == "runs":
        # the redacted notes are still there: the figures' caveats are not lost
        assert "NVML unavailable: energy estimated from TDP" in _shown(at)


def test_public_app_entry_point_hides_error_details(planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``streamlit run app.py`` on a Space (no `dia dashboard` flags): the app itself turns
    Streamlit's error details off in public mode."""
    from streamlit import config

    before = config.get_option("client.showErrorDetails")
    try:
        monkeypatch.setenv("DIA_DASHBOARD_DB", planted["url"])
        monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "1")
        at = AppTest.from_file(str(PAGES / "app.py"), default_timeout=60).run()
        assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
        _assert_clean(_shown(at), planted, "public app entry point")
        assert config.get_option("client.showErrorDetails") in ("none", False)
    finally:
        config.set_option("client.showErrorDetails", before)


def test_local_runs_page_still_shows_host_and_pid(planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("runs", planted["url"], monkeypatch, public=False)
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = _shown(at)
    assert HOST in shown and str(PID) in shown


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_public_downloads_carry_no_host_pid_or_raw_notes(planted: dict[str, Any], fmt: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("runs", planted["url"], monkeypatch)
    labels = [b.proto.label for b in at.get("download_button")]
    assert any(fmt.upper() in label for label in labels), labels
    with Store(planted["url"], read_only=True) as store:
        runs = _data.run_page(store).runs
        public = _data.runs_download(runs, fmt, public=True)
        local = _data.runs_download(runs, fmt, public=False)
    _assert_clean(public, planted, f"public {fmt} download")
    assert "NVML unavailable" in public
    assert HOST in local and str(PID) in local  # the local download is the full record


def _corrupt(path: Path, reports: list[RunReport]) -> None:
    """Rows from a newer DIA (schema 2.0; schema 1.1 with a field this one does not know) and
    a damaged row."""
    con = sqlite3.connect(path)
    with con:
        for report, version in ((reports[0], "2.0"), (reports[3], "1.1")):
            newer = report.model_dump(mode="json") | {"schema_version": version, "carbon_intensity_source": "x"}
            con.execute("UPDATE dia_runs SET report_json = ? WHERE id = ?", (json.dumps(newer), report.id))
        con.execute("UPDATE dia_runs SET report_json = ? WHERE id = ?", ('{"id": "not json', reports[2].id))
    con.close()


@pytest.mark.parametrize("public", [True, False])
@pytest.mark.parametrize("view", VIEWS)
def test_unreadable_rows_give_one_line_never_a_traceback(planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture, view: str,
                                                         public: bool) -> None:
    _corrupt(planted["path"], planted["reports"])
    with caplog.at_level(logging.ERROR, logger="dia.dashboard"):
        at = _page(view, planted["url"], monkeypatch, public=public)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    shown = _shown(at)
    assert "Traceback" not in shown
    if public:
        _assert_clean(shown, planted, f"public {view} page with unreadable rows")
        assert "ValidationError" not in shown  # not even the exception's type
    if view == "runs":
        # the readable runs are listed (a 1.1 row too, once the model reads newer minor
        # versions); the others are one line with a reference
        reports = planted["reports"]
        listed = set(next(df.value for df in at.dataframe if "run_id" in df.value.columns)["run_id"])
        assert reports[1].id in listed and not listed & {reports[0].id, reports[2].id}
        warning = " ".join(w.value for w in at.warning)
        assert f"{len(reports) - len(listed)} stored run(s) could not be read" in warning and "(ref " in warning
        # the operator finds the details under the same reference in the server log
        ref = warning.split("(ref ")[1].split(")")[0]
        assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


def test_page_error_is_one_generic_line_with_a_reference(planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError(f"cannot read {planted['home']}/secret.db with {TOKEN}")

    monkeypatch.setattr(_data, "run_page", broken)
    with caplog.at_level(logging.ERROR, logger="dia.dashboard"):
        at = _page("runs", planted["url"], monkeypatch)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Something went wrong (ref "), errors
    _assert_clean(_shown(at), planted, "public page error")
    ref = errors[0].split("(ref ")[1].split(")")[0]
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert logged and logged[0].exc_info and "RuntimeError" in logging.Formatter().format(logged[0])


def test_public_server_hides_streamlit_error_details(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Streamlit shows uncaught tracebacks by default: the public server turns that off."""
    import subprocess

    from dia.dashboard import _serve

    seen: dict[str, list[str]] = {}

    class FakeProc:
        stderr = None

        def __init__(self, cmd: list[str], **_kwargs: object) -> None:
            seen["cmd"] = cmd

    monkeypatch.setattr(subprocess, "Popen", FakeProc)
    monkeypatch.setattr(_serve, "_wait_healthy", lambda *_a: None)
    url = f"sqlite:///{tmp_path}/s.sqlite"
    Store(url).close()
    _serve.start(url, public=True, port=8599)
    cmd = seen["cmd"]
    value = cmd[cmd.index("--client.showErrorDetails") + 1]
    from streamlit import config

    try:
        from streamlit.elements.exception import _error_detail_visibility
    except ImportError:  # another Streamlit: at least not its traceback-showing values
        assert value not in ("full", "stacktrace", "true")
    else:
        before = config.get_option("client.showErrorDetails")
        config.set_option("client.showErrorDetails", value)
        try:
            shown = _error_detail_visibility(True)
        finally:
            config.set_option("client.showErrorDetails", before)
        assert not shown.show_trace and not shown.show_message
    _serve.start(url, public=False, port=8599)
    assert "--client.showErrorDetails" not in seen["cmd"]


@pytest.mark.browser
@pytest.mark.slow
def test_public_server_in_chromium_shows_one_line_and_logs_the_reason(planted: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    """End to end: `dia dashboard --public` on a store with unreadable rows; the browser sees
    one line with a reference and nothing planted; the server log has the reason under it."""
    import os
    import re
    import subprocess
    import sys
    import time
    import urllib.request

    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip(f"{chromium} missing: `make test` installs Debian's chromium when root")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from dia.dashboard import free_port
    from playwright.sync_api import sync_playwright

    _corrupt(planted["path"], planted["reports"])
    exe = Path(sys.executable).with_name("dia")
    dia = [str(exe)] if exe.exists() else [sys.executable, "-c", "from dia.cli.main import main; main()"]
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen([*dia, "dashboard", "--port", str(port), "--db", planted["url"], "--no-browser",
                                 "--public"], stdout=subprocess.DEVNULL, stderr=err, env={**os.environ})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/runs", wait_until="domcontentloaded")
                page.get_by_text("could not be read", exact=False).first.wait_for(timeout=60_000)
                body = page.inner_text("body")
            finally:
                browser.close()
    finally:
        stop_server(proc, timeout_s=15)
    _assert_clean(body, planted, "public server's Runs page")
    assert "ValidationError" not in body
    ref = re.search(r"\(ref ([0-9a-f]{8})\)", body)
    assert ref, body
    # the operator finds the reason under the same reference in the server log (the store
    # read the rows from their columns: there is no traceback, the reason is the detail)
    server_log = log.read_text()
    logged = server_log[server_log.index(f"(ref {ref.group(1)})"):]
    assert "newer than this DIA reads" in logged or "cannot be read by this DIA" in logged


def test_run_page_counts_rows_the_store_left_out(planted: dict[str, Any]) -> None:
    """Whether the store raises on an unreadable row or leaves it out, the page counts it."""
    readable = planted["reports"][1]

    class Skipping:
        def run_count(self, **_filters: object) -> int:
            return 4

        def list_runs(self, **_kwargs: object) -> list[RunReport]:
            return [readable]

    found = _data.run_page(Skipping())  # type: ignore[arg-type]
    assert found.runs == [readable] and found.unreadable == 3
    found = _data.run_page(Skipping(), status="running")  # shown status decided on read: not counted
    assert found.unreadable == 0
