"""Which part of a distributed job this process is, and the group id its ranks share.

Each rank measures only its own GPUs, and only local rank 0 measures the host's CPU and
RAM, so adding the ranks of a group counts every device once. The group id is derived
from the job alike in every rank, without communication.

>>> from dia.measure.distributed import detect_rank
>>> detect_rank({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "abc"}).run_group
'torchelastic-abc'
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from dia import settings
from dia.measure.base import GPUDevice


@dataclass(frozen=True)
class RankInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    run_group: str | None = None

    @property
    def measures_host(self) -> bool:
        """Only local rank 0 counts the node's CPU and RAM."""
        return self.local_rank == 0


# One row per launcher, tried in order: (rank, world size, local rank, local world size).
# The first launcher whose rank variable holds an integer gives all four, so a partial
# set of another launcher's variables never mixes in.
_LAUNCHERS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"),  # torchrun, Lightning, accelerate
    ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"),  # srun
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"),  # Open MPI
    ("PMI_RANK", "PMI_SIZE", None, None),  # MPICH, Intel MPI
)


def _int(env: Mapping[str, str], name: str | None) -> int | None:
    value = env.get(name) if name is not None else None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def detect_rank(env: Mapping[str, str] | None = None) -> RankInfo:
    """Rank, world size and run group from torchrun / SLURM / MPI variables or torch.distributed.

    The one place DIA reads ranks: the tracker and the framework callbacks both use it.

    >>> info = detect_rank({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4"})
    >>> (info.rank, info.world_size, info.run_group)
    (2, 4, None)
    """
    env = os.environ if env is None else env
    rank = world = local_rank = local_world = None
    for rank_var, world_var, local_var, local_world_var in _LAUNCHERS:
        rank = _int(env, rank_var)
        if rank is not None:
            world = _int(env, world_var)
            local_rank, local_world = _int(env, local_var), _int(env, local_world_var)
            break
    if rank is None:
        rank, world = _torch_rank(world)
    world = max(1, world or 1)
    if local_rank is None:
        local_rank = rank if world > 1 and local_world in (None, world) else 0
    group = fit_run_group(settings.run_group(env) or (_job_group(env) if world > 1 else None))
    return RankInfo(rank=rank, world_size=world, local_rank=local_rank,
                    local_world_size=local_world or (world if world > 1 else 1), run_group=group)


def run_group(*parts: object, env: Mapping[str, str] | None = None) -> str | None:
    """The group id of one run of a distributed job, alike in every rank without talking.

    ``parts`` (e.g. a Trainer's output folder) tell apart several runs of one launch, so
    their ranks are not merged together; without them, it is the job's group, the one
    :func:`detect_rank` gives. A ``DIA_RUN_GROUP`` set by the user is taken as is.
    ``None`` for a single process.

    >>> env = {"RANK": "1", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "abc"}
    >>> run_group(env=env), run_group("out", env=env) == run_group("out", env={**env, "RANK": "0"})
    ('torchelastic-abc', True)
    """
    env = os.environ if env is None else env
    group = detect_rank(env).run_group
    if group is None or not parts or settings.run_group(env):
        return group
    digest = hashlib.sha1("|".join([group, *map(str, parts)]).encode()).hexdigest()[:16]
    return f"job-{digest}"


MAX_RUN_GROUP_CHARS = 64  # the store's run_group column (PostgreSQL enforces it)
_GROUP_HASH_CHARS = 12


def fit_run_group(group: str | None) -> str | None:
    """``group`` itself when it fits the store, else a readable prefix plus a hash of all of it.

    Launchers make long ids (``TORCHELASTIC_RUN_ID`` is often a job name, a UUID and a node
    suffix); a group that does not fit would make every save fail. The hash covers the whole
    id, so the result is the same in every rank and two long ids never share a group.

    >>> long = "torchelastic-llama3-70b-sft-0f8e4c6a-8d1b-4f7e-9a53-2c1d7e6b5a49-node01"
    >>> short = fit_run_group(long)
    >>> len(short) <= MAX_RUN_GROUP_CHARS, short.startswith("torchelastic-llama3-70b-sft"), short == fit_run_group(long)
    (True, True, True)
    """
    if group is None or len(group) <= MAX_RUN_GROUP_CHARS:
        return group
    digest = hashlib.sha1(group.encode()).hexdigest()[:_GROUP_HASH_CHARS]
    return f"{group[:MAX_RUN_GROUP_CHARS - _GROUP_HASH_CHARS - 1]}~{digest}"


def _torch_rank(world: int | None) -> tuple[int, int | None]:
    dist = sys.modules.get("torch.distributed")  # never import torch just to ask
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return int(dist.get_rank()), int(dist.get_world_size())
    except Exception:  # a half-initialised process group: treat as single process
        pass
    return 0, world


def _job_group(env: Mapping[str, str]) -> str | None:
    elastic = env.get("TORCHELASTIC_RUN_ID")
    if elastic and elastic != "none":
        return f"torchelastic-{elastic}"
    if env.get("SLURM_JOB_ID"):
        return f"slurm-{env['SLURM_JOB_ID']}.{env.get('SLURM_STEP_ID', '0')}"
    if env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        # Address and port are reused by later jobs: salt with a nonce when one is given,
        # else with the launcher's pid (all ranks of a single-node launch share it).
        salt = settings.run_nonce(env) or str(os.getppid())
        digest = hashlib.sha1(f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}|{salt}".encode()).hexdigest()[:16]
        return f"job-{digest}"
    return None


@dataclass(frozen=True)
class GpuOwnership:
    """The GPUs a rank counts, and notes saying which it counts and who counts the others."""

    counted: list[GPUDevice]
    notes: list[str]


def own_gpus(devices: list[GPUDevice], info: RankInfo, *, current_uuid: str | None = None,
             node_gpu_count: int | None = None, env: Mapping[str, str] | None = None) -> GpuOwnership:
    """The GPUs of ``devices`` (the ones this process sees) that this rank counts.

    ``current_uuid``: torch's current device, when CUDA is initialised. ``node_gpu_count``:
    every GPU NVML sees on this node.
    """
    indices = own_gpu_indices(list(range(len(devices))), info)
    return GpuOwnership([devices[i] for i in indices], [])


def own_gpu_indices(visible: list[int], info: RankInfo) -> list[int]:
    """The GPUs this process measures: its local rank's device when ranks share a node's GPUs."""
    if info.world_size > 1 and info.local_world_size > 1 and len(visible) > 1:
        if info.local_rank < len(visible):
            return [visible[info.local_rank]]
        return []
    return visible
