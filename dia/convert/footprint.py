"""Energy -> facility energy -> carbon and water (``methodology.md`` section 1).

    facility_kwh   = it_kwh * PUE
    operational_kg = facility_kwh * CI
    embodied_kg    = gpu_hours * embodied_g_per_gpu_hour / 1000   (per accelerator class)
    onsite_l       = it_kwh * WUE          (IT energy: WUE is defined per kWh of IT load)
    offsite_l      = facility_kwh * EWIF

Intervals multiply endpoint-wise (all factors are positive); central values use central
factors. Quality: a converted figure is as good as its energy, except that a factor
from a generic default (unknown facility, unknown location) makes it ``estimated``.
Embodied carbon is always ``estimated``: it is a per-class default, not a measurement.

>>> fp = footprint(100.0, country="CAN", pue=1.1, wue=0.2)
>>> round(fp.carbon.operational_kg.value, 2), round(fp.water.onsite_l.value, 1)
(18.7, 20.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dia.constants import UNIT_CARBON, UNIT_ENERGY, UNIT_WATER
from dia.convert.embodied import GpuHours, embodied_carbon, gpu_hours_interval
from dia.convert.factors import Hydro, OnUnknown, check_override, resolve_factors
from dia.record.report import (
    Carbon,
    Energy,
    Factor,
    Location,
    Quality,
    Quantity,
    RunReport,
    Water,
    worst_quality,
)

# Factor granularities that say "we do not know this place or facility".
_GENERIC = frozenset({"default", "world"})


@dataclass(frozen=True)
class Footprint:
    """Carbon and water of an amount of IT energy at a place, with the factors used."""

    energy: Energy
    carbon: Carbon
    water: Water
    factors: list[Factor]
    location: Location
    notes: list[str] = field(default_factory=list)

    @property
    def level(self) -> str:
        """Which resolution level supplied the grid factors (explicit ... world)."""
        return self.location.resolved_level or "world"

    def apply(self, report: RunReport) -> RunReport:
        """A copy of ``report`` with this footprint's facility energy, carbon, water and factors."""
        energy = report.energy.model_copy(update={"facility_kwh": self.energy.facility_kwh})
        notes = report.notes + [n for n in self.notes if n not in report.notes]
        return report.model_copy(update={"energy": energy, "carbon": self.carbon, "water": self.water,
                                         "factors": list(self.factors), "location": self.location,
                                         "notes": notes})


def _quality(energy: Quantity, *factors: Factor) -> Quality:
    generic = any(f.granularity in _GENERIC for f in factors)
    return worst_quality(energy.quality, Quality.ESTIMATED) if generic else energy.quality


def _scale(q: Quantity, f: Factor, unit: str, divisor: float = 1.0, *, quality: Quality) -> Quantity:
    return q.times(f.value / divisor, f.low / divisor, f.high / divisor, unit=unit, quality=quality)


def footprint(
    energy_kwh: float | Quantity,
    *,
    gpu_hours: GpuHours | None = None,
    gpu_name: str | None = None,
    country: str | None = None,
    region: str | None = None,
    cloud_provider: str | None = None,
    cloud_region: str | None = None,
    pue: float | None = None,
    wue: float | None = None,
    carbon_intensity: float | None = None,
    hydro: Hydro = "both",
    energy_quality: Quality | str = Quality.REPORTED,
    on_unknown: OnUnknown = "raise",
    use_configured: bool = True,
) -> Footprint:
    """Carbon and water for ``energy_kwh`` of IT energy (GPU + CPU + RAM) at a place.

    ``energy_kwh`` is a number (taken with quality ``energy_quality``, ``reported`` by
    default: a figure from elsewhere) or a :class:`~dia.record.report.Quantity` in kWh.
    ``carbon_intensity`` is in kgCO2e/kWh. With no location argument the environment
    (``DIA_COUNTRY`` ...) or the config file is used (not with ``use_configured=False``); unknown names raise
    :class:`~dia.errors.UnknownLocationError` unless ``on_unknown="world"``.
    ``gpu_hours`` is a number, a :class:`dia.Interval` or ``(value, low, high)``; with
    ``gpu_name`` (an NVML or card name) it gives the embodied carbon of that accelerator
    class, whose interval carries both the GPU-hours' and the factor's.

    >>> fp = footprint(1.0, carbon_intensity=0.5, pue=1.0)
    >>> fp.carbon.operational_kg.value, fp.level
    (0.5, 'explicit')
    """
    if isinstance(energy_kwh, Quantity):
        it = energy_kwh
        if it.unit != UNIT_ENERGY:
            raise ValueError(f"energy_kwh: expected a quantity in {UNIT_ENERGY}, got {it.unit}")
    else:
        value = check_override("energy_kwh", energy_kwh)
        it = Quantity.of(value, UNIT_ENERGY, energy_quality)
    gpu_h = gpu_hours_interval(gpu_hours)
    resolved = resolve_factors(country=country, region=region, cloud_provider=cloud_provider,
                               cloud_region=cloud_region, pue=pue, wue=wue, carbon_intensity=carbon_intensity,
                               hydro=hydro, gpu_name=gpu_name, on_unknown=on_unknown,
                               use_configured=use_configured)
    f = resolved.factors
    ci, pue_f, wue_f, ewif_f, emb_f = (f["carbon_intensity"], f["pue"], f["wue"], f["ewif"],
                                        f["embodied_per_gpu_hour"])

    facility = _scale(it, pue_f, UNIT_ENERGY, quality=_quality(it, pue_f))
    operational = _scale(facility, ci, UNIT_CARBON, quality=_quality(facility, ci))
    used = [ci, pue_f, wue_f, ewif_f]
    embodied = embodied_carbon(gpu_h, emb_f, unit=UNIT_CARBON)
    notes = list(resolved.notes)
    if embodied is not None:
        used.append(emb_f)
        if emb_f.granularity == "default" and emb_f.note:
            notes.append(f"embodied carbon: {emb_f.note}")
    total_carbon = operational + embodied if embodied is not None else operational
    onsite = _scale(it, wue_f, UNIT_WATER, quality=_quality(it, wue_f))
    offsite = _scale(facility, ewif_f, UNIT_WATER, quality=_quality(facility, ewif_f))
    return Footprint(
        energy=Energy(it_kwh=it, facility_kwh=facility),
        carbon=Carbon(operational_kg=operational, embodied_kg=embodied, total_kg=total_carbon),
        water=Water(onsite_l=onsite, offsite_l=offsite, total_l=onsite + offsite),
        factors=used,
        location=resolved.place.location,
        notes=notes,
    )


def convert_report(report: RunReport, *, use_configured: bool = True, **overrides: object) -> RunReport:
    """Fill a report's carbon, water and factors from its energy, GPU-hours and location.

    The tracker's path: an unknown location falls back to the world default with a note,
    never an error. ``overrides`` are ``pue``, ``wue``, ``carbon_intensity``, ``hydro``.
    A report with no location takes this machine's configured one (``DIA_COUNTRY``, the
    config file) unless ``use_configured=False`` (a report imported from elsewhere).
    """
    loc = report.location
    gpu_name = report.hardware.gpus[0].name if report.hardware.gpus else None
    fp = footprint(report.energy.it_kwh, gpu_hours=report.gpu_hours, gpu_name=gpu_name,
                   country=loc.country, region=loc.region, cloud_provider=loc.cloud_provider,
                   cloud_region=loc.cloud_region, on_unknown="world", use_configured=use_configured,
                   **overrides)  # type: ignore[arg-type]
    return fp.apply(report)
