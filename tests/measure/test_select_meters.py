"""Issue 16: how select_meters builds a rank's meters.

GPUs go through the shared seams (``visible_devices`` -> ``own_gpus`` -> ``NvmlMeter``), a
failure while setting them up costs only the GPU figure, an NVML that will not load where
NVIDIA device files exist is said so, and every rank gets a CPU/RAM meter of its own share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from measure_fakes import UNKNOWN, FakeGPU, FakeNVML, NVMLError, powercap

import dia.measure.process
from dia.measure import distributed as distributed_module
from dia.measure import select_meters
from dia.measure.base import GPUDevice
from dia.measure.distributed import GpuOwnership, RankInfo
from dia.measure.estimate import EstimateMeter
from dia.measure.gpu import cuda, nvidia

SOLO = RankInfo()
RANK1 = RankInfo(rank=1, world_size=2, local_rank=1, local_world_size=2, run_group="g")
RANK0 = RankInfo(rank=0, world_size=2, local_rank=0, local_world_size=2, run_group="g")


@pytest.fixture(autouse=True)
def _no_visible_devices_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _estimate(meters: list[Any]) -> EstimateMeter:
    (estimate,) = [m for m in meters if isinstance(m, EstimateMeter)]
    return estimate


def test_gpus_are_chosen_through_visible_devices_and_own_gpus(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    fake = FakeNVML([FakeGPU("A", uuid="GPU-a"), FakeGPU("B", uuid="GPU-b"), FakeGPU("C", uuid="GPU-c")])
    seen: dict[str, Any] = {}

    def visible(nvml: Any, env: Any = None) -> tuple[list[GPUDevice], list[str]]:
        assert nvml is fake
        return [GPUDevice(0, "GPU-a", "A"), GPUDevice(2, "GPU-c", "C")], ["entry MIG-x not found"]

    def own(devices: list[GPUDevice], rank: RankInfo, *, current_uuid: str | None = None,
            node_gpu_count: int | None = None, env: Any = None) -> GpuOwnership:
        seen.update(devices=devices, rank=rank, current_uuid=current_uuid, node_gpu_count=node_gpu_count)
        return GpuOwnership([devices[1]], ["rank 1 counts GPU 2 (C)"])

    monkeypatch.setattr(nvidia, "visible_devices", visible)
    monkeypatch.setattr(distributed_module, "own_gpus", own)
    monkeypatch.setattr(cuda, "current_device_uuid", lambda: "GPU-c")
    meters, notes = select_meters("auto", rank=RANK1, nvml=fake, powercap_root=tmp_path / "none")
    # torch's current device and the node's GPU count reach the ownership decision.
    assert seen == {"devices": [GPUDevice(0, "GPU-a", "A"), GPUDevice(2, "GPU-c", "C")], "rank": RANK1,
                    "current_uuid": "GPU-c", "node_gpu_count": 3}
    assert [m.name for m in meters] == ["nvml", "estimate"]
    assert [(g.index, g.name) for g in meters[0].gpus] == [(2, "C")]  # the counted GPU, by its NVML index
    assert "entry MIG-x not found" in notes and "rank 1 counts GPU 2 (C)" in notes


def test_a_rank_that_owns_no_gpu_gets_no_gpu_meter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = FakeNVML([FakeGPU(uuid="GPU-a")])
    monkeypatch.setattr(distributed_module, "own_gpus",
                        lambda devices, rank, **kw: GpuOwnership([], ["GPU 0 (A) counted by local rank 0"]))
    meters, notes = select_meters("auto", rank=RANK1, nvml=fake, powercap_root=tmp_path / "none")
    assert [m.name for m in meters] == ["estimate"]
    assert "GPU 0 (A) counted by local rank 0" in notes


@pytest.mark.parametrize("where", ["visible_devices", "own_gpus", "NvmlMeter"])
def test_an_nvml_error_at_set_up_keeps_the_cpu_and_ram(where: str, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise NVMLError(UNKNOWN)

    monkeypatch.setattr(distributed_module if where == "own_gpus" else nvidia, where, broken)
    # Before: the error escaped select_meters and the run had no meter at all.
    meters, notes = select_meters("auto", nvml=FakeNVML([FakeGPU(uuid="GPU-a")]), powercap_root=tmp_path / "none")
    assert [m.name for m in meters] == ["estimate"]
    estimate = _estimate(meters)
    assert estimate.measure_cpu and estimate.measure_ram and estimate.host_share
    (note,) = [n for n in notes if "GPU" in n]
    assert "Unknown Error" in note and "no GPU energy" in note


def test_a_gpu_broken_at_set_up_does_not_cost_the_cpu(tmp_path: Path) -> None:
    fake = FakeNVML([FakeGPU(uuid="GPU-a"), FakeGPU(uuid="GPU-b")])
    fake.gpus[1].broken = UNKNOWN
    meters, notes = select_meters("auto", nvml=fake, powercap_root=tmp_path / "none")
    assert _estimate(meters).measure_cpu
    assert all(g.index != 1 for m in meters for g in m.gpus)  # never counted as if it answered
    assert any("GPU" in n and "unknown" in n.lower() for n in notes)


@pytest.mark.parametrize("meter", ["auto", "nvml"])
def test_device_files_without_a_usable_nvml_are_noted(meter: str, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setattr(nvidia, "load_nvml", lambda: None)
    monkeypatch.setattr(nvidia, "device_files_present", lambda *a, **k: True)
    monkeypatch.setattr(nvidia, "nvml_problem", lambda: "NVML_ERROR_LIB_RM_VERSION_MISMATCH")
    meters, notes = select_meters(meter, powercap_root=tmp_path / "none")
    assert notes == ["NVIDIA device files present but NVML unusable (NVML_ERROR_LIB_RM_VERSION_MISMATCH): "
                     "no GPU energy measured"]
    assert [m.name for m in meters] == ["estimate"]


def test_no_device_files_and_no_nvml_is_a_plain_cpu_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(nvidia, "load_nvml", lambda: None)
    monkeypatch.setattr(nvidia, "device_files_present", lambda *a, **k: False)
    meters, notes = select_meters("auto", powercap_root=tmp_path / "none")
    assert notes == [] and [m.name for m in meters] == ["estimate"]


def test_every_rank_counts_its_own_cpu_and_only_local_rank_0_the_host_share(tmp_path: Path) -> None:
    # Before: local rank 1 got no CPU/RAM meter at all, its CPU counted by nobody.
    meters1, notes1 = select_meters("auto", rank=RANK1, nvml=False, powercap_root=tmp_path / "none")
    other = _estimate(meters1)
    assert other.measure_cpu and other.measure_ram and not other.host_share
    assert any("local rank 0" in n for n in notes1)
    meters0, _ = select_meters("auto", rank=RANK0, nvml=False, powercap_root=tmp_path / "none")
    assert _estimate(meters0).host_share


def test_only_local_rank_0_reads_rapl(tmp_path: Path) -> None:
    both = powercap(tmp_path / "pc", {"intel-rapl:0": ("package-0", 0, 10**9),
                                      "intel-rapl:0:0": ("dram", 0, 10**9)})
    meters0, _ = select_meters("auto", rank=RANK0, nvml=False, powercap_root=both)
    assert [m.name for m in meters0] == ["rapl"]
    # The package counters already hold every rank's load: another rank adds nothing.
    meters1, notes1 = select_meters("auto", rank=RANK1, nvml=False, powercap_root=both)
    assert meters1 == [] and any("RAPL" in n and "local rank 0" in n for n in notes1)


def test_without_a_dram_domain_other_ranks_add_their_memory_share(tmp_path: Path) -> None:
    package = powercap(tmp_path / "pc", {"intel-rapl:0": ("package-0", 0, 10**9)})
    meters1, _ = select_meters("auto", rank=RANK1, nvml=False, powercap_root=package)
    estimate = _estimate(meters1)
    assert [m.name for m in meters1] == ["estimate"]
    assert (estimate.measure_cpu, estimate.measure_ram, estimate.host_share) == (False, True, False)


@pytest.mark.parametrize(("rank", "skips"), [(SOLO, False), (RANK0, True), (RANK1, True)],
                         ids=["single process", "local rank 0", "local rank 1"])
def test_process_trees_skip_other_ranks_only_in_a_distributed_run(rank: RankInfo, skips: bool,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    made: list[Any] = []
    real = dia.measure.process.ProcessTree

    def tree(pid: int | None = None, *, skip: Any = None) -> Any:
        made.append(skip)
        return real(pid, skip=skip)

    monkeypatch.setattr(dia.measure.process, "ProcessTree", tree)
    select_meters("estimate", rank=rank)
    (skip,) = made
    assert (skip is not None) is skips
    if skips:  # Lightning's rank 1, a child of rank 0, carries LOCAL_RANK=1
        other = str(1 - rank.local_rank)
        assert skip.is_other({"LOCAL_RANK": other}) and not skip.is_other({})


def test_a_rank_with_an_unknown_local_rank_says_so_even_without_gpus(tmp_path: Path) -> None:
    placed = RankInfo(rank=3, world_size=4, local_rank=3, local_world_size=4, run_group="g",
                      local_rank_known=False, notes=("rank 3 (local rank unknown): another rank measures this node",))
    meters, notes = select_meters("auto", rank=placed, nvml=False, powercap_root=tmp_path / "none")
    assert notes[0] == placed.notes[0]
    assert any(n.startswith("rank 3 (local rank unknown): counts its own processes") for n in notes)
    assert [m.name for m in meters] == ["estimate"]
