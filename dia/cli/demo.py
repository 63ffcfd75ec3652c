"""``dia demo``: DIA's main job on the BIOSCAN family (what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        quick: Annotated[bool, typer.Option("--quick", help="Reduced sizes (what the test suite runs).")] = False,
        serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the dashboard on the demo store at the end.")] = True,
        port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Dashboard port (default: a free one).")] = None,
        workdir: Annotated[Path, typer.Option("--workdir", help="Folder for the demo store and the written card.")] = Path(".demo"),
        cards: Annotated[Path | None, typer.Option("--cards", help="Folder of BIOSCAN cards (default: examples/bioscan/cards).")] = None,
    ) -> None:
        """Ingest the BIOSCAN family, train and measure a toy family, print rollups, serve the dashboard.

        Uses a fresh demo store in --workdir, never your own store.
        """
        from dia.cli._common import fail

        try:
            import torch  # noqa: F401
        except ImportError:
            raise fail("the demo trains a toy model family with torch: pip install 'dia[all]' (make demo does this)") from None
        from dia.demo import run_demo
        from dia.demo.run import default_cards_dir

        if cards is None:
            try:
                cards = default_cards_dir()
            except FileNotFoundError as exc:
                raise fail(str(exc)) from None
        run_demo(workdir=workdir, quick=quick, serve=serve, port=port, cards_dir=cards)
