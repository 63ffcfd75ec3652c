"""Terminal output that fits: in a pipe (80 columns) ids and numbers are never cut, and
every command that prints data has a ``--json`` that parses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from long_ids import BASE, IDS, LONG, LORA, run

DIA = str(Path(sys.executable).with_name("dia"))


def _dia(db: str, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    # stdout is a pipe: Rich falls back to COLUMNS (80 when unset), as in `dia runs | cat`.
    env = {**os.environ, "DIA_DATABASE_URL": db, "COLUMNS": str(columns)}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([DIA, *args], capture_output=True, text=True, env=env, timeout=120)


def _assert_whole_ids(text: str, *ids: str) -> None:
    assert "…" not in text, text
    for model_id in ids:
        assert model_id in text, f"{model_id} cut or folded in:\n{text}"


@pytest.mark.parametrize("columns", [80, 40])
def test_runs_table_keeps_ids_and_numbers_whole(long_ids_db: str, columns: int) -> None:
    proc = _dia(long_ids_db, "runs", columns=columns)
    assert proc.returncode == 0, proc.stderr
    _assert_whole_ids(proc.stdout, *IDS)
    # 12,345.678 kWh, 0.000615 kg CO2e, 0.00246 L and 1,975.2 L, each in a unit of its size
    for figure in ("12.3 MWh", "615 mg CO2e", "2.46 mL", "1.98 m³"):
        assert figure in proc.stdout


def test_rollup_table_keeps_ids_and_intervals_whole(long_ids_db: str) -> None:
    proc = _dia(long_ids_db, "rollup", BASE)
    assert proc.returncode == 0, proc.stderr
    _assert_whole_ids(proc.stdout, *IDS)
    # 6,172.8 kg (3,086-12,346) and 0.000615 kg (0.0003075-0.00123): wide, so two figures
    # (0.000615 is a binary tie: 610 or 620)
    assert "6.2 t CO2e (3.1–12)" in proc.stdout
    assert re.search(r"6[12]0 mg CO2e \(310–1,200\)", proc.stdout), proc.stdout


def test_lineage_tree_keeps_ids_whole(long_ids_db: str) -> None:
    proc = _dia(long_ids_db, "lineage", LORA)
    assert proc.returncode == 0, proc.stderr
    _assert_whole_ids(proc.stdout, *IDS)


def test_an_id_longer_than_60_characters_folds_without_losing_a_character(tmp_path: Path) -> None:
    from dia.record.store import Store

    huge = "org/" + "m" * 70 + "-end"
    url = f"sqlite:///{tmp_path / 'huge.db'}"
    with Store(url) as store:
        store.save_run(run(huge, 1.5, [], 0))
    proc = _dia(url, "runs")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()[2:]  # below the header and its rule
    start = lines[0].index("org/")
    folded = "".join(line[start:].split(" ")[0] for line in lines)
    assert folded.startswith(huge), proc.stdout


def test_show_keeps_the_long_id(long_ids_db: str) -> None:
    run_id = json.loads(_dia(long_ids_db, "runs", "--json", "-m", LONG).stdout.splitlines()[0])["id"]
    proc = _dia(long_ids_db, "show", run_id)
    assert proc.returncode == 0, proc.stderr
    _assert_whole_ids(proc.stdout, LONG, LORA)


def test_json_outputs_parse(long_ids_db: str, tmp_path: Path) -> None:
    runs = [json.loads(line) for line in _dia(long_ids_db, "runs", "--json").stdout.splitlines()]
    assert {r["model_id"] for r in runs} == set(IDS)
    shown = json.loads(_dia(long_ids_db, "show", runs[0]["id"], "--json").stdout)
    assert shown["id"] == runs[0]["id"]
    assert json.loads(_dia(long_ids_db, "rollup", BASE, "--json").stdout)["members"] == 3
    assert {n["model_id"] for n in json.loads(_dia(long_ids_db, "lineage", LORA, "--json").stdout)["nodes"]} == set(IDS)
    assert "countries" in json.loads(_dia(long_ids_db, "factors", "--list", "--json").stdout)
    assert "carbon_intensity_kg_per_kwh" in json.loads(_dia(long_ids_db, "factors", "--country", "CAN", "--json").stdout)

    card = _dia(long_ids_db, "card", LONG, "--json")
    assert card.returncode == 0, card.stderr
    meta = json.loads(card.stdout)
    assert meta and isinstance(meta, dict)
    written = json.loads(_dia(long_ids_db, "card", LONG, "--json", "--write", str(tmp_path / "card")).stdout)
    assert Path(written["written"]).is_file()

    exported = tmp_path / "runs.jsonl"
    assert _dia(long_ids_db, "export", "-o", str(exported)).returncode == 0
    checked = json.loads(_dia(long_ids_db, "validate", str(exported), "--json").stdout)
    assert checked == {"file": str(exported), "records": 3, "valid": 3, "refused": 0, "problems": []}
    other = f"sqlite:///{tmp_path / 'other.db'}"
    imported = json.loads(_dia(other, "import", str(exported), "--json").stdout)
    assert imported["imported"] == 3 and imported["skipped"] == []
    ingested = json.loads(_dia(other, "ingest", str(Path(written["written"])), "--json").stdout)
    assert ingested["read"] == 1


def test_demo_rollups_fit_80_columns(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from dia.demo.run import PUBLISHED_ROOT, TOY, DemoResult, _print_rollups
    from dia.record.store import Store

    with Store(f"sqlite:///{tmp_path / 'demo.db'}") as store:
        store.save_run(run(PUBLISHED_ROOT, 4.19, [], 0))
        store.save_run(run("bioscan-ml/clibd", 438.0, [(PUBLISHED_ROOT, "finetune")], 1))
        store.save_run(run(TOY["base"], 1e-5, [(PUBLISHED_ROOT, "continued-pretraining")], 2))
        store.save_run(run(TOY["merged"], 2e-5, [(TOY["base"], "merge")], 3))
        out = Console(width=80, file=io.StringIO(), record=True)
        _print_rollups(store, out, DemoResult(db_url="", card_path=None, ingested=0))
    text = out.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    _assert_whole_ids(text, PUBLISHED_ROOT, TOY["merged"], "bioscan-ml/clibd")
    assert "energy: 442 kWh (398–486)" in text  # bioscan-ml/clibd upstream: 438 + 4.19 kWh


class _WriteLog:
    """A stream that keeps each write: the pipe sees one write per call, and the server
    log shares it from another thread."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_dashboard_url_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # Written in pieces, a server log line could land between the URL and its end: CI read
    # `http://localhost:346732026` (port 34673, then the log's year).
    from rich.console import Console

    from dia.cli import dashboard as dashboard_cli

    log = _WriteLog()
    monkeypatch.setattr(dashboard_cli, "console", Console(file=log, width=40, markup=False, highlight=False))
    url = "http://localhost:34673"
    dashboard_cli._announce(url, True)
    assert f"DIA dashboard: {url}  (public, read-only)\n" in log.writes, log.writes
