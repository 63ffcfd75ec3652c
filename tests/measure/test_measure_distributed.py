"""Ranks and run groups from launcher variables."""

from __future__ import annotations

import pytest

from dia.measure.distributed import detect_rank, own_gpu_indices, run_group


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


LAUNCHERS = {
    "torchrun": ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
                  "TORCHELASTIC_RUN_ID": "t1"}, (5, 8, 1), "torchelastic-t1"),
    "slurm": ({"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "2",
               "SLURM_JOB_ID": "99", "SLURM_STEP_ID": "2"}, (3, 4, 1), "slurm-99.2"),
    "openmpi": ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
                 "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "MASTER_ADDR": "n1", "MASTER_PORT": "29500",
                 "DIA_RUN_NONCE": "x"}, (2, 4, 0), None),
    "pmi": ({"PMI_RANK": "1", "PMI_SIZE": "2", "MASTER_ADDR": "n1", "MASTER_PORT": "29500",
             "DIA_RUN_NONCE": "x"}, (1, 2, 1), None),
}


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_each_launcher_gives_rank_world_and_local_rank(launcher: str) -> None:
    env, (rank, world, local), group = LAUNCHERS[launcher]
    info = detect_rank(env)
    assert (info.rank, info.world_size, info.local_rank) == (rank, world, local)
    if group is not None:
        assert info.run_group == group
    else:  # MASTER_ADDR:MASTER_PORT salted with the nonce: alike in every rank of the job
        assert info.run_group is not None and info.run_group.startswith("job-")
        assert detect_rank({**env, "DIA_RUN_NONCE": "y"}).run_group != info.run_group


def test_one_launcher_gives_all_four_values() -> None:
    # A stray SLURM_NTASKS must not become the world size of a torchrun job without WORLD_SIZE.
    info = detect_rank({"RANK": "0", "SLURM_NTASKS": "16", "SLURM_PROCID": "7"})
    assert (info.rank, info.world_size) == (0, 1)


def test_run_group_parts_separate_runs_of_one_job_alike_in_every_rank() -> None:
    env = {"RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "t1"}
    other_rank = {**env, "RANK": "1"}
    assert run_group(env=env) == detect_rank(env).run_group == "torchelastic-t1"
    assert run_group("out/a", env=env) == run_group("out/a", env=other_rank)
    assert run_group("out/a", env=env) != run_group("out/b", env=env)
    assert run_group("out/a", env={**env, "DIA_RUN_GROUP": "mine"}) == "mine"  # explicit wins
    assert run_group("out/a", env={}) is None  # a single process: the tracker picks its own
