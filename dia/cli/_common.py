"""Shared CLI pieces: consoles, the --db option, one-line errors instead of tracebacks.

Messages and data (model ids, card text, file names) are printed with Rich markup OFF,
so ``pip install 'dia[dashboard]'`` or a model id like ``org/[bold]x`` shows whole:
use :func:`fail`, :func:`note` or ``console.print(..., markup=False)``, never an f-string
with user data inside a markup string.

Exit codes: 0 success, 1 an error (a ``DIAError``: bad file, unknown model, store...),
2 a usage error (bad option or argument value, ``InvalidArgumentError``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from dia.errors import DIAError

# Markup and highlighting off by default: styles are given as Text objects or style=.
console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: DIA_DATABASE_URL, else the embedded SQLite store)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on one line to stderr (markup off); return the Exit to raise."""
    note("error:", message, style="bold red")
    return typer.Exit(code)


def note(label: str, message: str, *, style: str = "yellow", stderr: bool = True) -> None:
    """Print ``label message`` on one line: ``label`` styled, ``message`` verbatim (no markup)."""
    text = Text(label, style=style)
    text.append(" " + message)
    (err_console if stderr else console).print(text, highlight=False, soft_wrap=True)


class DIAGroup(TyperGroup):
    """Turns any DIAError raised by a command into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:  # typer >= 0.20 ships its own click: Any fits both
        try:
            return super().invoke(ctx)
        except DIAError as exc:
            raise fail(_one_line(exc), exc.exit_code) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_store(db: str | None, *, read_only: bool = False) -> Any:
    """Open the store named by ``--db`` (lazy import keeps ``dia --help`` fast)."""
    from dia.record.store import Store

    return Store(db, read_only=read_only)
