"""End to end: ``dia dashboard`` in a subprocess, loaded in headless Chromium through Playwright.

Chromium's ``--dump-dom`` returns the page before Streamlit renders it, so Playwright drives
the browser and waits for the client-side text to appear.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

CHROMIUM = "/usr/bin/chromium"
XSS = "<script>alert(1)</script>"

pytest.importorskip("streamlit")
from dia.dashboard._serve import stop_server  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _dia() -> list[str]:
    exe = Path(sys.executable).with_name("dia")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from dia.cli.main import main; main()"]


@pytest.fixture
def server(filled_url: str) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: `make test` installs Debian's chromium (tests/support/system-deps.sh) when root")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from dia.dashboard import free_port

    port = free_port()
    proc = subprocess.Popen([*_dia(), "dashboard", "--port", str(port), "--db", filled_url, "--no-browser", "--public"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        url = None
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"dia dashboard exited with {proc.returncode}")
            found = re.search(r"http://\S+:(\d+)", line)
            if found:
                assert int(found.group(1)) == port
                url = f"http://127.0.0.1:{port}"
        assert url, "dia dashboard printed no URL"
        yield url
    finally:
        stop_server(proc, timeout_s=15)


def test_dashboard_in_chromium(server: str, filled_url: str, tmp_path: Path) -> None:
    from dia.dashboard._data import open_store, overview
    from playwright.sync_api import sync_playwright

    from dia.show import format_figure

    energy = format_figure(overview(open_store(filled_url, public=True)).totals["energy_kwh"], "energy_kwh")

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(server + "/", wait_until="domcontentloaded")
            page.get_by_text("Production footprint (all models)").wait_for(timeout=60_000)
            page.get_by_text("Families with data").wait_for(timeout=30_000)
            page.get_by_text("lower bound: 6 of 8 models reported").first.wait_for(timeout=30_000)
            body = page.inner_text("body")
            assert energy.partition(" (")[0] in body  # total production energy, as the formatter writes it
            assert "public, read-only" in body
            assert "Page not found" not in body
            page.wait_for_timeout(1500)  # let the charts draw before the screenshot
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("DIA_SCREENSHOT"):
                target = Path(os.environ["DIA_SCREENSHOT"])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, target)

            # Lineage of the family that holds the hostile id, then the hostile id itself.
            page.goto(server + "/lineage?model=org%2Fbase", wait_until="domcontentloaded")
            page.get_by_text("Carbon by relation").wait_for(timeout=60_000)
            page.get_by_text("members reported", exact=False).first.wait_for(timeout=30_000)
            assert "org/base: the model and its descendants, 6 members" in page.inner_text("body")
            page.goto(server + "/lineage?model=" + quote(XSS, safe=""), wait_until="domcontentloaded")
            page.get_by_text(f"{XSS}: the model and its descendants, 1 member").wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(tmp_path / "lineage.png"), full_page=True)
            if os.environ.get("DIA_SCREENSHOT"):
                shutil.copyfile(tmp_path / "lineage.png", Path(os.environ["DIA_SCREENSHOT"]).with_name("lineage-xss.png"))
            assert page.evaluate("() => window.__xss === undefined")
        finally:
            browser.close()
    assert dialogs == [], f"a model id executed as script: {dialogs}"
