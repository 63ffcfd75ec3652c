"""Hostile report files and unreadable stored rows, through the CLI with real files and stores.

Every bad record is one line ``file: record N (line L): reason``, every good one is stored,
the summary says exactly what was, and nothing ends in a traceback.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from factories import T0, run_report
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from dia.cli.main import app
from dia.errors import StoreError
from dia.record import files
from dia.record import store as store_module
from dia.record.report import Phase, Quantity, RunReport
from dia.record.store import Store


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def good(n: int = 1, **fields: Any) -> list[RunReport]:
    """Reports with carbon and water stated (``dia import`` stores them as they are)."""
    return [run_report(energy_kwh=1.0 + i, carbon_kg=0.5, water_l=2.0, **fields) for i in range(n)]


def stored_ids(url: str) -> set[str]:
    with Store(url) as store:
        return {r.id for r in store.iter_runs()}


def lines_of(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


# -- hostile JSON: one line each, the good records around them stored -----------------------------

def test_hostile_json_records_are_refused_one_line_each_and_the_good_ones_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_RECORD_BYTES", 300_000)  # the huge line, without a 64 MiB file
    ok = good(4)
    body = [
        ok[0].model_dump_json(),
        '{"pid": ' + "7" * 5000 + "}",                 # beyond Python's int-digits limit (ValueError)
        "[" * 100_000 + "]" * 100_000,                  # RecursionError inside json.loads
        ok[1].model_dump_json(),
        '{"energy": {"it_kwh": {"value": NaN, "unit": "kWh", "quality": "measured"}}}',
        '{"duration_s": Infinity}',
        '{"duration_s": 1e400}',                        # overflows to infinity
        '{"notes": ["' + "x" * 400_000 + '"]}',         # one huge line
        "",
        ok[2].model_dump_json(),
        "[]",
        ok[3].model_dump_json(),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(body) + "\n", encoding="utf-8")

    checked = cli("validate", str(path))
    assert checked.exit_code == 1
    refused = checked.stdout.splitlines()
    assert [line.split(": ")[1] for line in refused] == [
        "record 2 (line 2)", "record 3 (line 3)", "record 5 (line 5)", "record 6 (line 6)",
        "record 7 (line 7)", "record 8 (line 8)", "record 10 (line 11)"]
    assert "too many digits" in refused[0]
    assert "nested too deeply" in refused[1]
    assert "NaN is not a number" in refused[2]
    assert "Infinity is not a number" in refused[3]
    assert "too large for a number" in refused[4]
    assert "longer than 300,000 bytes" in refused[5]
    assert "expected a JSON object, got list" in refused[6]
    assert checked.stderr.strip() == "hostile.jsonl: 4 of 11 record(s) valid; 7 refused"

    url = f"sqlite:///{tmp_path}/store.sqlite"
    imported = cli("import", str(path), "--db", url)
    assert imported.exit_code == 1
    assert [line.removeprefix("skipped ") for line in lines_of(imported.stderr, "skipped ")] == [
        line.split(" (and ")[0] if " (and " in line else line for line in refused]
    assert imported.stderr.splitlines()[-1] == f"imported 4 of 11 records into {url}; 7 refused"
    assert stored_ids(url) == {r.id for r in ok}


def test_an_empty_file_is_one_line_for_validate_and_import(tmp_path: Path) -> None:
    for name in ("empty.jsonl", "empty.json", "blank.jsonl"):
        path = tmp_path / name
        path.write_text("" if name.startswith("empty") else "\n\n  \n", encoding="utf-8")
        checked = cli("validate", str(path))
        assert checked.exit_code == 1
        assert checked.stderr.strip() == f"error: {name}: no reports found"
        url = f"sqlite:///{tmp_path}/store.sqlite"
        imported = cli("import", str(path), "--db", url)
        assert imported.exit_code == 1
        assert imported.stderr.splitlines()[-1] == f"error: {name}: no reports found"
        assert stored_ids(url) == set()


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    ok = good(3)
    single = tmp_path / "one.json"
    single.write_bytes(b"\xef\xbb\xbf" + ok[0].model_dump_json(indent=2).encode())
    lines = tmp_path / "runs.jsonl"
    lines.write_bytes(b"\xef\xbb\xbf" + "".join(r.model_dump_json() + "\n" for r in ok[1:]).encode())
    url = f"sqlite:///{tmp_path}/store.sqlite"
    for path, n in ((single, 1), (lines, 2)):
        assert cli("validate", str(path)).exit_code == 0
        imported = cli("import", str(path), "--db", url)
        assert imported.exit_code == 0, imported.stderr
        assert imported.stderr.splitlines()[-1] == f"imported {n} of {n} record{'s' if n > 1 else ''} into {url}"
    assert stored_ids(url) == {r.id for r in ok}


def test_a_multi_line_json_document_with_a_huge_integer_is_one_line(tmp_path: Path) -> None:
    data = json.loads(good()[0].model_dump_json())
    data["pid"] = 9999999999  # replaced below by 5,000 digits, which json.dumps cannot write
    text = json.dumps(data, indent=2).replace('"pid": 9999999999', '"pid": ' + "9" * 5000)
    path = tmp_path / "report.json"
    path.write_text(text, encoding="utf-8")
    checked = cli("validate", str(path))
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == ["report.json: not valid JSON: an integer has too many digits"]


# -- non-UTF-8 late in a file ---------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_non_utf8_late_in_a_file_names_its_line_and_file_offset(tmp_path: Path, suffix: str) -> None:
    ok = good(5)
    head = "".join(r.model_dump_json() + "\n" for r in ok[:3]).encode()
    bad = b'{"notes": ["caf\xe9"]}\n'
    tail = "".join(r.model_dump_json() + "\n" for r in ok[3:]).encode()
    path = tmp_path / f"late{suffix}"
    path.write_bytes(head + bad + tail)
    offset = (head + bad).index(b"\xe9")

    checked = cli("validate", str(path))
    assert checked.exit_code == 1
    assert checked.stdout.splitlines() == [
        f"{path.name}: record 4 (line 4): not UTF-8 text (invalid continuation byte at byte {offset:,} of the file)"]

    url = f"sqlite:///{tmp_path}/store.sqlite"
    imported = cli("import", str(path), "--db", url)
    assert imported.exit_code == 1
    assert lines_of(imported.stderr, "skipped ") == ["skipped " + checked.stdout.strip()]
    assert imported.stderr.splitlines()[-1] == f"imported 5 of 6 records into {url}; 1 refused"
    assert stored_ids(url) == {r.id for r in ok}  # before and after the bad line


# -- a record the store refuses: named, the rest of its batch and the other batches stored ---------

def _refused_by_the_store(monkeypatch: pytest.MonkeyPatch, culprit: str, column: str, value: Any) -> None:
    """Make the store's row for ``culprit`` carry ``value`` in ``column``: a value that
    passes validation but the database refuses (what validation may miss)."""
    real = store_module._run_row

    def row(report: RunReport) -> dict[str, Any]:
        out = real(report)
        if report.id == culprit:
            out[column] = value
        return out

    monkeypatch.setattr(store_module, "_run_row", row)


def _import_with_one_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, column: str,
                             value: Any) -> tuple[Any, list[RunReport]]:
    reports = good(1200)
    culprit = reports[699]  # in the second batch of 500
    _refused_by_the_store(monkeypatch, culprit.id, column, value)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in reports), encoding="utf-8")
    with Store(url) as store:
        store.save_run(reports[0])  # already stored: still there
        shown_url = store.masked_url
    result = cli("import", str(path), "--db", url)
    assert result.exit_code == 1
    skipped = lines_of(result.stderr, "skipped ")
    assert len(skipped) == 1
    assert skipped[0].startswith("skipped in.jsonl: record 700 (line 700): the store refused it: ")
    assert result.stderr.splitlines()[-1] == f"imported 1,199 of 1,200 records into {shown_url}; 1 refused"
    assert stored_ids(url) == {r.id for r in reports} - {culprit.id}
    return result, reports


def test_sqlite_refusing_one_record_names_it_and_stores_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = _import_with_one_refused(tmp_path, monkeypatch, f"sqlite:///{tmp_path}/store.sqlite", "rank", 2**63)
    assert "too large" in lines_of(result.stderr, "skipped ")[0]


def test_postgresql_refusing_one_record_names_it_and_stores_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    result, _ = _import_with_one_refused(tmp_path, monkeypatch, postgres_url, "country", "X" * 40)
    line = lines_of(result.stderr, "skipped ")[0]
    assert "too long" in line and "character varying(8)" in line


def test_a_store_wide_error_stops_the_import_with_one_line_saying_what_was_stored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    reports = good(1200)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in reports), encoding="utf-8")
    real = Store.save_runs
    calls = []

    def save_runs(self: Store, batch: Any, **kw: Any) -> int:
        calls.append(1)
        if len(calls) > 1:  # the disk filled up after the first batch
            raise StoreError(f"store error at {self.masked_url}: database or disk is full")
        return real(self, batch, **kw)

    monkeypatch.setattr(Store, "save_runs", save_runs)
    result = cli("import", str(path), "--db", url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: store error at {url}: database or disk is full (imported 500 record(s) before it; import stopped)"]
    assert stored_ids(url) == {r.id for r in reports[:500]}


# -- CSV exports of large reports -----------------------------------------------------------------

def test_a_run_with_20000_phases_round_trips_through_csv(tmp_path: Path) -> None:
    big = run_report(energy_kwh=2.0, carbon_kg=1.0, water_l=3.0, phases=[
        Phase(name=f"step/{i}", started_at=T0, duration_s=1.0,
              energy_kwh=Quantity.of(1e-4, "kWh", "measured")) for i in range(20_000)])
    source, target = f"sqlite:///{tmp_path}/a.sqlite", f"sqlite:///{tmp_path}/b.sqlite"
    with Store(source) as store:
        store.save_runs([big, *good(2)])
    out = tmp_path / "runs.csv"
    exported = cli("export", "--format", "csv", "-o", str(out), "--db", source)
    assert exported.exit_code == 0, exported.stderr
    assert len(big.model_dump_json()) > 3_000_000 > csv.field_size_limit()  # far over the csv module's limit

    imported = cli("import", str(out), "--db", target)
    assert imported.exit_code == 0, imported.stderr
    assert imported.stderr.splitlines()[-1] == f"imported 3 of 3 records into {target}"
    with Store(target) as store:
        back = store.get_run(big.id)
    assert back is not None and back.model_dump() == big.model_dump()
    assert csv.field_size_limit() == 131_072  # the module's limit is restored for everyone else


# -- stored rows this DIA cannot read ---------------------------------------------------------------

def _store_with_unreadable_rows(url: str) -> tuple[str, list[RunReport], str, str]:
    """Three runs; the first rewritten by a DIA of schema 2.0, the second cut by hand."""
    reports = good(3, model_id="org/m")
    with Store(url) as store:
        store.save_runs(reports)
        shown_url = store.masked_url
    newer = json.loads(reports[0].model_dump_json())
    newer["schema_version"] = "2.0"
    newer["a_field_from_the_future"] = {"x": 1}
    newer_json = json.dumps(newer)
    corrupt_json = '{"id": "' + reports[1].id + '", "energy": '
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        for js, run_id in ((newer_json, reports[0].id), (corrupt_json, reports[1].id)):
            conn.execute(text("UPDATE dia_runs SET report_json = :js WHERE id = :id"), {"js": js, "id": run_id})
    engine.dispose()
    return shown_url, reports, newer_json, corrupt_json


def test_runs_and_show_list_unreadable_rows_with_a_note(store_url: str) -> None:
    url = store_url
    _, reports, _, _ = _store_with_unreadable_rows(url)
    newer_note = f"note: run {reports[0].id[:8]}: schema 2.0 is newer than this DIA reads; upgrade DIA"

    listed = cli("runs", "--db", url)
    assert listed.exit_code == 0
    assert all(r.id[:8] in listed.stdout for r in reports)
    notes = lines_of(listed.stderr, "note: ")
    assert newer_note in notes
    assert any(line.startswith(f"note: run {reports[1].id[:8]}: stored report cannot be read") for line in notes)
    assert len(notes) == 2

    as_json = cli("runs", "--json", "--db", url)
    assert as_json.exit_code == 0
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(r.id for r in reports)
    shown = {r["id"]: r for r in rows}[reports[0].id]
    assert shown["model_id"] == "org/m" and shown["energy"]["it_kwh"]["value"] == reports[0].energy.it_kwh.value

    detail = cli("show", reports[0].id, "--db", url)
    assert detail.exit_code == 0
    assert reports[0].id in detail.stdout and "upgrade DIA" in " ".join(detail.stdout.split())
    assert lines_of(detail.stderr, "note: ") == [newer_note]
    readable = cli("show", reports[2].id, "--db", url)
    assert readable.exit_code == 0 and readable.stderr == ""


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_backs_up_unreadable_rows_as_stored(tmp_path: Path, fmt: str) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    _, reports, newer_json, corrupt_json = _store_with_unreadable_rows(url)
    out = tmp_path / f"backup.{fmt}"
    exported = cli("export", "--format", fmt, "-o", str(out), "--db", url)
    assert exported.exit_code == 0
    assert exported.stderr.splitlines()[-1] == f"exported 3 run(s) from {url} to {out}"
    notes = lines_of(exported.stderr, "note: ")
    assert len(notes) == 2 and all(line.endswith("; exported as stored") for line in notes)
    if fmt == "jsonl":
        stored = out.read_text(encoding="utf-8").splitlines()
    else:
        with out.open(newline="", encoding="utf-8") as fh:
            stored = [row["report_json"] for row in csv.DictReader(fh)]
    assert newer_json in stored and corrupt_json in stored
    assert reports[2].model_dump_json() in stored


# -- integer options ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["99999999999999999999999", "0", "-5"])
def test_runs_limit_out_of_range_is_a_usage_error(value: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    Store(url).close()
    result = cli("runs", "--limit", value, "--db", url)
    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.output


def test_demo_port_out_of_range_is_a_usage_error() -> None:
    result = cli("demo", "--port", "99999999999999999999999")
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output


# -- report text is never Rich markup -----------------------------------------------------------------

MARKUP = ["[link=http://evil.example]click[/link]", "interval [low, high] kept", "[bold red]loud[/]"]


def test_report_text_is_printed_verbatim(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.sqlite"
    report = run_report("org/m", carbon_kg=0.5, water_l=2.0, notes=MARKUP,
                        hardware={"cpu_model": "[link=http://x]cpu[/link]"},
                        phases=[Phase(name="[i]eval[/i]", started_at=T0,
                                      energy_kwh=Quantity.of(0.1, "kWh", "measured"))])
    with Store(url) as store:
        store.save_run(report)
    detail = cli("show", report.id, "--db", url)
    assert detail.exit_code == 0
    flat = " ".join(detail.stdout.split())
    for literal in [*MARKUP, "[link=http://x]cpu[/link]", "[i]eval[/i]"]:
        assert " ".join(literal.split()) in flat
    assert "\x1b]8;" not in detail.stdout  # no terminal hyperlink

    bad = tmp_path / "bad.jsonl"
    data = json.loads(good()[0].model_dump_json())
    data["kind"] = "[link=http://evil.example]x[/link]"
    bad.write_text(json.dumps(data) + "\n", encoding="utf-8")
    imported = cli("import", str(bad), "--db", url)
    assert imported.exit_code == 1
    assert "'[link=http://evil.example]x[/link]'" in imported.stderr
    checked = cli("validate", str(bad))
    assert "'[link=http://evil.example]x[/link]'" in checked.stdout
