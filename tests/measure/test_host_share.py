"""Issue 16: the host's CPU and RAM are counted once per node, every rank's load included.

Each rank's estimate meter counts its own process tree's load; only local rank 0's
(``host_share=True``) adds the node's idle CPU power and the machine-wide RAM bound. Usage
(CPU seconds, RSS) and the clock are injected; no real machine figure is read.
"""

from __future__ import annotations

import pytest

from dia.measure.estimate import RAM_W_PER_GB, EstimateMeter
from dia.measure.process import Usage

TDP_W = 150.0  # the Xeon Gold 6248 in CodeCarbon's table
CPUS = 8
GB = 1e9


class Rank:
    """One rank's process tree: its CPU seconds and resident memory, on a shared clock."""

    def __init__(self, clock: list[float], rss_gb: float = 2.0) -> None:
        self._clock, self.cpu_s, self.rss = clock, 0.0, rss_gb * GB

    def usage(self) -> Usage:
        return Usage(self.cpu_s, self.rss)

    def meter(self, *, host_share: bool) -> EstimateMeter:
        return EstimateMeter(usage=self.usage, clock=lambda: self._clock[0], host_share=host_share,
                             cpu_model="Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", cpu_count=CPUS, ram_gb=64.0)


def _run(busy_cpus: list[float], seconds: float = 10.0) -> list[dict[str, tuple[float, float, float]]]:
    """Readings of one node's ranks (local rank 0 first), each keeping ``busy`` CPUs busy."""
    clock = [0.0]
    ranks = [Rank(clock) for _ in busy_cpus]
    meters = [r.meter(host_share=i == 0) for i, r in enumerate(ranks)]
    for m in meters:
        m.start()
    clock[0] = seconds
    for rank, busy in zip(ranks, busy_cpus, strict=True):
        rank.cpu_s = busy * seconds
    return [{r.component: (r.energy_j, r.low_j, r.high_j) for r in m.stop()} for m in meters]


def test_another_rank_counts_its_load_without_the_idle_power() -> None:
    (_, other) = _run([0.0, float(CPUS)])  # rank 1 keeps every CPU busy: u = 1
    value, low, high = other["cpu"]
    assert value == pytest.approx(TDP_W * 0.9 * 10.0)
    assert low == pytest.approx(0.8 * TDP_W * 0.9 * 10.0)
    assert high == pytest.approx(1.2 * TDP_W * 0.7 * 10.0)


def test_an_idle_other_rank_adds_nothing_but_local_rank_0_counts_the_idle_power() -> None:
    host, other = _run([0.0, 0.0])
    assert other["cpu"] == pytest.approx((0.0, 0.0, 0.0))
    assert host["cpu"] == pytest.approx((TDP_W * 0.1 * 10.0, 0.8 * TDP_W * 0.05 * 10.0, 1.2 * TDP_W * 0.3 * 10.0))


def test_the_idle_power_is_counted_once_and_each_ranks_load_once() -> None:
    u = 2.0 / CPUS
    readings = _run([2.0, 2.0, 2.0, 2.0])  # 4 ranks, 2 CPUs each
    total = sum(r["cpu"][0] for r in readings)
    # Before: only local rank 0 counted anything (one rank's load); counting the idle
    # power on every rank would give 4 x 0.1 TDP.
    assert total == pytest.approx(TDP_W * (0.1 + 4 * 0.9 * u ** 3) * 10.0)
    high = sum(r["cpu"][2] for r in readings)
    assert high == pytest.approx(1.2 * TDP_W * (0.3 + 0.7 * 4 * u) * 10.0)  # linear: the node's high end


def test_only_local_rank_0_carries_the_machine_wide_ram_bound() -> None:
    host, other = _run([0.0, 0.0])
    share = RAM_W_PER_GB * 2.0 * 10.0  # each tree holds 2 GB
    assert other["ram"] == pytest.approx((share, share, share))
    assert host["ram"][0] == pytest.approx(share)
    assert host["ram"][2] == pytest.approx(max(10.0, 5.0 * 8, 64.0 * RAM_W_PER_GB) * 10.0)  # the whole machine


def test_the_note_says_what_such_a_rank_counts() -> None:
    meter = Rank([0.0]).meter(host_share=False)
    meter.start()
    (note,) = meter.notes
    assert "this rank's processes only" in note and "no idle share" in note
