"""Run reports in files: read (and validate) JSON/JSONL, write JSONL, CSV and Parquet.

Every problem is reported as one line naming the file, the record (its line number in a
JSONL file) and the field path, e.g.
``runs.jsonl: record 3: energy.it_kwh.low: must not be negative (got -1.0)``. Besides the
schema, every record read must be consistent (:func:`~dia.record.report.check_consistency`:
totals are the sum of their parts, no better quality than them), e.g.
``runs.jsonl: record 3: carbon.total_kg: 5 is not operational_kg + embodied_kg (1.5)``.

>>> import io
>>> buf = io.StringIO()
>>> write_jsonl([RunReport(energy={"it_kwh": {"value": 1.0, "unit": "kWh", "quality": "measured"}})], buf)
1
>>> [r.report.energy.it_kwh.value for r in parse_lines(buf.getvalue().splitlines(), "runs.jsonl")]
[1.0]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pydantic import ValidationError

from dia.errors import DIAError, InvalidReportError, LineageCycleError
from dia.record.report import Quantity, RunReport, check_consistency, validation_problems

if TYPE_CHECKING:
    from dia.record.store import Store


@dataclass(frozen=True)
class ReportRecord:
    """One record of a report file: the report, or the problems that stopped it."""

    where: str  # "runs.jsonl: record 3"
    line: int
    report: RunReport | None
    problems: tuple[str, ...] = ()  # full lines, each starting with ``where``

    @property
    def ok(self) -> bool:
        return self.report is not None


def _check(data: Any, where: str, line: int) -> ReportRecord:
    if not isinstance(data, dict):
        return ReportRecord(where, line, None, (f"{where}: expected a JSON object, got {type(data).__name__}",))
    try:
        report = RunReport.model_validate(data)
    except ValidationError as exc:
        return ReportRecord(where, line, None, tuple(f"{where}: {p}" for p in validation_problems(exc)))
    except DIAError as exc:  # raised outside pydantic's wrapping (should not happen, but one line)
        return ReportRecord(where, line, None, (f"{where}: {exc}",))
    # A report that contradicts itself (a total that is not the sum of its parts, or
    # claims a better quality than they have) is refused like a malformed one.
    inconsistent = check_consistency(report)
    if inconsistent:
        return ReportRecord(where, line, None, tuple(f"{where}: {p}" for p in inconsistent))
    return ReportRecord(where, line, report)


def parse_lines(lines: Iterable[str], name: str) -> Iterator[ReportRecord]:
    """Validate JSONL lines; blank lines are skipped, records are numbered by line."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield _record_from_text(text, name, number)


def read_reports(path: str | Path) -> Iterator[ReportRecord]:
    """Read a report JSON file (one object or a list), a JSONL file, or a CSV export.

    ``.jsonl``/``.ndjson`` files are streamed line by line. A CSV file is read from its
    ``report_json`` column (as written by :func:`write_csv`). Raises
    :class:`InvalidReportError` when the file itself cannot be read.
    """
    path = Path(path)
    name = path.name
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            with path.open(encoding="utf-8") as fh:
                yield from parse_lines(fh, name)
            return
        if path.suffix.lower() == ".csv":
            yield from _read_csv(path)
            return
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidReportError(f"{path}: is a folder, not a report file") from None
    except UnicodeDecodeError as exc:
        raise InvalidReportError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InvalidReportError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # Not one JSON document: treat it as JSONL whatever its suffix.
        yield from parse_lines(text.splitlines(), name)
        return
    if isinstance(data, list):
        for index, item in enumerate(data, start=1):
            yield _check(item, f"{name}: record {index}", index)
    else:
        yield _check(data, name, 1)


def _read_csv(path: Path) -> Iterator[ReportRecord]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if "report_json" not in (reader.fieldnames or []):
            raise InvalidReportError(f"{path.name}: no report_json column (write it with `dia export --format csv`)")
        for row in reader:
            number = reader.line_num
            yield _record_from_text(row.get("report_json") or "", path.name, number)


def _record_from_text(text: str, name: str, number: int) -> ReportRecord:
    where = f"{name}: record {number}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return ReportRecord(where, number, None, (f"{where}: not valid JSON: {exc.msg} (column {exc.colno})",))
    return _check(data, where, number)


# -- writing -----------------------------------------------------------------------------------

def write_jsonl(reports: Iterable[RunReport], out: TextIO) -> int:
    """One full report per line; returns the number written."""
    count = 0
    for report in reports:
        out.write(report.model_dump_json())
        out.write("\n")
        count += 1
    return count


def _figure(prefix: str, q: Quantity | None) -> dict[str, Any]:
    if q is None:
        return {prefix: None, f"{prefix}_low": None, f"{prefix}_high": None, f"{prefix}_quality": None}
    return {prefix: q.value, f"{prefix}_low": q.low, f"{prefix}_high": q.high, f"{prefix}_quality": q.quality.value}


def flat_row(report: RunReport) -> dict[str, Any]:
    """The headline figures as flat columns, plus the full report as JSON."""
    carbon, water = report.carbon, report.water
    row: dict[str, Any] = {
        "id": report.id, "model_id": report.model_id, "kind": report.kind.value,
        "status": report.status.value,
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "ended_at": report.ended_at.isoformat() if report.ended_at else None,
        "duration_s": report.duration_s, "run_group": report.run_group, "rank": report.rank,
        "parents": ";".join(f"{p.model_id}:{p.relation.value}" for p in report.parents) or None,
        "country": report.location.country, "region": report.location.region,
        "cloud_provider": report.location.cloud_provider, "cloud_region": report.location.cloud_region,
        "hardware": report.hardware.describe(), "gpu_hours": report.gpu_hours, "meter": report.meter,
    }
    row |= _figure("energy_kwh", report.energy.it_kwh)
    row |= _figure("facility_energy_kwh", report.energy.facility_kwh)
    row |= _figure("carbon_kg", carbon.total_kg if carbon else None)
    row |= _figure("water_l", water.total_l if water else None)
    row["report_json"] = report.model_dump_json()
    return row


FLAT_COLUMNS: tuple[str, ...] = tuple(flat_row(RunReport(
    energy={"it_kwh": {"value": 0.0, "unit": "kWh", "quality": "unavailable"}})))


def write_csv(reports: Iterable[RunReport], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=list(FLAT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    count = 0
    for report in reports:
        writer.writerow(flat_row(report))
        count += 1
    return count


def write_parquet(reports: Iterable[RunReport], path: str | Path) -> int:
    """Parquet needs pyarrow, which comes with the ``dashboard`` extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DIAError("parquet export needs pyarrow: pip install 'dia[dashboard]' (or use --format csv)") from None
    rows = [flat_row(r) for r in reports]
    table = pa.Table.from_pylist(rows, schema=_parquet_schema(pa))
    try:
        pq.write_table(table, str(path))
    except OSError as exc:
        raise DIAError(f"{path}: cannot write ({exc})") from None
    return len(rows)


def _parquet_schema(pa: Any) -> Any:
    floats = {c for c in FLAT_COLUMNS if c.endswith(("_kwh", "_kg", "_l", "_low", "_high", "_s", "_hours"))}
    return pa.schema([(c, pa.float64() if c in floats else pa.int64() if c == "rank" else pa.string())
                      for c in FLAT_COLUMNS])


# -- import ------------------------------------------------------------------------------------

Prepare = Callable[[RunReport], RunReport]


@dataclass
class ImportSummary:
    imported: int = 0
    skipped: list[str] = field(default_factory=list)  # one line per skipped record


def first_problem(record: ReportRecord) -> str:
    """The record's first problem as one line, counting the others."""
    more = f" (and {len(record.problems) - 1} more)" if len(record.problems) > 1 else ""
    return record.problems[0] + more


def prepared(record: ReportRecord, prepare: Prepare | None) -> ReportRecord:
    """``record`` with ``prepare`` applied to its report (e.g. converting energy-only reports).

    A prepared report is checked again; a :class:`~dia.errors.DIAError` from ``prepare``
    or an inconsistent result refuses the record with one line.
    """
    if prepare is None or record.report is None:
        return record
    try:
        report = prepare(record.report)
    except DIAError as exc:
        return ReportRecord(record.where, record.line, None, (f"{record.where}: {exc}",))
    inconsistent = check_consistency(report)
    if inconsistent:
        return ReportRecord(record.where, record.line, None, tuple(f"{record.where}: {p}" for p in inconsistent))
    return ReportRecord(record.where, record.line, report)


def import_reports(store: Store, path: str | Path, *, batch: int = 500,
                   prepare: Prepare | None = None) -> ImportSummary:
    """Validate and store every report in ``path``; skip (and list) the bad ones.

    A record that fails the schema or :func:`~dia.record.report.check_consistency` is
    skipped with one line naming it and the field; the good records are stored, and a
    skipped record never replaces a run already stored. Importing the same file twice
    changes nothing (runs are upserted by id). A record whose parents would close a
    lineage cycle is skipped; the rest of its batch is still stored. ``prepare`` turns
    each valid report into the one stored (``dia import`` passes
    :func:`dia.convert.complete.convert_if_missing`: the record layer does not convert).
    """
    summary = ImportSummary()
    pending: list[ReportRecord] = []
    for record in read_reports(path):
        record = prepared(record, prepare)
        if not record.ok:
            summary.skipped.append(first_problem(record))
            continue
        pending.append(record)
        if len(pending) >= batch:
            _save_batch(store, pending, summary)
            pending = []
    _save_batch(store, pending, summary)
    return summary


def _save_batch(store: Store, records: list[ReportRecord], summary: ImportSummary) -> None:
    if not records:
        return
    try:
        summary.imported += store.save_runs(r.report for r in records if r.report is not None)
        return
    except LineageCycleError:
        pass  # the batch was rolled back: store one by one to find the culprit(s)
    for record in records:
        assert record.report is not None
        try:
            store.save_run(record.report)
            summary.imported += 1
        except LineageCycleError as exc:
            summary.skipped.append(f"{record.where}: {exc}")


__all__ = [
    "FLAT_COLUMNS", "ImportSummary", "Prepare", "ReportRecord", "first_problem", "flat_row", "import_reports",
    "parse_lines", "prepared", "read_reports", "write_csv", "write_jsonl", "write_parquet",
]
