"""CLI command ``dia dashboard``: serve the Streamlit dashboard on a store and print its URL.

The serving itself is library code (:func:`dia.dashboard.serve`); this module only parses
the options and prints.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dia.cli._common import DbOption, console


def _announce(url: str, public: bool) -> None:
    console.print("DIA dashboard: ", end="", highlight=False)
    console.print(url, style="bold", markup=False, highlight=False, end="")
    console.print("  (public, read-only)" if public else "", markup=False, highlight=False)
    console.print("press Ctrl-C to stop", style="dim", markup=False, highlight=False)


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
