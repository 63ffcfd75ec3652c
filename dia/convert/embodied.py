"""Embodied (manufacturing) carbon per accelerator-hour, by accelerator class.

Each class in ``embodied-carbon.csv`` has a per-chip figure (kgCO2e, with an interval)
and a host node whose chassis is shared among ``gpus_per_node`` accelerators. Amortised
over the hardware's life at a fixed utilisation::

    g per GPU-hour = (chip_kg + node_kg / gpus_per_node) x 1000 / (life_years x 8760 h x 80 %)

The central value uses the row's lifetime (5 years); the low end uses the low figures over
6 years (the functional unit of Google's TPU life-cycle assessment, Schneider et al. 2025),
the high end the high figures over 4 years (Cloud Carbon Footprint's server lifetime).

Row intervals follow one convention. A single published figure (BLOOM's 150 kg per GPU,
2,500 kg per 8-GPU node) gets ``0.7x``-``1.5x``. A figure scaled from it by silicon area
(GPU die + 15.5 mm2 per GB of memory, Boavizta's GPU method) gets ``0.5x``-``2x``: area
scaling ignores the process node, packaging and board. An accelerator missing from the
table (or not named) gets the A100-class central value with an interval from the
smallest class's low end to the largest class's high end, and a note.

The figure is a generic per-class default, never a measurement: whatever the energy's
tier, embodied carbon is ``estimated``.

>>> f = embodied_factor("Tesla T4"), embodied_factor("NVIDIA A100-SXM4-80GB"), embodied_factor("NVIDIA H100 80GB HBM3")
>>> [x.key for x in f], f[0].value < f[1].value < f[2].value
(['T4', 'A100', 'H100'], True)
>>> embodied_factor("Banana 9000").granularity
'default'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from dia.convert import tables
from dia.errors import InvalidFactorError
from dia.record.report import Factor, Interval, Quality, Quantity

UNIT = "gCO2e/GPU-hour"
HOURS_PER_YEAR = 365 * 24
UTILISATION = 0.8  # share of its life an accelerator is busy (BLOOM and Boavizta assume 80-85 %)
LIFETIME_RANGE_YEARS = (6.0, 4.0)  # (years for the low end, years for the high end)
DEFAULT_CLASS = "A100"  # the central value for an unknown accelerator
REPORTED_SPREAD = (0.7, 1.5)  # interval of a single published figure
SCALED_SPREAD = (0.5, 2.0)  # interval of a figure scaled by silicon area

GpuHours = float | int | Interval | tuple[float, float, float]

# A count in front ("4 x A100", "8xH100") and vendor words carry no class information.
_COUNT_PREFIX = re.compile(r"^\s*\d+\s*[x\u00d7*]\s*", re.IGNORECASE)
_VENDOR_WORDS = re.compile(r"\b(nvidia|tesla|amd|google|cloud)\b", re.IGNORECASE)


def _strip(name: str) -> str:
    return _VENDOR_WORDS.sub(" ", _COUNT_PREFIX.sub("", name)).lower()


@cache
def _pattern(model: str) -> re.Pattern[str]:
    # The model's letters and digits in order, any separators between them, not preceded by
    # a letter ("GH200" is not an H200) nor followed by a digit ("A100" is not an "A10").
    key = tables.normalise_key(_strip(model))
    body = "[^a-z0-9]*".join(re.escape(ch) for ch in key)
    return re.compile(rf"(?<![a-z]){body}(?![0-9])")


def match_length(model: str, name: str) -> int | None:
    """How specifically the table name ``model`` matches an accelerator ``name``, or ``None``.

    One matcher for every hardware table (board power, embodied carbon): case, spaces,
    dashes, vendor words (NVIDIA, Tesla, AMD, Google) and a count prefix ("4 x") are
    ignored; the longest matching table name wins.

    >>> match_length("NVIDIA A100", "4 x A100"), match_length("NVIDIA A10", "NVIDIA A100-SXM4-80GB")
    (4, None)
    >>> match_length("TPU v3", "tpu-v3-8"), match_length("NVIDIA T4", "Tesla T4")
    (5, 2)
    """
    key = tables.normalise_key(_strip(model))
    if not key or not _pattern(model).search(_strip(name)):
        return None
    return len(key)


@dataclass(frozen=True)
class AcceleratorClass:
    """One row of the embodied-carbon table with its host node, as figures."""

    accelerator: str
    chip_kg: tuple[float, float, float]  # value, low, high
    node_kg: tuple[float, float, float]
    gpus_per_node: int
    lifetime_years: float
    source: str
    node_source: str
    year: int | None
    method: str  # "reported" or "scaled"

    def per_gpu_kg(self) -> tuple[float, float, float]:
        """The chip plus its share of the host node: (value, low, high) kgCO2e."""
        (chip, chip_low, chip_high), (node, node_low, node_high) = self.chip_kg, self.node_kg
        n = self.gpus_per_node
        return chip + node / n, chip_low + node_low / n, chip_high + node_high / n

    def g_per_gpu_hour(self) -> tuple[float, float, float]:
        """Amortised over the life at :data:`UTILISATION`: (value, low, high)."""
        value, low, high = self.per_gpu_kg()
        def per_hour(kg: float, years: float) -> float:
            return kg * 1000 / (years * HOURS_PER_YEAR * UTILISATION)

        long_life, short_life = LIFETIME_RANGE_YEARS
        return per_hour(value, self.lifetime_years), per_hour(low, long_life), per_hour(high, short_life)


def _triple(row: dict[str, str]) -> tuple[float, float, float]:
    value = float(row["embodied_kgco2e"])
    low = float(row.get("low_kgco2e") or value)
    high = float(row.get("high_kgco2e") or value)
    return value, low, high


@cache
def accelerator_classes() -> tuple[AcceleratorClass, ...]:
    """Every accelerator class of the bundled table (rows with an ``accelerator`` name)."""
    rows = tables.embodied_table()
    by_item = {r["item"]: r for r in rows}
    out = []
    for row in rows:
        if not row.get("accelerator"):
            continue
        node = by_item[row["node"]]
        out.append(AcceleratorClass(
            accelerator=row["accelerator"], chip_kg=_triple(row), node_kg=_triple(node),
            gpus_per_node=int(row["gpus_per_node"]), lifetime_years=float(row["lifetime_years"]),
            source=row["source"], node_source=f"{node['item']}: {node['source']}",
            year=int(row["year"]) if row.get("year") else None, method=row.get("method", ""),
        ))
    return tuple(out)


def find_class(name: str | None) -> AcceleratorClass | None:
    """The accelerator class an NVML or card name belongs to, ``None`` when unknown."""
    if not name:
        return None
    best: tuple[int, AcceleratorClass] | None = None
    for cls in accelerator_classes():
        length = match_length(cls.accelerator, name)
        if length is not None and (best is None or length > best[0]):
            best = (length, cls)
    return best[1] if best else None


def _note(cls: AcceleratorClass) -> str:
    chip, node = cls.chip_kg[0], cls.node_kg[0]
    how = "scaled by silicon area" if cls.method == "scaled" else "published figure"
    return (f"{cls.accelerator}: {chip:g} kg per chip ({how}) + {node:g} kg per {cls.gpus_per_node}-accelerator"
            f" node, {cls.lifetime_years:g} years at {UTILISATION:.0%} utilisation"
            f" (interval: {LIFETIME_RANGE_YEARS[0]:g} to {LIFETIME_RANGE_YEARS[1]:g} years)")


def embodied_factor(gpu_name: str | None) -> Factor:
    """The ``embodied_per_gpu_hour`` factor (gCO2e per GPU-hour) for an accelerator name."""
    cls = find_class(gpu_name)
    if cls is not None:
        value, low, high = cls.g_per_gpu_hour()
        return Factor(name="embodied_per_gpu_hour", value=value, low=low, high=high, unit=UNIT,
                      source=f"{cls.source}; node: {cls.node_source}", year=cls.year, granularity="hardware",
                      key=cls.accelerator, note=_note(cls))
    classes = accelerator_classes()
    default = next(c for c in classes if c.accelerator == DEFAULT_CLASS)
    figures = [c.g_per_gpu_hour() for c in classes]
    value = default.g_per_gpu_hour()[0]
    smallest = min(classes, key=lambda c: c.g_per_gpu_hour()[1]).accelerator
    largest = max(classes, key=lambda c: c.g_per_gpu_hour()[2]).accelerator
    what = "not named" if not gpu_name else "not in the embodied-carbon table"
    return Factor(name="embodied_per_gpu_hour", value=value, low=min(f[1] for f in figures),
                  high=max(f[2] for f in figures), unit=UNIT,
                  source=f"DIA embodied-carbon table, every class; central: {default.source}",
                  year=default.year, granularity="default", key="unknown accelerator",
                  note=(f"accelerator {what}: central value of the {DEFAULT_CLASS} class, interval from the"
                        f" smallest class ({smallest}) to the largest ({largest})"))


def gpu_hours_interval(gpu_hours: GpuHours | None) -> Interval | None:
    """GPU-hours as an interval: a number, a :class:`dia.Interval` or ``(value, low, high)``.

    >>> gpu_hours_interval(2.0), gpu_hours_interval((2.0, 1.0, 4.0)).high
    (Interval(value=2.0, low=2.0, high=2.0), 4.0)
    """
    if gpu_hours is None:
        return None
    if isinstance(gpu_hours, Interval):
        triple: Iterable[object] = gpu_hours.triple()
    elif isinstance(gpu_hours, (tuple, list)):
        if len(gpu_hours) != 3:
            raise InvalidFactorError(f"gpu_hours: expected a number or (value, low, high), got {gpu_hours!r}")
        triple = gpu_hours
    else:
        triple = (gpu_hours,) * 3
    value, low, high = (_hours(x) for x in triple)
    if not low <= value <= high:
        raise InvalidFactorError(f"gpu_hours: need low <= value <= high (got {value:g}, {low:g}, {high:g})")
    return Interval(value=value, low=low, high=high)


def _hours(x: object) -> float:
    if isinstance(x, bool):
        raise InvalidFactorError(f"gpu_hours: not a number: {x!r}")
    try:
        number = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidFactorError(f"gpu_hours: not a number: {x!r}") from None
    if not math.isfinite(number) or number < 0:
        raise InvalidFactorError(f"gpu_hours: must be a finite number >= 0 (got {x!r})")
    return number


def embodied_carbon(gpu_hours: Interval | None, factor: Factor, *, unit: str) -> Quantity | None:
    """GPU-hours x the factor, endpoint-wise, in kg; always ``estimated``; ``None`` without hours."""
    if gpu_hours is None or gpu_hours.high <= 0:
        return None
    hours = Quantity.of(gpu_hours.value, "GPU-hour", Quality.ESTIMATED, low=gpu_hours.low, high=gpu_hours.high)
    return hours.times(factor.value / 1000, factor.low / 1000, factor.high / 1000, unit=unit,
                       quality=Quality.ESTIMATED)


__all__ = ["AcceleratorClass", "accelerator_classes", "embodied_carbon", "embodied_factor", "find_class",
           "gpu_hours_interval", "match_length"]
