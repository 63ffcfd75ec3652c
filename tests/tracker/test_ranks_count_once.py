"""Issue 16: the ranks of one job, as real processes, count every GPU and the host once.

Each scenario starts N child processes with one launcher's variables (torchrun, SLURM,
Open MPI), all sharing one fake NVML whose counters advance with wall-clock time at a set
power per GPU (``fake_spec``), each running ``dia.track`` over a short half-busy loop and
saving to one SQLite file. The stored logical run (``Store.list_runs()``) must list each
GPU once, carry each GPU's energy once (its power over the window of the rank counting it),
count the node's idle CPU power once, and every rank's CPU load.

Before the fix: 4 ranks sharing one GPU counted it 4 times; ranks using 2 GPUs each, or
all 4 GPUs of a node shared by 2 ranks, left GPUs to nobody or counted the wrong one;
ranks other than local rank 0 counted no CPU at all; one GPU failing at set-up left its
rank with no meter at all, its CPU lost too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dia.measure.estimate import EstimateMeter
from dia.measure.hardware import host_info
from dia.measure.process import Usage
from dia.record.report import RunReport
from dia.record.store import Store

FAKES_DIR = Path(__file__).resolve().parents[1] / "measure"
sys.path.insert(0, str(FAKES_DIR))
from measure_fakes import fake_spec  # noqa: E402

J_PER_KWH = 3.6e6
WORK_S = 1.0  # each rank's loop: long enough that set-up is small next to it
# A meter's window can outlast the run's duration by the final sample and store write
# (several ranks share one SQLite file): the upper bounds allow that much.
EDGE_SLACK_S = 0.5

# Half busy (spin 4 ms, sleep 4 ms): a rank's load stays well under the whole machine's, so
# its share of the load curve is far below the idle power it must not count again.
CHILD = r"""
import json, os, sys, time
fakes, spec, broken, url, work_s = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], float(sys.argv[5])
sys.path.insert(0, fakes)
from measure_fakes import UNKNOWN, fake_from_spec, install_fake_nvml
import dia.measure.cpu.rapl as rapl
rapl.POWERCAP_ROOT = os.path.join(os.path.dirname(url.removeprefix("sqlite:///")), "no-powercap")
fake = fake_from_spec(spec)
for index in broken:
    fake.gpus[index].broken = UNKNOWN
install_fake_nvml(fake)
import dia
with dia.track("org/ranks", store=url, meter="auto", country="FRA"):
    deadline = time.monotonic() + work_s
    while time.monotonic() < deadline:
        spin = time.monotonic() + 0.004
        while time.monotonic() < spin:
            pass
        time.sleep(0.004)
"""

_CLEARED = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "TORCHELASTIC_RUN_ID",
            "MASTER_ADDR", "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID",
            "SLURM_NTASKS_PER_NODE", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS",
            "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
            "OMPI_COMM_WORLD_LOCAL_SIZE", "PMI_RANK", "PMI_SIZE", "CUDA_VISIBLE_DEVICES",
            "DIA_RUN_GROUP", "DIA_RUN_NONCE", "DIA_RUN_ID", "DIA_PARENT_RUN_ID")


@dataclass
class Scenario:
    gpus_w: list[float]  # one fake GPU per entry, at this power
    ranks: list[dict[str, str]]  # each rank's launcher variables
    counted: list[int]  # the GPUs the job must count, each once
    broken: list[int] = field(default_factory=list)  # GPUs failing every NVML call, set-up included


def torchrun(rank: int, world: int) -> dict[str, str]:
    return {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(world), "TORCHELASTIC_RUN_ID": "el-16", "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "29516"}


def slurm(rank: int, world: int, visible: str) -> dict[str, str]:
    return {"SLURM_PROCID": str(rank), "SLURM_NTASKS": str(world), "SLURM_LOCALID": str(rank),
            "SLURM_NTASKS_PER_NODE": str(world), "SLURM_JOB_ID": "16016", "SLURM_STEP_ID": "0",
            "CUDA_VISIBLE_DEVICES": visible}


def openmpi(rank: int, world: int) -> dict[str, str]:
    return {"OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_SIZE": str(world),
            "OMPI_COMM_WORLD_LOCAL_RANK": str(rank), "OMPI_COMM_WORLD_LOCAL_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29517", "DIA_RUN_NONCE": "mpi-16"}


SCENARIOS = {
    # torchrun, 4 ranks on a node with one GPU: all use it, one counts it.
    "4 ranks share 1 GPU": Scenario([300.0], [torchrun(r, 4) for r in range(4)], counted=[0]),
    # srun --gpus-per-task=2: each task sees its own two GPUs and owns both.
    "2 ranks x 2 GPUs per task": Scenario([100.0, 150.0, 200.0, 250.0],
                                          [slurm(0, 2, "0,1"), slurm(1, 2, "2,3")], counted=[0, 1, 2, 3]),
    # mpirun, 2 ranks seeing all 4 GPUs of the node: none is left to nobody, none counted twice.
    "2 ranks on 4 shared GPUs": Scenario([100.0, 150.0, 200.0, 250.0], [openmpi(0, 2), openmpi(1, 2)],
                                         counted=[0, 1, 2, 3]),
    # srun with one GPU per task, task 1's GPU failing at set-up: dropped with a note, its CPU kept.
    "1 GPU broken at set-up": Scenario([300.0, 200.0], [slurm(0, 2, "0"), slurm(1, 2, "1")], counted=[0],
                                       broken=[1]),
}


def _name(index: int) -> str:
    return f"NVIDIA A100-SXM4-40GB #{index}"  # one name per GPU: the hardware list shows each


def _run_job(scenario: Scenario, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ranks.sqlite"
    spec = fake_spec([{"uuid": f"GPU-16{i:02d}", "name": _name(i), "power_w": w}
                      for i, w in enumerate(scenario.gpus_w)])
    base = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(FAKES_DIR), spec, json.dumps(scenario.broken),
                                  url, str(WORK_S)], env={**base, **rank_env}, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for rank_env in scenario.ranks]
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0, out
    return url


def _tdp_w() -> float:
    return EstimateMeter(usage=lambda: Usage(0.0, 0.0)).tdp_w  # the same host as the children


def _kwh(q: object) -> float:
    return 0.0 if q is None else float(q.value)  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_every_gpu_and_the_host_counted_once(case: str, tmp_path: Path) -> None:
    if host_info().cpu_count < 2:
        pytest.skip("one CPU: a half-busy rank's load is not far below the idle power")
    scenario = SCENARIOS[case]
    url = _run_job(scenario, tmp_path)
    store = Store(url)
    ranks: list[RunReport] = sorted(store.list_runs(logical=False), key=lambda r: r.rank)
    assert [r.rank for r in ranks] == list(range(len(scenario.ranks)))
    assert len({r.run_group for r in ranks}) == 1 and ranks[0].run_group is not None
    (job,) = store.list_runs()  # one logical run for the job

    # Each GPU listed once, by exactly one rank, and only the ones that work.
    listed = {g.name: g.count for g in job.hardware.gpus}
    assert listed == {_name(i): 1 for i in scenario.counted}
    power_w = {_name(i): w for i, w in enumerate(scenario.gpus_w)}
    total_w = sum(scenario.gpus_w[i] for i in scenario.counted)
    for report in ranks:
        # A rank's GPU energy: the power of the GPUs it lists over its own window (the
        # counters advance with wall-clock time; the window holds the whole loop).
        own_w = sum(power_w[g.name] * g.count for g in report.hardware.gpus)
        gpu_j = _kwh(report.energy.gpu_kwh) * J_PER_KWH
        duration_s = report.duration_s or 0.0
        assert own_w * WORK_S * 0.95 <= gpu_j <= own_w * (duration_s + EDGE_SLACK_S), (report.rank, gpu_j, own_w)
    longest_s = max(r.duration_s or 0.0 for r in ranks)
    job_gpu_j = _kwh(job.energy.gpu_kwh) * J_PER_KWH
    assert total_w * WORK_S * 0.95 <= job_gpu_j <= total_w * (longest_s + EDGE_SLACK_S)

    # The host: every rank's own CPU load counted, the node's idle power only by local rank 0.
    idle_w = 0.1 * _tdp_w()
    for report in ranks:
        cpu_j = _kwh(report.energy.cpu_kwh) * J_PER_KWH
        assert cpu_j > 0.0, f"rank {report.rank} counted no CPU"
        if report.rank == 0:
            assert cpu_j >= idle_w * WORK_S
        else:
            assert cpu_j < 0.5 * idle_w * (report.duration_s or 0.0), f"rank {report.rank} counted the idle power"
            assert any("local rank 0" in n for n in report.notes)
        assert _kwh(report.energy.ram_kwh) > 0.0
    assert _kwh(job.energy.cpu_kwh) == pytest.approx(sum(_kwh(r.energy.cpu_kwh) for r in ranks))

    # A GPU dropped at set-up is said so on the rank that could not count it.
    for index in scenario.broken:
        rank = next(i for i, env in enumerate(scenario.ranks) if env.get("CUDA_VISIBLE_DEVICES") == str(index))
        assert any("GPU" in n and "unknown" in n.lower() for n in ranks[rank].notes), ranks[rank].notes
