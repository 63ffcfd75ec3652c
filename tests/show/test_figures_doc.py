"""docs/figures.md cannot drift from the code: its tier table is QUALITY_MEANING, its
examples are what dia.show writes, its ladders are the units it uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dia.record.report import QUALITY_MEANING, QUALITY_ORDER
from dia.show import format_range, format_value

PAGE = Path(__file__).resolve().parents[2] / "docs" / "figures.md"


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after ``heading``."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 2, f"no table under {heading!r}"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_the_tier_table_is_quality_meaning_best_first() -> None:
    rows = _table("## Quality tiers")
    assert rows == [[q.value, QUALITY_MEANING[q]] for q in QUALITY_ORDER]


def test_every_example_is_what_the_formatter_writes() -> None:
    rows = _table("## Two or three significant figures")
    assert len(rows) >= 5
    for value, low, high, quantity, shown in rows:
        assert format_range(float(value), float(low), float(high), quantity) == shown


@pytest.mark.parametrize(("quantity", "base"), [
    ("energy_kwh", 1.0), ("carbon_kg", 1.0), ("water_l", 1.0),
    ("wh_per_1000_inferences", 1.0), ("j_per_token", 1.0),
])
def test_the_ladders_on_the_page_are_the_units_used(quantity: str, base: float) -> None:
    # the units a value from the smallest to the largest walks through, in order
    shown = []
    for exponent in range(-12, 22, 3):
        unit = format_value(base * 10.0**exponent, quantity).split(" ", 1)[1]
        unit = re.sub(r"^(million|billion|trillion) ", "", unit)
        if unit not in shown:
            shown.append(unit)
    rows = {row[0]: row[1] for row in _table("## Scaled units")}
    label = {"energy_kwh": "energy", "carbon_kg": "carbon", "water_l": "water",
             "wh_per_1000_inferences": "energy per 1,000 inferences", "j_per_token": "energy per token"}[quantity]
    listed = [u.strip() for u in rows[label].split(", ")]
    # the page abbreviates the shared suffix ("mg, g, kg, t, kt, Mt CO2e"): compare the first words
    assert [u.split(" ")[0] for u in shown] == [u.split(" ")[0] for u in listed]
