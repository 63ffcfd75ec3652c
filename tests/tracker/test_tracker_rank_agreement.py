"""The tracker and the framework callbacks read ranks and run groups by one set of rules."""

from __future__ import annotations

import pytest
from dia.integrations._common import CallbackCore

import dia
from dia.measure.distributed import detect_rank, run_group

_RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
              "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
              "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMI_RANK", "PMI_SIZE",
              "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "PMI_LOCAL_RANK", "PMI_LOCAL_SIZE", "PALS_LOCAL_RANKID",
              "SLURM_NODEID", "SLURM_TASKS_PER_NODE", "SLURM_STEP_TASKS_PER_NODE", "SLURM_GPUS_PER_TASK")
_JOB_VARS = ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SLURM_STEP_ID", "MASTER_ADDR", "MASTER_PORT",
             "DIA_RUN_NONCE", "DIA_RUN_GROUP", "PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid")

# launcher: (its variables, the variable naming this process's rank, (rank, world size))
LAUNCHERS: dict[str, tuple[dict[str, str], str, tuple[int, int]]] = {
    "torchrun": ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
                  "TORCHELASTIC_RUN_ID": "el-7", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"},
                 "RANK", (1, 2)),
    "slurm": ({"SLURM_PROCID": "2", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_JOB_ID": "4242",
               "SLURM_STEP_ID": "1"}, "SLURM_PROCID", (2, 4)),
    "openmpi": ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                 "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29400", "DIA_RUN_NONCE": "n1"},
                "OMPI_COMM_WORLD_RANK", (3, 4)),
    "pmi": ({"PMI_RANK": "0", "PMI_SIZE": "2", "MPI_LOCALRANKID": "0", "MASTER_ADDR": "10.0.0.1",
             "MASTER_PORT": "29400", "DIA_RUN_NONCE": "n2"}, "PMI_RANK", (0, 2)),
    "mpi without local rank": ({"PMI_RANK": "1", "PMI_SIZE": "2", "PMIX_NAMESPACE": "ns-9"}, "PMI_RANK", (1, 2)),
    "open mpi 4": ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                    "OMPI_MCA_ess_base_jobid": "31337", "SLURM_JOB_ID": "5"}, "OMPI_COMM_WORLD_RANK", (1, 2)),
    "single process": ({}, "RANK", (0, 1)),
}


@pytest.fixture
def launcher_env(monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    """Set one launcher's variables, with every other launcher's removed (claims kept in tmp_path)."""
    names = {*_RANK_VARS, *_JOB_VARS}
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))

    def apply(env: dict[str, str]) -> None:
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return apply


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_callbacks_and_tracker_agree_on_rank_and_group(launcher: str, launcher_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env, rank_var, (rank, world) = LAUNCHERS[launcher]
    launcher_env(env)
    with dia.track("me/plain", store=False, meter="estimate") as plain:
        pass
    core = CallbackCore(store=False, meter="estimate")
    core.start("me/trained", world_size=world, group_parts=("runs/out",))
    callback_report = core.finish("completed")
    tracker_report = plain.report
    assert tracker_report is not None and callback_report is not None
    assert (tracker_report.rank, tracker_report.world_size) == (rank, world)
    assert (callback_report.rank, callback_report.world_size) == (rank, world)
    assert tracker_report.run_group == detect_rank().run_group
    if world == 1:
        assert tracker_report.run_group is None and callback_report.run_group is None
        return
    assert tracker_report.run_group is not None
    assert callback_report.run_group == run_group("runs/out")
    # Another rank of the same job derives the same group, without talking to this one.
    monkeypatch.setenv(rank_var, str((rank + 1) % world))
    assert run_group("runs/out") == callback_report.run_group
    assert detect_rank().run_group == tracker_report.run_group
    # A second training in the same launch (another output folder) is a group of its own.
    assert run_group("runs/other") != callback_report.run_group


def test_an_explicit_run_group_wins_in_both(launcher_env) -> None:  # type: ignore[no-untyped-def]
    launcher_env({**LAUNCHERS["torchrun"][0], "DIA_RUN_GROUP": "mine"})
    with dia.track("me/plain", store=False, meter="estimate") as plain:
        pass
    core = CallbackCore(store=False, meter="estimate")
    core.start("me/trained", world_size=2, group_parts=("runs/out",))
    report = core.finish("completed")
    assert plain.report is not None and report is not None
    assert plain.report.run_group == report.run_group == "mine"
    given = CallbackCore(store=False, meter="estimate", run_group="given")
    given.start("me/trained", world_size=2, group_parts=("runs/out",))
    given_report = given.finish("completed")
    assert given_report is not None and given_report.run_group == "given"
