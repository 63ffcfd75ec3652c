"""The estimate meter: TDP x load model, RAM model, intervals, quality ``estimated``."""

from __future__ import annotations

import pytest

from dia.measure.estimate import EstimateMeter, cpu_tdp_w
from dia.measure.process import ProcessTree, Usage


class Feed:
    """A clock and a process tree whose CPU seconds and RSS the test sets."""

    def __init__(self) -> None:
        self.t, self.cpu_s, self.rss = 0.0, 0.0, 2e9

    def clock(self) -> float:
        return self.t

    def usage(self) -> Usage:
        return Usage(self.cpu_s, self.rss)


def _meter(feed: Feed, **kw: object) -> EstimateMeter:
    return EstimateMeter(usage=feed.usage, clock=feed.clock, cpu_model="Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
                         cpu_count=4, ram_gb=16.0, **kw)  # type: ignore[arg-type]


def test_tdp_table_lookup_and_unknown_cpu() -> None:
    assert cpu_tdp_w("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz") == 150.0
    assert cpu_tdp_w("Totally Unknown CPU 9000") is None
    assert cpu_tdp_w(None) is None


def test_full_load_for_ten_seconds() -> None:
    feed = Feed()
    meter = _meter(feed)
    meter.start()
    feed.t, feed.cpu_s = 10.0, 40.0  # 4 CPUs busy for 10 s: u = 1
    meter.sample()
    cpu, ram = meter.stop()
    assert (cpu.component, cpu.quality) == ("cpu", "estimated")
    assert cpu.energy_j == pytest.approx(150.0 * 1.0 * 10.0)
    assert cpu.low_j == pytest.approx(0.8 * 150.0 * 0.95 * 10.0)
    assert cpu.high_j == pytest.approx(1.2 * 150.0 * 1.0 * 10.0)
    # The run's share: the 2 GB the tree holds, not the 16 GB installed (issue 14).
    assert ram.energy_j == pytest.approx(2.0 * 3 / 8 * 10.0)
    assert ram.low_j == pytest.approx(2.0 * 3 / 8 * 10.0)
    assert ram.high_j == pytest.approx(max(10.0, 5.0 * 2, 16.0 * 3 / 8) * 10.0)  # the whole machine
    assert cpu.low_j <= cpu.energy_j <= cpu.high_j and ram.low_j <= ram.energy_j <= ram.high_j


def test_idle_process_costs_the_idle_share_and_reading_twice_adds_nothing() -> None:
    feed = Feed()
    meter = _meter(feed, ram=False)
    meter.start()
    feed.t = 5.0
    first = meter.read()
    assert meter.read()[0].energy_j == pytest.approx(first[0].energy_j)  # reading twice: same
    assert [r.component for r in first] == ["cpu"]
    assert first[0].energy_j == pytest.approx(150.0 * 0.1 * 5.0)


def test_successive_reads_never_decrease() -> None:
    # A busy second then an idle one: integrating both at their average load (u = 0.5)
    # would give less than the first read alone, since the load curve is convex.
    feed = Feed()
    meter = _meter(feed, ram=False)
    meter.start()
    feed.t, feed.cpu_s = 1.0, 4.0
    first = meter.read()[0].energy_j
    feed.t = 2.0
    second = meter.read()[0].energy_j
    assert first == pytest.approx(150.0)
    assert second == pytest.approx(150.0 + 15.0)


def test_unknown_cpu_uses_per_cpu_watts_with_a_wider_interval() -> None:
    feed = Feed()
    meter = EstimateMeter(usage=feed.usage, clock=feed.clock, cpu_model="Mystery CPU", cpu_count=8, ram_gb=8.0)
    assert meter.tdp_w == 32.0 and meter.tdp_range == (16.0, 64.0)
    assert "not in the TDP table" in meter.tdp_source


def test_process_tree_counts_reaped_children() -> None:
    import subprocess
    import sys

    tree = ProcessTree()
    before = tree.usage().cpu_s
    subprocess.run([sys.executable, "-c", "sum(i * i for i in range(3_000_000))"], check=True)
    assert tree.usage().cpu_s > before + 0.05  # the child's CPU time, once it was reaped
