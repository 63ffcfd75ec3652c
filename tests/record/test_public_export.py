"""``dia export --public``: what the README's Space recipe publishes carries no host, pid,
raw notes, local paths or secrets, in every format, and keeps every figure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from factories import run_report
from typer.testing import CliRunner

from dia.cli.main import app
from dia.record.public import public_report
from dia.record.report import RunReport
from dia.record.store import Store

HOST = "gpu-node-7.corp.internal"
PID = 987_123_456
PASSWORD = "S3cretPw0rd"
TOKEN = "hf_PlantedTokenXq9Zr"
KEPT_NOTE = "NVML unavailable: energy estimated from TDP"


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    home = tmp_path / "home" / "ana"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    url = f"sqlite:///{tmp_path}/runs.sqlite"
    notes = [
        f"checkpoint to postgresql://ana:{PASSWORD}@db.corp.internal/dia?sslmode=require failed",
        f"postgresql://ana@db.corp.internal/dia?password={PASSWORD} refused",
        f"upload refused for token {TOKEN}",
        f"fallback file written to {home}/.cache/dia/fallback.jsonl",
        f"store {tmp_path}/runs.sqlite was locked",
        KEPT_NOTE,
    ]
    reports = [
        run_report("org/base", energy_kwh=10.0, carbon_kg=(4.0, 3.0, 6.0), water_l=20.0, host=HOST, pid=PID,
                   notes=notes, source_ref=f"{home}/cards/org/base/README.md",
                   extra={"launcher": f"{home}/bin/train.sh", "tag": "sft"}),
        run_report("org/lora", energy_kwh=1.5, parents=[("org/base", "adapter")], host=f"{HOST}-{TOKEN}", pid=PID,
                   notes=notes),
    ]
    with Store(url) as store:
        store.save_runs(reports)
    return {"url": url, "home": str(home), "tmp": str(tmp_path), "reports": reports}


def _assert_clean(text: str, planted: dict[str, Any], where: str) -> None:
    forbidden = {"host": HOST, "pid": str(PID), "password": PASSWORD, "token": TOKEN,
                 "home dir": planted["home"], "tmp path": planted["tmp"], "home-relative path": "~/"}
    leaked = [name for name, value in forbidden.items() if value in text]
    assert not leaked, f"{where} leaks {leaked}"


def _export(planted: dict[str, Any], tmp_path: Path, fmt: str, *extra: str) -> str:
    out = tmp_path / f"export.{fmt}"
    result = CliRunner().invoke(app, ["export", "--format", fmt, "-o", str(out), "--db", planted["url"], *extra])
    assert result.exit_code == 0, result.output
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(out)  # compressed on disk: grep the decoded cells
        return "\n".join(json.dumps(row) for row in table.to_pylist())
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_public_export_leaks_nothing_and_keeps_the_figures(planted: dict[str, Any], tmp_path: Path,
                                                           fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    full = _export(planted, tmp_path, fmt)
    assert HOST in full and str(PID) in full  # the operator's own backup keeps everything
    text = _export(planted, tmp_path, fmt, "--public")
    _assert_clean(text, planted, f"export --public --format {fmt}")
    assert KEPT_NOTE in text
    assert "***" in text  # the password URLs are kept masked, not dropped with their context
    rows = ([json.loads(line) for line in text.splitlines()] if fmt == "jsonl"
            else list(csv.DictReader(io.StringIO(text))) if fmt == "csv"
            else [json.loads(line) for line in text.splitlines()])
    reports = [RunReport.model_validate_json(r["report_json"]) if "report_json" in r else RunReport.model_validate(r)
               for r in rows]
    stored = {r.id: r for r in planted["reports"]}
    assert {r.id for r in reports} == set(stored)
    for report in reports:
        before = stored[report.id]
        assert report.host is None and report.pid is None
        assert report.energy == before.energy and report.carbon == before.carbon and report.water == before.water
        assert report.parents == before.parents and report.model_id == before.model_id


def test_public_export_to_stdout(planted: dict[str, Any]) -> None:
    result = CliRunner().invoke(app, ["export", "--public", "--db", planted["url"]])
    assert result.exit_code == 0, result.output
    _assert_clean(result.stdout, planted, "export --public to stdout")
    assert len(result.stdout.splitlines()) == 2


def test_public_report_notes_source_ref_and_extra(planted: dict[str, Any]) -> None:
    report = planted["reports"][0]
    shown = public_report(report)
    assert shown.notes == [
        "checkpoint to postgresql://ana:***@db.corp.internal/dia?sslmode=require failed",
        "postgresql://ana@db.corp.internal/dia?password=*** refused",
        "upload refused for token $HF_TOKEN",
        "store runs.sqlite was locked",  # a path outside home: its file name only
        KEPT_NOTE,
    ]
    assert shown.source_ref is None  # a card under the home directory names a local folder
    assert shown.extra == {"launcher": None, "tag": "sft"}
    assert report.host == HOST and report.notes[-1] == KEPT_NOTE  # the stored report is untouched
