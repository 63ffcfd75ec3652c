"""CLI: ``dia ingest`` reads model cards (local or from the Hub) and JSONL report files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from dia.cli._common import DbOption, JsonOption, err_console, fail, note, open_store


def ingest(
    paths: Annotated[list[str] | None, typer.Argument(
        help="README.md files, folders of them (recursive) and JSONL report files; with --hub: Hub repo ids.",
        show_default=False)] = None,
    model_id: Annotated[str | None, typer.Option(
        "--model-id", help="Model id of a single card that names none (and is not in an <org>/<name> folder).")] = None,
    hub: Annotated[bool, typer.Option("--hub", help="Read the cards of these Hub repos (PATH... are repo ids).")] = False,
    family: Annotated[list[str] | None, typer.Option(
        "--family", help="Also read every model below this base in the Hub's model tree (implies --hub).")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Hub endpoint (default: HF_ENDPOINT, else huggingface.co).",
                                                  hidden=True)] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read footprints and lineage from model cards into the store (idempotent).

    Prints a summary (read, ingested, skipped with reasons); exits 1 when a card was skipped or the Hub stopped the ingest (what was read before is kept).
    """
    from dia.hub.reader import ingest as ingest_local
    from dia.hub.reader import ingest_hub

    items = list(paths or [])
    families = list(family or [])
    if not items and not families:
        raise fail("nothing to ingest: give README.md files, folders or JSONL files (or --hub REPO_ID...)", 2)
    with open_store(db) as store:
        if hub or families:
            with _progress_bar(not as_json and err_console.is_terminal) as on_progress:
                summary = ingest_hub(items, families=families, store=store, endpoint=endpoint,
                                     on_progress=on_progress)
        else:
            missing = [p for p in items if not Path(p).exists()]
            if missing:
                raise fail(f"{missing[0]}: no such file or folder", 2)
            summary = ingest_local(items, store=store, model_id=model_id)
        where = store.masked_url
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_summary(summary, where)
    if not summary.ok:
        raise typer.Exit(1)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A "reading cards" bar on stderr fed by the library's ``on_progress(done, total)``."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("reading cards"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("cards", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_summary(summary: Any, where: str) -> None:
    for line in summary.warnings[:50]:
        note("warning", line)
    if len(summary.warnings) > 50:
        note("warning", f"... and {len(summary.warnings) - 50} more")
    for file, reason in summary.skipped:
        note("skipped", f"{file}: {reason}", style="red")
    parts = [f"read {summary.read}", f"ingested {summary.ingested}"]
    if summary.lineage_only:
        parts.append(f"{summary.lineage_only} with lineage only")
    if summary.empty:
        parts.append(f"{len(summary.empty)} with no footprint or lineage")
    if summary.already_tracked:
        parts.append(f"{len(summary.already_tracked)} already tracked in the store")
    if summary.copied:
        parts.append(f"{len(summary.copied)} with their base's figure copied (not counted)")
    parts.append(f"skipped {len(summary.skipped)}")
    err_console.print(", ".join(parts) + f" ({where})", soft_wrap=True)
    if summary.error:
        note("error:", summary.error, style="bold red")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("ingest")(ingest)
