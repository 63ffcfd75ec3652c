"""Real processes with each launcher's variables: every GPU of a node counted once, one group per job.

Each child is a separate Python process that reads its launcher's variables, sees the GPUs
of one shared fake NVML (``fake_from_spec``) through its own ``CUDA_VISIBLE_DEVICES``, and
prints the rank, group and GPUs :func:`own_gpus` gives it. The children of one node start
together, so claims race as they would on a real node.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "measure"))
from measure_fakes import FAKES_DIR, fake_spec

CHILD = f"""
import json, os, sys, types
sys.path.insert(0, {str(FAKES_DIR)!r})
from measure_fakes import fake_from_spec
if os.environ.get("TEST_TORCH_RANK"):  # torch.distributed initialised, as Lightning leaves it
    dist = types.ModuleType("torch.distributed")
    dist.is_available = dist.is_initialized = lambda: True
    dist.get_rank = lambda: int(os.environ["TEST_TORCH_RANK"])
    dist.get_world_size = lambda: int(os.environ["TEST_TORCH_WORLD"])
    sys.modules["torch.distributed"] = dist
from dia.measure.distributed import detect_rank, own_gpus
from dia.measure.gpu.nvidia import visible_devices

fake = fake_from_spec(os.environ["TEST_NVML_SPEC"])
devices, _ = visible_devices(fake, dict(os.environ))
info = detect_rank()
owned = own_gpus(devices, info, current_uuid=os.environ.get("TEST_CURRENT_UUID"),
                 node_gpu_count=fake.nvmlDeviceGetCount())
print(json.dumps({{"rank": info.rank, "world": info.world_size, "group": info.run_group,
                  "host": info.measures_host, "counted": [d.uuid for d in owned.counted],
                  "notes": owned.notes}}), flush=True)
if os.environ.get("TEST_HOLD"):  # ranks of a job live together: stay until every rank has answered
    sys.stdin.read()
"""

_LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID", "MASTER_ADDR",
                "MASTER_PORT", "CUDA_VISIBLE_DEVICES", "DIA_RUN_GROUP", "DIA_RUN_NONCE", "PMIX_NAMESPACE")


def node_spec(gpus: int) -> str:
    return fake_spec([{"uuid": f"GPU-{i:04d}", "power_w": 100.0 + i} for i in range(gpus)])


def run_node(tmp_path: Path, spec: str, ranks: list[dict[str, str]], *, node: str = "node0") -> list[dict[str, Any]]:
    """Start one child per rank of one node at once (own temp folder: the node's), return their answers."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    node_tmp = tmp_path / node
    node_tmp.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "MPI_", "PMIX_"))
            and k not in _LAUNCH_VARS}
    procs = [subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**base, **env, "TMPDIR": str(node_tmp), "TEST_NVML_SPEC": spec, "TEST_HOLD": "1"})
             for env in ranks]
    lines = [proc.stdout.readline() if proc.stdout else "" for proc in procs]
    for proc in procs:
        _, err = proc.communicate("", timeout=120)
        assert proc.returncode == 0, err
    return [json.loads(line) for line in lines]


def assert_each_gpu_once(answers: list[dict[str, Any]], gpus: int) -> None:
    counted = Counter(uuid for a in answers for uuid in a["counted"])
    assert counted == Counter({f"GPU-{i:04d}": 1 for i in range(gpus)}), [a["notes"] for a in answers]
    assert sum(a["host"] for a in answers) == 1  # the host's CPU and RAM: once per node
    for a in answers:  # every rank says what it counts
        assert any(f"rank {a['rank']} " in note and " counts " in note for note in a["notes"]), a["notes"]


def torchrun(local: int, size: int, **extra: str) -> dict[str, str]:
    return {"RANK": str(local), "WORLD_SIZE": str(size), "LOCAL_RANK": str(local), "LOCAL_WORLD_SIZE": str(size),
            "TORCHELASTIC_RUN_ID": "el-1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", **extra}


def test_torchrun_four_ranks_share_one_gpu(tmp_path: Path) -> None:
    answers = run_node(tmp_path, node_spec(1), [torchrun(r, 4, CUDA_VISIBLE_DEVICES="0") for r in range(4)])
    assert_each_gpu_once(answers, 1)
    assert {a["group"] for a in answers} == {"torchelastic-el-1"}


def test_torchrun_two_ranks_on_four_gpus(tmp_path: Path) -> None:
    answers = run_node(tmp_path, node_spec(4), [torchrun(r, 2) for r in range(2)])
    assert_each_gpu_once(answers, 4)


def test_torchrun_ranks_found_by_torchs_device(tmp_path: Path) -> None:
    # Each rank pinned to its GPU by torch: counted by its UUID, not by guessing.
    answers = run_node(tmp_path, node_spec(2), [torchrun(r, 2, TEST_CURRENT_UUID=f"GPU-{r:04d}") for r in range(2)])
    assert_each_gpu_once(answers, 2)
    assert [a["counted"] for a in answers] == [["GPU-0000"], ["GPU-0001"]]


def slurm(proc: int, node: int, local: int, **extra: str) -> dict[str, str]:
    return {"SLURM_PROCID": str(proc), "SLURM_NTASKS": "4", "SLURM_LOCALID": str(local), "SLURM_NODEID": str(node),
            "SLURM_TASKS_PER_NODE": "2(x2)", "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", **extra}


@pytest.mark.parametrize("gpus_per_task_variable", [True, False])
def test_slurm_gpus_per_task_two_nodes(tmp_path: Path, gpus_per_task_variable: bool) -> None:
    # srun --ntasks-per-node=2 --gpus-per-task=2 on two 4-GPU nodes: each task sees its own 2 GPUs.
    extra = {"SLURM_GPUS_PER_TASK": "2"} if gpus_per_task_variable else {}
    spec = node_spec(4)
    groups = set()
    for node in range(2):
        ranks = [slurm(2 * node + local, node, local, CUDA_VISIBLE_DEVICES=("0,1", "2,3")[local], **extra)
                 for local in range(2)]
        answers = run_node(tmp_path, spec, ranks, node=f"node{node}")
        assert_each_gpu_once(answers, 4)
        assert [a["counted"] for a in answers] == [["GPU-0000", "GPU-0001"], ["GPU-0002", "GPU-0003"]]
        groups |= {a["group"] for a in answers}
    assert groups == {"slurm-4242.0"}


def test_open_mpi_two_nodes(tmp_path: Path) -> None:
    spec = node_spec(2)
    groups = set()
    for node in range(2):
        ranks = [{"OMPI_COMM_WORLD_RANK": str(2 * node + local), "OMPI_COMM_WORLD_SIZE": "4",
                  "OMPI_COMM_WORLD_LOCAL_RANK": str(local), "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
                  "PMIX_NAMESPACE": "prterun-head-811@1"} for local in range(2)]
        answers = run_node(tmp_path, spec, ranks, node=f"node{node}")
        assert_each_gpu_once(answers, 2)
        groups |= {a["group"] for a in answers}
    assert groups == {"pmix-prterun-head-811@1"}


def test_mpich_hydra_two_nodes(tmp_path: Path) -> None:
    spec = node_spec(1)
    for node in range(2):
        ranks = [{"PMI_RANK": str(3 * node + local), "PMI_SIZE": "6", "MPI_LOCALRANKID": str(local),
                  "MPI_LOCALNRANKS": "3", "DIA_RUN_GROUP": "hydra-job"} for local in range(3)]
        assert_each_gpu_once(run_node(tmp_path, spec, ranks, node=f"node{node}"), 1)


def test_mpi_without_local_rank_measures_every_node(tmp_path: Path) -> None:
    # Only PMI_RANK/PMI_SIZE: today ranks 2 and 3 take "local rank" 2 and 3, so node 1's
    # host and GPUs are counted by nobody (and its zeros labelled measured).
    spec = node_spec(2)
    for node in range(2):
        ranks = [{"PMI_RANK": str(2 * node + local), "PMI_SIZE": "4", "MASTER_ADDR": "head", "MASTER_PORT": "29400",
                  "DIA_RUN_NONCE": "n-7"} for local in range(2)]
        answers = run_node(tmp_path, spec, ranks, node=f"node{node}")
        assert_each_gpu_once(answers, 2)
        assert len({a["group"] for a in answers}) == 1
        assert all(any("no launcher variable gives the local rank" in n for n in a["notes"]) for a in answers)


def test_one_share_exported_to_every_rank_is_counted_once(tmp_path: Path) -> None:
    # CUDA_VISIBLE_DEVICES=0 exported for the whole job on an 8-GPU node: each of the 2
    # ranks sees 1 of 8 GPUs, which looks like a per-task share from inside one rank. The
    # first rank to claim GPU 0 counts it; the other says who does.
    answers = run_node(tmp_path, node_spec(8), [torchrun(r, 2, CUDA_VISIBLE_DEVICES="0") for r in range(2)])
    assert_each_gpu_once(answers, 1)
    assert sum("GPU 0 (NVIDIA A100-SXM4-40GB) counted by another rank of this node" in " ".join(a["notes"])
               for a in answers) == 1


def test_lightning_style_launch_gives_both_ranks_one_group(tmp_path: Path) -> None:
    # Lightning's own DDP launcher: rank 0 is the launching process and listens on
    # MASTER_PORT (its TCP store); rank 1 is its child. Today each salts the group with its
    # parent's pid: two groups. Both see the same listener on the port.
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    launcher = tmp_path / "launch.py"
    launcher.write_text(f"""
import os, socket, subprocess, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = str(server.getsockname()[1])
env = {{**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "WORLD_SIZE": "2",
       "TEST_TORCH_WORLD": "2"}}
child = subprocess.run([sys.executable, {str(script)!r}], env={{**env, "LOCAL_RANK": "1", "TEST_TORCH_RANK": "1"}},
                       capture_output=True, text=True, check=True)
os.environ.update({{**env, "LOCAL_RANK": "0", "TEST_TORCH_RANK": "0"}})
sys.argv = [{str(script)!r}]
print(child.stdout.strip().splitlines()[-1])
exec(open({str(script)!r}).read())
""")
    base = {k: v for k, v in os.environ.items() if k not in _LAUNCH_VARS}
    out = subprocess.run([sys.executable, str(launcher)], env={**base, "TMPDIR": str(tmp_path),
                                                                "TEST_NVML_SPEC": node_spec(2)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rank1, rank0 = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert (rank0["rank"], rank1["rank"]) == (0, 1)
    assert rank0["group"] is not None and rank0["group"] == rank1["group"]
    assert rank0["host"] and not rank1["host"]
