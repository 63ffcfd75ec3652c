"""Shared CLI pieces: consoles, the --db option, one-line errors instead of tracebacks."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from dia.errors import DIAError

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: DIA_DATABASE_URL, else the embedded SQLite store)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on one line to stderr; return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class DIAGroup(TyperGroup):
    """Turns any DIAError raised by a command into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:  # typer >= 0.20 ships its own click: Any fits both
        try:
            return super().invoke(ctx)
        except DIAError as exc:
            raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code) from None


def open_store(db: str | None, *, read_only: bool = False) -> Any:
    """Open the store named by ``--db`` (lazy import keeps ``dia --help`` fast)."""
    from dia.record.store import Store

    return Store(db, read_only=read_only)
