"""Whether a ``running`` report's writer is gone is decided by the writer, not the reader.

On the writer's host the process table answers at once (a dead pid, or a pid now held by
another process); elsewhere the run is interrupted after 3 x the *writer's* checkpoint
interval, whatever the reader's ``DIA_CHECKPOINT_S``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import psutil
import pytest
from factories import run_report

import dia
from dia.constants import STALE_HEARTBEAT_FACTOR
from dia.record.report import RunReport
from dia.record.store import Store
from dia.settings import DEFAULT_CHECKPOINT_S

ELSEWHERE = "gpu-node-17.cluster.invalid"  # a host name that is never this machine's


def _running(seconds_since_heartbeat: float, **fields: Any) -> RunReport:
    beat = datetime.now(timezone.utc) - timedelta(seconds=seconds_since_heartbeat)
    return run_report("org/m", status="running", started_at=beat - timedelta(hours=1), ended_at=None,
                      heartbeat_at=beat, **fields)


def _shown(store_url: str, report: RunReport) -> str:
    with Store(store_url) as store:
        store.save_run(report)
        shown = store.get_run(report.id)
    assert shown is not None
    return shown.status.value


def _own_start() -> datetime:
    return datetime.fromtimestamp(psutil.Process(os.getpid()).create_time(), tz=timezone.utc)


def test_a_remote_writer_is_judged_by_its_own_interval(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader with a short interval used to call this writer interrupted while it was alive.
    monkeypatch.setenv("DIA_CHECKPOINT_S", "1")
    writer = {"host": ELSEWHERE, "pid": 4242, "checkpoint_s": 60.0}
    assert _shown(store_url, _running(100, **writer)) == "running"      # < 3 x 60 s
    assert _shown(store_url, _running(200, **writer)) == "interrupted"  # > 3 x 60 s
    # And a reader with a long interval no longer keeps a dead remote writer "running".
    monkeypatch.setenv("DIA_CHECKPOINT_S", "3600")
    assert _shown(store_url, _running(200, **writer)) == "interrupted"


def test_a_report_without_the_writers_interval_uses_the_default(store_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_CHECKPOINT_S", "3600")
    limit_s = STALE_HEARTBEAT_FACTOR * DEFAULT_CHECKPOINT_S
    old = {"host": ELSEWHERE, "pid": 4242}
    assert _shown(store_url, _running(limit_s * 0.5, **old)) == "running"
    assert _shown(store_url, _running(limit_s * 2, **old)) == "interrupted"


def test_a_dead_pid_on_this_host_is_interrupted_at_once(store_url: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid names no process now
    report = _running(0, host=socket.gethostname(), pid=proc.pid, checkpoint_s=3600.0)
    with Store(store_url) as store:
        store.save_run(report)
        shown = store.get_run(report.id)
        assert shown is not None and shown.status.value == "interrupted"
        assert any(n.startswith("process gone") and str(proc.pid) in n for n in shown.notes)
        assert [r.id for r in store.list_runs(status="interrupted")] == [report.id]


def test_a_live_pid_of_another_process_is_interrupted(store_url: str) -> None:
    # Our own pid, but recorded with another start time: the pid was reused.
    reused = _running(0, host=socket.gethostname(), pid=os.getpid(), checkpoint_s=3600.0,
                      process_started_at=_own_start() - timedelta(hours=2))
    assert _shown(store_url, reused) == "interrupted"
    # The same pid with its own start time is the writer: running, even with an old heartbeat.
    alive = _running(3 * 3600, host=socket.gethostname(), pid=os.getpid(), checkpoint_s=1.0,
                     process_started_at=_own_start())
    assert _shown(store_url, alive) == "running"


_WRITER = textwrap.dedent("""
    import sys, dia
    run = dia.track("me/stale", run_id=sys.argv[1], store=sys.argv[2], meter="estimate",
                    checkpoint_s=60).start()
    print("started", flush=True)
    sys.stdin.read()  # until killed
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_real_writer_stores_its_interval_and_start_time_and_kill_9_shows_at_once(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/runs.sqlite"
    run_id = str(uuid.uuid4())
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, run_id, url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60  # the first checkpoint comes within about a second
        stored = None
        while stored is None and time.monotonic() < deadline:
            stored = Store(url).get_run(run_id) if (tmp_path / "runs.sqlite").exists() else None
            time.sleep(0.1)
        assert stored is not None, "the writer never checkpointed"
        assert stored.status.value == "running" and stored.checkpoint_s == 60.0
        started = psutil.Process(proc.pid).create_time()
        assert stored.process_started_at is not None
        assert abs(stored.process_started_at.timestamp() - started) < 1.0
    finally:
        proc.kill()
        proc.communicate()
    shown = Store(url).get_run(run_id)
    assert shown is not None and shown.status.value == "interrupted"  # no 3 x 60 s wait


def test_the_tracker_records_its_interval_on_every_report(tmp_path: Any) -> None:
    with dia.track("me/m", store=False, meter="estimate", checkpoint_s=42) as run:
        pass
    assert run.report is not None and run.report.checkpoint_s == 42.0
    assert run.report.process_started_at == _own_start()
