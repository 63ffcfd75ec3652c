"""Which of the GPUs a rank sees it counts: each GPU of a node by exactly one rank."""

from __future__ import annotations

from pathlib import Path

import pytest

from dia.measure.base import GPUDevice
from dia.measure.distributed import RankInfo, detect_rank, own_gpus

A100 = "NVIDIA A100-SXM4-80GB"
NODE = [GPUDevice(i, f"GPU-aaaa-{i}", A100) for i in range(4)]


def rank(local: int, size: int, *, node: int = 0) -> RankInfo:
    return RankInfo(rank=node * size + local, world_size=2 * size, local_rank=local, local_world_size=size,
                    run_group="job-1")


def counted_by_each(seen: list[list[GPUDevice]], size: int, *, node_gpu_count: int,
                    env: dict[str, str] | None = None) -> list[list[int]]:
    return [[d.index for d in own_gpus(seen[r], rank(r, size), node_gpu_count=node_gpu_count, env=env or {}).counted]
            for r in range(size)]


def test_a_single_process_counts_all_it_sees() -> None:
    owned = own_gpus(NODE, RankInfo(), env={})
    assert owned.counted == NODE


def test_the_only_rank_on_its_node_counts_all_it_sees() -> None:
    info = RankInfo(rank=3, world_size=4, local_rank=0, local_world_size=1, run_group="g")
    owned = own_gpus(NODE, info, node_gpu_count=4, env={})
    assert owned.counted == NODE
    assert owned.notes == [f"rank 3 (the only rank on its node) counts {', '.join(d.label for d in NODE)}"]


def test_four_ranks_sharing_one_gpu_count_it_once() -> None:
    # Today each of the 4 ranks counts GPU 0: 4x its energy.
    assert counted_by_each([NODE[:1]] * 4, 4, node_gpu_count=1) == [[0], [], [], []]
    owned = own_gpus(NODE[:1], rank(2, 4), node_gpu_count=1, env={})
    assert owned.notes == ["rank 2 (local rank 2 of 4) counts no GPU; the other GPUs it sees are counted by "
                           "local rank 0 (the i-th GPU by local rank i mod 4)"]


def test_two_ranks_using_four_gpus_leave_none_to_nobody() -> None:
    # Today rank 0 counts GPU 0 and rank 1 GPU 1: GPUs 2 and 3 are counted by nobody.
    assert counted_by_each([NODE] * 2, 2, node_gpu_count=4) == [[0, 2], [1, 3]]
    notes = own_gpus(NODE, rank(1, 2), node_gpu_count=4, env={}).notes
    assert notes[0].startswith(f"rank 1 (local rank 1 of 2) counts {NODE[1].label}, {NODE[3].label}")
    assert all("GPU-aaaa" not in note for note in notes)  # labels, never UUIDs


def test_per_task_visible_devices_are_the_ranks_own(tmp_path: Path) -> None:
    # SLURM --gpus-per-task=2 on a 4-GPU node: task 1 sees GPUs 2 and 3 (as its 0 and 1).
    # Today it counts only its second GPU (visible[local_rank]), and nobody counts GPU 2.
    env = {"TMPDIR": str(tmp_path)}
    seen = [NODE[:2], NODE[2:]]
    assert counted_by_each(seen, 2, node_gpu_count=4, env=env) == [[0, 1], [2, 3]]
    owned = own_gpus(NODE[2:], rank(1, 2), env={**env, "SLURM_GPUS_PER_TASK": "2"})  # node count unknown
    assert owned.counted == NODE[2:] and "its own GPUs (SLURM_GPUS_PER_TASK)" in owned.notes[0]
    assert "its share of the node's GPUs" in own_gpus(NODE[2:], rank(1, 2), node_gpu_count=4, env=env).notes[0]


def test_a_share_too_large_for_every_rank_to_own_is_shared() -> None:
    # 3 ranks seeing the same 2 of 4 GPUs cannot each own 2: they share them.
    assert counted_by_each([NODE[:2]] * 3, 3, node_gpu_count=4) == [[0], [1], []]


def test_torch_device_is_found_by_uuid_and_a_gpu_counted_elsewhere_is_named() -> None:
    # Two ranks both run on GPU 0 (CUDA's order differs from NVML's): rank 1 counts GPU 1
    # and says that its own work runs on a GPU local rank 0 counts.
    owned = own_gpus(NODE[:2], rank(1, 2), current_uuid=NODE[0].uuid, node_gpu_count=2, env={})
    assert owned.counted == [NODE[1]]
    assert owned.notes[-1] == f"rank 1 (local rank 1 of 2): torch runs it on {NODE[0].label}, counted by local rank 0"
    mine = own_gpus(NODE[:2], rank(0, 2), current_uuid=NODE[0].uuid, node_gpu_count=2, env={})
    assert mine.counted == [NODE[0]] and not any("torch runs" in n for n in mine.notes)


def test_a_mig_instance_maps_to_its_gpu() -> None:
    gpu = GPUDevice(0, "GPU-bbbb", A100, mig=("MIG-1111", "MIG-2222"))
    # Two ranks each on one MIG instance of GPU 0: one GPU, counted once, by local rank 0.
    counted = [own_gpus([gpu], rank(r, 2), current_uuid=gpu.mig[r], node_gpu_count=1, env={}).counted
               for r in range(2)]
    assert counted == [[gpu], []]
    notes = own_gpus([gpu], rank(1, 2), current_uuid="MIG-2222", node_gpu_count=1, env={}).notes
    assert notes[-1] == f"rank 1 (local rank 1 of 2): torch runs it on {gpu.label}, counted by local rank 0"
    stray = own_gpus([gpu], rank(0, 2), current_uuid="MIG-9999", node_gpu_count=1, env={}).notes
    assert any("not among the GPUs NVML shows" in n for n in stray)


def test_unknown_local_rank_claims_each_gpu(tmp_path: Path) -> None:
    info = detect_rank({"PMI_RANK": "1", "PMI_SIZE": "2", "DIA_RUN_GROUP": "g", "TMPDIR": str(tmp_path)})
    owned = own_gpus(NODE[:2], info, node_gpu_count=2, env={"TMPDIR": str(tmp_path)})
    assert owned.counted == NODE[:2]  # first to claim: it counts them (another process would not)
    assert any("no launcher variable gives the local rank" in n for n in owned.notes)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("gpus", [1, 2, 3, 4, 8])
def test_shared_gpus_are_each_counted_by_exactly_one_local_rank(size: int, gpus: int) -> None:
    node = [GPUDevice(i, f"GPU-{i}", A100) for i in range(gpus)]
    counts = [0] * gpus
    for local in range(size):
        for device in own_gpus(node, rank(local, size), node_gpu_count=gpus, env={}).counted:
            counts[device.index] += 1
    assert counts == [1] * gpus
