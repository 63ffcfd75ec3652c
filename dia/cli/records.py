"""CLI commands on run records: ``dia runs``, ``show``, ``validate``, ``export``, ``import``, ``schema``.

Heavy modules (pydantic models, SQLAlchemy) are imported inside the commands so that
``dia --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dia.cli._common import (
    DbOption,
    JsonOption,
    console,
    err_console,
    fail,
    note,
    open_store,
)
from dia.cli.tables import id_column, number_column, print_table

if TYPE_CHECKING:
    from rich.table import Table

    from dia.record.report import Quantity, RunReport


# Larger integers overflow the database's (SQLite: 64-bit) LIMIT: a usage error, not a traceback.
MAX_LIMIT = 1_000_000_000


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class StatusChoice(str, Enum):
    running = "running"
    completed = "completed"
    interrupted = "interrupted"
    failed = "failed"


# -- formatting ----------------------------------------------------------------------------------

def _interval(q: Quantity) -> str:
    """``"240 kg CO2e (8.9–920)"``: dia.show's figure, in the quantity's scaled unit."""
    from dia.show import format_range

    return format_range(q.value, q.low, q.high, q.unit)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _runs_table(reports: list[RunReport]) -> Table:
    """Central values only, to fit a terminal; ``dia show`` gives the intervals."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=0, header_style="bold")
    from dia.show import format_value

    for name in ("run", "model", "kind", "status", "started", "time", "energy", "carbon", "water", "quality"):
        if name == "model":
            id_column(table)
        elif name in ("time", "energy", "carbon", "water"):
            number_column(table, name)
        else:
            table.add_column(name, no_wrap=True)
    for r in reports:
        carbon = r.carbon.total_kg if r.carbon else None
        water = r.water.total_l if r.water else None
        table.add_row(
            r.id[:8], r.model_id or "-", r.kind.value, r.status.value,
            r.started_at.strftime("%Y-%m-%d") if r.started_at else "-", _duration(r.duration_s),
            format_value(r.energy.it_kwh.value, "energy_kwh"),
            format_value(carbon.value, "carbon_kg") if carbon else "-",
            format_value(water.value, "water_l") if water else "-", (carbon or r.energy.it_kwh).quality.value,
        )
    return table


def _detail(report: RunReport) -> Table:
    """One screen: identity, context, the energy split, carbon and water, factors."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def row(label: str, value: object) -> None:
        grid.add_row(label, str(value))

    def figure(label: str, q: Quantity | None) -> None:
        if q is not None:
            row(label, f"{_interval(q)}  ({q.quality.value})")

    row("run", report.id)
    row("model", report.model_id or "-")
    if report.parents:
        row("parents", ", ".join(f"{p.model_id} ({p.relation.value}{'/' + p.method if p.method else ''})"
                                 for p in report.parents))
    row("kind / status", f"{report.kind.value} / {report.status.value}")
    row("started", report.started_at.isoformat() if report.started_at else "-")
    row("ended", report.ended_at.isoformat() if report.ended_at else "-")
    row("duration", _duration(report.duration_s))
    if report.run_group:
        row("group", f"{report.run_group} (rank {report.rank} of {report.world_size})")
    row("hardware", report.hardware.describe())
    if report.gpu_hours is not None:
        from dia.show import format_number

        row("GPU hours", format_number(report.gpu_hours))
    level = f"  (factors at {report.location.resolved_level} level)" if report.location.resolved_level else ""
    row("location", report.location.describe() + level)
    row("meter", f"{report.meter}  (recorded by {report.tool.name} {report.tool.version or ''}".rstrip() + ")")
    e = report.energy
    figure("energy GPU", e.gpu_kwh)
    figure("energy CPU", e.cpu_kwh)
    figure("energy RAM", e.ram_kwh)
    figure("energy IT", e.it_kwh)
    figure("energy facility", e.facility_kwh)
    if report.carbon:
        figure("carbon operational", report.carbon.operational_kg)
        figure("carbon embodied", report.carbon.embodied_kg)
        figure("carbon total", report.carbon.total_kg)
    else:
        row("carbon", "not converted")
    if report.water:
        figure("water on-site", report.water.onsite_l)
        figure("water off-site", report.water.offsite_l)
        figure("water total", report.water.total_l)
    w = report.workload
    counters = {k: v for k, v in (("steps", w.steps), ("samples", w.samples), ("tokens", w.tokens),
                                   ("inferences", w.inferences)) if v}
    if counters:
        row("workload", ", ".join(f"{v:,} {k}" for k, v in counters.items()))
    figure("energy / inference", report.intensities.wh_per_1000_inferences)  # "2 Wh per 1,000 inferences"
    figure("energy / token", report.intensities.j_per_token)
    for f in report.factors:
        from dia.show import format_range

        # A factor keeps its own unit (kgCO2e/kWh) and three figures: 13.1992 is "13.2".
        span = format_range(f.value, f.low, f.high, f.unit, digits=3)
        year = f", {f.year}" if f.year else ""
        key = f" for {f.key}" if f.key else ""
        row(f"factor {f.name}", f"{span}{key}  ({f.granularity}; {f.source}{year})")
    for phase in report.phases:
        figure(f"phase {phase.name}", phase.energy_kwh)
    for text in report.notes:
        row("note", text)
    return grid


def _open_for_reading(db: str | None) -> Any:
    """Open read-only; a SQLite store not created yet is an empty store, not an error."""
    from dia.record.store import sqlite_file

    path = sqlite_file(db)
    return open_store(db, read_only=path is None or path.exists())


def _read_notes(store: Any) -> None:
    """One line per stored row this DIA could not read (listed anyway, from its columns)."""
    for line in store.read_problems:
        note("note:", line)


def _print_lines(lines: list[str]) -> None:
    # Plain writes, not rich: output meant for pipes must not be wrapped or coloured.
    for line in lines:
        sys.stdout.write(line + "\n")


# -- commands ----------------------------------------------------------------------------------

def runs(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only runs of this model id.")] = None,
    status: Annotated[StatusChoice | None, typer.Option("--status", help="Only runs with this status.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only runs of this kind (finetuning, inference, ...).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="At most this many runs, newest first.")] = 50,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List runs, newest first (one line per logical run; distributed ranks merged)."""
    from dia.record.report import parse_kind

    kind_value = parse_kind(kind).value if kind else None
    with _open_for_reading(db) as store:
        reports = store.list_runs(model_id=model, status=status.value if status else None,
                                  kind=kind_value, limit=limit)
        _read_notes(store)
        if as_json:
            _print_lines([r.model_dump_json() for r in reports])
            return
        if not reports:
            err_console.print(f"no runs in {store.masked_url}", highlight=False, soft_wrap=True)
            return
        print_table(_runs_table(reports))


def show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix of at least 8 characters).")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show one run: context, energy split, carbon and water with intervals and quality, factors."""
    with _open_for_reading(db) as store:
        report = store.get_run(run_id)
        if report is None:
            raise fail(f"no run {run_id!r} in {store.masked_url} (list them with `dia runs`)")
        _read_notes(store)
    if as_json:
        _print_lines([report.model_dump_json(indent=2)])
    else:
        console.print(_detail(report))


def validate(
    path: Annotated[Path, typer.Argument(help="A report JSON file, or a JSONL file of reports.")],
    as_json: JsonOption = False,
) -> None:
    """Check report files against the schema and for consistency: one line per problem, exit 1 if any.

    A record is checked exactly as ``dia import`` checks it before storing it (energy-only
    reports are converted), so a record ``validate`` accepts is one ``import`` stores.
    """
    from dia.convert.complete import convert_if_missing
    from dia.record.files import check_reports

    total, refused, problems = 0, 0, list[str]()
    for record in check_reports(path, convert_if_missing):
        total += 1
        if not record.ok:
            refused += 1
            problems.extend(record.problems)
    if as_json:
        _print_lines([json.dumps({"file": str(path), "records": total, "valid": total - refused,
                                  "refused": refused, "problems": problems}, indent=2)])
    else:
        _print_lines(problems)
    if problems:
        err_console.print(f"{path.name}: {total - refused:,} of {total:,} record(s) valid; {refused:,} refused",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if total == 0:
        raise fail(f"{path.name}: no reports found")
    err_console.print(f"{path.name}: {total:,} valid report(s)", highlight=False, soft_wrap=True)


def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="jsonl (full reports), csv or parquet (flat columns + report JSON).")] = ExportFormat.jsonl,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output; required for parquet).")] = None,
    db: DbOption = None,
    public: Annotated[bool, typer.Option("--public", help="Safe to publish: no host, pid or raw notes; secrets and local paths removed.")] = False,
) -> None:
    """Export every stored run (all ranks of distributed jobs)."""
    from dia.record import files

    if fmt is ExportFormat.parquet and output is None:
        raise fail("parquet export needs an output file: -o runs.parquet")
    with _open_for_reading(db) as store:
        if public:
            from dia.record.public import public_report

            # Rows this DIA cannot read are left out (their raw JSON holds host and pid), with a note.
            reports: Any = (public_report(r) for r in store.iter_runs())
        else:
            reports = store.iter_stored()  # rows this DIA cannot read too, as stored: a backup is complete
        if fmt is ExportFormat.parquet:
            assert output is not None
            count = files.write_parquet(reports, output)
        else:
            writer = files.write_jsonl if fmt is ExportFormat.jsonl else files.write_csv
            if output is None:
                count = writer(reports, sys.stdout)
            else:
                try:
                    with output.open("w", encoding="utf-8", newline="") as fh:
                        count = writer(reports, fh)
                except OSError as exc:
                    raise fail(f"{output}: cannot write ({exc.strerror})") from None
        for line in store.read_problems:
            note("note:", f"{line}; " + ("left out of a public export" if public else "exported as stored"))
        if output is not None:
            err_console.print(f"exported {count} run(s) from {store.masked_url} to {output}", highlight=False, soft_wrap=True)


def import_(
    path: Annotated[Path, typer.Argument(help="A JSONL file of reports (as written by `dia export`).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import reports (idempotent: a run already stored is updated, never duplicated).

    Each report must be consistent (totals = sum of their parts); one stating energy but
    no carbon is converted with its location (none: the world default, estimated). Every
    refused record is named (file, record, line, reason), every other one is stored, and
    the last line says how many were; exit 1 if any was refused.
    """
    from dia.convert.complete import convert_if_missing
    from dia.record.files import import_reports

    with open_store(db) as store:
        summary = import_reports(store, path, prepare=convert_if_missing)
        if as_json:
            _print_lines([json.dumps({"records": summary.records, "imported": summary.imported,
                                      "not_applied": list(summary.not_applied),
                                      "skipped": list(summary.skipped), "store": store.masked_url,
                                      "error": summary.aborted}, indent=2)])
        else:
            for line in summary.not_applied:
                note("not applied", line)
            for line in summary.skipped:
                note("skipped", line, style="red")
            if summary.aborted is None:
                err_console.print(summary.line(store.masked_url), highlight=False, soft_wrap=True)
    if summary.aborted is not None:
        stored = f"imported {summary.imported:,} record(s) before it" if summary.imported else "nothing imported"
        raise fail(f"{summary.aborted} ({stored}; import stopped)")
    if summary.records == 0:
        raise fail(f"{path.name}: no reports found")
    if summary.skipped:
        raise typer.Exit(1)


def schema() -> None:
    """Print the JSON Schema of the run report."""
    from dia.record.report import schema_json

    _print_lines([schema_text(schema_json())])


def schema_text(schema_dict: dict[str, Any]) -> str:
    """The exact text of ``schemas/dia-run-report-1.0.schema.json``."""
    return json.dumps(schema_dict, indent=2, ensure_ascii=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("runs")(runs)
    app.command("show")(show)
    app.command("validate")(validate)
    app.command("export")(export)
    app.command("import")(import_)
    app.command("schema")(schema)
