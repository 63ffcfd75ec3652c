"""Showing figures to people: one formatter and one evidence summary for the CLI, the demo,
Hub cards and the dashboard alike (the last step of measure -> convert -> record -> link ->
aggregate -> show).

>>> from dia.show import format_figure
>>> from dia import Interval
>>> format_figure(Interval(value=243.9, low=8.939, high=921.5), "carbon_kg")
'240 kg CO2e (8.9–920)'
>>> format_figure(None, "carbon_kg")
'not disclosed'
"""

from __future__ import annotations

from dia.show.evidence import Evidence, evidence, quality_help, quality_shares
from dia.show.format import (
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

__all__ = [
    "NOT_DISCLOSED",
    "QUANTITIES",
    "Evidence",
    "Scale",
    "axis_scale",
    "evidence",
    "field_label",
    "format_count",
    "format_figure",
    "format_number",
    "format_range",
    "format_value",
    "quality_help",
    "quality_shares",
]
