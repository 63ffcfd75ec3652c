"""What an NVML figure means: polled at every read, honest intervals, whole-device notes, window edges."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from measure_fakes import (
    TIMEOUT,
    UNKNOWN,
    Clock,
    FakeGPU,
    FakeNVML,
    NVMLError,
    fake_from_spec,
    fake_spec,
)

from dia.measure.base import GPUDevice
from dia.measure.gpu.nvidia import COUNTER_UPDATE_PERIOD_S, NvmlMeter

# -- polled GPUs ----------------------------------------------------------------------------

def test_a_polled_gpu_is_polled_at_every_read_not_only_at_ticks() -> None:
    clock = Clock()
    meter = NvmlMeter(nvml=FakeNVML([FakeGPU(counter=False, power_w=300.0)], clock), indices=[0], clock=clock)
    meter.start()
    clock.t = 0.7  # a phase shorter than the sampling interval: no sample() in between
    (reading,) = meter.read()
    assert reading.energy_j == pytest.approx(210.0)
    assert reading.quality == "sampled"
    clock.t = 1.0
    (reading,) = meter.read()
    assert reading.energy_j == pytest.approx(300.0)


def test_a_polled_gpu_that_never_answers_is_unavailable_not_zero() -> None:
    clock = Clock()
    silent = FakeGPU(counter=False, power_readable=False)
    meter = NvmlMeter(nvml=FakeNVML([silent], clock), indices=[0], clock=clock)
    meter.start()
    clock.t = 10.0
    meter.sample()
    assert meter.stop() == []  # no figure at all, rather than 0 J 'sampled'
    assert meter.gpus[0].method == "unavailable"
    assert any("GPU 0 (NVIDIA A100-SXM4-40GB) never answered a power reading" in n for n in meter.notes)


def test_an_unavailable_gpu_next_to_a_measured_one_makes_the_figure_estimated() -> None:
    clock = Clock()
    fake = FakeNVML([FakeGPU(power_w=100.0), FakeGPU(counter=False, power_readable=False)], clock, advancing=True)
    meter = NvmlMeter(nvml=fake, indices=[0, 1], clock=clock)
    meter.start()
    clock.t = 2.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(200.0)  # GPU 0 only
    assert reading.quality == "estimated"  # one GPU's energy is missing from it


def test_a_polled_gpu_answering_late_fills_the_start_at_its_first_power() -> None:
    clock = Clock()
    gpu = FakeGPU(counter=False, power_w=200.0)
    gpu.errors = [TIMEOUT]  # the first poll, at start, fails
    meter = NvmlMeter(nvml=FakeNVML([gpu], clock), indices=[0], clock=clock)
    meter.start()
    clock.t = 1.0
    (reading,) = meter.read()
    assert reading.energy_j == pytest.approx(200.0)
    assert meter.gpus[0].method == "polled"


# -- intervals ------------------------------------------------------------------------------

def test_counter_interval_is_per_gpu_the_larger_of_5_w_and_5_percent() -> None:
    clock = Clock()
    fake = FakeNVML([FakeGPU(power_w=60.0), FakeGPU(power_w=400.0)], clock, advancing=True)
    meter = NvmlMeter(nvml=fake, indices=[0, 1], clock=clock)
    meter.start()
    clock.t = 10.0
    (reading,) = meter.stop()
    # GPU 0: 600 J, +-5 W x 10 s = 50 J beats 5 % (30 J); GPU 1: 4000 J, 5 % (200 J) beats 50 J.
    assert reading.energy_j == pytest.approx(4600.0)
    assert reading.low_j == pytest.approx(4600.0 - 250.0)
    assert reading.high_j == pytest.approx(4600.0 + 250.0)


def test_polled_interval_follows_the_same_rule() -> None:
    clock = Clock()
    meter = NvmlMeter(nvml=FakeNVML([FakeGPU(counter=False, power_w=20.0)], clock), indices=[0], clock=clock)
    meter.start()
    clock.t = 100.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(2000.0)
    assert (reading.low_j, reading.high_j) == pytest.approx((1500.0, 2500.0))  # +-5 W x 100 s


# -- whole device ---------------------------------------------------------------------------

def test_every_nvml_figure_says_it_is_whole_device() -> None:
    meter = NvmlMeter(nvml=FakeNVML([FakeGPU(), FakeGPU()]), indices=[0, 1])
    meter.start()
    meter.stop()
    assert "NVML energy is whole-device: it includes other processes on GPU 0, GPU 1" in meter.notes


def test_other_processes_on_the_gpu_are_counted_without_their_pids() -> None:
    gpu = FakeGPU(processes=(os.getpid(), 4_000_001, 4_000_002))
    meter = NvmlMeter(nvml=FakeNVML([gpu]), indices=[0], own_pids=lambda: {os.getpid()})
    meter.start()
    others = [n for n in meter.notes if "other process" in n and "seen" in n]
    assert others == ["GPU 0 (NVIDIA A100-SXM4-40GB): 2 other processes seen on it during the run: "
                      "the whole-device energy includes theirs"]
    gpu.processes.append(4_000_003)
    meter.sample()  # checked again at sampler ticks: still one note for the GPU, updated
    others = [n for n in meter.notes if "other process" in n and "seen" in n]
    assert len(others) == 1 and others[0].startswith("GPU 0 (NVIDIA A100-SXM4-40GB): 3 other processes")
    assert not any("4000001" in n or "4_000_001" in n for n in meter.notes)


def test_this_process_tree_is_not_counted_as_other_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gpu = FakeGPU(processes=(os.getpid(), child.pid, 4_000_001))
        meter = NvmlMeter(nvml=FakeNVML([gpu]), indices=[0])  # default: this process and its descendants
        meter.start()
        seen = [n for n in meter.notes if "seen on it" in n]
        assert len(seen) == 1 and seen[0].startswith("GPU 0 (NVIDIA A100-SXM4-40GB): 1 other process seen on it")
    finally:
        child.kill()
        child.wait()


class _CountingProcesses(FakeNVML):
    def __init__(self, *args: Any, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.process_calls, self.fail = 0, fail

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> Any:
        self.process_calls += 1
        if self.fail:
            raise NVMLError(UNKNOWN)
        return super().nvmlDeviceGetComputeRunningProcesses(handle)


def test_processes_are_checked_at_start_and_ticks_not_every_read() -> None:
    fake = _CountingProcesses([FakeGPU(processes=(4_000_001,))])
    meter = NvmlMeter(nvml=fake, indices=[0], own_pids=set)
    meter.start()
    after_start = fake.process_calls
    assert after_start == 1
    for _ in range(5):
        meter.read()  # a log step: cheap
    assert fake.process_calls == after_start
    meter.sample()
    assert fake.process_calls == after_start + 1


def test_a_failing_process_query_is_ignored() -> None:
    gpu = FakeGPU()
    fake = _CountingProcesses([gpu], fail=True)
    meter = NvmlMeter(nvml=fake, indices=[0])
    meter.start()
    gpu.energy_mj += 1000.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(1.0) and reading.quality == "measured"
    assert fake.process_calls >= 1 and not any("seen on it" in n for n in meter.notes)
    assert any(n.startswith("NVML energy is whole-device") for n in meter.notes)  # the caveat stands anyway


def test_a_meter_on_a_mig_parent_says_the_energy_is_the_whole_gpus() -> None:
    fake = FakeNVML([FakeGPU(uuid="GPU-p", mig=("MIG-a",))])
    device = GPUDevice(0, "GPU-p", "NVIDIA A100-SXM4-40GB", ("MIG-a",))
    meter = NvmlMeter(nvml=fake, devices=[device])
    meter.start()
    assert meter.gpus[0].uuid == "GPU-p"
    assert any("seen through MIG instance(s): its energy is the whole GPU's" in n for n in meter.notes)


# -- window edges ---------------------------------------------------------------------------

def test_min_window_is_the_counters_update_period() -> None:
    meter = NvmlMeter(nvml=FakeNVML([FakeGPU()]), indices=[0])
    assert meter.min_window_s == COUNTER_UPDATE_PERIOD_S == 0.1


def test_a_window_shorter_than_the_update_period_is_flagged_and_widened() -> None:
    clock = Clock()
    fake = FakeNVML([FakeGPU(power_w=300.0)], clock, advancing=True, update_period_s=0.125)
    meter = NvmlMeter(nvml=fake, indices=[0], clock=clock)
    meter.start()
    clock.t = 0.05
    (reading,) = meter.read()
    assert reading.energy_j == 0.0  # the counter has not moved yet
    assert reading.high_j >= 300.0 * 0.05  # but the GPU drew 300 W: the interval says so
    assert ("window of 0.05 s is shorter than the GPU energy counter's update period (~0.1 s): "
            "GPU energy under-resolved") in meter.notes
    clock.t = 2.0
    (reading,) = meter.read()
    assert reading.energy_j == pytest.approx(600.0)
    assert not any("under-resolved" in n for n in meter.notes)  # about the latest window only


def test_a_counter_that_does_not_move_while_the_gpu_draws_power_is_flagged() -> None:
    clock = Clock()
    meter = NvmlMeter(nvml=FakeNVML([FakeGPU(power_w=300.0)], clock), indices=[0], clock=clock)  # frozen counter
    meter.start()
    clock.t = 2.0
    (reading,) = meter.read()
    assert reading.energy_j == 0.0
    assert reading.high_j >= 600.0
    assert any(n.startswith("GPU 0 (NVIDIA A100-SXM4-40GB): energy counter did not advance over 2 s while it drew 300 W")
               for n in meter.notes)


def test_a_shared_spec_fake_can_describe_a_gpu_without_power_readings() -> None:
    fake = fake_from_spec(fake_spec([{"uuid": "GPU-s", "counter": False, "power_readable": False}]))
    meter = NvmlMeter(nvml=fake, indices=[0])
    meter.start()
    assert meter.stop() == [] and meter.gpus[0].method == "unavailable"
