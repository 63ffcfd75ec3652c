"""How sure a figure is, at a glance: coverage (how many members reported) and the share of
each quality tier, turned into a badge and a sentence every view words the same way.

A family total over 2 of 52 members is a lower bound, and one made of DIA's own estimates
is "an estimate", not a disclosure:

>>> ev = evidence(52, 2, {"estimated": 10.0})
>>> ev.badge, ev.level
('lower bound: 2 of 52 members reported', 'partial')
>>> ev.summary
'2 of 52 members have an estimate (no measurement or report)'
>>> evidence(3, 3, {"measured": 3.0, "estimated": 1.0}).summary
'3 of 3 members have a footprint: measured 75%, estimated 25%'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dia.record.report import QUALITY_MEANING, QUALITY_ORDER, Interval
from dia.show.format import format_share

# Tiers that are DIA's own modelling, not a measurement or someone's statement.
_ESTIMATES = frozenset({"estimated", "imputed"})


def quality_shares(by_quality: Mapping[str, float | Interval]) -> dict[str, float]:
    """Each tier's share (0-1) of the total, best tier first; empty when the total is 0.

    >>> quality_shares({"estimated": 1.0, "measured": 3.0})
    {'measured': 0.75, 'estimated': 0.25}
    """
    values = {str(k): float(v.value if isinstance(v, Interval) else v) for k, v in by_quality.items()}
    total = sum(v for v in values.values() if v > 0)
    if total <= 0:
        return {}
    order = [q.value for q in QUALITY_ORDER]
    ranked = sorted(values, key=lambda q: order.index(q) if q in order else len(order))
    return {q: values[q] / total for q in ranked if values[q] > 0}


def quality_help(tiers: list[str] | None = None) -> str:
    """The definition of each quality tier (``tiers``: those shown; default all), one per
    line: the tooltip wherever tiers appear."""
    wanted = tiers if tiers is not None else [q.value for q in QUALITY_ORDER]
    return "\n".join(f"{q.value}: {QUALITY_MEANING[q]}" for q in QUALITY_ORDER if q.value in wanted)


@dataclass(frozen=True)
class Evidence:
    """Coverage and quality of a total, and the words to show with it."""

    members: int
    with_report: int
    shares: dict[str, float] = field(default_factory=dict)
    noun: str = "member"

    @property
    def level(self) -> Literal["complete", "partial", "none"]:
        if self.with_report <= 0:
            return "none"
        return "complete" if self.with_report >= self.members else "partial"

    @property
    def estimate_only(self) -> bool:
        """Every tier in the total is DIA's own estimate (nothing measured or reported)."""
        return bool(self.shares) and all(q in _ESTIMATES for q in self.shares)

    @property
    def badge(self) -> str:
        """``"lower bound: 2 of 52 members reported"``, ``"all 3 members reported"``, ..."""
        nouns = self.noun if self.members == 1 else f"{self.noun}s"
        if self.members <= 0:
            return f"no {self.noun}s"
        if self.level == "none":
            return f"unknown: none of {self.members:,} {nouns} reported"
        if self.level == "partial":
            return f"lower bound: {self.with_report:,} of {self.members:,} {nouns} reported"
        return f"all {self.members:,} {nouns} reported" if self.members > 1 else f"the {self.noun} reported"

    @property
    def mix(self) -> str:
        """``"measured 75%, estimated 25%"`` (best tier first); empty without a total."""
        return ", ".join(f"{q} {format_share(s)}" for q, s in self.shares.items())

    @property
    def summary(self) -> str:
        """One sentence: how many have a figure, and whether it is measured, reported or estimated."""
        nouns = self.noun if self.members == 1 else f"{self.noun}s"
        head = f"{self.with_report:,} of {self.members:,} {nouns}"
        if self.with_report <= 0:
            return f"{head} reported a footprint"
        if self.estimate_only:
            verb = "has" if self.with_report == 1 else "have"
            return f"{head} {verb} an estimate (no measurement or report)"
        if any(q in _ESTIMATES for q in self.shares):
            verb = "has" if self.with_report == 1 else "have"
            return f"{head} {verb} a footprint: {self.mix}"
        return f"{head} disclosed a footprint" + (f": {self.mix}" if self.mix else "")


def evidence(members: int, with_report: int, by_quality: Mapping[str, float | Interval] | None = None,
             *, noun: str = "member") -> Evidence:
    """The :class:`Evidence` of a total over ``members`` of which ``with_report`` reported,
    with the total split by quality tier in ``by_quality`` (carbon, usually)."""
    return Evidence(members, with_report, quality_shares(by_quality or {}), noun)
