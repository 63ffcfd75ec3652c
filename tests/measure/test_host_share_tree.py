"""Issue 16: a rank's process tree leaves out the other ranks of its job, with their subtrees.

Lightning's own DDP launcher starts rank 1 as a child of rank 0: rank 0's tree counted
rank 1's CPU as well, and rank 1 (once it counts its own) would be counted twice. Real
child processes here: a data-loader-like worker (our environment), and another rank
(``LOCAL_RANK=1``) with a child of its own whose environment names no rank at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

import dia.measure.process as process_module
from dia.measure.process import RANK_VARIABLES, OtherRanks, ProcessTree

# Burn some CPU, start the children named on the command line (an env each), say "ready <pids>"
# once they are ready, then wait for stdin to close (so the CPU time stays put while read).
BURNER = r"""
import json, subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[1], "[]"], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True) for env in json.loads(sys.argv[2])]
pids = [k.pid for k in kids if k.stdout.readline().startswith("ready")]
start = time.process_time()
while time.process_time() - start < 0.3:
    pass
print("ready", " ".join(map(str, [len(pids), *pids])), flush=True)
sys.stdin.read()
for k in kids:
    k.stdin.close()
    k.wait()
"""


def _env(**rank: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in RANK_VARIABLES}
    return {**base, **rank}


@pytest.fixture
def job() -> Iterator[dict[str, int]]:
    """This process as local rank 0, a worker of ours, and rank 1 with a child of its own."""
    import json

    ours = _env(LOCAL_RANK="0", RANK="0")
    procs = {
        "worker": subprocess.Popen([sys.executable, "-c", BURNER, BURNER, "[]"], env=ours,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True),
        "rank1": subprocess.Popen([sys.executable, "-c", BURNER, BURNER, json.dumps([_env()])],
                                  env=_env(LOCAL_RANK="1", RANK="1"), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True),
    }
    pids = {name: p.pid for name, p in procs.items()}
    for name, p in procs.items():
        assert p.stdout is not None
        fields = p.stdout.readline().split()
        if name == "rank1":
            pids["rank1-child"] = int(fields[2])
    try:
        yield pids
    finally:
        for p in procs.values():
            assert p.stdin is not None
            p.stdin.close()
            p.wait(timeout=60)


def _cpu_s(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


@pytest.mark.parametrize("listing", ["proc", "psutil"])
def test_other_ranks_and_their_subtrees_are_left_out(listing: str, job: dict[str, int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if listing == "psutil":  # a kernel without /proc/<pid>/task/<tid>/children
        monkeypatch.setattr(process_module, "_child_pids_proc", lambda root, skip=None: None)
    skip = OtherRanks({"LOCAL_RANK": "0", "RANK": "0"})
    every, mine = ProcessTree().usage().cpu_s, ProcessTree(skip=skip).usage().cpu_s
    others_s = _cpu_s(job["rank1"]) + _cpu_s(job["rank1-child"])
    assert others_s >= 0.5  # both burned their 0.3 s
    # Before: rank 0's tree held rank 1 and its child.
    assert every - mine == pytest.approx(others_s, abs=0.1)
    assert mine >= _cpu_s(job["worker"])  # our own worker is still ours


def test_a_process_whose_environment_cannot_be_read_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def denied(self: Any) -> dict[str, str]:
        calls.append(self.pid)
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "environ", denied)
    skip = OtherRanks({"LOCAL_RANK": "0"})
    assert skip(os.getpid()) is False and skip(os.getpid()) is False
    assert calls == [os.getpid()]  # looked at once per pid


def test_a_gone_process_is_not_skipped_and_nothing_raises() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert OtherRanks({"RANK": "0"})(proc.pid) is False


@pytest.mark.parametrize(("theirs", "other"), [
    ({"LOCAL_RANK": "1"}, True),                              # Lightning's rank 1
    ({"LOCAL_RANK": "0", "RANK": "0"}, False),                # a worker inheriting our variables
    ({}, False),                                              # a tool naming no rank
    ({"SLURM_PROCID": "3"}, True), ({"OMPI_COMM_WORLD_RANK": "2"}, True), ({"PMI_RANK": "1"}, True),
])
def test_which_environments_are_other_ranks(theirs: dict[str, str], other: bool) -> None:
    # Lightning's rank 0 was started by the user: it has no rank variable, only its rank numbers.
    ours = OtherRanks.of(rank=0, local_rank=0, env={})
    assert ours.is_other(theirs) is other


def test_our_own_variables_win_over_our_rank_numbers() -> None:
    skip = OtherRanks.of(rank=5, local_rank=1, env={"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "LOCAL_RANK": "1"})
    assert not skip.is_other({"SLURM_PROCID": "5", "LOCAL_RANK": "1"})
    assert skip.is_other({"SLURM_PROCID": "4"})
