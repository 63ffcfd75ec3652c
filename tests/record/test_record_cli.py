"""The records CLI, run as a user runs it (the installed ``dia`` script, in a subprocess)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dia._version import __version__
from dia.record.report import Factor, RunReport
from dia.record.store import Store

Make = Callable[..., RunReport]
DIA = str(Path(sys.executable).parent / "dia")
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "dia-run-report-1.0.schema.json"


def dia(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([DIA, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_jsonl(path: Path, reports: list[RunReport]) -> None:
    path.write_text("".join(r.model_dump_json() + "\n" for r in reports), encoding="utf-8")


def test_version() -> None:
    proc = dia("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"dia {__version__}"


# -- error paths: one line naming the masked URL, non-zero exit, no traceback ---------------------

@pytest.mark.slow
def test_broken_url() -> None:
    assert_one_line_error(dia("runs", "--db", "definitely not a url"), "not a database URL", "definitely not a url")
    assert_one_line_error(dia("runs", "--db", "mysql://u@h/db"), "unsupported database 'mysql'")
    line = assert_one_line_error(dia("runs", "--db", "postgresql+psycopg://dia:s3cret@127.0.0.1:notaport/dia"))
    assert "s3cret" not in line and "***" in line


def test_unreachable_postgresql_masks_the_password() -> None:
    pytest.importorskip("psycopg")  # without it the error is "install psycopg", not the connection
    port = _closed_port()
    line = assert_one_line_error(dia("runs", "--db", f"postgresql+psycopg://dia:s3cret@127.0.0.1:{port}/dia"),
                                 f"postgresql+psycopg://dia:***@127.0.0.1:{port}/dia")
    assert "s3cret" not in line
    assert "refused" in line.lower() or "failed" in line.lower()


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a SQLite database, just bytes " * 200)
    for command in (["runs"], ["import", str(tmp_path / "x.jsonl")], ["export"]):
        assert_one_line_error(dia(*command, "--db", f"sqlite:///{path}"), f"sqlite:///{path}", "not a database")


def test_read_only_file(tmp_path: Path, make_report: Make) -> None:
    path = tmp_path / "ro.sqlite"
    Store(f"sqlite:///{path}").save_run(make_report(1.0))
    runs = tmp_path / "runs.jsonl"
    _write_jsonl(runs, [make_report(2.0)])
    # SQLite's own read-only mode: refused whoever runs the test, root included.
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    assert_one_line_error(dia("import", str(runs), "--db", url), url, "readonly")
    assert dia("runs", "--db", url).returncode == 0  # reading still works


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_permissions(tmp_path: Path, make_report: Make) -> None:
    path = tmp_path / "ro.sqlite"
    Store(f"sqlite:///{path}").save_run(make_report(1.0))
    runs = tmp_path / "runs.jsonl"
    _write_jsonl(runs, [make_report(2.0)])
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        assert_one_line_error(dia("import", str(runs), "--db", f"sqlite:///{path}"), f"sqlite:///{path}")
    finally:
        tmp_path.chmod(0o755)
    assert Store(f"sqlite:///{path}").run_count() == 1


def test_unknown_run(tmp_path: Path) -> None:
    assert_one_line_error(dia("show", "0123456789", "--db", f"sqlite:///{tmp_path}/s.sqlite"), "no run '0123456789'")


# -- runs and show ------------------------------------------------------------------------------

@pytest.fixture
def filled_db(tmp_path: Path, make_report: Make) -> tuple[str, list[RunReport]]:
    url = f"sqlite:///{tmp_path}/filled.sqlite"
    factor = Factor(name="carbon_intensity", value=0.38, low=0.3, high=0.45, unit="kgCO2e/kWh",
                    source="Ember yearly electricity data", year=2024, granularity="country", key="DEU")
    reports = [
        make_report(12.5, carbon_kg=4.75, water_l=20.0, model_id="org/base", kind="pretraining",
                    location={"country": "DEU", "resolved_level": "country"}, factors=[factor],
                    hardware={"gpus": [{"name": "NVIDIA A100-SXM4-40GB", "count": 4}]}),
        make_report(0.5, model_id="org/chat", parents=["org/base:sft"], kind="finetuning", start_offset_h=5),
        make_report(0.1, model_id="org/chat", kind="inference", status="failed", start_offset_h=6,
                    workload={"inferences": 2000}),
    ]
    Store(url).save_runs(reports)
    return url, reports


@pytest.mark.slow
def test_runs_table_and_json(filled_db: tuple[str, list[RunReport]]) -> None:
    url, reports = filled_db
    table = dia("runs", "--db", url)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:]] == [r.id[:8] for r in reversed(reports)]
    assert "org/base" in lines[-1] and "12.5" in lines[-1] and "4.75" in lines[-1]
    as_json = dia("runs", "--json", "--db", url)
    parsed = [RunReport.model_validate_json(line) for line in as_json.stdout.splitlines()]
    assert parsed == list(reversed(reports))
    only = dia("runs", "--json", "--model", "org/chat", "--kind", "eval", "--db", url)
    assert only.stdout == ""  # no evaluation runs
    failed = dia("runs", "--json", "--status", "failed", "--limit", "5", "--db", url)
    assert [json.loads(x)["id"] for x in failed.stdout.splitlines()] == [reports[2].id]
    bad = dia("runs", "--kind", "trainign", "--db", url)
    assert_one_line_error(bad, "unknown run kind 'trainign'")


def test_show(filled_db: tuple[str, list[RunReport]]) -> None:
    url, reports = filled_db
    proc = dia("show", reports[0].id[:8], "--db", url)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert reports[0].id in out
    assert "4 x NVIDIA A100-SXM4-40GB" in out
    assert "12.5 kWh (11.2–13.8)  (measured)" in out
    assert "4.8 kg CO2e (2.4–9.5)  (estimated)" in out  # 4.75 (2.38-9.5): wide, two figures
    assert "water total" in out and "20 L" in out
    # a factor keeps its own unit and three figures
    assert "Ember yearly electricity data, 2024" in out and "0.38 kgCO2e/kWh (0.3–0.45) for DEU" in out
    as_json = dia("show", reports[2].id, "--json", "--db", url)
    shown = RunReport.model_validate_json(as_json.stdout)
    assert shown == reports[2]
    assert shown.intensities.wh_per_1000_inferences is not None


def test_empty_default_store_lists_nothing(tmp_path: Path) -> None:
    proc = dia("runs", "--db", f"sqlite:///{tmp_path}/new/none.sqlite")
    assert proc.returncode == 0 and proc.stdout == "" and "no runs" in proc.stderr


# -- validate -----------------------------------------------------------------------------------

def test_validate(tmp_path: Path, make_report: Make) -> None:
    good = tmp_path / "good.jsonl"
    _write_jsonl(good, [make_report(1.0), make_report(2.0)])
    ok = dia("validate", str(good))
    assert ok.returncode == 0 and ok.stdout == "" and "2 valid" in ok.stderr

    single = tmp_path / "one.json"
    single.write_text(make_report(1.0).model_dump_json(indent=2), encoding="utf-8")
    assert dia("validate", str(single)).returncode == 0

    bad = tmp_path / "runs.jsonl"
    rows = [make_report(1.0).model_dump(mode="json") for _ in range(4)]
    rows[2]["energy"]["it_kwh"]["low"] = -1.0
    rows[3]["started_at"] = "2025-01-01T00:00:00"
    rows[3]["kind"] = "nonsense"
    bad.write_text("\n".join([json.dumps(rows[0]), json.dumps(rows[1]), json.dumps(rows[2]), "{broken",
                              json.dumps(rows[3])]) + "\n", encoding="utf-8")
    proc = dia("validate", str(bad))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "runs.jsonl: record 3 (line 3): energy.it_kwh.low: must not be negative (got -1.0)",
        "runs.jsonl: record 4 (line 4): not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        "runs.jsonl: record 5 (line 5): kind: unknown run kind 'nonsense'; expected one of "
        "pretraining, finetuning, adapter, quantization, merge, distillation, conversion, evaluation, inference, other",
        "runs.jsonl: record 5 (line 5): started_at: must be timezone-aware (UTC)",
    ]
    assert "Traceback" not in proc.stderr
    assert_one_line_error(dia("validate", str(tmp_path / "missing.jsonl")), "no such file")


# -- export / import ---------------------------------------------------------------------------

@pytest.mark.slow
def test_export_import_round_trip(filled_db: tuple[str, list[RunReport]], tmp_path: Path) -> None:
    url, reports = filled_db
    first = dia("export", "--db", url)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == len(reports)
    dump = tmp_path / "runs.jsonl"
    dump.write_text(first.stdout, encoding="utf-8")
    empty = f"sqlite:///{tmp_path}/empty.sqlite"
    imported = dia("import", str(dump), "--db", empty)
    assert imported.returncode == 0, imported.stderr
    assert imported.stderr.splitlines()[-1] == f"imported 3 of 3 records into {empty}"
    assert dia("import", str(dump), "--db", empty).returncode == 0  # twice: idempotent
    second = dia("export", "--db", empty)
    before = {r.id: r for r in map(RunReport.model_validate_json, first.stdout.splitlines())}
    after = {r.id: r for r in map(RunReport.model_validate_json, second.stdout.splitlines())}
    assert before.keys() == after.keys()
    for run_id, old in before.items():
        new = after[run_id]
        if old.carbon is not None:  # a converted report comes back unchanged
            assert new == old
        else:  # an energy-only one is converted on import (issue 14), its energy as stated
            assert new.carbon is not None and new.carbon.total_kg.value > 0
            assert new.energy.it_kwh == old.energy.it_kwh
    # A converted export imports back unchanged: the round trip is stable from then on.
    dump.write_text(second.stdout, encoding="utf-8")
    assert dia("import", str(dump), "--db", empty).returncode == 0
    assert dia("export", "--db", empty).stdout == second.stdout
    store = Store(empty)
    assert store.run_count() == 3
    assert [(e.child_id, e.parent_id, e.relation) for e in store.edges()] == [("org/chat", "org/base", "instruction-tuning")]


@pytest.mark.slow
def test_export_csv_and_parquet_are_readable(filled_db: tuple[str, list[RunReport]], tmp_path: Path) -> None:
    url, reports = filled_db
    out_csv = tmp_path / "runs.csv"
    proc = dia("export", "--format", "csv", "-o", str(out_csv), "--db", url)
    assert proc.returncode == 0 and "exported 3 run(s)" in proc.stderr
    with out_csv.open(encoding="utf-8", newline="") as fh:
        rows = {row["id"]: row for row in csv.DictReader(fh)}
    base = rows[reports[0].id]
    assert float(base["energy_kwh"]) == 12.5 and float(base["carbon_kg_high"]) == 9.5
    assert base["country"] == "DEU" and base["hardware"] == "4 x NVIDIA A100-SXM4-40GB"
    assert RunReport.model_validate_json(base["report_json"]) == reports[0]
    assert rows[reports[1].id]["parents"] == "org/base:instruction-tuning"
    # The CSV export imports back as well.
    other = f"sqlite:///{tmp_path}/from-csv.sqlite"
    assert dia("import", str(out_csv), "--db", other).returncode == 0
    assert sorted(r.id for r in Store(other).iter_runs()) == sorted(r.id for r in reports)

    pq = pytest.importorskip("pyarrow.parquet")
    out_pq = tmp_path / "runs.parquet"
    assert dia("export", "--format", "parquet", "-o", str(out_pq), "--db", url).returncode == 0
    table = pq.read_table(out_pq)
    assert table.num_rows == 3
    by_id = {row["id"]: row for row in table.to_pylist()}
    assert by_id[reports[0].id]["energy_kwh"] == 12.5
    assert by_id[reports[1].id]["carbon_kg"] is None
    assert RunReport.model_validate_json(by_id[reports[2].id]["report_json"]) == reports[2]
    assert_one_line_error(dia("export", "--format", "parquet", "--db", url), "needs an output file")


def test_parquet_without_pyarrow_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  make_report: Make) -> None:
    from dia.errors import DIAError
    from dia.record.files import write_parquet

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DIAError, match=r"parquet export needs pyarrow: pip install 'dia\[dashboard\]'"):
        write_parquet([make_report(1.0)], tmp_path / "x.parquet")


def test_import_skips_bad_records_and_cycles(tmp_path: Path, make_report: Make) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite"
    earlier = make_report(1.0, model_id="org/b", parents=["org/a"])
    Store(url).save_run(earlier)
    good = [make_report(2.0, model_id="org/c", parents=["org/b"]), make_report(3.0)]
    cycle = make_report(4.0, model_id="org/a", parents=["org/c"])
    bad = make_report(5.0).model_dump(mode="json")
    bad["energy"]["it_kwh"]["value"] = -5
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([good[0].model_dump_json(), cycle.model_dump_json(), json.dumps(bad),
                               good[1].model_dump_json()]) + "\n", encoding="utf-8")
    proc = dia("import", str(path), "--db", url)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert "skipped in.jsonl: record 2 (line 2): lineage cycle: org/a -> org/c -> org/b -> org/a" in lines
    assert "skipped in.jsonl: record 3 (line 3): energy.it_kwh.value: must not be negative (got -5.0)" in lines
    assert lines[-1] == f"imported 2 of 4 records into {url}; 2 refused"
    store = Store(url)
    assert sorted(r.id for r in store.iter_runs()) == sorted([earlier.id, *(r.id for r in good)])
    assert store.get_run(earlier.id) == earlier


def test_schema_command_matches_the_published_file() -> None:
    proc = dia("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert proc.stdout == SCHEMA_FILE.read_text(encoding="utf-8"), "regenerate: dia schema > schemas/dia-run-report-1.0.schema.json"
