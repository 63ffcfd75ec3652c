"""Offline factor tables, loaded once per process and cached.

Two kinds of data feed the conversion layer:

* CSV files bundled in ``dia/convert/data/`` (cloud regions, operator PUE/WUE, water per
  technology, GPU board power, embodied carbon), each row with its source and licence;
* the grid data shipped inside the ``codecarbon`` package (MIT; country mixes from Our
  World in Data / Ember, CC BY 4.0; US states from EPA eGRID; Canadian provinces;
  Nordic bidding zones). It is read from the package's JSON files directly, which avoids
  importing pandas; :class:`codecarbon.input.DataSource` is the fallback if a future
  codecarbon moves the files.

Nothing here is imported by ``import dia``; the first ``footprint()`` call pays the load
(tens of milliseconds) and later calls only read dictionaries.

>>> grids = country_grids()
>>> round(grids["CAN"].carbon_intensity_g_per_kwh)
170
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

_DATA_PACKAGE = "dia.convert"
_LB_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000.0  # 1 lb = 453.59237 g; 1 MWh = 1000 kWh

CODECARBON_LICENCE = "MIT (codecarbon); country data Our World in Data / Ember, CC BY 4.0"

# Generation sources of codecarbon's country mixes -> keys of the water table mapping.
MIX_SOURCES = ("coal", "gas", "oil", "nuclear", "hydro", "solar", "wind", "biofuel", "other")


@dataclass(frozen=True)
class Grid:
    """Carbon intensity of one electricity grid, with its generation mix when known."""

    key: str  # ISO-3 country code, or canonical sub-national region name
    name: str
    country: str  # ISO-3 of the country the grid belongs to
    carbon_intensity_g_per_kwh: float
    year: int | None
    source: str
    licence: str
    level: str  # "country" or "subnational"
    mix_share: dict[str, float] = field(default_factory=dict)  # source -> share of generation (0-1)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloudRegion:
    """One cloud region; ``values_g_per_kwh`` holds every published figure found for it."""

    provider: str
    region: str
    location: str
    country: str
    carbon_intensity_g_per_kwh: float  # central: the newest provider figure, else CCF
    values_g_per_kwh: tuple[float, ...]
    year: int | None
    source: str
    licence: str


@dataclass(frozen=True)
class Operator:
    name: str
    pue: float | None
    wue_l_per_kwh: float | None
    year: int | None
    source: str


def _read_csv(name: str) -> list[dict[str, str]]:
    text = (files(_DATA_PACKAGE) / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _codecarbon_json(relative_path: str, datasource_method: str, *args: Any) -> Any:
    """One of codecarbon's bundled JSON tables (read as a file; DataSource as fallback)."""
    try:
        return json.loads((files("codecarbon") / relative_path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ModuleNotFoundError, OSError):  # pragma: no cover - layout change
        from codecarbon.input import DataSource

        return getattr(DataSource(), datasource_method)(*args)


@cache
def per_source_intensity_g_per_kwh() -> dict[str, float]:
    """Lifecycle gCO2e/kWh per generation source, as codecarbon ships it."""
    data = _codecarbon_json("data/private_infra/carbon_intensity_per_source.json",
                            "get_carbon_intensity_per_source_data")
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}


def _mix_from_twh(entry: dict[str, Any]) -> dict[str, float]:
    twh = {
        "coal": entry.get("coal_TWh", 0.0), "gas": entry.get("gas_TWh", 0.0),
        "oil": entry.get("oil_TWh", 0.0), "nuclear": entry.get("nuclear_TWh", 0.0),
        "hydro": entry.get("hydroelectricity_TWh", 0.0), "solar": entry.get("solar_TWh", 0.0),
        "wind": entry.get("wind_TWh", 0.0), "biofuel": entry.get("biofuel_TWh", 0.0),
        "other": entry.get("other_renewable_exc_biofuel_TWh", 0.0),
    }
    twh = {k: float(v or 0.0) for k, v in twh.items()}
    total = sum(twh.values())
    return {k: v / total for k, v in twh.items()} if total > 0 else {}


@cache
def country_grids() -> dict[str, Grid]:
    """213 countries keyed by ISO-3 code (codecarbon's global energy mix)."""
    data = _codecarbon_json("data/private_infra/global_energy_mix.json", "get_global_energy_mix_data")
    grids = {}
    for iso, entry in data.items():
        if not isinstance(entry, dict) or entry.get("carbon_intensity") is None:
            continue
        grids[iso.upper()] = Grid(
            key=iso.upper(), name=str(entry.get("country_name", iso)), country=iso.upper(),
            carbon_intensity_g_per_kwh=float(entry["carbon_intensity"]),
            year=int(entry["year"]) if entry.get("year") else None,
            source="codecarbon global energy mix (Our World in Data / Ember)",
            licence=CODECARBON_LICENCE, level="country", mix_share=_mix_from_twh(entry),
        )
    return grids


# Canadian province mixes name their sources differently; map them to ours.
_CANADA_SOURCES = {"naturalGas": "gas", "petroleum": "oil", "coal": "coal", "nuclear": "nuclear",
                   "hydro": "hydro", "solar": "solar", "wind": "wind", "biomass": "biofuel",
                   "tidal": "hydro", "other": "other"}
# Per-source intensity keys for our mix sources (codecarbon's per-source table).
_INTENSITY_KEY = {"coal": "coal", "gas": "natural_gas", "oil": "petroleum", "nuclear": "nuclear",
                  "hydro": "hydroelectricity", "solar": "solar", "wind": "wind", "biofuel": "biofuel",
                  "other": "fossil"}  # unattributed generation: counted as fossil, the cautious side
_CA_CODES = {"alberta": "AB", "british columbia": "BC", "manitoba": "MB", "new brunswick": "NB",
             "newfoundland and labrador": "NL", "northwest territories": "NT", "nova scotia": "NS",
             "nunavut": "NU", "ontario": "ON", "prince edward island": "PE", "quebec": "QC",
             "saskatchewan": "SK", "yukon": "YT"}


def mix_intensity_g_per_kwh(share: dict[str, float]) -> float:
    """Generation-weighted lifecycle intensity of a mix (shares sum to 1)."""
    per_source = per_source_intensity_g_per_kwh()
    return sum(s * per_source.get(_INTENSITY_KEY[k], per_source.get("fossil", 635.0)) for k, s in share.items())


@cache
def subnational_grids() -> dict[str, Grid]:
    """US states (eGRID), Canadian provinces (generation mix) and Nordic bidding zones."""
    grids: dict[str, Grid] = {}
    usa = _codecarbon_json("data/private_infra/2023/usa_emissions.json", "get_country_emissions_data", "usa")
    us_source = usa.get("_source", {})
    us_year = us_source.get("year") if isinstance(us_source, dict) else None
    for name, entry in usa.items():
        if name.startswith("_") or name == "usa" or not isinstance(entry, dict):
            continue
        code = str(entry.get("regionCode", "")).upper()
        grids[name] = Grid(
            key=name, name=name.title(), country="USA",
            carbon_intensity_g_per_kwh=float(entry["emissions"]) * _LB_PER_MWH_TO_G_PER_KWH,
            year=int(us_year) if us_year else None,
            source=str(us_source.get("name", "EPA eGRID")) if isinstance(us_source, dict) else "EPA eGRID",
            licence="public domain (US EPA), via codecarbon (MIT)", level="subnational",
            aliases=(f"US-{code}", code) if code else (),
        )
    canada = _codecarbon_json("data/private_infra/2023/canada_energy_mix.json", "get_country_energy_mix_data", "can")
    for name, entry in canada.items():
        if name.startswith("_") or not isinstance(entry, dict):
            continue
        share: dict[str, float] = {}
        for src, ours in _CANADA_SOURCES.items():
            share[ours] = share.get(ours, 0.0) + float(entry.get(src, 0.0) or 0.0)
        total = sum(share.values())
        share = {k: v / total for k, v in share.items()} if total else {}
        code = _CA_CODES.get(name, "")
        grids[name] = Grid(
            key=name, name=name.title(), country="CAN",
            carbon_intensity_g_per_kwh=mix_intensity_g_per_kwh(share), year=2023,
            source="codecarbon Canadian provincial generation mix x codecarbon per-source intensities",
            licence="MIT (codecarbon)", level="subnational", mix_share=share,
            aliases=(f"CA-{code}", code) if code else (),
        )
    nordic = _codecarbon_json("data/private_infra/nordic_emissions.json", "get_nordic_country_energy_mix_data")
    zones = nordic.get("data", nordic) if isinstance(nordic, dict) else {}
    meta = nordic.get("metadata", {}) if isinstance(nordic, dict) else {}
    for zone, entry in zones.items():
        if not isinstance(entry, dict) or "emission_factor" not in entry:
            continue
        country = {"SE": "SWE", "NO": "NOR", "FI": "FIN", "DK": "DNK"}.get(zone[:2].upper(), "")
        grids[zone.lower()] = Grid(
            key=zone.lower(), name=str(entry.get("description", zone)), country=country,
            carbon_intensity_g_per_kwh=float(entry["emission_factor"]),
            year=int(entry["year"]) if entry.get("year") else None,
            source="codecarbon Nordic zones: " + str(meta.get("source", "ENTSO-E"))[:120],
            licence="MIT (codecarbon)", level="subnational", aliases=(zone.upper(),),
        )
    return grids


@cache
def cloud_regions() -> dict[tuple[str, str], CloudRegion]:
    """(provider, normalised region) -> region; providers are ``gcp``, ``aws``, ``azure``."""
    grouped: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in _read_csv("cloud-regions.csv"):
        grouped.setdefault((row["provider"], normalise_key(row["region"])), []).append(row)
    out = {}
    for key, rows in grouped.items():
        # The provider's own newest figure is central; older years and CCF widen the interval.
        rows.sort(key=lambda r: (r["year"] != "", r["year"]), reverse=True)
        best = rows[0]
        out[key] = CloudRegion(
            provider=best["provider"], region=best["region"], location=best["location"],
            country=best["country"], carbon_intensity_g_per_kwh=float(best["carbon_intensity_g_per_kwh"]),
            values_g_per_kwh=tuple(float(r["carbon_intensity_g_per_kwh"]) for r in rows),
            year=int(best["year"]) if best["year"] else None, source=best["source"], licence=best["licence"],
        )
    return out


@cache
def operators() -> dict[str, Operator]:
    """Operator PUE and on-site WUE (``google``, ``microsoft``, ``aws``, ``meta``, ...)."""
    out = {}
    for row in _read_csv("datacenter-pue-wue.csv"):
        out[row["operator"]] = Operator(
            name=row["operator"], pue=float(row["pue"]) if row["pue"] else None,
            wue_l_per_kwh=float(row["wue_onsite_l_per_kwh"]) if row["wue_onsite_l_per_kwh"] else None,
            year=int(row["year"]) if row["year"] else None, source=row["source"],
        )
    return out


@cache
def water_by_technology() -> dict[tuple[str, str], tuple[float, str]]:
    """(technology, cooling) -> (litres consumed per kWh generated, source)."""
    return {(r["technology"], r["cooling"]): (float(r["consumption_l_per_kwh"]), r["source"])
            for r in _read_csv("water-by-technology.csv")}


@cache
def gpu_table() -> tuple[dict[str, str], ...]:
    return tuple(_read_csv("gpu-hardware.csv"))


@cache
def embodied_table() -> tuple[dict[str, str], ...]:
    return tuple(_read_csv("embodied-carbon.csv"))


def normalise_key(text: str) -> str:
    """Lower-case letters and digits only: ``"East US 2"`` and ``"eastus2"`` match."""
    return "".join(ch for ch in text.lower() if ch.isalnum())
