"""meter="codecarbon" wraps CodeCarbon's tracker (a fake here: the real one takes seconds)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from measure_fakes import FakeGPU, FakeNVML

from dia.measure import select_meters
from dia.measure.codecarbon_meter import CodeCarbonMeter
from dia.measure.distributed import RankInfo


class FakeTracker:
    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self._total_cpu_energy = SimpleNamespace(kWh=0.0)
        self._total_gpu_energy = SimpleNamespace(kWh=0.0)
        self._total_ram_energy = SimpleNamespace(kWh=0.0)
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> float:
        self.stopped = True
        self._total_cpu_energy.kWh += 0.002
        return 0.0


def test_codecarbon_figures_with_dia_interval() -> None:
    made: list[FakeTracker] = []
    meter = CodeCarbonMeter(country="fra", tracker_factory=lambda **kw: made.append(FakeTracker(**kw)) or made[-1])
    meter.start()
    tracker = made[0]
    assert tracker.started and tracker.kw["country_iso_code"] == "FRA" and tracker.kw["save_to_file"] is False
    tracker._total_cpu_energy.kWh = 0.001
    tracker._total_ram_energy.kWh = 0.0005
    assert {r.component for r in meter.read()} == {"cpu", "ram"}  # no GPU seen: no GPU line
    readings = {r.component: r for r in meter.stop()}
    assert tracker.stopped
    assert readings["cpu"].kwh == pytest.approx(0.003)
    assert readings["cpu"].low_j == pytest.approx(0.8 * readings["cpu"].energy_j)
    assert readings["ram"].quality == "estimated"


def test_select_codecarbon_meter() -> None:
    meters, _ = select_meters("codecarbon", country="DEU")
    assert [m.name for m in meters] == ["codecarbon"]


# -- issue 16: each rank's tracker watches its own GPUs, and only local rank 0 the host ------

def _fake_codecarbon(monkeypatch: pytest.MonkeyPatch) -> list[FakeTracker]:
    """``codecarbon.OfflineEmissionsTracker`` replaced (the real import takes seconds)."""
    made: list[FakeTracker] = []

    def factory(**kw: Any) -> FakeTracker:
        made.append(FakeTracker(**kw))
        return made[-1]

    monkeypatch.setitem(sys.modules, "codecarbon", SimpleNamespace(OfflineEmissionsTracker=factory))
    return made


def _rank(local_rank: int, world: int) -> RankInfo:
    return RankInfo(rank=local_rank, world_size=world, local_rank=local_rank, local_world_size=world, run_group="g")


def test_each_rank_gives_codecarbon_its_own_gpus_and_only_local_rank_0_the_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    made = _fake_codecarbon(monkeypatch)
    fake = FakeNVML([FakeGPU("A", uuid="GPU-a"), FakeGPU("B", uuid="GPU-b")])
    readings = []
    for local_rank in (0, 1):
        (meter,), _ = select_meters("codecarbon", rank=_rank(local_rank, 2), nvml=fake, country="FRA")
        meter.start()
        tracker = made[-1]
        tracker._total_gpu_energy.kWh, tracker._total_cpu_energy.kWh = 0.004, 0.001
        tracker._total_ram_energy.kWh = 0.0005
        readings.append({r.component: r.kwh for r in meter.stop()})
        assert tracker.kw["allow_multiple_runs"] is True  # several ranks of a node run one each
    # Before: no gpu_ids, so every rank's tracker counted both GPUs (2x).
    ids = [t.kw["gpu_ids"] for t in made]
    assert sorted(i for rank_ids in ids for i in rank_ids) == [0, 1]  # each GPU, by its NVML index, once
    assert readings[0]["cpu"] == pytest.approx(0.003) and readings[0]["ram"] == pytest.approx(0.0005)
    assert set(readings[1]) == {"gpu"}  # rank 1: CodeCarbon's CPU and RAM figures left out
    assert readings[1]["gpu"] == pytest.approx(0.004)


def test_a_rank_that_counts_no_gpu_asks_codecarbon_for_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import dia.measure.distributed as distributed

    made = _fake_codecarbon(monkeypatch)
    monkeypatch.setattr(distributed, "own_gpus", lambda devices, rank, **kw: distributed.GpuOwnership([], []))
    (meter,), _ = select_meters("codecarbon", rank=_rank(1, 4), nvml=FakeNVML([FakeGPU(uuid="GPU-a")]))
    meter.start()
    assert made[0].kw["gpu_ids"] == []  # not None: CodeCarbon would take every GPU
    assert meter.gpus == []
    assert any("local rank 0" in n for n in meter.notes)


def test_codecarbon_ids_follow_the_visible_devices_by_nvml_index(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _fake_codecarbon(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-c")
    fake = FakeNVML([FakeGPU("A", uuid="GPU-a"), FakeGPU("B", uuid="GPU-b"), FakeGPU("C", uuid="GPU-c")])
    (meter,), _ = select_meters("codecarbon", nvml=fake)
    meter.start()
    assert made[0].kw["gpu_ids"] == [2]
    assert [(g.index, g.name) for g in meter.gpus] == [(2, "C")]


def test_without_nvml_a_distributed_rank_leaves_codecarbon_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _fake_codecarbon(monkeypatch)
    (meter,), _ = select_meters("codecarbon", rank=_rank(1, 2), nvml=False)
    meter.start()
    assert made[0].kw["gpu_ids"] == []
    (solo,), _ = select_meters("codecarbon", nvml=False)
    solo.start()
    assert "gpu_ids" not in made[1].kw  # a lone process: CodeCarbon's own choice, as before
