"""Rich tables that never truncate a model id or a number ("biosca…").

Rich shrinks columns to fit the terminal, or 80 columns in a pipe, and cuts what does
not fit with an ellipsis. Here ids (up to 60 characters) and numbers are pinned whole:
a table that cannot fit is printed wider, and the terminal wraps its lines.

>>> import io
>>> from rich.console import Console
>>> from rich.table import Table
>>> table = Table("run")
>>> id_column(table)
>>> number_column(table, "kWh")
>>> table.add_row("d03b810e", "bioscan-ml/clibd-bioscan-5m-lora-r4", "12,346")
>>> out = Console(width=40, record=True, file=io.StringIO())
>>> print_table(table, out=out)
>>> "bioscan-ml/clibd-bioscan-5m-lora-r4" in out.export_text()
True

Cells are printed verbatim even on a console with markup on (Rich's default):

>>> table = Table("model", "note")
>>> table.add_row("org/[link=https://x]y", "interval [low, high]")
>>> out = Console(width=60, record=True, file=io.StringIO())
>>> print_table(table, out=out)
>>> shown = out.export_text()
>>> "org/[link=https://x]y" in shown and "[low, high]" in shown
True
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text


def print_table(table: Any, *, out: Console | None = None) -> None:
    """Print a Rich table without ever truncating a cell.

    Columns that must stay whole (ids, numbers) have a minimum width; when the table's
    minimum is wider than the terminal (or the 80 columns Rich assumes in a pipe), the
    table is printed at its minimum width: long lines, which the terminal wraps, rather
    than "biosca…".
    """
    from rich.measure import Measurement

    if out is None:
        from dia.cli._common import console

        out = console
    _as_text(table)
    for column in table.columns:
        # Rich may squeeze any column down to its longest word: pin ids and numbers whole.
        longest = max([_cell_width(column.header), *(_cell_width(c) for c in column.cells)])
        if column.no_wrap:
            column.min_width = max(column.min_width or 0, longest)
        elif column.max_width is not None:
            column.min_width = max(column.min_width or 0, min(column.max_width, longest))
    needed = Measurement.get(out, out.options.update_width(10_000), table).minimum
    width = out.width
    if needed <= width:
        out.print(table)
        return
    out.width = needed  # print(width=) cannot exceed the console's width
    try:
        out.print(table, crop=False)
    finally:
        out.width = width


def _as_text(table: Any) -> None:
    """Turn every plain-string cell, header, title and caption into :class:`~rich.text.Text`.

    A string is parsed as Rich markup by any console that has markup on (Rich's default):
    a model id ``org/[link=https://x]y`` would print as a hyperlink to ``org/y``, a note
    ``[low, high]`` would vanish. Text is printed as it is, whatever the console.
    """
    for name in ("title", "caption"):
        if isinstance(getattr(table, name, None), str):
            setattr(table, name, Text(getattr(table, name)))
    for column in table.columns:
        if isinstance(column.header, str):
            column.header = Text(column.header)
        if isinstance(column.footer, str):
            column.footer = Text(column.footer)
        # Rich keeps a column's cells in this list; there is no public setter.
        column._cells = [Text(c) if isinstance(c, str) else c for c in column._cells]


def _cell_width(cell: Any) -> int:
    from rich.cells import cell_len

    if isinstance(cell, Text):
        return max((cell_len(line) for line in cell.plain.splitlines()), default=0)
    if isinstance(cell, str):
        return max((cell_len(line) for line in cell.splitlines()), default=0)
    return 0


def id_column(table: Any, header: str = "model") -> None:
    """Add a model-id column: ids up to 60 characters stay on one line, longer ones fold."""
    table.add_column(header, overflow="fold", max_width=60)


def number_column(table: Any, header: str) -> None:
    """Add a numeric column: right-aligned, never wrapped or shortened."""
    table.add_column(header, justify="right", no_wrap=True)


