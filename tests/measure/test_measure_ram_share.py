"""Issue 14, "Methodology, stated": the RAM estimate charges a run its share of the machine.

Before the fix the central value was 3/8 W per GB of the WHOLE installed RAM, for every
run: N concurrent runs on one machine were each charged the machine's RAM, N times over.
Usage (CPU seconds, RSS) is injected; no real machine figure is read.
"""

from __future__ import annotations

import pytest

from dia.measure.estimate import RAM_MIN_GB, RAM_W_PER_GB, EstimateMeter
from dia.measure.process import Usage

GB = 1e9
INSTALLED_GB = 256.0


class Run:
    """One run on the shared machine: its own clock and resident memory."""

    def __init__(self, rss_gb: float) -> None:
        self.t, self.rss = 0.0, rss_gb * GB

    def usage(self) -> Usage:
        return Usage(0.0, self.rss)

    def clock(self) -> float:
        return self.t


def _ram_joules(run: Run, seconds: float, ram_gb: float | None = INSTALLED_GB) -> tuple[float, float, float]:
    meter = EstimateMeter(usage=run.usage, clock=run.clock, cpu_model="Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
                          cpu_count=4, ram_gb=ram_gb, cpu=False)
    meter.start()
    run.t = seconds
    (ram,) = meter.stop()
    assert ram.component == "ram" and ram.quality == "estimated"
    return ram.energy_j, ram.low_j, ram.high_j


def _machine_ram_w(ram_gb: float) -> float:
    meter = EstimateMeter(usage=Run(1.0).usage, cpu_model="x", cpu_count=1, ram_gb=ram_gb)
    return meter.machine_ram_power_w()


def test_two_concurrent_small_runs_are_charged_no_more_than_the_machines_ram() -> None:
    seconds = 100.0
    a, b = _ram_joules(Run(4.0), seconds), _ram_joules(Run(6.0), seconds)
    machine_j = _machine_ram_w(INSTALLED_GB) * seconds
    # Before: each run was charged 3/8 W x 256 GB = 96 W, the pair 192 W.
    assert a[0] + b[0] <= machine_j
    assert a[0] + b[0] == pytest.approx(RAM_W_PER_GB * (4.0 + 6.0) * seconds)
    # The cautious bound stays the whole machine: what an exclusive run is charged.
    assert a[2] == pytest.approx(machine_j) and b[2] == pytest.approx(machine_j)


def test_a_runs_central_value_scales_with_its_resident_memory() -> None:
    small, large = _ram_joules(Run(2.0), 10.0), _ram_joules(Run(8.0), 10.0)
    assert large[0] == pytest.approx(4 * small[0])
    assert large[1] == pytest.approx(4 * small[1])
    assert small[1] <= small[0] <= small[2] and large[1] <= large[0] <= large[2]


def test_a_tiny_run_is_charged_the_documented_minimum_and_never_more_than_installed() -> None:
    tiny = _ram_joules(Run(0.01), 10.0)
    assert tiny[0] == pytest.approx(RAM_W_PER_GB * RAM_MIN_GB * 10.0)
    assert tiny[1] == pytest.approx(RAM_W_PER_GB * 0.01 * 10.0)  # low: the RSS itself
    huge = _ram_joules(Run(512.0), 10.0)  # RSS above installed (shared pages counted twice)
    assert huge[0] == pytest.approx(RAM_W_PER_GB * INSTALLED_GB * 10.0)


def test_unknown_installed_ram_still_charges_the_share() -> None:
    value, low, high = _ram_joules(Run(4.0), 10.0, ram_gb=0.0)  # 0: not detectable
    assert value == pytest.approx(RAM_W_PER_GB * 4.0 * 10.0)
    assert low <= value <= high


def test_start_note_states_the_rule() -> None:
    run = Run(1.0)
    meter = EstimateMeter(usage=run.usage, clock=run.clock, cpu_model="x", cpu_count=1, ram_gb=32.0)
    meter.start()
    assert any("resident memory" in n for n in meter.notes)
