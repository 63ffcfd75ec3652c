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
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from pydantic import ValidationError

from dia.errors import DIAError, InvalidReportError, LineageCycleError, StoreError
from dia.record.report import Quantity, RunReport, check_consistency, validation_problems
from dia.redact import describe_error

if TYPE_CHECKING:
    from dia.record.store import Store, UnreadableRun


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
        # A report that contradicts itself (a total that is not the sum of its parts, or
        # claims a better quality than they have) is refused like a malformed one.
        inconsistent = check_consistency(report)
    except ValidationError as exc:
        return ReportRecord(where, line, None, tuple(f"{where}: {p}" for p in validation_problems(exc)))
    except DIAError as exc:  # raised outside pydantic's wrapping (e.g. a schema from the future)
        return ReportRecord(where, line, None, (f"{where}: {exc}",))
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:  # hostile values: one line, never a traceback
        return ReportRecord(where, line, None, (f"{where}: {describe_error(exc)}",))
    if inconsistent:
        return ReportRecord(where, line, None, tuple(f"{where}: {p}" for p in inconsistent))
    return ReportRecord(where, line, report)


# A record (one JSONL line, one CSV field) is refused above this size, before it is parsed:
# 20,000 phases are 5.5 MB, so 64 MiB leaves room without letting one line exhaust memory.
MAX_RECORD_BYTES = 64 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


def loads_record(text: str | bytes) -> tuple[Any, str | None]:
    """Parse one JSON document: ``(data, None)``, or ``(None, reason)`` on any bad input.

    Hostile JSON gives one line, never an exception: an integer beyond Python's digit
    limit, nesting deep enough to exhaust the stack, ``NaN``/``Infinity`` literals and
    numbers that overflow to infinity.

    >>> loads_record('{"a": NaN}')[1]
    'not valid JSON: NaN is not a number (JSON has no NaN or Infinity)'
    >>> loads_record("[" * 100_000)[1]
    'not valid JSON: nested too deeply'
    """
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float), None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        return None, f"not valid JSON: {exc.msg} ({where})"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    except ValueError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "integer string conversion" in message:
            message = "an integer has too many digits"
        return None, f"not valid JSON: {message}"


def parse_lines(lines: Iterable[str], name: str) -> Iterator[ReportRecord]:
    """Validate JSONL lines; blank lines are skipped, records are numbered from 1 and
    named with their line: ``runs.jsonl: record 2 (line 3)``."""
    number = 0
    for line, text in enumerate(lines, start=1):
        if text.strip():
            number += 1
            yield _record_from_text(text, f"{name}: record {number} (line {line})", line)


def _byte_lines(fh: BinaryIO) -> Iterator[tuple[int, int, bytes | None]]:
    """``(line number, byte offset in the file, bytes)`` per line; ``None`` for a line
    longer than :data:`MAX_RECORD_BYTES` (read past, never held whole)."""
    offset, line = 0, 0
    while True:
        raw = fh.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        line += 1
        start = offset
        offset += len(raw)
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            while (more := fh.readline(1 << 20)) and not more.endswith(b"\n"):
                offset += len(more)
            offset += len(more)
            yield line, start, None
            continue
        if line == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
            start += len(_BOM)
        yield line, start, raw


def _parse_byte_lines(fh: BinaryIO, name: str) -> Iterator[ReportRecord]:
    """JSONL read as bytes and decoded line by line: a line that is not UTF-8 is refused
    like any other bad record, named by its line and its byte offset in the FILE, and
    the lines around it are read as usual."""
    number = 0
    for line, start, raw in _byte_lines(fh):
        if raw is not None and not raw.strip():
            continue
        number += 1
        where = f"{name}: record {number} (line {line})"
        if raw is None:
            yield ReportRecord(where, line, None, (f"{where}: longer than {MAX_RECORD_BYTES:,} bytes",))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ReportRecord(where, line, None,
                               (f"{where}: not UTF-8 text ({exc.reason} at byte {start + exc.start:,} of the file)",))
            continue
        yield _record_from_text(text, where, line)


def read_reports(path: str | Path) -> Iterator[ReportRecord]:
    """Read a report JSON file (one object or a list), a JSONL file, or a CSV export.

    ``.jsonl``/``.ndjson`` files are streamed line by line. A CSV file is read from its
    ``report_json`` column (as written by :func:`write_csv`). Raises
    :class:`InvalidReportError` when the file itself cannot be read; every problem
    inside it (bad JSON, a line that is not UTF-8, an invalid report) is a record's.
    """
    path = Path(path)
    name = path.name
    try:
        if path.is_dir():
            raise IsADirectoryError
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            with path.open("rb") as fh:
                yield from _parse_byte_lines(fh, name)
            return
        if path.suffix.lower() == ".csv":
            yield from _read_csv(path)
            return
        data_bytes = path.read_bytes()
    except FileNotFoundError:
        raise InvalidReportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidReportError(f"{path}: is a folder, not a report file") from None
    except OSError as exc:
        raise InvalidReportError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data_bytes.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    data, problem = loads_record(text) if text is not None else (None, "not UTF-8")
    if problem is not None and text is not None and "\n" in text.strip() and not _is_syntax_error(text):
        # One multi-line JSON document, hostile (an integer of 5,000 digits, deep nesting):
        # one line for the document, not one per line of it.
        yield ReportRecord(name, 1, None, (f"{name}: {problem}",))
        return
    if problem is not None:
        # Not one JSON document: read it line by line (JSONL whatever its suffix), so each
        # bad line is named (a line that is not UTF-8 by its byte offset in the file).
        import io

        yield from _parse_byte_lines(io.BytesIO(data_bytes), name)
        return
    if isinstance(data, list):
        for index, item in enumerate(data, start=1):
            yield _check(item, f"{name}: record {index}", index)
    else:
        yield _check(data, name, 1)


def _is_syntax_error(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def _read_csv(path: Path) -> Iterator[ReportRecord]:
    """Rows of a CSV export, each named by its record number and first line. The
    ``report_json`` field of a large report (20,000 phases: 5.5 MB) is over the csv
    module's default limit (128 KiB): the limit is raised to :data:`MAX_RECORD_BYTES`
    while reading."""
    bad_lines: dict[int, str] = {}

    def decoded(fh: BinaryIO) -> Iterator[str]:
        # Decoded line by line so that a line that is not UTF-8 refuses only its record.
        for line, start, raw in _byte_lines(fh):
            if raw is None:
                bad_lines[line] = f"longer than {MAX_RECORD_BYTES:,} bytes"
                yield "\n"
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad_lines[line] = f"not UTF-8 text ({exc.reason} at byte {start + exc.start:,} of the file)"
                yield raw.decode("utf-8", errors="replace")

    previous = csv.field_size_limit()
    csv.field_size_limit(MAX_RECORD_BYTES)
    try:
        with path.open("rb") as fh:
            reader = csv.DictReader(decoded(fh))
            try:
                fields = reader.fieldnames or []
            except csv.Error as exc:
                raise InvalidReportError(f"{path.name}: not a CSV file ({exc})") from None
            if "report_json" not in fields:
                raise InvalidReportError(f"{path.name}: no report_json column (write it with `dia export --format csv`)")
            number, first = 0, reader.line_num + 1
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    number += 1
                    where = f"{path.name}: record {number} (line {first})"
                    yield ReportRecord(where, first, None, (f"{where}: not a CSV row ({exc})",))
                    return  # the reader cannot resynchronise after a broken row
                number += 1
                where = f"{path.name}: record {number} (line {first})"
                broken = [bad_lines[n] for n in range(first, reader.line_num + 1) if n in bad_lines]
                if broken:
                    yield ReportRecord(where, first, None, (f"{where}: {broken[0]}",))
                else:
                    yield _record_from_text(row.get("report_json") or "", where, first)
                first = reader.line_num + 1
    except FileNotFoundError:
        raise InvalidReportError(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidReportError(f"{path}: cannot read ({exc.strerror})") from None
    finally:
        csv.field_size_limit(previous)


def _record_from_text(text: str, where: str, number: int) -> ReportRecord:
    data, problem = loads_record(text)
    if problem is not None:
        return ReportRecord(where, number, None, (f"{where}: {problem}",))
    return _check(data, where, number)


# -- writing -----------------------------------------------------------------------------------

def write_jsonl(reports: Iterable[RunReport | UnreadableRun], out: TextIO) -> int:
    """One full report per line; returns the number written. A stored row this DIA
    cannot read (:class:`~dia.record.store.UnreadableRun`) is written as stored: a
    backup is complete."""
    count = 0
    for report in reports:
        out.write(report.model_dump_json() if isinstance(report, RunReport) else _raw_line(report.report_json))
        out.write("\n")
        count += 1
    return count


def _raw_line(report_json: str) -> str:
    """Stored JSON on one line (as stored when it already is one)."""
    if "\n" not in report_json and "\r" not in report_json:
        return report_json
    try:
        return json.dumps(json.loads(report_json), ensure_ascii=False)
    except (ValueError, RecursionError):
        return json.dumps(report_json)  # not JSON at all: kept whole, as a JSON string


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


def _any_row(report: RunReport | UnreadableRun) -> dict[str, Any]:
    """:func:`flat_row`, or for a row this DIA cannot read: its id and stored JSON."""
    if isinstance(report, RunReport):
        return flat_row(report)
    return {**dict.fromkeys(FLAT_COLUMNS), "id": report.id, "report_json": report.report_json}


def write_csv(reports: Iterable[RunReport | UnreadableRun], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=list(FLAT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    count = 0
    for report in reports:
        writer.writerow(_any_row(report))
        count += 1
    return count


def write_parquet(reports: Iterable[RunReport | UnreadableRun], path: str | Path) -> int:
    """Parquet needs pyarrow, which comes with the ``dashboard`` extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DIAError("parquet export needs pyarrow: pip install 'dia[dashboard]' (or use --format csv)") from None
    rows = [_any_row(r) for r in reports]
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
    skipped: list[str] = field(default_factory=list)  # one line per refused record
    records: int = 0  # records read from the file, stored or not
    # The store-wide error that stopped the import (read-only store, connection lost, disk
    # full): not one record's fault, so the rest of the file was not read.
    aborted: str | None = None
    # Records older than the stored run (a running snapshot of a finished run, less
    # energy): valid, but not applied, because a stored run never moves backwards.
    not_applied: list[str] = field(default_factory=list)  # one line per record

    def line(self, into: str = "") -> str:
        """What was stored, exactly.

        >>> ImportSummary(700, ["x"] * 500, 1200).line("sqlite:///dia.sqlite")
        'imported 700 of 1,200 records into sqlite:///dia.sqlite; 500 refused'
        """
        refused = f"; {len(self.skipped):,} refused" if self.skipped else ""
        older = (f"; {len(self.not_applied):,} not applied (the stored run is further along)"
                 if self.not_applied else "")
        where = f" into {into}" if into else ""
        return (f"imported {self.imported:,} of {self.records:,} record{'s' if self.records != 1 else ''}{where}"
                f"{older}{refused}")


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
        inconsistent = check_consistency(report)
    except DIAError as exc:
        return ReportRecord(record.where, record.line, None, (f"{record.where}: {exc}",))
    except (ValueError, TypeError, ArithmeticError) as exc:  # hostile figures: one line, never a traceback
        return ReportRecord(record.where, record.line, None, (f"{record.where}: {describe_error(exc)}",))
    if inconsistent:
        return ReportRecord(record.where, record.line, None, tuple(f"{record.where}: {p}" for p in inconsistent))
    return ReportRecord(record.where, record.line, report)


def check_reports(path: str | Path, prepare: Prepare | None = None) -> Iterator[ReportRecord]:
    """Every record of ``path`` as :func:`import_reports` sees it before storing: read,
    validated, ``prepare``-d and checked again. ``dia validate`` uses it, so that a record
    it accepts is one ``dia import`` stores (bar what only the database can refuse)."""
    for record in read_reports(path):
        yield prepared(record, prepare)


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
    for record in check_reports(path, prepare):
        summary.records += 1
        if not record.ok:
            summary.skipped.append(first_problem(record))
            continue
        pending.append(record)
        if len(pending) >= batch:
            if not _save_batch(store, pending, summary):
                return summary
            pending = []
    _save_batch(store, pending, summary)
    return summary


# What a store may raise on one record it refuses: its own errors (a lineage cycle, a
# constraint the database enforces, wrapped as StoreError) and what a driver lets through
# unwrapped (SQLite's OverflowError on an integer beyond 64 bits).
_RECORD_STORE_ERRORS = (DIAError, OverflowError, ValueError, TypeError)


def _save_batch(store: Store, records: list[ReportRecord], summary: ImportSummary) -> bool:
    """Store a batch in one transaction; if the store refuses it, store record by record
    so that the culprits are named and every other record is stored (all-or-nothing per
    record: a refused transaction is rolled back whole). ``False``: a store-wide error
    stopped the import (:attr:`ImportSummary.aborted`)."""
    if not records:
        return True
    older: list[str] = []
    try:
        summary.imported += store.save_runs((r.report for r in records if r.report is not None), not_applied=older)
        _note_not_applied(records, older, summary)
        return True
    except _RECORD_STORE_ERRORS as exc:
        if _store_wide(exc):
            summary.aborted = _one_line(str(exc))
            return False
        # The batch was rolled back: store one by one to find the culprit(s).
    for record in records:
        assert record.report is not None
        try:
            if store.save_run(record.report):
                summary.imported += 1
            else:
                _note_not_applied([record], [record.report.id], summary)
        except LineageCycleError as exc:
            summary.skipped.append(f"{record.where}: {exc}")
        except _RECORD_STORE_ERRORS as exc:
            if _store_wide(exc):
                summary.aborted = _one_line(str(exc))
                return False
            reason = _one_line(str(exc)) if isinstance(exc, DIAError) else describe_error(exc)
            summary.skipped.append(f"{record.where}: the store refused it: {reason}")
    return True


def _note_not_applied(records: list[ReportRecord], run_ids: list[str], summary: ImportSummary) -> None:
    older = set(run_ids)
    for record in records:
        if record.report is not None and record.report.id in older:
            summary.not_applied.append(f"{record.where}: run {record.report.id[:8]} is further along in the "
                                       "store (finished, or more energy): kept as stored")


def _store_wide(exc: BaseException) -> bool:
    """Whether a store error is the store's (read-only, unreachable, locked, full) rather
    than one record's (a value the database refuses: too long, out of range, a constraint)."""
    if not isinstance(exc, StoreError):
        return False  # a lineage cycle, a driver's OverflowError...: the record's
    from sqlalchemy.exc import DataError, IntegrityError

    # StoreError is raised ``from None``: the driver's error is still its context.
    return not isinstance(exc.__context__, (DataError, IntegrityError))


def _one_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "unknown error"


__all__ = [
    "FLAT_COLUMNS", "MAX_RECORD_BYTES", "ImportSummary", "Prepare", "ReportRecord", "check_reports", "first_problem", "flat_row", "import_reports",
    "loads_record", "parse_lines", "prepared", "read_reports", "write_csv", "write_jsonl", "write_parquet",
]
