"""Where a run happened, resolved most specific first.

Order: explicit carbon intensity > cloud provider + region > sub-national grid (US state,
Canadian province, Nordic bidding zone) > country > world default. The level that
supplied the grid factors is recorded in ``Location.resolved_level``.

Where the location comes from: the arguments of the call; if none is given, the
environment (``DIA_COUNTRY``, ``DIA_REGION``, ``DIA_CLOUD_PROVIDER``, ``DIA_CLOUD_REGION``);
if none of those is set, the ``[location]`` table of the config file (``DIA_CONFIG``, else
``<user config dir>/dia/config.toml``). Sources are not mixed: the first that names
anything describes the whole location. No network lookup is ever made.

One place: a cloud region fixes the country and the grid (``cloud-region-grids.csv``
names the sub-national grid it sits in, when DIA has one: ``aws:us-east-1`` -> Virginia).
A country or region given beside it that lies elsewhere is a contradiction:
:class:`ConflictingLocationError` naming both with ``on_unknown="raise"``, a note and the
cloud region's grid with ``on_unknown="world"``. Repeating its own country is fine.

Unknown names: with ``on_unknown="raise"`` (the default for the Python API and the CLI)
an unknown country, region or cloud region raises :class:`UnknownLocationError` naming
the closest known names. With ``on_unknown="world"`` (the tracker's path: measuring must
never fail) the grid falls back to the world default, the quality drops to
``estimated`` and a note says so. Nothing unknown ever becomes some country silently.

>>> place = resolve_place(country="can")
>>> place.location.country, place.location.resolved_level
('CAN', 'country')
>>> resolve_place(cloud_provider="google", cloud_region="europe-west9").location.country
'FRA'
>>> resolve_place(cloud_provider="aws", cloud_region="us-east-1", country="FRA", on_unknown="world").notes
("cloud region aws:us-east-1 is in USA, not FRA; the cloud region's grid is used",)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomllib is new in 3.11; tomli is the same parser under its PyPI name
    import tomli as tomllib

from dia import settings
from dia.constants import APP_NAME
from dia.convert import tables
from dia.errors import ConflictingLocationError, UnknownLocationError, did_you_mean
from dia.record.report import Factor, Location

OnUnknown = Literal["raise", "world"]

# Provider spellings -> the table's provider key, and the operator whose PUE/WUE applies.
_PROVIDERS = {
    "gcp": "gcp", "google": "gcp", "googlecloud": "gcp", "googlecloudplatform": "gcp",
    "aws": "aws", "amazon": "aws", "amazonwebservices": "aws",
    "azure": "azure", "microsoft": "azure", "microsoftazure": "azure",
}
PROVIDER_OPERATOR = {"gcp": "google", "aws": "aws", "azure": "microsoft"}


@dataclass(frozen=True)
class Place:
    """A resolved location plus the tables rows it points at."""

    location: Location
    grid: tables.Grid | None = None  # sub-national or country grid (None: world default)
    cloud: tables.CloudRegion | None = None
    mix_grid: tables.Grid | None = None  # the grid whose generation mix gives the EWIF
    provider: str | None = None  # gcp, aws, azure
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_world_default(self) -> bool:
        return self.cloud is None and self.grid is None


def known_locations() -> dict[str, list[str]]:
    """Names DIA has grid factors for: ``countries`` (ISO-3), ``regions``, ``cloud_regions``.

    >>> "CAN" in known_locations()["countries"]
    True
    """
    regions = sorted({g.aliases[0] if g.aliases else g.key for g in tables.subnational_grids().values()})
    clouds = sorted(f"{c.provider}:{c.region}" for c in tables.cloud_regions().values())
    return {"countries": sorted(tables.country_grids()), "regions": regions, "cloud_regions": clouds}


def _config_path() -> Path:
    explicit = settings.config_path()
    if explicit:
        return Path(explicit)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME)) / "config.toml"


def configured_location() -> tuple[dict[str, str | None], str]:
    """The location from the environment, else the config file: (fields, where from)."""
    from_env = settings.location()
    if any(from_env.values()):
        return from_env, "environment"
    path = _config_path()
    try:
        with path.open("rb") as fh:
            section = tomllib.load(fh).get("location", {})
    except FileNotFoundError:
        section = {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UnknownLocationError(f"{path}: cannot read the config file: {exc}") from None
    if not isinstance(section, dict):
        section = {}
    fields = {k: (str(section[k]) if section.get(k) else None)
              for k in ("country", "region", "cloud_provider", "cloud_region")}
    return fields, str(path)


def resolve_place(
    *,
    country: str | None = None,
    region: str | None = None,
    cloud_provider: str | None = None,
    cloud_region: str | None = None,
    explicit_intensity: bool = False,
    on_unknown: OnUnknown = "raise",
    use_configured: bool = True,
) -> Place:
    """Resolve a location (falling back to env vars and the config file); see module docs.

    ``use_configured=False`` skips that fallback: a report imported from elsewhere that
    names no place was not run where this machine's settings say (world default instead).

    >>> resolve_place(region="quebec").location.country
    'CAN'
    """
    notes: list[str] = []
    if use_configured and not any((country, region, cloud_provider, cloud_region)):
        fields, origin = configured_location()
        country, region = fields["country"], fields["region"]
        cloud_provider, cloud_region = fields["cloud_provider"], fields["cloud_region"]
        if any(fields.values()):
            notes.append(f"location taken from {origin}")

    def unknown(message: str) -> None:
        if on_unknown == "raise":
            raise UnknownLocationError(message)
        notes.append(f"{message}; ignored")

    def conflict(message: str) -> None:
        if on_unknown == "raise":
            raise ConflictingLocationError(message)
        notes.append(f"{message}; the cloud region's grid is used")

    provider = None
    if cloud_provider:
        provider = _PROVIDERS.get(tables.normalise_key(cloud_provider))
        if provider is None:
            unknown(f"unknown cloud provider {cloud_provider!r}"
                    f"{did_you_mean(cloud_provider, sorted(set(_PROVIDERS.values())))}; known: gcp, aws, azure")

    cloud = None
    if cloud_region:
        cloud = _find_cloud(provider, cloud_region)
        if cloud is None:
            names = [c.region for c in tables.cloud_regions().values() if provider in (None, c.provider)]
            where = f" for {provider}" if provider else ""
            unknown(f"unknown cloud region {cloud_region!r}{where}{did_you_mean(cloud_region, names)}")
        elif provider is None:
            provider = cloud.provider

    country_grid = None
    if country:
        country_grid = _find_country(country)
        if country_grid is None:
            unknown(f"unknown country {country!r}{did_you_mean(country.upper(), _country_names())}"
                    " (use an ISO 3166-1 alpha-3 code; `dia factors --list` shows them)")
        elif cloud is not None and country_grid.key != cloud.country:
            conflict(f"cloud region {cloud.provider}:{cloud.region} is in {cloud.country}, not {country_grid.key}")
            country_grid = None

    # A cloud region fixes the grid: the sub-national one it sits in, when DIA has it.
    cloud_grid = _cloud_grid(cloud) if cloud is not None else None
    sub_grid = None
    if region:
        within = cloud.country if cloud else (country_grid.key if country_grid else None)
        sub_grid = _find_region(region, within)
        if sub_grid is None and cloud is not None:
            sub_grid = _find_region(region, None)  # a region elsewhere contradicts the cloud region
        if sub_grid is None:
            names = [g.aliases[0] if g.aliases else g.key for g in tables.subnational_grids().values()
                     if within in (None, g.country)]
            names += [g.name for g in tables.subnational_grids().values() if within in (None, g.country)]
            scope = f" in {within}" if within else ""
            unknown(f"unknown region {region!r}{scope}{did_you_mean(region, names)}")
        elif cloud is not None and (sub_grid.country != cloud.country or (
                cloud_grid is not None and sub_grid.key != cloud_grid.key)):
            where = (f"{cloud_grid.key} ({cloud.country})" if cloud_grid is not None else cloud.country)
            conflict(f"cloud region {cloud.provider}:{cloud.region} is in {where},"
                     f" not {sub_grid.key} ({sub_grid.country})")
            sub_grid = None
    sub_grid = cloud_grid or sub_grid

    country_code = (cloud.country if cloud else None) or (sub_grid.country if sub_grid else None) or (
        country_grid.key if country_grid else None)
    if country_grid is None and country_code:
        country_grid = tables.country_grids().get(country_code)

    grid = sub_grid or country_grid
    level: Literal["explicit", "cloud_region", "subnational", "country", "world"]
    if explicit_intensity:
        level = "explicit"
    elif cloud is not None:
        level = "cloud_region"
    elif sub_grid is not None:
        level = "subnational"
    elif country_grid is not None:
        level = "country"
    else:
        level = "world"
        if not explicit_intensity:
            notes.append("location unknown: world-average grid factors with a wide interval (quality estimated)"
                         "; set country=, DIA_COUNTRY or the config file")

    # The EWIF needs a generation mix: the region's own if it has one, else its country's.
    mix_grid = sub_grid if (sub_grid and sub_grid.mix_share) else country_grid
    location = Location(
        country=country_code,
        region=sub_grid.key if sub_grid else None,
        cloud_provider=provider,
        cloud_region=cloud.region if cloud else None,
        resolved_level=level,
    )
    return Place(location=location, grid=grid, cloud=cloud, mix_grid=mix_grid, provider=provider,
                 notes=tuple(notes))


def _country_names() -> list[str]:
    grids = tables.country_grids()
    return list(grids) + [g.name for g in grids.values()]


def _find_country(text: str) -> tables.Grid | None:
    grids = tables.country_grids()
    hit = grids.get(text.strip().upper())
    if hit:
        return hit
    wanted = tables.normalise_key(text)
    for grid in grids.values():
        if tables.normalise_key(grid.name) == wanted:
            return grid
    return None


def _find_region(text: str, country: str | None) -> tables.Grid | None:
    wanted = tables.normalise_key(text)
    for grid in tables.subnational_grids().values():
        if country not in (None, grid.country):
            continue
        names = (grid.key, grid.name, *grid.aliases)
        if any(tables.normalise_key(n) == wanted for n in names):
            return grid
    return None


def _find_cloud(provider: str | None, region: str) -> tables.CloudRegion | None:
    regions = tables.cloud_regions()
    wanted = tables.normalise_key(region)
    if provider:
        return regions.get((provider, wanted))
    # Region names are distinct across providers (us-east-1 vs us-east1 vs eastus).
    matches = [r for (p, key), r in regions.items() if key == wanted]
    return matches[0] if len(matches) == 1 else None


@cache
def _cloud_grids() -> dict[tuple[str, str], str]:
    """(provider, normalised region) -> key of the sub-national grid the region sits in."""
    return {(row["provider"], tables.normalise_key(row["region"])): row["grid"]
            for row in tables._read_csv("cloud-region-grids.csv")}


def _cloud_grid(cloud: tables.CloudRegion) -> tables.Grid | None:
    key = _cloud_grids().get((cloud.provider, tables.normalise_key(cloud.region)))
    return tables.subnational_grids().get(key) if key else None


# -- the location a run's factors resolved to -----------------------------------------------

# Factor granularities that name a place (the key is a cloud region, grid or country).
_PLACE_GRANULARITIES = ("cloud_region", "subnational", "country")


def resolved_location(location: Location, factors: list[Factor]) -> Location:
    """``location``, or where its grid factor says the run happened when ``location`` names no
    country: a report stored with factors keyed ``ontario`` (or ``CA-ON``, or ``gcp:us-central1``)
    but an empty location is in Canada (the USA), not "unknown". The one rule used by the
    store's country column on save and by the dashboard for reports stored before it.

    >>> from dia.record.report import Factor
    >>> ci = Factor(name="carbon_intensity", value=0.03, low=0.02, high=0.04, unit="kgCO2e/kWh",
    ...             source="x", granularity="subnational", key="CA-ON")
    >>> found = resolved_location(Location(), [ci])
    >>> found.country, found.region, found.resolved_level
    ('CAN', 'ontario', 'subnational')
    >>> resolved_location(Location(country="FRA"), [ci]).country  # a stated country is kept
    'FRA'
    """
    if location.country:
        return location
    for factor in factors:
        if factor.name != "carbon_intensity" or factor.granularity not in _PLACE_GRANULARITIES or not factor.key:
            continue
        found = _place_of_factor(factor.granularity, factor.key)
        if found is not None:
            update = {k: v for k, v in found.model_dump().items() if v is not None and getattr(location, k) is None}
            return location.model_copy(update=update)
    return location


@cache
def _place_of_factor(granularity: str, key: str) -> Location | None:
    """The location a grid factor's key names (``None``: a key DIA's tables do not know)."""
    provider, sep, cloud_region = key.partition(":") if granularity == "cloud_region" else ("", "", "")
    try:
        place = resolve_place(
            country=key if granularity == "country" else None,
            region=key if granularity == "subnational" else None,
            cloud_provider=provider if sep else None,
            cloud_region=(cloud_region if sep else key) if granularity == "cloud_region" else None,
            on_unknown="world", use_configured=False)
    except (UnknownLocationError, ConflictingLocationError):
        return None
    return None if place.location.resolved_level == "world" else place.location


def country_name(code: str | None) -> str:
    """The English name of an ISO 3166-1 alpha-3 code from the packaged grid table
    (codecarbon's, which carries the names), else the code itself; ``"unknown"`` for none.

    >>> country_name("CAN"), country_name("can"), country_name("XYZ"), country_name(None)
    ('Canada', 'Canada', 'XYZ', 'unknown')
    """
    if not code:
        return "unknown"
    grid = tables.country_grids().get(code.strip().upper())
    return grid.name if grid is not None else code


def region_name(key: str) -> str:
    """A sub-national grid's name (``"CA-ON"`` or ``"ontario"`` -> ``"Ontario"``), else the key."""
    grid = _find_region(key, None)
    return grid.name if grid is not None else key


def place_name(location: Location) -> str:
    """A location in words, most specific first: ``"Ontario, Canada"``,
    ``"gcp:us-central1 (Iowa), United States"``, ``"unknown"``.

    >>> place_name(Location(country="CAN", region="ontario"))
    'Ontario, Canada'
    >>> place_name(Location())
    'unknown'
    """
    parts = []
    if location.cloud_region:
        cloud = f"{location.cloud_provider}:{location.cloud_region}" if location.cloud_provider else location.cloud_region
        parts.append(f"{cloud} ({region_name(location.region)})" if location.region else cloud)
    elif location.region:
        parts.append(region_name(location.region))
    if location.country:
        parts.append(country_name(location.country))
    return ", ".join(parts) if parts else "unknown"
