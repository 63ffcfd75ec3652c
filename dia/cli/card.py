"""CLI: ``dia card MODEL`` prints or writes a model card's footprint metadata.

>>> # dia card org/model                      -> the YAML front matter DIA would write
>>> # dia card org/model --json               -> the same metadata as JSON
>>> # dia card org/model --write out/README.md --format both --upstream
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dia.cli._common import DbOption, JsonOption, console, fail, open_store


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("card")(card)


def card(
    model: Annotated[str, typer.Argument(help="Model id, e.g. org/name.")],
    write: Annotated[Path | None, typer.Option(
        "--write", help="Fill (or create) this README.md (or folder) instead of printing the metadata.")] = None,
    format: Annotated[str, typer.Option(
        "--format", help="hf (Hub fields + dia block), dia-v0.1 (ai-impact-accounting dia_report) or both.")] = "hf",
    upstream: Annotated[bool, typer.Option(
        "--upstream", help="Add an upstream_cumulative block (this model plus its ancestors, labelled cumulative).")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fill a model card with the model's own footprint (or print its YAML front matter)."""
    from dia.hub.card import FORMATS, card_fields, fill_card

    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)} (got {format!r})", 2)
    store = open_store(db, read_only=True)
    try:
        if write is not None:
            done = fill_card(model, write, store=store, format=format, upstream=upstream)  # type: ignore[arg-type]
            if as_json:
                typer.echo(json.dumps({"model": model, "written": None if done.empty else str(done.path),
                                       "path": str(done.path), "changed": done.changed, "empty": done.empty}))
            elif done.empty:
                console.print(f"nothing to write for {model}: the store has no runs or lineage for it; "
                              f"{done.path} left as it is", soft_wrap=True, markup=False)
            else:
                console.print(f"{'wrote' if done.changed else 'unchanged'} {done.path}", soft_wrap=True, markup=False)
            return
        meta = card_fields(model, store, format=format, upstream=upstream)  # type: ignore[arg-type]
        if as_json:
            typer.echo(json.dumps(meta, indent=2, default=str))
            return
        if not meta:
            console.print(f"nothing to write for {model}: the store has no runs or lineage for it",
                          soft_wrap=True, markup=False)
            return
        from huggingface_hub.utils import yaml_dump

        typer.echo("---\n" + yaml_dump(meta, sort_keys=False) + "---")
    finally:
        store.close()
