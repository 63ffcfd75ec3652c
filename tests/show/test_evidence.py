"""dia.show.evidence: each total says how sure it is.

The issue: a family with 2 of 52 members reported looked as confident as one with all of
them, and "29 of 29 models disclosed a footprint" while all of it was DIA's own estimate.
"""

from __future__ import annotations

import pytest

from dia import Interval
from dia.record.report import QUALITY_MEANING, Quality
from dia.show import Evidence, evidence, quality_help, quality_shares


@pytest.mark.parametrize(("members", "with_report", "level", "badge"), [
    (52, 0, "none", "unknown: none of 52 members reported"),
    (52, 2, "partial", "lower bound: 2 of 52 members reported"),
    (52, 51, "partial", "lower bound: 51 of 52 members reported"),
    (52, 52, "complete", "all 52 members reported"),
    (1, 1, "complete", "the member reported"),
    (1, 0, "none", "unknown: none of 1 member reported"),
    (1234, 5, "partial", "lower bound: 5 of 1,234 members reported"),
])
def test_the_badge_and_level_follow_coverage(members: int, with_report: int, level: str, badge: str) -> None:
    ev = evidence(members, with_report, {"measured": 1.0})
    assert ev.level == level
    assert ev.badge == badge


def test_only_a_partial_total_is_called_a_lower_bound() -> None:
    for members in (1, 2, 52):
        for with_report in range(members + 1):
            ev = evidence(members, with_report)
            assert ("lower bound" in ev.badge) == (0 < with_report < members), ev.badge


def test_no_members() -> None:
    assert evidence(0, 0).badge == "no members"


def test_the_noun_is_the_caller_s() -> None:
    assert evidence(29, 3, noun="model").badge == "lower bound: 3 of 29 models reported"


def test_all_estimated_is_an_estimate_not_a_disclosure() -> None:
    # Before: "29 of 29 models disclosed a footprint" for DIA's own estimates.
    ev = evidence(29, 29, {"estimated": 12.0}, noun="model")
    assert ev.estimate_only
    assert ev.summary == "29 of 29 models have an estimate (no measurement or report)"
    assert "disclosed" not in ev.summary
    imputed = evidence(3, 1, {"estimated": 1.0, "imputed": 2.0})
    assert imputed.estimate_only
    assert imputed.summary == "1 of 3 members has an estimate (no measurement or report)"


def test_measured_and_reported_are_disclosed() -> None:
    ev = evidence(3, 3, {"measured": 2.0, "reported": 2.0})
    assert not ev.estimate_only
    assert ev.summary == "3 of 3 members disclosed a footprint: measured 50%, reported 50%"


def test_a_mix_with_estimates_says_which_share_is_estimated() -> None:
    ev = evidence(3, 3, {"measured": 3.0, "estimated": 1.0})
    assert ev.summary == "3 of 3 members have a footprint: measured 75%, estimated 25%"
    assert "disclosed" not in ev.summary


def test_nobody_reported() -> None:
    ev = evidence(52, 0)
    assert ev.summary == "0 of 52 members reported a footprint"
    assert ev.mix == "" and ev.shares == {}


def test_the_mix_is_best_tier_first_whatever_the_input_order() -> None:
    by_quality = {"imputed": 1.0, "estimated": 1.0, "reported": 1.0, "sampled": 1.0, "measured": 1.0}
    ev = evidence(5, 5, by_quality)
    assert list(ev.shares) == ["measured", "sampled", "reported", "estimated", "imputed"]
    assert ev.mix == "measured 20%, sampled 20%, reported 20%, estimated 20%, imputed 20%"


def test_shares_take_intervals_and_drop_empty_tiers() -> None:
    shares = quality_shares({"estimated": Interval(value=1.0, low=0.5, high=2.0), "measured": 3.0, "reported": 0.0})
    assert shares == {"measured": 0.75, "estimated": 0.25}
    assert sum(shares.values()) == pytest.approx(1.0)
    assert quality_shares({"measured": 0.0}) == {}


def test_a_tiny_share_is_shown_not_rounded_away() -> None:
    ev = evidence(2, 2, {"measured": 999.0, "estimated": 1.0})
    assert ev.mix == "measured >99%, estimated <1%"


def test_evidence_is_a_value() -> None:
    assert evidence(2, 1, {"measured": 1.0}) == Evidence(2, 1, {"measured": 1.0})


def test_quality_help_defines_every_tier_in_the_record_s_words() -> None:
    text = quality_help()
    lines = text.splitlines()
    assert len(lines) == len(Quality)
    for line, tier in zip(lines, Quality, strict=True):  # best tier first
        assert line == f"{tier.value}: {QUALITY_MEANING[tier]}"
        assert QUALITY_MEANING[tier]


def test_quality_help_for_the_tiers_shown() -> None:
    assert quality_help(["estimated", "measured"]).splitlines() == [
        f"measured: {QUALITY_MEANING[Quality.MEASURED]}", f"estimated: {QUALITY_MEANING[Quality.ESTIMATED]}"]
    assert quality_help([]) == ""
