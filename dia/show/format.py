"""One formatter for every figure DIA shows: tables, metrics, charts, the CLI, cards.

Figures carry 2-3 significant figures (no more than the evidence supports), a unit scaled
to the size of the number (Wh/kWh/MWh, g/kg/t, mL/L/m³) and, when they have one, their
interval after an en dash (a hyphen between two numbers reads as a minus). A figure
nobody disclosed is :data:`NOT_DISCLOSED`, never 0.

>>> format_figure(Interval(value=243.9, low=8.939, high=921.5), "carbon_kg")
'240 kg CO2e (8.9–920)'
>>> format_value(1358.0, "energy_kwh"), format_value(0.001, "energy_kwh"), format_value(8e-10, "energy_kwh")
('1.36 MWh', '1 Wh', '8e-4 mWh')
>>> format_number(13.1992), format_number(630.5415), format_number(3.27e-05), format_number(None)
('13.2', '631', '3.27e-5', 'not disclosed')
>>> field_label("own_carbon_kg"), field_label("family_coverage")
('Own carbon', 'Family coverage')
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from dia.record.report import Interval

NOT_DISCLOSED = "not disclosed"
RANGE_DASH = "–"  # en dash: "8.9–920" cannot be read as "8.9 minus 920"

# (field, label, base unit) of the three footprint quantities, in the order they are shown.
QUANTITIES: tuple[tuple[str, str, str], ...] = (
    ("energy_kwh", "Energy", "kWh"), ("carbon_kg", "Carbon", "kg CO2e"), ("water_l", "Water", "L"),
)

# Units a quantity is shown in, smallest first: (unit, how many of them make one base unit).
_LADDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "energy_kwh": (("mWh", 1e6), ("Wh", 1e3), ("kWh", 1.0), ("MWh", 1e-3), ("GWh", 1e-6), ("TWh", 1e-9)),
    "carbon_kg": (("mg CO2e", 1e6), ("g CO2e", 1e3), ("kg CO2e", 1.0), ("t CO2e", 1e-3), ("kt CO2e", 1e-6),
                  ("Mt CO2e", 1e-9)),
    "water_l": (("mL", 1e3), ("L", 1.0), ("m³", 1e-3)),
    "wh_per_1000_inferences": (("mWh per 1,000 inferences", 1e3), ("Wh per 1,000 inferences", 1.0),
                               ("kWh per 1,000 inferences", 1e-3)),
    "j_per_token": (("mJ per token", 1e3), ("J per token", 1.0), ("kJ per token", 1e-3)),
}
_LADDERS["energy"] = _LADDERS["kWh"] = _LADDERS["energy_kwh"]
_LADDERS["carbon"] = _LADDERS["kg CO2e"] = _LADDERS["kgCO2e"] = _LADDERS["carbon_kg"]
_LADDERS["water"] = _LADDERS["L"] = _LADDERS["water_l"]
# The units a run report's intensities are stored in (dia.constants).
_LADDERS["Wh/1000 inferences"] = _LADDERS["wh_per_1000_inferences"]
_LADDERS["J/token"] = _LADDERS["j_per_token"]

_BIG_WORDS = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))

# Labels of the fields tables and charts show; anything else gets the generic rule of
# field_label ("carbon_kg_low" -> "Carbon, low").
LABELS: dict[str, str] = {
    "model": "Model", "family": "Family", "members": "Members", "with_report": "With a report",
    "has_report": "Has a report", "coverage": "Coverage", "family_coverage": "Family coverage",
    "upstream_coverage": "Upstream coverage", "relation": "Relation", "depth": "Depth", "runs": "Runs",
    "quality": "Quality", "kind": "Kind", "status": "Status", "started": "Started", "country": "Country",
    "meter": "Meter", "not_disclosed": "Not disclosed", "duration_s": "Duration (s)",
    "wh_per_1000_inferences": "Energy per 1,000 inferences", "j_per_token": "Energy per token",
    "imputed_basis": "Imputation basis", "place": "Place", "level": "Grid factor level",
    "model_id": "Model", "run": "Run", "run_id": "Run id", "gpu_hours": "GPU hours", "power_w": "Power (W)",
    "t_s": "Time (s)", "location": "Location", "place_name": "Place", "country_name": "Country", "own_runs": "Own runs",
}
_PREFIXES = {"own": "Own", "family": "Family", "upstream": "Upstream", "use": "Use", "imputed": "Imputed"}
_NAMES = {"energy": "energy", "carbon": "carbon", "water": "water"}


@dataclass(frozen=True)
class Scale:
    """The unit a figure (or a whole chart axis) is shown in: ``shown = base value * factor``.

    >>> s = axis_scale([1.7, 244.0, 1500.0], "carbon_kg")
    >>> s.unit, s.factor
    ('t CO2e', 0.001)
    """

    unit: str
    factor: float

    def apply(self, value: float) -> float:
        return value * self.factor


def _ladder(quantity: str) -> tuple[tuple[str, float], ...]:
    return _LADDERS.get(quantity, ((quantity, 1.0),))


def scale_for(value: float, quantity: str, digits: int = 3) -> Scale:
    """The unit of ``quantity`` (a field such as ``"energy_kwh"``, or any literal unit, which
    is kept) in which ``value`` (in base units) reads as a number from 1 to 999."""
    ladder = _ladder(quantity)
    size = abs(value) if math.isfinite(value) else 0.0
    if size == 0.0:
        return Scale(*next((s for s in ladder if s[1] == 1.0), ladder[0]))
    index = 0
    for i, (_, factor) in enumerate(ladder):
        if size * factor >= 1.0:
            index = i
    # 999.7 Wh shown to 3 figures is "1,000 Wh": one step up reads "1 kWh"
    if index + 1 < len(ladder) and _round_significant(size * ladder[index][1], digits) >= 1000:
        index += 1
    return Scale(*ladder[index])


def _round_significant(x: float, digits: int) -> float:
    if not x or not math.isfinite(x):
        return x
    # Through the decimal text, not round(): round() overflows near the largest float.
    rounded = float(f"{x:.{max(1, digits) - 1}e}")
    return rounded if math.isfinite(rounded) else x


def axis_scale(values: Iterable[float | None], quantity: str) -> Scale:
    """One unit for a set of values (a chart axis, a column): the unit of the largest."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return scale_for(max(finite, default=0.0), quantity)


def format_number(x: float | None, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures: thousands separated, words past a million,
    scientific notation only below 0.001 or past 10^15; :data:`NOT_DISCLOSED` for ``None``.

    >>> format_number(0.0012345), format_number(1234567.0), format_number(2.0), format_number(0)
    ('0.00123', '1.23 million', '2', '0')
    """
    if x is None:
        return NOT_DISCLOSED
    if math.isnan(x):
        return "not a number"
    if math.isinf(x):
        return "infinite" if x > 0 else "minus infinite"
    if x == 0:
        return "0"
    digits = max(1, digits)
    # Round first, then choose the notation: 999,999.7 is "1 million", not "1,000,000",
    # and 0.00099996 is "0.001", not "1e-3".
    x = _round_significant(x, digits)
    size = abs(x)
    exponent = math.floor(math.log10(size))
    if exponent < -3 or exponent >= 15:
        mantissa, _, power = f"{x:.{digits - 1}e}".partition("e")
        return f"{_trim(mantissa)}e{int(power)}"
    for limit, word in _BIG_WORDS:
        if size >= limit:
            return f"{format_number(x / limit, digits)} {word}"
    decimals = digits - 1 - exponent
    rounded = round(x, decimals)
    if abs(rounded) >= 1000:
        return f"{rounded:,.0f}"
    return _trim(f"{rounded:.{max(0, decimals)}f}")


def _trim(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_count(n: int | None) -> str:
    """A count with thousands separators: ``format_count(12345) == '12,345'``."""
    return NOT_DISCLOSED if n is None else f"{n:,}"


def format_share(fraction: float | None) -> str:
    """A fraction as a whole percentage; a non-zero share below 1 % is ``"<1%"``, not ``"0%"``.

    >>> format_share(2 / 52), format_share(0.001), format_share(1.0)
    ('4%', '<1%', '100%')
    """
    if fraction is None:
        return NOT_DISCLOSED
    if 0 < fraction < 0.005:
        return "<1%"
    if 0.995 <= fraction < 1:
        return ">99%"
    return f"{fraction:.0%}"


def format_value(x: float | None, quantity: str, digits: int = 3) -> str:
    """One figure with its scaled unit: ``format_value(1358, "energy_kwh") == '1.36 MWh'``."""
    if x is None:
        return NOT_DISCLOSED
    if math.isnan(x):  # not a figure: no unit to scale it to
        return format_number(x)
    # Rounded once, in base units: the unit and the digits then agree (0.0009995 kg is
    # "1 g CO2e" or "999 mg CO2e", never "0.999 g CO2e" through binary noise).
    x = _round_significant(x, digits)
    scale = scale_for(x, quantity, digits)
    return f"{format_number(scale.apply(x), digits)} {scale.unit}"


def _digits(value: float, low: float, high: float) -> int:
    # A range spanning more than a factor of 2 supports two significant figures, not three.
    if low <= 0 or high > 2 * low or value <= 0:
        return 2
    return 3


_SMALLEST_DECIMAL = 0.001  # format_number's last decimal before scientific notation


def format_range(value: float, low: float, high: float, quantity: str, *, digits: int | None = None) -> str:
    """``"240 kg CO2e (8.9–920)"``: value and interval in the value's unit; the interval is
    left out when it is a single point.

    >>> format_range(0.0075e-6, 1.6e-10, 0.43e-6, "carbon_kg")
    '0.0075 mg CO2e (<0.001–0.43)'
    """
    n = digits if digits is not None else _digits(value, low, high)
    value, low, high = (_round_significant(x, n) for x in (value, low, high))
    scale = scale_for(value if value else high, quantity, n)
    shown = [format_number(scale.apply(x), n) for x in (value, low, high)]
    # A low end far below the value reads "<0.001", not "1.6e-4" in a table of decimals.
    if 0 < scale.apply(low) < _SMALLEST_DECIMAL <= scale.apply(value):
        shown[1] = f"<{_SMALLEST_DECIMAL:g}"
    text = f"{shown[0]} {scale.unit}"
    if shown[1] == shown[2] == shown[0]:
        return text
    return f"{text} ({shown[1]}{RANGE_DASH}{shown[2]})"


def format_figure(figure: Interval | None, quantity: str, *, digits: int | None = None) -> str:
    """An interval as :func:`format_range`, or :data:`NOT_DISCLOSED` for ``None`` (never "0")."""
    if figure is None:
        return NOT_DISCLOSED
    return format_range(figure.value, figure.low, figure.high, quantity, digits=digits)


def field_label(name: str) -> str:
    """A human label for a field name (``own_carbon_kg`` -> ``Own carbon``); the unit is not
    in the label because each figure carries its own scaled unit."""
    if name in LABELS:
        return LABELS[name]
    words = name.split("_")
    prefix = _PREFIXES.get(words[0]) if len(words) > 1 else None
    rest = words[1:] if prefix else words
    end = ""
    if rest and rest[-1] in ("low", "high"):
        end = f", {rest[-1]}"
        rest = rest[:-1]
    if rest and rest[-1] in ("kwh", "kg", "l", "wh"):
        rest = rest[:-1]
    text = " ".join(rest)
    label = f"{prefix} {text}" if prefix else text[:1].upper() + text[1:]
    return label + end
