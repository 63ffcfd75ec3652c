"""The five conversion factors for a place, each a :class:`~dia.record.report.Factor`.

===========================  ====================  ==========================================
factor                       unit                  most specific source first
===========================  ====================  ==========================================
``carbon_intensity``         kgCO2e/kWh            explicit > cloud region > sub-national grid
                                                   > country > world default
``pue``                      ratio                 explicit > cloud operator > default
``wue``                      L/kWh (IT energy)     explicit > cloud operator > default
``ewif``                     L/kWh (facility)      generation mix of the resolved grid > default
``embodied_per_gpu_hour``    gCO2e/GPU-hour        embodied-carbon table (GPU + node share)
===========================  ====================  ==========================================

Intervals: annual grid averages stand in for the hours a run actually used, so place
factors get at least +-10 % (sub-national +-15 %; several published figures for a cloud
region span their range). Defaults carry the ranges of ``methodology.md`` section 2.

Conventions (``Factor.convention``; the other convention's figure is ``Factor.alternative``):

* carbon intensity is **lifecycle** (IPCC AR5 WGIII Annex III scope: fuel chain and
  construction on top of the stack). Sources given as direct combustion (eGRID states,
  cloud providers' grid figures) are converted with AR5 medians on the grid's generation
  mix (``scope_split``); the direct-combustion figure always lies inside the interval.
* EWIF counts **hydro reservoir evaporation** (``with_hydro_evaporation``, the WRI
  guidance convention). With ``hydro="both"`` (the default) the interval is the union of
  both conventions' intervals; ``"with"``/``"without"`` pin one convention (+-25 % for
  the per-technology factors).

>>> f = resolve_factors(country="CAN")
>>> f.factors["carbon_intensity"].value, f.factors["carbon_intensity"].granularity
(0.170043, 'country')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Literal

from dia.convert import embodied, tables
from dia.convert.location import PROVIDER_OPERATOR, OnUnknown, Place, resolve_place
from dia.errors import InvalidFactorError
from dia.record.report import Factor

Hydro = Literal["both", "with", "without"]
HYDRO_CONVENTIONS: tuple[str, ...] = ("both", "with", "without")
FACTOR_NAMES: tuple[str, ...] = ("carbon_intensity", "pue", "wue", "ewif", "embodied_per_gpu_hour")

_METHODOLOGY = "DIA methodology defaults (methodology.md section 2)"

# Conventions (docs/conversion.md): one default each, the other figure kept beside it.
CI_LIFECYCLE = "lifecycle"  # DIA's default: IPCC AR5 lifecycle scope, as Ember's country figures
CI_DIRECT = "direct_combustion"  # stack emissions only: eGRID rates, cloud providers' grid figures
HYDRO_DEFAULT = "with_hydro_evaporation"
HYDRO_OTHER = "without_hydro_evaporation"
HYDRO_DEFAULT_SOURCE = ("WRI, Guidance for calculating water use embedded in purchased electricity"
                        " (Reig et al. 2020), as used by Li et al., Making AI Less Thirsty")
OTHER_CONVENTION = {CI_LIFECYCLE: CI_DIRECT, CI_DIRECT: CI_LIFECYCLE, HYDRO_DEFAULT: HYDRO_OTHER,
                    HYDRO_OTHER: HYDRO_DEFAULT}
_EWIF_TECH_REL = 0.25  # spread of the per-technology water factors (Macknick et al. 2012)
# World defaults: central, low, high (methodology.md section 2).
DEFAULT_CI_KG_PER_KWH = (0.475, 0.03, 0.80)
DEFAULT_PUE = (1.2, 1.08, 1.6)
DEFAULT_WUE_L_PER_KWH = (0.55, 0.0, 2.5)
DEFAULT_EWIF_L_PER_KWH = (2.0, 0.5, 4.5)

# Our mix sources -> (technology, cooling) rows of the water table.
_WATER_ROW = {"coal": ("coal", "generic"), "gas": ("natural gas", "generic"), "oil": ("oil", "generic"),
              "nuclear": ("nuclear", "generic"), "hydro": ("hydro", "reservoir evaporation"),
              "solar": ("solar pv", "none"), "wind": ("wind", "none"), "biofuel": ("biopower", "steam tower"),
              "other": ("other", "generic")}


@dataclass(frozen=True)
class ResolvedFactors:
    """The factors for one place, keyed by name, and the place they were resolved for."""

    place: Place
    factors: dict[str, Factor]
    notes: tuple[str, ...]


def check_override(name: str, value: object, *, minimum: float = 0.0, maximum: float = math.inf,
                   hint: str = "") -> float:
    """Validate a user-supplied factor: a finite number in ``[minimum, maximum]``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidFactorError(f"{name}: not a number: {value!r}") from None
    if not math.isfinite(number) or number < minimum or number > maximum:
        bound = f">= {minimum:g}" if maximum == math.inf else f"between {minimum:g} and {maximum:g}"
        raise InvalidFactorError(f"{name}: must be a finite number {bound} (got {value!r}){hint}")
    return number


def _spread(value: float, rel: float) -> tuple[float, float]:
    return value * (1 - rel), value * (1 + rel)


def _explicit(name: str, value: float, unit: str) -> Factor:
    """A factor the user gave: exact, no interval."""
    return Factor(name=name, value=value, low=value, high=value, unit=unit, source="given by the user",
                  granularity="explicit")


@cache
def _scope_table() -> dict[str, tuple[float, float]]:
    """Mix source -> (lifecycle, direct) gCO2e/kWh, IPCC AR5 WGIII Annex III medians."""
    return {r["source"]: (float(r["lifecycle_g_per_kwh"]), float(r["direct_g_per_kwh"]))
            for r in tables._read_csv("ci-scope-by-source.csv")}


@cache
def world_mix() -> dict[str, float]:
    """Generation shares of the world: the country mixes weighted by their generation."""
    data = tables._codecarbon_json("data/private_infra/global_energy_mix.json", "get_global_energy_mix_data")
    twh: dict[str, float] = {}
    for iso, grid in tables.country_grids().items():
        total = float(data.get(iso, data.get(iso.lower(), {})).get("total_TWh") or 0.0)
        for source, share in grid.mix_share.items():
            twh[source] = twh.get(source, 0.0) + share * total
    total = sum(twh.values())
    return {k: v / total for k, v in twh.items()}


def scope_split(share: dict[str, float]) -> tuple[float, float]:
    """(lifecycle/direct ratio of the mix's fuel-burning part, g/kWh of the part that burns nothing).

    lifecycle = direct x ratio + upstream: combustion plants carry their fuel chain on top
    of the stack emissions; the others carry only construction and supply chain.

    >>> ratio, upstream = scope_split({"gas": 1.0})
    >>> round(ratio, 3), upstream
    (1.324, 0.0)
    """
    table = _scope_table()
    lc_burn = direct_burn = upstream = 0.0
    for source, fraction in share.items():
        lifecycle, direct = table.get(source, table["other"])
        if direct > 0:
            lc_burn += fraction * lifecycle
            direct_burn += fraction * direct
        else:
            upstream += fraction * lifecycle
    if direct_burn <= 0:  # nothing burnt in the mix: gas, the larger upstream share, is the cautious side
        lifecycle, direct = table["gas"]
        return lifecycle / direct, upstream
    return lc_burn / direct_burn, upstream


def lifecycle_and_direct(g_per_kwh: float, convention: str, share: dict[str, float]) -> tuple[float, float]:
    """A grid intensity in gCO2e/kWh under both conventions: (lifecycle, direct combustion).

    The split of the grid's generation mix (``scope_split``; the world mix when none is
    known) turns the source's figure into the other convention.

    >>> lifecycle, direct = lifecycle_and_direct(370.0, CI_DIRECT, {"gas": 1.0})
    >>> round(lifecycle), direct
    (490, 370.0)
    """
    ratio, upstream = scope_split(share or world_mix())
    if convention == CI_LIFECYCLE:
        return g_per_kwh, max(0.0, (g_per_kwh - upstream) / ratio)
    return g_per_kwh * ratio + upstream, g_per_kwh


def _grid_convention(grid: tables.Grid) -> str:
    # eGRID's output emission rates count the stack only; Ember's country figures and
    # codecarbon's per-source factors are lifecycle figures.
    return CI_DIRECT if "egrid" in grid.source.lower() else CI_LIFECYCLE


def _ci_factor(central_g: float, others_g: tuple[float, ...], rel: float, convention: str,
               share: dict[str, float], **meta: object) -> Factor:
    """A carbon intensity in DIA's convention (lifecycle), the other convention as alternative.

    The interval is +-``rel`` around the central value, widened to every other published
    figure (in the same convention) and to the other convention's figure.
    """
    lifecycle, direct = (v / 1000 for v in lifecycle_and_direct(central_g, convention, share))
    values = [lifecycle_and_direct(v, convention, share)[0] / 1000 for v in others_g]
    low, high = _spread(lifecycle, rel)
    return Factor(name="carbon_intensity", value=lifecycle, low=min(low, direct, *values),
                  high=max(high, direct, *values), unit="kgCO2e/kWh", convention=CI_LIFECYCLE,
                  alternative=direct, **meta)  # type: ignore[arg-type]


def _carbon_intensity(place: Place, override: float | None) -> Factor:
    name, unit = "carbon_intensity", "kgCO2e/kWh"
    if override is not None:
        return _explicit(name, override, unit)
    share = place.mix_grid.mix_share if place.mix_grid else {}
    if place.cloud is not None:
        c = place.cloud
        cloud_note = ("provider figure is direct combustion (operational); lifecycle derived with IPCC AR5"
                      " medians on the grid's mix")
        return _ci_factor(c.carbon_intensity_g_per_kwh, c.values_g_per_kwh, 0.10, CI_DIRECT, share,
                          source=c.source, year=c.year, granularity="cloud_region",
                          key=f"{c.provider}:{c.region}", licence=c.licence, note=cloud_note)
    if place.grid is not None:
        g = place.grid
        convention = _grid_convention(g)
        note = None if convention == CI_LIFECYCLE else (
            "source figure is direct combustion; lifecycle derived with IPCC AR5 medians on the country's mix")
        return _ci_factor(g.carbon_intensity_g_per_kwh, (), 0.15 if g.level == "subnational" else 0.10,
                          convention, share, source=g.source, year=g.year,
                          granularity="subnational" if g.level == "subnational" else "country", key=g.key, licence=g.licence, note=note)
    value, low, high = DEFAULT_CI_KG_PER_KWH
    direct = lifecycle_and_direct(value * 1000, CI_LIFECYCLE, {})[1] / 1000
    return Factor(name=name, value=value, low=min(low, direct), high=high, unit=unit, granularity="world",
                  key="world", convention=CI_LIFECYCLE, alternative=direct,
                  source="world average grid intensity (IEA 2019; also CodeCarbon's fallback; the generation-"
                         "weighted mean of the lifecycle country figures is 481 g/kWh)", year=2019,
                  note="location unknown: the interval spans near-zero-carbon to coal-heavy grids")


def _operator(place: Place) -> tables.Operator | None:
    return tables.operators().get(PROVIDER_OPERATOR[place.provider]) if place.provider else None


def _pue(place: Place, override: float | None) -> Factor:
    if override is not None:
        return _explicit("pue", override, "ratio")
    op = _operator(place)
    if op is not None and op.pue is not None:
        # A fleet average: single sites run a little better or worse.
        return Factor(name="pue", value=op.pue, low=max(1.0, op.pue - 0.05), high=op.pue + 0.10, unit="ratio",
                      source=op.source, year=op.year, granularity="operator", key=op.name)
    value, low, high = DEFAULT_PUE
    return Factor(name="pue", value=value, low=low, high=high, unit="ratio", source=_METHODOLOGY,
                  granularity="default", note="facility unknown: hyperscale fleets to the industry average")


def _wue(place: Place, override: float | None) -> Factor:
    if override is not None:
        return _explicit("wue", override, "L/kWh")
    op = _operator(place)
    if op is not None and op.wue_l_per_kwh is not None:
        # Fleet averages hide strong climate differences between sites: half to double.
        return Factor(name="wue", value=op.wue_l_per_kwh, low=op.wue_l_per_kwh / 2, high=op.wue_l_per_kwh * 2,
                      unit="L/kWh", source=op.source, year=op.year, granularity="operator", key=op.name)
    value, low, high = DEFAULT_WUE_L_PER_KWH
    return Factor(name="wue", value=value, low=low, high=high, unit="L/kWh",
                  source="U.S. average on-site WUE (Li, Yang, Islam, Ren, Making AI Less Thirsty)",
                  granularity="default", note="cooling unknown: dry cooling to evaporative cooling in hot climates")


def ewif_of_mix(share: dict[str, float], *, with_hydro: bool) -> float:
    """Litres consumed per kWh generated by a mix (shares sum to 1).

    >>> round(ewif_of_mix({"hydro": 0.5, "wind": 0.5}, with_hydro=True), 2)
    8.5
    """
    water = tables.water_by_technology()
    total = 0.0
    for source, fraction in share.items():
        if source == "hydro" and not with_hydro:
            continue
        total += fraction * water[_WATER_ROW.get(source, ("other", "generic"))][0]
    return total


def _ewif(place: Place, hydro: Hydro) -> Factor:
    grid = place.mix_grid
    world = grid is None or not grid.mix_share
    # No known mix: the world's generation mix under the same convention, so that the
    # central value never changes convention with the place (range: methodology section 2).
    share = world_mix() if world else grid.mix_share  # type: ignore[union-attr]
    without = ewif_of_mix(share, with_hydro=False)
    with_ = ewif_of_mix(share, with_hydro=True)
    if world:
        counted = hydro != "without"
        chosen, other = (with_, without) if counted else (without, with_)
        _, low, high = DEFAULT_EWIF_L_PER_KWH
        return Factor(name="ewif", value=chosen, low=min(low, chosen), high=max(high, chosen), unit="L/kWh",
                      source=f"world generation mix (codecarbon country mixes weighted by generation) x Macknick"
                             f" et al. 2012; range: {_METHODOLOGY}", granularity="world", key="world",
                      note="location unknown: the interval spans typical grids and both hydro conventions",
                      alternative=other, convention=HYDRO_DEFAULT if counted else HYDRO_OTHER)
    assert grid is not None
    source = f"{grid.source} mix x Macknick et al. 2012 water consumption per technology"
    granularity: Literal["subnational", "country"] = "subnational" if grid.level == "subnational" else "country"
    pinned = hydro in ("with", "without")
    counted = hydro != "without"  # "both" is the default convention: evaporation counted
    chosen, other = (with_, without) if counted else (without, with_)
    if pinned:
        low, high = _spread(chosen, _EWIF_TECH_REL)
        note = f"hydro reservoir evaporation {'counted' if counted else 'not counted'} (pinned)"
    else:
        # The union of both conventions' intervals: the central value is the default's.
        low, high = without * (1 - _EWIF_TECH_REL), with_ * (1 + _EWIF_TECH_REL)
        note = (f"central: {HYDRO_DEFAULT} ({HYDRO_DEFAULT_SOURCE}); interval: both hydro conventions"
                f" +-{_EWIF_TECH_REL:.0%}")
    return Factor(name="ewif", value=chosen, low=low, high=high, unit="L/kWh", source=source, year=grid.year,
                  granularity=granularity, key=grid.key, note=note, alternative=other,
                  convention=HYDRO_DEFAULT if counted else HYDRO_OTHER)


def _embodied(gpu_name: str | None) -> Factor:
    return embodied.embodied_factor(gpu_name)


def resolve_factors(
    *,
    country: str | None = None,
    region: str | None = None,
    cloud_provider: str | None = None,
    cloud_region: str | None = None,
    pue: float | None = None,
    wue: float | None = None,
    carbon_intensity: float | None = None,
    hydro: Hydro = "both",
    gpu_name: str | None = None,
    on_unknown: OnUnknown = "raise",
    use_configured: bool = True,
) -> ResolvedFactors:
    """Resolve the location and every factor for it; overrides win over the tables."""
    if hydro not in HYDRO_CONVENTIONS:
        raise InvalidFactorError(f"hydro: must be one of {', '.join(HYDRO_CONVENTIONS)} (got {hydro!r})")
    ci = None if carbon_intensity is None else check_override(
        "carbon_intensity", carbon_intensity, maximum=2.0, hint=" in kgCO2e/kWh; did you give g/kWh?")
    pue_v = None if pue is None else check_override("pue", pue, minimum=1.0, maximum=5.0)
    wue_v = None if wue is None else check_override("wue", wue, maximum=50.0)
    place = resolve_place(country=country, region=region, cloud_provider=cloud_provider,
                          cloud_region=cloud_region, explicit_intensity=ci is not None, on_unknown=on_unknown,
                          use_configured=use_configured)
    factors = {
        "carbon_intensity": _carbon_intensity(place, ci),
        "pue": _pue(place, pue_v),
        "wue": _wue(place, wue_v),
        "ewif": _ewif(place, hydro),
        "embodied_per_gpu_hour": _embodied(gpu_name),
    }
    return ResolvedFactors(place=place, factors=factors, notes=place.notes)


def gpu_tdp_w(name: str) -> float | None:
    """Board power of a GPU model from the bundled table, ``None`` when unknown.

    Matches NVML-style names with the embodied-carbon table's matcher
    (:func:`dia.convert.embodied.match_length`); with no form factor in the name, the
    first (SXM) row wins.

    >>> gpu_tdp_w("NVIDIA A100-SXM4-80GB"), gpu_tdp_w("NVIDIA H100 PCIe"), gpu_tdp_w("Banana")
    (400.0, 350.0, None)
    >>> gpu_tdp_w("Tesla T4"), gpu_tdp_w("4 x A100"), gpu_tdp_w("NVIDIA A10")
    (70.0, 400.0, 150.0)
    """
    wanted = tables.normalise_key(name)
    best: tuple[int, int, float] | None = None
    for row in tables.gpu_table():
        length = embodied.match_length(row["gpu"], name)
        if length is None:
            continue
        form = tables.normalise_key(row["form_factor"])
        score = (length, int(bool(form) and form in wanted))
        if best is None or score > best[:2]:
            best = (*score, float(row["tdp_w"]))
    return best[2] if best else None
