"""Ranks and run groups from launcher variables."""

from __future__ import annotations

from dia.measure.distributed import detect_rank, own_gpu_indices


def test_torchrun_variables() -> None:
    info = detect_rank({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                        "TORCHELASTIC_RUN_ID": "42"})
    assert (info.rank, info.world_size, info.local_rank) == (3, 4, 1)
    assert info.run_group == "torchelastic-42" and not info.measures_host


def test_slurm_variables_and_explicit_group() -> None:
    env = {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0", "SLURM_JOB_ID": "777"}
    assert detect_rank(env).run_group == "slurm-777.0"
    assert detect_rank({**env, "DIA_RUN_GROUP": "mine"}).run_group == "mine"


def test_single_process_has_no_group() -> None:
    info = detect_rank({})
    assert (info.rank, info.world_size, info.run_group, info.measures_host) == (0, 1, None, True)


def test_each_local_rank_owns_one_visible_gpu() -> None:
    info = detect_rank({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert own_gpu_indices([0, 1], info) == [1]
    assert own_gpu_indices([3], info) == [3]  # one GPU visible: launcher already pinned it
