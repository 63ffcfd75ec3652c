"""Ranks and run groups from launcher variables."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from dia.measure.distributed import (
    claim,
    claims_dir,
    detect_rank,
    own_gpu_indices,
    process_identity,
    run_group,
    slurm_tasks_on_node,
)


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
    info = detect_rank({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"})
    assert own_gpu_indices([0, 1], info) == [1]
    # One GPU seen by both ranks, and nothing says it is rank 1's own: local rank 0 counts it.
    assert own_gpu_indices([3], info) == []
    assert own_gpu_indices([3], detect_rank({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
                                             "LOCAL_WORLD_SIZE": "2"})) == [3]


LAUNCHERS = {
    "torchrun": ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4",
                  "TORCHELASTIC_RUN_ID": "t1"}, (5, 8, 1), "torchelastic-t1"),
    "slurm": ({"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "2",
               "SLURM_JOB_ID": "99", "SLURM_STEP_ID": "2"}, (3, 4, 1), "slurm-99.2"),
    "openmpi": ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
                 "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "MASTER_ADDR": "n1", "MASTER_PORT": "29500",
                 "DIA_RUN_NONCE": "x"}, (2, 4, 0), None),
    "pmi": ({"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2",
             "MASTER_ADDR": "n1", "MASTER_PORT": "29500", "DIA_RUN_NONCE": "x"}, (1, 2, 1), None),
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


# -- local rank and local world size, launcher by launcher ---------------------------------------

LOCAL = {
    "torchrun": ({"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"}, (5, 8, 1, 4)),
    "slurm --ntasks-per-node": ({"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1",
                                 "SLURM_NTASKS_PER_NODE": "2"}, (3, 4, 1, 2)),
    "slurm uneven layout": ({"SLURM_PROCID": "6", "SLURM_NTASKS": "7", "SLURM_LOCALID": "0", "SLURM_NODEID": "3",
                             "SLURM_TASKS_PER_NODE": "2(x3),1"}, (6, 7, 0, 1)),
    "slurm step layout": ({"SLURM_PROCID": "1", "SLURM_NTASKS": "6", "SLURM_LOCALID": "1", "SLURM_NODEID": "0",
                           "SLURM_STEP_TASKS_PER_NODE": "3(x2)", "SLURM_TASKS_PER_NODE": "8(x2)"}, (1, 6, 1, 3)),
    "openmpi": ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                 "OMPI_COMM_WORLD_LOCAL_SIZE": "2"}, (3, 4, 1, 2)),
    "mpich hydra": ({"PMI_RANK": "5", "PMI_SIZE": "8", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "4"},
                    (5, 8, 1, 4)),
    "cray pals": ({"PMI_RANK": "9", "PMI_SIZE": "16", "PMI_LOCAL_RANK": "1", "PMI_LOCAL_SIZE": "8"},
                  (9, 16, 1, 8)),
    # srun --mpi=pmi2 gives PMI_RANK and SLURM's variables: SLURM's local rank for the same rank.
    "srun --mpi=pmi2": ({"PMI_RANK": "3", "PMI_SIZE": "4", "SLURM_PROCID": "3", "SLURM_NTASKS": "4",
                         "SLURM_LOCALID": "1", "SLURM_TASKS_PER_NODE": "2(x2)"}, (3, 4, 1, 2)),
    # mpirun inside an allocation: its ranks inherit the daemon's SLURM_PROCID (the node's index).
    "mpirun in a slurm allocation": ({"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "8",
                                      "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "4",
                                      "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0"},
                                     (5, 8, 1, 4)),
}


@pytest.mark.parametrize("launcher", sorted(LOCAL))
def test_each_launcher_gives_local_rank_and_local_world_size(launcher: str) -> None:
    env, expected = LOCAL[launcher]
    info = detect_rank(env)
    assert (info.rank, info.world_size, info.local_rank, info.local_world_size) == expected
    assert info.local_rank_known and info.notes == ()
    assert info.measures_host == (expected[2] == 0)


# -- run groups from the launcher's job id -----------------------------------------------------

def test_mpi_job_ids_give_the_group_before_the_allocation() -> None:
    ranks = [{"OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
              "PMIX_NAMESPACE": "prterun-n1-4242@1", "SLURM_JOB_ID": "77"} for r in range(2)]
    groups = {detect_rank(env).run_group for env in ranks}
    assert groups == {"pmix-prterun-n1-4242@1"}
    # A second mpirun in the same allocation is another job, with a group of its own.
    assert detect_rank({**ranks[0], "PMIX_NAMESPACE": "prterun-n1-4243@1"}).run_group not in groups
    ompi4 = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_MCA_ess_base_jobid": "31337",
             "OMPI_COMM_WORLD_LOCAL_RANK": "1"}
    assert detect_rank(ompi4).run_group == "ompi-31337"
    assert detect_rank({**ompi4, "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_LOCAL_RANK": "0"}).run_group == (
        "ompi-31337")


def test_slurm_tasks_per_node_forms() -> None:
    assert slurm_tasks_on_node({"SLURM_TASKS_PER_NODE": "4"}) == 4
    assert slurm_tasks_on_node({"SLURM_TASKS_PER_NODE": "2(x3)"}) == 2  # same everywhere: no node id needed
    assert slurm_tasks_on_node({"SLURM_TASKS_PER_NODE": "3,2(x2)", "SLURM_NODEID": "2"}) == 2
    assert slurm_tasks_on_node({"SLURM_TASKS_PER_NODE": "3,2"}) is None  # uneven, node unknown
    assert slurm_tasks_on_node({"SLURM_TASKS_PER_NODE": "garbage(x"}) is None


# -- local rank unknown: the first rank to claim the node measures its host ---------------------

MPI_ONLY = {"PMI_RANK": "2", "PMI_SIZE": "4", "DIA_RUN_GROUP": "mpi-only"}


def test_unknown_local_rank_is_not_guessed_from_the_global_rank(tmp_path: Path) -> None:
    # Today rank 2 of an MPI-only job on 2 nodes (2 per node) is "local rank 2": nobody on
    # node 2 measures its host. Now the first rank there to claim the node does.
    info = detect_rank({**MPI_ONLY, "TMPDIR": str(tmp_path)})
    assert not info.local_rank_known and info.measures_host
    assert info.notes and "no launcher variable gives the local rank" in info.notes[0]
    assert detect_rank({**MPI_ONLY, "TMPDIR": str(tmp_path)}).measures_host  # asking again: same answer


def test_unknown_local_rank_defers_to_a_live_claimer(tmp_path: Path) -> None:
    env = {**MPI_ONLY, "TMPDIR": str(tmp_path)}
    holder = process_identity(os.getppid())  # a live process that is not this one
    assert holder is not None
    _write_claim(env, "host|mpi-only", holder)
    info = detect_rank(env)
    assert not info.local_rank_known and not info.measures_host
    assert "another rank of the job claimed this node and measures" in info.notes[0]


def test_a_stale_claim_is_taken_over(tmp_path: Path) -> None:
    env = {**MPI_ONLY, "TMPDIR": str(tmp_path)}
    _write_claim(env, "host|mpi-only", "999999999@1.000")  # a claimer long gone
    assert detect_rank(env).measures_host


def test_claims_fail_soft_when_the_temp_folder_is_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**MPI_ONLY, "TMPDIR": str(blocker)}  # a file, not a folder: no claim can be written
    assert claim("x", env) is None
    assert not detect_rank(env).measures_host  # rank 2: only rank 0 measures a host then
    assert detect_rank({**env, "PMI_RANK": "0"}).measures_host


def _write_claim(env: dict[str, str], key: str, holder: str) -> None:
    directory = claims_dir(env)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(key.encode()).hexdigest()[:32]).write_text(holder)


def test_the_port_listener_fact_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import psutil

    dist = types.ModuleType("torch.distributed")
    dist.is_available = dist.is_initialized = lambda: True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.distributed", dist)

    def denied(kind: str = "inet") -> list[object]:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", denied)
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "29511"}
    # Sockets not listable here: the launcher's pid salts the group, as before.
    assert detect_rank(env).run_group == detect_rank({**env, "RANK": "0", "LOCAL_RANK": "0"}).run_group
    assert (detect_rank({**env, "MASTER_PORT": "not-a-port"}).run_group or "").startswith("job-")


@pytest.mark.parametrize("env", [
    {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "99999999999999999999"},
    {"RANK": "5", "WORLD_SIZE": "4", "LOCAL_RANK": "1"},
    {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "-1"},
])
def test_launcher_numbers_no_job_has_measure_a_single_process_with_a_note(env: dict[str, str]) -> None:
    # Before: a world of 1e20 made every report of the run invalid and its energy was lost.
    info = detect_rank(env)
    assert (info.rank, info.world_size, info.local_rank, info.run_group) == (0, 1, 0, None)
    assert info.notes and "which no job has: measured as a single process" in info.notes[0]
