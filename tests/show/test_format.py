"""dia.show.format: every figure DIA shows goes through one formatter.

The issue's complaints, each reproduced: 4 significant figures on ranges spanning 10-100x
("243.9", "range 8.939 - 921.5" with a hyphen that reads as a minus), raw floats
(630.5415), "0.0000000008", "None", "0.0003634" next to "3.27e-05", a factor 13.1992
clipped to "3.1992", and field names shown as labels.
"""

from __future__ import annotations

import re

import pytest

from dia import Interval
from dia.record import limits
from dia.show import (
    NOT_DISCLOSED,
    QUANTITIES,
    Scale,
    axis_scale,
    field_label,
    format_count,
    format_figure,
    format_number,
    format_range,
    format_value,
)
from dia.show.format import RANGE_DASH, format_share

# Every unit a quantity may be shown in, and how many of them make one base unit. Written
# out here (not read from dia.show) so that a wrong ladder step fails.
UNITS: dict[str, dict[str, float]] = {
    "energy_kwh": {"mWh": 1e6, "Wh": 1e3, "kWh": 1.0, "MWh": 1e-3, "GWh": 1e-6, "TWh": 1e-9},
    "carbon_kg": {"mg CO2e": 1e6, "g CO2e": 1e3, "kg CO2e": 1.0, "t CO2e": 1e-3, "kt CO2e": 1e-6,
                  "Mt CO2e": 1e-9},
    "water_l": {"mL": 1e3, "L": 1.0, "m³": 1e-3},
    "wh_per_1000_inferences": {"mWh per 1,000 inferences": 1e3, "Wh per 1,000 inferences": 1.0,
                               "kWh per 1,000 inferences": 1e-3},
    "j_per_token": {"mJ per token": 1e3, "J per token": 1.0, "kJ per token": 1e-3},
}
WORDS = {"million": 1e6, "billion": 1e9, "trillion": 1e12}
NUMBER = re.compile(r"^(-?[0-9][0-9,]*(?:\.[0-9]+)?(?:e-?[0-9]+)?)(?: (million|billion|trillion))?$")


def parse_number(text: str) -> float:
    """The value a reader takes from ``text`` (the inverse of format_number)."""
    m = NUMBER.match(text)
    assert m, f"not a number as DIA shows one: {text!r}"
    return float(m.group(1).replace(",", "")) * WORDS.get(m.group(2) or "", 1.0)


def parse_value(text: str, quantity: str) -> tuple[float, str, str]:
    """(value in base units, the unit shown, the number as shown) of ``format_value`` text."""
    for unit, factor in sorted(UNITS[quantity].items(), key=lambda u: -len(u[0])):
        if text.endswith(" " + unit):
            number = text[: -len(unit) - 1]
            return parse_number(number) / factor, unit, number
    raise AssertionError(f"{text!r} has no unit of {quantity}")


def significant_digits(number: str) -> int:
    mantissa = number.split("e")[0].split(" ")[0].replace(",", "").lstrip("-")
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0")  # "1,000": trailing zeros of an integer are not claimed figures
    return len(digits)


def magnitudes() -> list[float]:
    """Values from 1e-12 to 1e20, at awkward mantissas (rounding up at 9.995, .5 ties)."""
    mantissas = (1.0, 1.234, 2.5, 3.27, 4.9995, 6.3054, 9.994, 9.995, 9.9996, 9.99999)
    return [m * 10.0**e for e in range(-12, 21) for m in mantissas]


# -- numbers ------------------------------------------------------------------------------------

def test_the_issue_figures_are_shown_with_three_figures_at_most() -> None:
    # Before: "243.9", "630.5415", "0.0000000008", "None", "3.27e-05" beside "0.0003634".
    assert format_number(243.9) == "244"
    assert format_number(630.5415) == "631"
    assert format_number(8e-10) == "8e-10"
    assert format_number(None) == NOT_DISCLOSED == "not disclosed"
    assert format_number(0.0003634) == "3.63e-4"
    assert format_number(3.27e-05) == "3.27e-5"
    assert format_number(13.1992) == "13.2"  # the factor clipped to "3.1992" before


@pytest.mark.parametrize(("x", "shown"), [
    (0, "0"), (0.0, "0"), (-0.0, "0"), (1.0, "1"), (2.50, "2.5"), (0.001, "0.001"), (0.0012345, "0.00123"),
    (999.4, "999"), (999.7, "1,000"), (1234.5, "1,230"), (99_999.6, "100,000"),
    (999_999.7, "1 million"), (1_234_567.0, "1.23 million"), (999.9995e6, "1 billion"),
    (2.5e12, "2.5 trillion"), (999.6e12, "1e15"), (1e15, "1e15"), (1e20, "1e20"), (1e300, "1e300"),
    (0.00099996, "0.001"), (9.99e-4, "9.99e-4"), (1e-12, "1e-12"),
    (-5.0, "-5"), (-0.0004, "-4e-4"), (-1234.5, "-1,230"), (-2e6, "-2 million"),
])
def test_format_number(x: float, shown: str) -> None:
    assert format_number(x) == shown


def test_two_digits_when_asked() -> None:
    assert format_number(8.939, 2) == "8.9"
    assert format_number(921.5, 2) == "920"
    assert format_number(0.125, 1) == "0.1"
    assert format_number(7.0, 0) == "7"  # at least one figure, whatever is asked


@pytest.mark.parametrize("x", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_words_never_a_crash_or_zero(x: float) -> None:
    shown = format_number(x)
    assert shown in ("not a number", "infinite", "minus infinite")
    assert format_number(x) != "0"
    assert ("minus" in shown) == (x < 0)


def test_the_largest_numbers_do_not_overflow() -> None:
    # round() overflows next to the largest float: the formatter must not.
    assert format_number(1.7976931348623157e308) == "1.8e308"
    assert format_number(-1.7976931348623157e308) == "-1.8e308"
    assert parse_number(format_number(5e-324)) == pytest.approx(5e-324, rel=0.05)


def test_every_magnitude_reads_back_within_5_percent_with_3_figures_at_most() -> None:
    for x in magnitudes():
        for sign in (1.0, -1.0):
            for digits in (2, 3):
                shown = format_number(sign * x, digits)
                assert parse_number(shown) == pytest.approx(sign * x, rel=0.05), shown
                assert significant_digits(shown) <= digits, shown
                value = abs(parse_number(shown))
                # scientific notation only for the tiny and the astronomically large
                assert ("e" in shown) == (value < 1e-3 or value >= 1e15), shown


def test_counts_and_shares() -> None:
    assert format_count(12_345) == "12,345"
    assert format_count(0) == "0"
    assert format_count(None) == NOT_DISCLOSED
    assert format_share(2 / 52) == "4%"
    assert format_share(0.001) == "<1%"  # a share that exists is never "0%"
    assert format_share(0.999) == ">99%"  # nor is a partial one "100%"
    assert format_share(1.0) == "100%"
    assert format_share(0.0) == "0%"
    assert format_share(None) == NOT_DISCLOSED


# -- values with units --------------------------------------------------------------------------

@pytest.mark.parametrize(("x", "quantity", "shown"), [
    (1e-12, "energy_kwh", "1e-6 mWh"),
    (8e-10, "energy_kwh", "8e-4 mWh"),
    (0.001, "energy_kwh", "1 Wh"),  # the Regions page showed "0.00"
    (0.9994, "energy_kwh", "999 Wh"),
    (0.9997, "energy_kwh", "1 kWh"),  # 999.7 Wh rounds to 1,000 Wh: one step up
    (1358.0, "energy_kwh", "1.36 MWh"),
    (0.9994, "carbon_kg", "999 g CO2e"),
    (0.9997, "carbon_kg", "1 kg CO2e"),
    (243.9, "carbon_kg", "244 kg CO2e"),
    (1500.0, "carbon_kg", "1.5 t CO2e"),
    (0.25, "water_l", "250 mL"),
    (2500.0, "water_l", "2.5 m³"),
    (0.0004, "wh_per_1000_inferences", "0.4 mWh per 1,000 inferences"),  # the axis ticked "400µ"
    (2.0, "wh_per_1000_inferences", "2 Wh per 1,000 inferences"),
    (0.05, "j_per_token", "50 mJ per token"),
    (3000.0, "j_per_token", "3 kJ per token"),
    (0.0, "energy_kwh", "0 kWh"),  # zero in the base unit, never "0 mWh"
    (0.0, "carbon_kg", "0 kg CO2e"),
    (0.0, "water_l", "0 L"),
    (-5.0, "carbon_kg", "-5 kg CO2e"),
    (-0.0004, "energy_kwh", "-400 mWh"),
])
def test_format_value(x: float, quantity: str, shown: str) -> None:
    assert format_value(x, quantity) == shown


@pytest.mark.parametrize("quantity", ["energy_kwh", "carbon_kg", "water_l"])
def test_missing_is_not_disclosed_never_zero(quantity: str) -> None:
    assert format_value(None, quantity) == NOT_DISCLOSED
    assert format_figure(None, quantity) == NOT_DISCLOSED


def test_aliases_share_the_quantity_ladder() -> None:
    assert format_value(1500.0, "energy") == format_value(1500.0, "kWh") == "1.5 MWh"
    assert format_value(0.5, "carbon") == format_value(0.5, "kgCO2e") == format_value(0.5, "kg CO2e") == "500 g CO2e"
    assert format_value(0.5, "water") == format_value(0.5, "L") == "500 mL"


def test_any_other_unit_is_kept_literally_never_rescaled() -> None:
    # A factor keeps its own unit: 13.1992 kgCO2e/kWh is not "13,200 g CO2e/kWh".
    assert format_value(13.1992, "kgCO2e/kWh") == "13.2 kgCO2e/kWh"
    assert format_value(0.00012, "kgCO2e/kWh") == "1.2e-4 kgCO2e/kWh"
    assert format_value(1.5e6, "L/kWh") == "1.5 million L/kWh"
    assert format_range(13.1992, 12.0, 14.5, "kgCO2e/kWh", digits=3) == f"13.2 kgCO2e/kWh (12{RANGE_DASH}14.5)"


def test_non_finite_values() -> None:
    assert format_value(float("nan"), "carbon_kg") == "not a number"  # no unit on something not a figure
    assert format_value(float("inf"), "carbon_kg") == "infinite kg CO2e"
    assert format_value(float("-inf"), "energy_kwh") == "minus infinite kWh"


@pytest.mark.parametrize("quantity", sorted(UNITS))
def test_every_ladder_reads_back_within_5_percent_in_a_unit_of_its_own(quantity: str) -> None:
    for x in magnitudes():
        shown = format_value(x, quantity)
        value, unit, number = parse_value(shown, quantity)
        assert unit in UNITS[quantity]
        assert value == pytest.approx(x, rel=0.05), shown
        assert significant_digits(number) <= 3, shown
        scaled = parse_number(number)
        smallest, largest = min(UNITS[quantity].values()), max(UNITS[quantity].values())
        # inside the ladder, the number reads from 1 to 999 and is never scientific
        if 1.0 / largest <= x and x * smallest < 999.5:
            assert 1.0 <= scaled < 1000, shown
            assert "e" not in number, shown
        if 1e-3 <= scaled < 1e15:
            assert "e" not in number, shown


def test_the_store_s_largest_figures_read_in_the_largest_unit() -> None:
    assert format_value(limits.MAX_ENERGY_KWH, "energy_kwh") == "1,000 TWh"
    assert format_value(limits.MAX_FACILITY_KWH, "energy_kwh") == "10,000 TWh"
    assert format_value(limits.MAX_CARBON_KG, "carbon_kg") == "100,000 Mt CO2e"
    assert format_value(limits.MAX_WATER_L, "water_l") == "10 trillion m³"
    assert format_value(limits.MAX_INTENSITY, "wh_per_1000_inferences") == "1e18 kWh per 1,000 inferences"
    assert format_value(1e20, "energy_kwh") == "100 billion TWh"
    assert format_value(1e300, "carbon_kg") == "1e291 Mt CO2e"


# -- intervals ----------------------------------------------------------------------------------

def test_the_issue_range_has_two_figures_and_an_en_dash() -> None:
    # Before: "243.9", then "range 8.939 - 921.5".
    shown = format_figure(Interval(value=243.9, low=8.939, high=921.5), "carbon_kg")
    assert shown == "240 kg CO2e (8.9–920)"
    assert RANGE_DASH == "\N{EN DASH}"
    assert " - " not in shown and "-" not in shown


def test_a_point_is_shown_without_an_interval() -> None:
    assert format_figure(Interval(value=2.0, low=2.0, high=2.0), "energy_kwh") == "2 kWh"
    assert format_range(0.0, 0.0, 0.0, "carbon_kg") == "0 kg CO2e"
    # an interval narrower than the figures shown is a point too
    assert format_range(100.0, 99.99, 100.01, "carbon_kg") == "100 kg CO2e"


def test_a_narrow_interval_keeps_three_figures_a_wide_one_two() -> None:
    assert format_range(123.4, 110.0, 140.0, "carbon_kg") == "123 kg CO2e (110–140)"
    assert format_range(123.4, 50.0, 140.0, "carbon_kg") == "120 kg CO2e (50–140)"  # high > 2 x low
    assert format_range(123.4, 110.0, 400.0, "carbon_kg") == "120 kg CO2e (110–400)"
    assert format_range(123.4, 110.0, 140.0, "carbon_kg", digits=2) == "120 kg CO2e (110–140)"


def test_the_interval_is_in_the_value_s_unit() -> None:
    assert format_range(0.5, 0.0004, 3.0, "energy_kwh") == "500 Wh (0.4–3,000)"
    assert format_range(1358.0, 1200.0, 1500.0, "energy_kwh") == "1.36 MWh (1.2–1.5)"
    # 999.7 at two figures is 1,000: the unit steps up for the value and its interval
    assert format_range(999.7, 990.0, 1100.0, "carbon_kg") == "1 t CO2e (0.99–1.1)"


def test_a_zero_value_with_a_positive_high_is_scaled_to_the_high() -> None:
    assert format_range(0.0, 0.0, 5.0, "carbon_kg") == "0 kg CO2e (0–5)"
    assert format_range(0.0, 0.0, 0.004, "carbon_kg") == "0 g CO2e (0–4)"


def test_intervals_read_back_within_5_percent_and_in_order() -> None:
    for x in magnitudes():
        for spread in (1.0, 1.1, 3.0, 40.0):
            low, high = x / spread, x * spread
            shown = format_range(x, low, high, "carbon_kg")
            m = re.match(r"^(.+?) \((.+)–(.+)\)$", shown)
            if spread == 1.0:
                assert m is None, shown
                continue
            assert m, shown
            value, unit, number = parse_value(m.group(1), "carbon_kg")
            factor = UNITS["carbon_kg"][unit]
            hi = parse_number(m.group(3)) / factor
            assert value == pytest.approx(x, rel=0.05), shown
            assert hi == pytest.approx(high, rel=0.05), shown
            ends = [m.group(3)]
            if m.group(2) == "<0.001":
                # a low end below the value unit's last decimal: an honest bound, never "1.6e-4"
                assert low * factor < 0.001 <= parse_number(number), shown
                lo = 0.0
            else:
                lo = parse_number(m.group(2)) / factor
                assert lo == pytest.approx(low, rel=0.05), shown
                ends.append(m.group(2))
            assert lo <= value <= hi, shown
            limit = 3 if spread < 2 else 2
            assert all(significant_digits(n) <= limit for n in (number, *ends)), shown


# -- axes and labels ----------------------------------------------------------------------------

def test_axis_scale_picks_the_unit_of_the_largest_value() -> None:
    # Compare: a 1.7 kg model beside 244 kg and 1.5 t reads on one tonne axis.
    assert axis_scale([1.7, 244.0, 1500.0], "carbon_kg") == Scale("t CO2e", 1e-3)
    assert axis_scale([0.0004, 0.0002], "wh_per_1000_inferences") == Scale("mWh per 1,000 inferences", 1e3)
    assert axis_scale([0.5, None, float("nan")], "energy_kwh") == Scale("Wh", 1e3)
    assert axis_scale([-2000.0, 5.0], "water_l") == Scale("m³", 1e-3)
    assert Scale("t CO2e", 1e-3).apply(1500.0) == pytest.approx(1.5)


def test_axis_scale_of_nothing_is_the_base_unit() -> None:
    for field, _label, unit in QUANTITIES:
        assert axis_scale([], field) == Scale(unit, 1.0)
        assert axis_scale([None, float("nan"), 0.0], field) == Scale(unit, 1.0)


def test_quantities_are_energy_carbon_water() -> None:
    assert [q[0] for q in QUANTITIES] == ["energy_kwh", "carbon_kg", "water_l"]
    for field, label, unit in QUANTITIES:
        assert field_label(field) == label
        assert format_value(1.0, field) == f"1 {unit}"


# Every field name the dashboard and the CLI show as a column, chart axis or label.
SHOWN_FIELDS = {
    "model": "Model", "model_id": "Model", "run_id": "Run id", "family": "Family", "members": "Members",
    "with_report": "With a report", "has_report": "Has a report", "coverage": "Coverage",
    "family_coverage": "Family coverage", "upstream_coverage": "Upstream coverage",
    "relation": "Relation", "depth": "Depth", "runs": "Runs", "own_runs": "Own runs", "quality": "Quality",
    "kind": "Kind", "status": "Status", "started": "Started", "country": "Country", "meter": "Meter",
    "not_disclosed": "Not disclosed", "duration_s": "Duration (s)", "gpu_hours": "GPU hours",
    "power_w": "Power (W)", "t_s": "Time (s)", "place": "Place", "level": "Grid factor level",
    "wh_per_1000_inferences": "Energy per 1,000 inferences", "j_per_token": "Energy per token",
    "imputed_basis": "Imputation basis", "imputed_carbon_kg": "Imputed carbon",
    "energy_kwh": "Energy", "energy_kwh_low": "Energy, low", "energy_kwh_high": "Energy, high",
    "carbon_kg": "Carbon", "carbon_kg_low": "Carbon, low", "carbon_kg_high": "Carbon, high",
    "water_l": "Water", "water_l_low": "Water, low", "water_l_high": "Water, high",
    "own_energy_kwh": "Own energy", "own_carbon_kg": "Own carbon", "own_water_l": "Own water",
    "family_carbon_kg": "Family carbon", "family_carbon_low": "Family carbon, low",
    "family_carbon_high": "Family carbon, high", "family_members": "Family members",
    "upstream_carbon_kg": "Upstream carbon", "upstream_members": "Upstream members",
    "cloud_provider": "Cloud provider", "cloud_region": "Cloud region",
}


@pytest.mark.parametrize(("name", "label"), sorted(SHOWN_FIELDS.items()))
def test_field_label(name: str, label: str) -> None:
    assert field_label(name) == label


def test_no_label_is_a_raw_field_name() -> None:
    for name in SHOWN_FIELDS:
        label = field_label(name)
        assert "_" not in label and label[:1].isupper(), (name, label)
        # the unit travels with each figure, not in a label as a bare suffix
        assert not re.search(r"\b(kwh|kg|l)\b", label), (name, label)


def test_field_label_of_an_unknown_field_is_still_readable() -> None:
    assert field_label("use_energy_kwh") == "Use energy"
    assert field_label("something_new") == "Something new"
    assert field_label("x") == "X"
