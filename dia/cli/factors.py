"""CLI: ``dia factors``, the conversion factors DIA would use for a place."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from dia.cli._common import JsonOption, console
from dia.cli.tables import print_table

# JSON key for each factor name: the unit is part of the key.
JSON_KEYS = {
    "carbon_intensity": "carbon_intensity_kg_per_kwh",
    "pue": "pue",
    "wue": "wue_l_per_kwh",
    "ewif": "ewif_l_per_kwh",
    "embodied_per_gpu_hour": "embodied_g_per_gpu_hour",
}
# Per factor in --json: `alternative` is the figure under the other convention, in `unit`.
JSON_FIELDS = ("value", "low", "high", "unit", "source", "granularity", "key", "convention", "alternative")


def factors(
    country: Annotated[str | None, typer.Option("--country", help="ISO 3166-1 alpha-3 code, e.g. CAN.")] = None,
    region: Annotated[str | None, typer.Option("--region", help="US state, Canadian province or Nordic zone.")] = None,
    cloud_provider: Annotated[str | None, typer.Option("--cloud-provider", help="gcp, aws or azure.")] = None,
    cloud_region: Annotated[str | None, typer.Option("--cloud-region", help="e.g. europe-west9, us-east-1.")] = None,
    pue: Annotated[float | None, typer.Option("--pue", help="Override the PUE (>= 1).")] = None,
    wue: Annotated[float | None, typer.Option("--wue", help="Override the on-site WUE in L/kWh.")] = None,
    carbon_intensity: Annotated[float | None, typer.Option(
        "--carbon-intensity", help="Override the grid intensity in kgCO2e/kWh.")] = None,
    hydro: Annotated[str, typer.Option(
        "--hydro", help="Hydro reservoir evaporation in the EWIF: both (default: counted, interval over both"
        " conventions), with, without (pin one).")] = "both",
    list_known: Annotated[bool, typer.Option("--list", help="List known countries, regions and cloud regions.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the conversion factors for a place, with intervals, sources and granularity."""
    if list_known:
        _print_known(as_json)
        return
    from dia.convert import resolve_factors

    resolved = resolve_factors(country=country, region=region, cloud_provider=cloud_provider,
                               cloud_region=cloud_region, pue=pue, wue=wue, carbon_intensity=carbon_intensity,
                               hydro=hydro)  # type: ignore[arg-type]
    location = resolved.place.location
    if as_json:
        out: dict[str, Any] = {
            JSON_KEYS[name]: {k: getattr(f, k) for k in JSON_FIELDS} for name, f in resolved.factors.items()
        }
        out["location"] = location.model_dump()
        out["notes"] = list(resolved.notes)
        typer.echo(json.dumps(out, indent=2))
        return
    from rich import box
    from rich.table import Table

    # No edge and no edge padding: the widest place (and both convention names) fit 80 columns.
    table = Table(title=f"Factors for {location.describe()} (level: {location.resolved_level})", box=box.SIMPLE,
                  show_edge=False, pad_edge=False, collapse_padding=True)
    from dia.show import format_number
    from dia.show.format import RANGE_DASH

    for col in ("factor", "value", f"low{RANGE_DASH}high", "unit", "granularity"):
        table.add_column(col, no_wrap=True)
    for name, f in resolved.factors.items():
        # Three figures (13.1992 is "13.2"), an en dash between the bounds (a hyphen reads as a minus).
        table.add_row(name, format_number(f.value), f"{format_number(f.low)}{RANGE_DASH}{format_number(f.high)}",
                      f.unit, f.granularity)
    print_table(table)
    _print_conventions(resolved.factors)
    # Sources are long: listed below the table so the numbers stay on one line each.
    for name, f in resolved.factors.items():
        year = f" ({f.year})" if f.year else ""
        console.print(f"{name}: {f.source}{year}", highlight=False, soft_wrap=True)
    for note in resolved.notes:
        console.print(f"note: {note}", highlight=False)


def _print_conventions(factors: dict[str, Any]) -> None:
    """Each factor's convention and its figure under the other one (a second table: 80 columns)."""
    from rich import box
    from rich.table import Table

    from dia.convert.factors import OTHER_CONVENTION
    from dia.show import format_number

    rows = [(name, f) for name, f in factors.items() if f.convention]
    if not rows:
        return
    table = Table(title="Conventions (the other figure is inside low–high unless pinned)", box=box.SIMPLE, show_edge=False,
                  pad_edge=False, collapse_padding=True)
    for col in ("factor", "convention", "other convention", "value"):
        table.add_column(col, no_wrap=True)
    for name, f in rows:
        other = "" if f.alternative is None else format_number(f.alternative)
        table.add_row(name, f.convention, OTHER_CONVENTION.get(f.convention, ""), other)
    print_table(table)


def _print_known(as_json: bool) -> None:
    from rich.text import Text

    from dia.convert import known_locations

    known = known_locations()
    if as_json:
        typer.echo(json.dumps(known, indent=2))
        return
    for kind, names in known.items():
        line = Text(kind, style="bold")
        line.append(f" ({len(names)}): " + ", ".join(names))
        console.print(line, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("factors")(factors)
