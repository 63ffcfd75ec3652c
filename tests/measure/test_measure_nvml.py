"""NVML meter against a fake pynvml: counters, polling integration, visibility, lost devices."""

from __future__ import annotations

import math

import pytest
from measure_fakes import Clock, FakeGPU, FakeNVML

from dia.measure import select_meters
from dia.measure.distributed import RankInfo
from dia.measure.gpu.nvidia import NvmlMeter, visible_indices


def test_counter_delta_is_the_window_energy_measured() -> None:
    gpus = [FakeGPU(), FakeGPU(name="NVIDIA H100 80GB HBM3")]
    meter = NvmlMeter(nvml=FakeNVML(gpus), indices=[0, 1])
    meter.start()
    gpus[0].energy_mj += 36_000_000.0  # 36 kJ = 0.01 kWh
    gpus[1].energy_mj += 7_200_000.0
    (reading,) = meter.stop()
    assert reading.component == "gpu" and reading.quality == "measured"
    assert reading.energy_j == pytest.approx(43_200.0)
    assert reading.low_j == pytest.approx(43_200.0 * 0.95) and reading.high_j == pytest.approx(43_200.0 * 1.05)
    assert [g.name for g in meter.gpus] == ["NVIDIA A100-SXM4-40GB", "NVIDIA H100 80GB HBM3"]
    assert meter.name == "nvml"


def test_polled_power_integrates_a_known_trace_within_one_percent() -> None:
    # P(t) = 200 + 100 sin(2 pi t / 10) W over 0..37 s: integral known in closed form.
    clock = Clock()
    trace = lambda t: 200.0 + 100.0 * math.sin(2 * math.pi * t / 10.0)  # noqa: E731
    fake = FakeNVML([FakeGPU(counter=False, power_w=trace)], clock)
    meter = NvmlMeter(nvml=fake, indices=[0], clock=clock)
    meter.start()
    assert meter.name == "nvml-polled" and meter.gpus[0].method == "polled"
    dt, end = 0.5, 37.0
    while clock.t < end - 1e-9:
        clock.t = round(clock.t + dt, 9)
        meter.sample()
    (reading,) = meter.read()
    exact = 200.0 * end + 100.0 * 10.0 / (2 * math.pi) * (1 - math.cos(2 * math.pi * end / 10.0))
    assert reading.quality == "sampled"
    assert abs(reading.energy_j - exact) / exact < 0.01
    assert any("no energy counter" in n for n in meter.notes)


def test_device_lost_mid_run_keeps_energy_up_to_last_reading() -> None:
    gpus = [FakeGPU(), FakeGPU()]
    meter = NvmlMeter(nvml=FakeNVML(gpus), indices=[0, 1])
    meter.start()
    gpus[0].energy_mj += 1_000_000.0
    gpus[1].energy_mj += 2_000_000.0
    meter.sample()
    gpus[1].lost = True
    gpus[0].energy_mj += 1_000_000.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(2_000.0 + 2_000.0)
    assert meter.gpus[1].method == "lost"
    assert any("stopped answering" in n for n in meter.notes)


def test_polled_device_lost_mid_run() -> None:
    clock = Clock()
    gpu = FakeGPU(counter=False, power_w=lambda t: 100.0)
    meter = NvmlMeter(nvml=FakeNVML([gpu], clock), indices=[0], clock=clock)
    meter.start()
    clock.t = 10.0
    meter.sample()
    gpu.lost = True
    clock.t = 20.0
    (reading,) = meter.stop()
    assert reading.energy_j == pytest.approx(1_000.0)  # only the 10 s it answered


def test_cuda_visible_devices_by_index_uuid_and_empty() -> None:
    fake = FakeNVML([FakeGPU(uuid="GPU-aaaa"), FakeGPU(uuid="GPU-bbbb"), FakeGPU(uuid="GPU-cccc")])
    assert visible_indices(fake, {}) == [0, 1, 2]
    assert visible_indices(fake, {"CUDA_VISIBLE_DEVICES": "2,0"}) == [2, 0]
    assert visible_indices(fake, {"CUDA_VISIBLE_DEVICES": "GPU-bbbb"}) == [1]
    assert visible_indices(fake, {"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_indices(fake, {"CUDA_VISIBLE_DEVICES": "1,7,2"}) == [1]  # CUDA stops at an invalid one


def test_select_meters_gives_each_local_rank_its_own_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = FakeNVML([FakeGPU(uuid=f"GPU-{i}") for i in range(4)])
    rank = RankInfo(rank=5, world_size=8, local_rank=1, local_world_size=4, run_group="g")
    meters, notes = select_meters("auto", rank=rank, nvml=fake, powercap_root=tmp_path / "none")
    # local rank 1: its own processes' CPU and RAM, without the node's idle share (issue 16)
    assert [m.name for m in meters] == ["nvml", "estimate"] and not meters[1].host_share  # type: ignore[attr-defined]
    assert [g.index for g in meters[0].gpus] == [1]
    assert any("local rank 0" in n for n in notes)
    rank0 = RankInfo(rank=4, world_size=8, local_rank=0, local_world_size=4, run_group="g")
    meters, _ = select_meters("auto", rank=rank0, nvml=fake, powercap_root=tmp_path / "none")
    assert [m.name for m in meters] == ["nvml", "estimate"]
