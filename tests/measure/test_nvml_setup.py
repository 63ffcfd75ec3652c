"""NVML set-up: why NVML is unusable, device files, and which GPUs CUDA_VISIBLE_DEVICES names.

Against the fake NVML (pynvml's real error classes), every case here used to drop a GPU,
or the whole run, without a word.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynvml
import pytest
from measure_fakes import TIMEOUT, UNKNOWN, FakeGPU, FakeNVML, NVMLError

from dia.measure.gpu.nvidia import (
    NvmlMeter,
    device_files_present,
    load_nvml,
    nvml_problem,
    visible_devices,
    visible_indices,
)

PARENT = "GPU-5b6c1f0e-aaaa-bbbb-cccc-000000000000"
MIG_A = "MIG-0c4e3b9a-1111-2222-3333-444444444444"
MIG_B = "MIG-7f2d6e1c-5555-6666-7777-888888888888"


@pytest.fixture
def fresh_loader() -> Iterator[None]:
    """load_nvml is cached per process: each test here loads afresh, and leaves it fresh."""
    load_nvml.cache_clear()
    yield
    load_nvml.cache_clear()


def _no_uuid_in(notes: list[str]) -> bool:
    return not any("GPU-" in n or "MIG-" in n for n in notes)  # notes may become public


# -- why NVML is unusable -------------------------------------------------------------------

@pytest.mark.parametrize(("code", "reason"), [
    (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"),
    (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVML Shared Library Not Found"),
])
def test_nvml_problem_gives_nvmls_own_reason(fresh_loader: None, monkeypatch: pytest.MonkeyPatch,
                                             code: int, reason: str) -> None:
    def init() -> None:
        raise NVMLError(code)

    monkeypatch.setattr(pynvml, "nvmlInit", init)
    assert load_nvml() is None
    assert nvml_problem() == reason


def test_nvml_problem_without_the_library_package(fresh_loader: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    assert load_nvml() is None
    assert "not installed" in (nvml_problem() or "")


def test_nvml_problem_is_none_when_nvml_loads(fresh_loader: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    assert load_nvml() is pynvml
    assert nvml_problem() is None


def test_device_files_present_sees_gpu_nodes_only(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-modeset", "null"):
        (dev / name).touch()
    assert not device_files_present(str(dev))  # the driver's control nodes are not a GPU
    gpus = tmp_path / "gpus"
    gpus.mkdir()
    (gpus / "nvidia0").touch()
    assert device_files_present(str(gpus))
    assert not device_files_present(str(tmp_path / "absent"))


# -- CUDA_VISIBLE_DEVICES --------------------------------------------------------------------

def _mig_fake() -> FakeNVML:
    return FakeNVML([FakeGPU(uuid="GPU-0000"), FakeGPU(uuid=PARENT, mig=(MIG_A, MIG_B))])


def test_a_mig_uuid_gives_its_parent_gpu_with_a_whole_gpu_note() -> None:
    devices, notes = visible_devices(_mig_fake(), {"CUDA_VISIBLE_DEVICES": MIG_A})
    assert [(d.index, d.uuid, d.mig) for d in devices] == [(1, PARENT, (MIG_A,))]
    assert any(n.startswith("GPU 1 (NVIDIA A100-SXM4-40GB) is seen through MIG instance(s)")
               and "whole GPU's, shared by all its instances" in n for n in notes)
    assert _no_uuid_in(notes)
    assert visible_indices(_mig_fake(), {"CUDA_VISIBLE_DEVICES": MIG_A}) == [1]


def test_several_instances_of_one_gpu_give_it_once() -> None:
    devices, notes = visible_devices(_mig_fake(), {"CUDA_VISIBLE_DEVICES": f"{MIG_A},{MIG_B}"})
    assert [(d.index, d.mig) for d in devices] == [(1, (MIG_A, MIG_B))]
    assert sum("seen through MIG" in n for n in notes) == 1


def test_the_old_mig_gpu_form_names_its_parent() -> None:
    devices, _ = visible_devices(_mig_fake(), {"CUDA_VISIBLE_DEVICES": f"MIG-{PARENT}/1/0"})
    assert [(d.index, d.mig) for d in devices] == [(1, (f"MIG-{PARENT}/1/0",))]


def test_an_entry_that_names_no_gpu_is_noted_not_silently_dropped() -> None:
    devices, notes = visible_devices(_mig_fake(), {"CUDA_VISIBLE_DEVICES": "0,MIG-ffffffff-0000,1"})
    assert [d.index for d in devices] == [0]  # CUDA stops at the first entry it cannot find
    (note,) = notes
    assert "entry 2 (a MIG UUID) names no GPU" in note and "entries after it" in note
    assert _no_uuid_in(notes)
    _, notes = visible_devices(_mig_fake(), {"CUDA_VISIBLE_DEVICES": "0,7"})
    assert notes == ["CUDA_VISIBLE_DEVICES entry 2 (index 7) names no GPU here: it is not visible, as CUDA does"]


class _UuidLookupTimesOut(FakeNVML):
    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> Any:
        raise NVMLError(TIMEOUT)


def test_an_entry_nvml_fails_on_is_noted_and_the_others_kept() -> None:
    fake = _UuidLookupTimesOut([FakeGPU(uuid="GPU-0000"), FakeGPU(uuid=PARENT, mig=(MIG_A,))])
    devices, notes = visible_devices(fake, {"CUDA_VISIBLE_DEVICES": f"{MIG_A},0"})
    assert [d.index for d in devices] == [0]
    assert any("entry 1 (a MIG UUID) could not be resolved (Timeout)" in n for n in notes)


def test_a_gpu_broken_at_set_up_is_dropped_with_a_note_and_the_others_kept() -> None:
    gpus = [FakeGPU(uuid="GPU-a"), FakeGPU(uuid="GPU-b"), FakeGPU(uuid="GPU-c")]
    gpus[1].broken = UNKNOWN
    devices, notes = visible_devices(FakeNVML(gpus), {})
    assert [d.index for d in devices] == [0, 2]
    assert any(n.startswith("GPU 1 failed at set-up (Unknown Error)") for n in notes)
    devices, notes = visible_devices(FakeNVML(gpus), {"CUDA_VISIBLE_DEVICES": "GPU-c,GPU-b,GPU-a"})
    assert [d.index for d in devices] == [2]  # GPU-b cannot be read, so CUDA's order stops there
    assert notes


def test_a_meter_built_on_a_broken_gpu_keeps_the_others() -> None:
    gpus = [FakeGPU(), FakeGPU()]
    gpus[0].broken = UNKNOWN
    meter = NvmlMeter(nvml=FakeNVML(gpus), indices=[0, 1])
    assert [g.index for g in meter.gpus] == [1]
    assert any(n.startswith("GPU 0 failed at set-up") for n in meter.notes)

