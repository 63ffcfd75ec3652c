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


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                continue
    return None


def detect_rank(env: Mapping[str, str] | None = None) -> RankInfo:
    """Rank, world size and run group from torchrun / SLURM / MPI variables or torch.distributed."""
    env = os.environ if env is None else env
    rank = _int(env, "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK")
    world = _int(env, "WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
    if rank is None:
        rank, world = _torch_rank(world)
    world = max(1, world or 1)
    local_rank = _int(env, "LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK")
    local_world = _int(env, "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE", "OMPI_COMM_WORLD_LOCAL_SIZE")
    if local_rank is None:
        local_rank = rank if world > 1 and local_world in (None, world) else 0
    group = settings.run_group(env) or (_job_group(env) if world > 1 else None)
    return RankInfo(rank=rank, world_size=world, local_rank=local_rank,
                    local_world_size=local_world or (world if world > 1 else 1), run_group=group)


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


def own_gpu_indices(visible: list[int], info: RankInfo) -> list[int]:
    """The GPUs this process measures: its local rank's device when ranks share a node's GPUs."""
    if info.world_size > 1 and info.local_world_size > 1 and len(visible) > 1:
        if info.local_rank < len(visible):
            return [visible[info.local_rank]]
        return []
    return visible
