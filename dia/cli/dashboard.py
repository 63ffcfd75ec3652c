"""CLI command ``dia dashboard``: serve the Streamlit dashboard on a store and print its URL.

The serving itself is library code (:func:`dia.dashboard.serve`); this module only parses
the options and prints.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from dia.cli._common import DbOption, console


def _announce(url: str, public: bool) -> None:
    # One write per line: the server's own log shares this stream, and a line written in
    # pieces can be split by it (a URL followed by a log timestamp reads as another port).
    line = Text("DIA dashboard: ")
    line.append(url, style="bold")
    line.append("  (public, read-only)" if public else "")
    console.print(line, highlight=False, soft_wrap=True)
    console.print(Text("press Ctrl-C to stop", style="dim"), highlight=False)


def dashboard(
    db: DbOption = None,
    public: Annotated[bool, typer.Option("--public", help="Read-only store; no host, pid, local path, secret or traceback on any page: safe to publish.")] = False,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Port (default: a free one).")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a web browser.")] = False,
) -> None:
    """Serve the dashboard (Overview, Lineage, Runs, Compare, Regions, Methodology) and print its URL."""
    from dia.dashboard import serve

    serve(db, public=public, port=port, block=True, open_browser=not no_browser, announce=_announce)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("dashboard")(dashboard)
