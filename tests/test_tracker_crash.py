"""Crash safety and distributed runs, with real subprocesses: kill -9, SIGTERM, ranks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from dia.record.store import Store

LOOP = textwrap.dedent("""
    import sys, time
    import dia
    run = dia.track("me/crashy", run_id=sys.argv[1], sample_interval_s=0.05).start()
    print("started", flush=True)
    while True:
        sum(i * i for i in range(10000))
        run.count(steps=1)
""")


def _spawn(code: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_stored(run_id: str, timeout_s: float = 30.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        stored = Store().get_run(run_id)
        if stored is not None and stored.energy.it_kwh.value > 0 and (stored.workload.steps or 0) > 0:
            return
        time.sleep(0.1)
    raise AssertionError("the tracked subprocess never checkpointed")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_kill_9_leaves_the_run_in_the_store_shown_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = str(uuid.uuid4())
    proc = _spawn(LOOP, run_id, DIA_CHECKPOINT_S="0.2")
    try:
        _wait_stored(run_id)
        time.sleep(0.3)  # one more checkpoint
    finally:
        proc.kill()  # SIGKILL: nothing of DIA runs after this
        proc.wait()
    stored = Store().get_run(run_id)
    assert stored.energy.it_kwh.value > 0 and stored.ended_at is None
    # On the writer's host a dead pid is enough: interrupted at once, whatever the reader's
    # DIA_CHECKPOINT_S (a long one used to keep it "running" for 3 x that interval).
    monkeypatch.setenv("DIA_CHECKPOINT_S", "3600")
    shown = Store().get_run(run_id)
    assert shown.status.value == "interrupted"
    assert any(n.startswith("process gone") and str(proc.pid) in n for n in shown.notes)
    assert [r.id for r in Store().list_runs(status="interrupted")] == [run_id]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_the_run_as_interrupted_and_the_process_still_dies() -> None:
    run_id = str(uuid.uuid4())
    proc = _spawn(LOOP, run_id, DIA_CHECKPOINT_S="0.2")
    try:
        _wait_stored(run_id)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        proc.kill()
    stored = Store().get_run(run_id)
    assert stored.status.value == "interrupted" and stored.ended_at is not None
    assert any("SIGTERM" in n for n in stored.notes)


def test_program_handler_for_sigterm_still_runs() -> None:
    code = textwrap.dedent("""
        import signal, sys, dia
        seen = []
        signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
        with dia.track("me/handled", run_id=sys.argv[1]) as run:
            signal.raise_signal(signal.SIGTERM)
        print("handled", seen == [signal.SIGTERM])
    """)
    run_id = str(uuid.uuid4())
    proc = _spawn(code, run_id)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "handled True" in out
    stored = Store().get_run(run_id)
    assert stored.status.value == "completed"  # the program went on and finished


def test_local_ranks_make_one_logical_run() -> None:
    code = textwrap.dedent("""
        import time, dia
        with dia.track("me/ddp", kind="pretraining", meter="estimate") as run:
            time.sleep(0.3)
            run.count(steps=10)
        print(run.id)
    """)
    env = {"WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "3", "DIA_RUN_GROUP": "job-test-1"}
    procs = [_spawn(code, RANK=str(r), LOCAL_RANK=str(r), **env) for r in range(3)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = Store()
    all_ranks = store.list_runs(logical=False)
    assert sorted(r.rank for r in all_ranks) == [0, 1, 2]
    assert {r.run_group for r in all_ranks} == {"job-test-1"}
    # Each rank counts its own processes; only local rank 0 adds the node's idle CPU power
    # (issue 16: the other ranks used to add nothing, their CPU counted by nobody).
    rank0 = next(r for r in all_ranks if r.rank == 0)
    others = [r for r in all_ranks if r.rank > 0]
    assert all(r.energy.ram_kwh is not None and r.energy.ram_kwh.value > 0 for r in others)
    assert rank0.energy.cpu_kwh is not None
    # The ranks sleep: without the idle share their CPU figure is a sliver of rank 0's.
    assert all(r.energy.cpu_kwh is not None and r.energy.cpu_kwh.value < 0.5 * rank0.energy.cpu_kwh.value
               for r in others)
    logical = store.list_runs(logical=True)
    assert len(logical) == 1 and store.run_count(logical=True) == 1
    assert logical[0].energy.it_kwh.value == pytest.approx(sum(r.energy.it_kwh.value for r in all_ranks))
    assert logical[0].energy.it_kwh.quality.value == "estimated"
    assert logical[0].world_size == 3
