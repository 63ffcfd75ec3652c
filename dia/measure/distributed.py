"""Which part of a distributed job this process is, the group id its ranks share, and its GPUs.

Each rank measures only its own GPUs (:func:`own_gpus`) and its own processes' CPU load and
memory; one rank per node (local rank 0) also counts the host's idle CPU power and whole-RAM
bound (or reads RAPL's whole-package counters), so adding the ranks of a group counts every
device once. The group id is derived from facts every rank of the job sees alike, without
communication.

When no launcher variable gives the local rank (an MPI job whose launcher exports only the
global rank), DIA does not guess it: the first rank of the group on a node to claim the
node (a file created with ``O_EXCL`` under the user's temporary folder, keyed by the group)
measures its host, and each GPU is counted by the first rank to claim it.

>>> from dia.measure.distributed import detect_rank
>>> detect_rank({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "abc"}).run_group
'torchelastic-abc'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dia import settings
from dia.measure.base import GPUDevice
from dia.record.limits import RANK_MAX


@dataclass(frozen=True)
class RankInfo:
    """This process's place in a job.

    ``local_rank_known`` is ``False`` when no launcher variable gives the local rank: then
    ``local_rank`` is 0 for the rank that claimed this node's host (it measures the CPU and
    RAM) and the global rank for the others, and ``notes`` say so.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    run_group: str | None = None
    local_rank_known: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def measures_host(self) -> bool:
        """Whether this rank counts the host's share: idle CPU power, RAPL, the whole-RAM bound.

        Local rank 0, or with local ranks unknown the node's first rank; every rank counts
        its own processes' CPU load and memory.
        """
        return self.local_rank == 0

    @property
    def who(self) -> str:
        """How notes name this process: ``rank 1 (local rank 1 of 4)``."""
        if self.world_size <= 1:
            return "this process"
        if not self.local_rank_known:
            return f"rank {self.rank} (local rank unknown)"
        if self.local_world_size <= 1:
            return f"rank {self.rank} (the only rank on its node)"
        return f"rank {self.rank} (local rank {self.local_rank} of {self.local_world_size})"


# One row per launcher, tried in order: rank, world size, local rank and local world size
# variables (the first one set wins). The first launcher whose rank variable holds an
# integer gives all four, so a partial set of another launcher's variables never mixes in.
# MPI comes before SLURM: ``mpirun`` inside an allocation starts its daemons with ``srun``,
# so its ranks inherit the daemon's SLURM_PROCID (the node's index, not the rank).
_LAUNCHERS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("RANK", "WORLD_SIZE", ("LOCAL_RANK",), ("LOCAL_WORLD_SIZE",)),  # torchrun, Lightning, accelerate
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", ("OMPI_COMM_WORLD_LOCAL_RANK",),
     ("OMPI_COMM_WORLD_LOCAL_SIZE",)),  # Open MPI
    ("PMI_RANK", "PMI_SIZE", ("MPI_LOCALRANKID", "PMI_LOCAL_RANK", "PALS_LOCAL_RANKID"),
     ("MPI_LOCALNRANKS", "PMI_LOCAL_SIZE")),  # MPICH / Intel MPI (Hydra), Cray PALS
    ("SLURM_PROCID", "SLURM_NTASKS", ("SLURM_LOCALID",), ()),  # srun: local size from the task layout
)


def _int(env: Mapping[str, str], name: str | None) -> int | None:
    value = env.get(name) if name is not None else None
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _first_int(env: Mapping[str, str], names: Sequence[str]) -> int | None:
    for name in names:
        value = _int(env, name)
        if value is not None:
            return value
    return None


def slurm_tasks_on_node(env: Mapping[str, str]) -> int | None:
    """SLURM's task count on this node, from ``SLURM_STEP_TASKS_PER_NODE`` / ``SLURM_TASKS_PER_NODE``.

    Those list the count per node in a compressed form (``2(x3),1``: 2 tasks on each of the
    first 3 nodes, then 1); ``SLURM_NODEID`` says which entry is this node's.

    >>> slurm_tasks_on_node({"SLURM_TASKS_PER_NODE": "2(x3),1", "SLURM_NODEID": "3"})
    1
    """
    for name in ("SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"):
        counts = _expand_tasks_per_node(env.get(name, ""))
        if not counts:
            continue
        node = _int(env, "SLURM_NODEID")
        if node is not None and 0 <= node < len(counts):
            return counts[node]
        if len(set(counts)) == 1:  # same count on every node: the node does not matter
            return counts[0]
    return _int(env, "SLURM_NTASKS_PER_NODE")


def _expand_tasks_per_node(text: str) -> list[int]:
    counts: list[int] = []
    try:
        for entry in filter(None, (part.strip() for part in text.split(","))):
            count, _, repeat = entry.partition("(x")
            counts += [int(count)] * (int(repeat.rstrip(")")) if repeat else 1)
    except ValueError:
        return []
    return counts


def detect_rank(env: Mapping[str, str] | None = None) -> RankInfo:
    """Rank, world size, local rank and run group from torchrun / SLURM / MPI variables or torch.distributed.

    The one place DIA reads ranks: the tracker and the framework callbacks both use it.
    Local rank and local world size come from the same launcher as the rank (SLURM's when
    it gives the same rank, for MPI launched by ``srun``). When none gives the local rank,
    ``local_rank_known`` is ``False`` and this node's host goes to the first rank that
    claims it (see the module's docstring).

    >>> info = detect_rank({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
    ...                     "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"})
    >>> (info.rank, info.world_size, info.local_rank, info.local_world_size, info.run_group)
    (2, 4, 0, 2, None)
    """
    env = os.environ if env is None else env
    rank = world = local_rank = local_world = None
    for rank_var, world_var, local_vars, local_world_vars in _LAUNCHERS:
        rank = _int(env, rank_var)
        if rank is not None:
            world = _int(env, world_var)
            local_rank, local_world = _first_int(env, local_vars), _first_int(env, local_world_vars)
            if rank_var == "SLURM_PROCID":
                local_world = slurm_tasks_on_node(env)
            break
    if rank is None:
        rank, world = _torch_rank(world)
        if world is not None and world > 1:  # Lightning's own launcher: LOCAL_RANK without RANK
            local_rank, local_world = _int(env, "LOCAL_RANK"), _int(env, "LOCAL_WORLD_SIZE")
    world = max(1, world or 1)
    if local_rank is None and world > 1 and _int(env, "SLURM_PROCID") == rank and _int(env, "SLURM_NTASKS") == world:
        local_rank, local_world = _int(env, "SLURM_LOCALID"), slurm_tasks_on_node(env)  # srun --mpi=pmi2/pmix
    if not _plausible(rank, world, local_rank, local_world):
        # Values no job has (a world of 1e20, a negative rank) would make every report
        # invalid, losing the run's energy: measure as one process and say why.
        local = f" (local rank {local_rank})" if local_rank is not None else ""
        return RankInfo(notes=(f"launcher variables give rank {rank} of {world}{local}, "
                               "which no job has: measured as a single process",))
    group = fit_run_group(settings.run_group(env) or (_job_group(env) if world > 1 else None))
    if world <= 1:
        return RankInfo(rank=rank, world_size=1, local_rank=0, local_world_size=1, run_group=group)
    if local_rank is not None:
        return RankInfo(rank=rank, world_size=world, local_rank=local_rank,
                        local_world_size=local_world or max(world, local_rank + 1), run_group=group)
    return _unknown_local_rank(rank, world, local_world, group, env)


def _plausible(rank: int, world: int, local_rank: int | None, local_world: int | None) -> bool:
    """Whether the launcher's numbers fit a job: ranks within the world, all within the store's range."""
    in_range = all(0 <= n <= RANK_MAX for n in (rank, world, local_rank or 0, local_world or 0))
    return in_range and (world <= 1 or rank < world)


def _unknown_local_rank(rank: int, world: int, local_world: int | None, group: str | None,
                        env: Mapping[str, str]) -> RankInfo:
    """No launcher variable gives the local rank: the first rank to claim this node measures its host."""
    claimed = claim(f"host|{_node_key(group)}", env)
    if claimed is None:  # no claim possible (unwritable temp folder): only global rank 0 measures a host
        first, how = rank == 0, "no claim file could be written here: only rank 0 measures its host"
    else:
        first, how = claimed, ("it claimed this node first: it measures the host's CPU and RAM" if claimed
                               else "another rank of the job claimed this node and measures its CPU and RAM")
    note = f"rank {rank}: no launcher variable gives the local rank; {how}"
    return RankInfo(rank=rank, world_size=world, local_rank=0 if first else max(rank, 1),
                    local_world_size=local_world or world, run_group=group, local_rank_known=False,
                    notes=(note,))


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
    """The job's group from facts every rank of it sees alike (``None``: none found)."""
    elastic = env.get("TORCHELASTIC_RUN_ID")
    if elastic and elastic != "none":  # torchrun, accelerate launch
        return f"torchelastic-{elastic}"
    # The MPI launcher's own job id, before SLURM's: two mpirun in one allocation are two jobs.
    if env.get("PMIX_NAMESPACE"):  # Open MPI 5 / PRRTE, srun --mpi=pmix
        return f"pmix-{env['PMIX_NAMESPACE']}"
    if env.get("OMPI_MCA_ess_base_jobid"):  # Open MPI 4's mpirun
        return f"ompi-{env['OMPI_MCA_ess_base_jobid']}"
    if env.get("SLURM_JOB_ID"):
        return f"slurm-{env['SLURM_JOB_ID']}.{env.get('SLURM_STEP_ID', '0')}"
    if env.get("MASTER_ADDR") and env.get("MASTER_PORT"):
        # Address and port are reused by later jobs: salt with a nonce when one is given, else
        # with the process listening on the port here (rank 0's rendezvous store, alike for
        # every rank of this node once torch.distributed is up), else with the launcher's pid.
        salt = settings.run_nonce(env) or _port_listener(env["MASTER_PORT"]) or str(os.getppid())
        digest = hashlib.sha1(f"{env['MASTER_ADDR']}:{env['MASTER_PORT']}|{salt}".encode()).hexdigest()[:16]
        return f"job-{digest}"
    return None


_LISTENERS: dict[int, str] = {}  # port -> listener found (a listener's identity never changes)


def _port_listener(port_text: str) -> str | None:
    """``pid@start time`` of this host's process listening on ``port``, once torch.distributed is up.

    Lightning's own DDP launcher starts rank 1 as a child of rank 0, so the launcher's pid
    differs between them; rank 0's TCP store, listening on ``MASTER_PORT``, is a fact both
    see. Only asked when torch.distributed is initialised (the store listens by then), so
    ranks ask at the same moment of the job; never raises.
    """
    try:
        port = int(port_text)
    except ValueError:
        return None
    if port in _LISTENERS:
        return _LISTENERS[port]
    dist = sys.modules.get("torch.distributed")
    try:
        if dist is None or not dist.is_available() or not dist.is_initialized():
            return None
        import psutil

        pids = sorted({c.pid for c in psutil.net_connections(kind="tcp")
                       if c.pid is not None and c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port})
        if not pids:
            return None
        found = process_identity(pids[0])
    except Exception:  # no permission to list sockets, a process gone: fall back to the launcher's pid
        return None
    if found is not None:
        _LISTENERS[port] = found
    return found


def process_identity(pid: int) -> str | None:
    """``pid@start time``: a process, told apart from a later one given the same pid."""
    try:
        import psutil

        return f"{pid}@{psutil.Process(pid).create_time():.3f}"
    except Exception:  # gone, or not ours to look at
        return None


# -- claims: the first process of a group on this node ---------------------------------------------

def _node_key(group: str | None) -> str:
    """What the ranks of one job on this node share: the group, else their common parent (mpirun's daemon)."""
    if group is not None:
        return group
    ppid = os.getppid()
    return f"parent-{process_identity(ppid) or ppid}"


def claims_dir(env: Mapping[str, str]) -> Path:
    """Where claims live: ``$TMPDIR/dia-claims-<uid>`` (the user's own temporary folder)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(env.get("TMPDIR") or tempfile.gettempdir()) / f"dia-claims-{user}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (POSIX; elsewhere O_EXCL alone guards the claim)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def claim(key: str, env: Mapping[str, str] | None = None) -> bool | None:
    """Whether this process holds the node-wide claim ``key``, taking it when free or stale.

    The claim is a file created with ``O_EXCL`` in ``$TMPDIR/dia-claims-<uid>/`` holding the
    claimer's pid and start time: the first process to ask gets it, and asking again
    answers the same. A claimer that has exited leaves a stale claim, taken over by the next
    process (a later run with the same group). ``None`` when no claim can be written.

    >>> import tempfile
    >>> env = {"TMPDIR": tempfile.mkdtemp()}
    >>> claim("job-1|GPU-0", env), claim("job-1|GPU-0", env)
    (True, True)
    """
    env = os.environ if env is None else env
    me = process_identity(os.getpid()) or str(os.getpid())
    directory = claims_dir(env)
    path = directory / hashlib.sha1(key.encode()).hexdigest()[:32]
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(directory / ".lock"):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                holder = path.read_text().strip()
                if holder == me:
                    return True
                if _alive(holder):
                    return False
                path.unlink()
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(me)
    except OSError:
        return None
    return True


def _alive(holder: str) -> bool:
    pid_text, _, _ = holder.partition("@")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    return process_identity(pid) == holder if "@" in holder else _pid_exists(pid)


def _pid_exists(pid: int) -> bool:
    try:
        import psutil

        return bool(psutil.pid_exists(pid))
    except Exception:
        return True  # cannot tell: keep the claim rather than count twice


# -- GPU ownership -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuOwnership:
    """The GPUs a rank counts, and notes saying which it counts and who counts the others."""

    counted: list[GPUDevice]
    notes: list[str]


def _labels(devices: Sequence[GPUDevice]) -> str:
    return ", ".join(d.label for d in devices) if devices else "no GPU"


def _used_device(devices: Sequence[GPUDevice], current_uuid: str | None) -> GPUDevice | None:
    """The GPU torch's current device is (a MIG instance maps to the GPU holding it)."""
    if not current_uuid:
        return None
    for device in devices:
        if device.uuid == current_uuid or current_uuid in device.mig:
            return device
    return None


def own_gpus(devices: list[GPUDevice], info: RankInfo, *, current_uuid: str | None = None,
             node_gpu_count: int | None = None, env: Mapping[str, str] | None = None) -> GpuOwnership:
    """The GPUs of ``devices`` (the ones this process sees) that this rank counts, with notes.

    ``current_uuid``: torch's current device (``GPU-``/``MIG-`` UUID), when CUDA is
    initialised. ``node_gpu_count``: every GPU NVML sees on this node. The rules, so that
    each GPU of a node is counted by exactly one rank, without the ranks talking:

    * a single process, or the only rank on its node, counts all it sees;
    * per-task GPUs (``SLURM_GPUS_PER_TASK``: SLURM's ``--gpus-per-task``): the rank counts
      all it sees;
    * the rank sees a share of the node's GPUs small enough for every local rank to have its
      own: per-task ``CUDA_VISIBLE_DEVICES``, or one exported alike to every rank. Each GPU
      goes to the first rank of the node that claims it (:func:`claim`), right either way;
    * GPUs visible to several ranks: the i-th GPU seen is counted by local rank i mod the
      local world size (the usual device = local rank mapping), so none is left to nobody;
    * local rank unknown: each GPU goes to the first rank that claims it on this node.

    Notes name GPUs by index and model and say what this rank counts; when torch runs
    this rank on a GPU another rank counts, they say so.

    >>> gpus = [GPUDevice(i, f"GPU-{i}", "NVIDIA A100") for i in range(4)]
    >>> info = RankInfo(rank=1, world_size=2, local_rank=1, local_world_size=2, run_group="g")
    >>> [d.index for d in own_gpus(gpus, info, node_gpu_count=4, env={}).counted]
    [1, 3]
    """
    env = os.environ if env is None else env
    seen = list(devices)
    notes: list[str] = list(info.notes)
    used = _used_device(seen, current_uuid)
    if current_uuid and used is None and seen:
        notes.append(f"{info.who}: torch's current GPU is not among the GPUs NVML shows this process")
    if not seen:
        return GpuOwnership([], notes)
    if info.world_size <= 1:
        return GpuOwnership(seen, notes)
    if info.local_world_size <= 1 and info.local_rank_known:
        notes.append(f"{info.who} counts {_labels(seen)}")
        return GpuOwnership(seen, notes)
    share = _per_task(seen, info, node_gpu_count, env)
    if share == "explicit":
        notes.append(f"{info.who} counts {_labels(seen)}: its own GPUs (SLURM_GPUS_PER_TASK)")
        return GpuOwnership(seen, notes)
    if share == "subset" or not info.local_rank_known:
        return _first_claimers(seen, info, used, notes, env, share == "subset")
    size = info.local_world_size
    counted = [d for i, d in enumerate(seen) if i % size == info.local_rank]
    owners = sorted({i % size for i, d in enumerate(seen) if d not in counted})
    text = f"{info.who} counts {_labels(counted)}"
    if owners:
        text += (f"; the other GPUs it sees are counted by local rank{'s' if len(owners) > 1 else ''} "
                 f"{', '.join(map(str, owners))} (the i-th GPU by local rank i mod {size})")
    notes.append(text)
    if used is not None and used not in counted:
        notes.append(f"{info.who}: torch runs it on {used.label}, counted by local rank {seen.index(used) % size}")
    return GpuOwnership(counted, notes)


def _first_claimers(seen: list[GPUDevice], info: RankInfo, used: GPUDevice | None, notes: list[str],
                    env: Mapping[str, str], subset: bool) -> GpuOwnership:
    """Each GPU to the first rank of this node that claims it (see :func:`claim`)."""
    counted, rest = _claimed(seen, info, env)
    if counted is None:  # no claim possible
        if subset:  # a share of the node's GPUs that fits one per rank: most likely its own
            counted, rest = seen, []
        else:  # the host's measurer counts them all
            counted, rest = (seen, []) if info.measures_host else ([], seen)
    why = ("its share of the node's GPUs (CUDA_VISIBLE_DEVICES), each counted by the first rank of this "
           "node to claim it" if subset else "each GPU counted by the first rank of this node to claim it")
    text = f"{info.who} counts {_labels(counted)}: {why}"
    if rest:
        text += f"; {_labels(rest)} counted by another rank of this node"
    notes.append(text)
    if used is not None and used not in counted:
        notes.append(f"{info.who}: torch runs it on {used.label}, counted by another rank of this node")
    return GpuOwnership(counted, notes)


def _claimed(seen: list[GPUDevice], info: RankInfo,
             env: Mapping[str, str]) -> tuple[list[GPUDevice] | None, list[GPUDevice]]:
    key = _node_key(info.run_group)
    counted: list[GPUDevice] = []
    rest: list[GPUDevice] = []
    for device in seen:
        got = claim(f"gpu|{key}|{device.uuid}", env)
        if got is None:
            return None, []
        (counted if got else rest).append(device)
    return counted, rest


def _per_task(seen: list[GPUDevice], info: RankInfo, node_gpu_count: int | None,
              env: Mapping[str, str]) -> str | None:
    """``explicit``: the launcher gave this task its own GPUs; ``subset``: this rank sees a
    share of the node's GPUs small enough for every local rank to have its own (set per task,
    or exported alike to every rank: claims tell); ``None``: the GPUs are shared."""
    fits = node_gpu_count is None or len(seen) * info.local_world_size <= node_gpu_count
    if env.get("SLURM_GPUS_PER_TASK") and fits:
        return "explicit"
    if node_gpu_count is not None and len(seen) < node_gpu_count and fits:
        return "subset"
    return None


def own_gpu_indices(visible: list[int], info: RankInfo) -> list[int]:
    """The NVML indices this process measures among ``visible``, by :func:`own_gpus`'s rules.

    Kept for callers that only have indices; without UUIDs or the node's GPU count, the
    per-task and torch rules cannot apply.
    """
    devices = [GPUDevice(i, f"index-{i}", "") for i in visible]
    return [d.index for d in own_gpus(devices, info, env={}).counted]
