"""The ``dia`` command line. Each command group lives in its own module and registers
itself here; heavy imports happen inside the commands, so ``dia --help`` stays fast."""

from __future__ import annotations

import typer

from dia._version import __version__
from dia.cli import card, dashboard, demo, factors, ingest, lineage, records, run
from dia.cli._common import DIAGroup

app = typer.Typer(
    cls=DIAGroup,
    name="dia",
    help="DIA: energy, carbon and water of AI models, across whole model families.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dia {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """DIA: Data and Impact Accounting."""


for _module in (records, factors, run, lineage, card, ingest, dashboard, demo):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
