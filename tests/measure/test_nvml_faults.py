"""NVML faults degrade per GPU: a transient error loses nothing, a lost GPU is said to be lost."""

from __future__ import annotations

import pytest
from measure_fakes import GPU_IS_LOST, TIMEOUT, UNKNOWN, Clock, FakeGPU, FakeNVML

from dia.measure.gpu.nvidia import MAX_READ_FAILURES, NvmlMeter


def _advancing(*gpus: FakeGPU) -> tuple[NvmlMeter, Clock, list[FakeGPU]]:
    """A meter on counters that advance with the test's clock (100 W each unless told)."""
    clock = Clock()
    fake = FakeNVML(list(gpus), clock, advancing=True)
    return NvmlMeter(nvml=fake, indices=list(range(len(gpus))), clock=clock), clock, list(gpus)


def test_one_timeout_mid_run_loses_nothing() -> None:
    meter, clock, (gpu,) = _advancing(FakeGPU(power_w=100.0))
    meter.start()
    clock.t = 0.5
    gpu.errors = [TIMEOUT]
    meter.sample()  # fails: the last good reading stands
    clock.t = 1.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(100.0)  # the counter is cumulative: the next read catches up
    assert reading.quality == "measured"
    assert meter.gpus[0].method == "counter"
    assert not any("lost" in n for n in meter.notes)


def test_failures_short_of_the_limit_are_retried() -> None:
    meter, clock, (gpu,) = _advancing(FakeGPU(power_w=100.0))
    meter.start()
    for step in range(1, MAX_READ_FAILURES):
        clock.t = float(step)
        gpu.errors = [UNKNOWN]
        meter.sample()
    clock.t = 10.0
    (reading,) = meter.read()
    assert reading.energy_j == pytest.approx(1000.0) and reading.quality == "measured"


def test_repeated_failures_mark_the_gpu_lost_and_the_figure_estimated() -> None:
    meter, clock, (_good, bad) = _advancing(FakeGPU(power_w=100.0), FakeGPU(power_w=200.0))
    meter.start()
    clock.t = 2.0
    meter.sample()  # bad GPU's last good reading: 400 J
    bad.errors = [TIMEOUT] * MAX_READ_FAILURES
    for step in range(MAX_READ_FAILURES):
        clock.t = 3.0 + step
        meter.sample()
    clock.t = 10.0
    (reading,) = meter.stop()
    assert meter.gpus[1].method == "lost" and meter.gpus[0].method == "counter"
    assert reading.energy_j == pytest.approx(100.0 * 10 + 400.0)  # counted up to its last reading
    assert reading.quality == "estimated"
    assert any(n.startswith(f"GPU 1 (NVIDIA A100-SXM4-40GB) stopped answering and is lost after {MAX_READ_FAILURES}")
               and "counted up to its last reading" in n for n in meter.notes)


def test_gpu_is_lost_marks_it_lost_at_once() -> None:
    meter, clock, (gpu,) = _advancing(FakeGPU(power_w=100.0))
    meter.start()
    clock.t = 1.0
    meter.sample()
    gpu.errors = [GPU_IS_LOST]
    clock.t = 2.0
    meter.sample()
    gpu.errors = []  # even if it answered again: lost is final
    clock.t = 3.0
    (reading,) = meter.read()
    assert meter.gpus[0].method == "lost"
    assert reading.energy_j == pytest.approx(100.0) and reading.quality == "estimated"
    assert any("lost after 1 failed reading(s) (GPU is lost)" in n for n in meter.notes)


def test_a_failing_last_reading_is_retried_at_stop() -> None:
    meter, clock, (gpu,) = _advancing(FakeGPU(power_w=100.0))
    meter.start()
    clock.t = 5.0
    gpu.errors = [TIMEOUT]
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(500.0) and reading.quality == "measured"


def test_an_error_on_one_gpu_at_start_drops_it_and_keeps_the_others() -> None:
    meter, clock, (_ok, broken) = _advancing(FakeGPU(power_w=100.0), FakeGPU(name="NVIDIA H100 80GB HBM3"))
    broken.broken = UNKNOWN  # answers the set-up calls of the constructor, then fails every call
    meter.start()
    assert [g.index for g in meter.gpus] == [0]
    assert any(n.startswith("GPU 1 (NVIDIA H100 80GB HBM3) failed at set-up (Unknown Error)") for n in meter.notes)
    clock.t = 1.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(100.0) and reading.quality == "measured"


def test_a_transient_error_at_start_is_retried_not_taken_for_a_missing_counter() -> None:
    meter, clock, (gpu,) = _advancing(FakeGPU(power_w=100.0))
    gpu.errors = [TIMEOUT]
    meter.start()
    assert meter.gpus[0].method == "counter" and meter.name == "nvml"
    clock.t = 1.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(100.0) and reading.quality == "measured"


def test_a_counter_reset_counts_again_from_zero() -> None:
    gpu = FakeGPU()
    meter = NvmlMeter(nvml=FakeNVML([gpu]), indices=[0])
    meter.start()
    gpu.energy_mj += 50_000.0
    meter.sample()
    gpu.energy_mj = 20_000.0  # driver reloaded: the counter starts again near zero
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(50.0 + 20.0)


def test_a_restarted_meter_opens_a_fresh_window() -> None:
    meter, clock, _ = _advancing(FakeGPU(power_w=100.0))
    meter.start()
    clock.t = 3.0
    meter.stop()
    meter.start()
    clock.t = 4.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(100.0)
