"""Several real processes on one store, on SQLite and PostgreSQL: the cycle check and the
monotone rule hold under concurrency, and a fresh SQLite file opens for every process."""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from sqlalchemy.exc import OperationalError

from dia.record.report import RunStatus
from dia.record.store import Store

DIA = str(Path(sys.executable).parent / "dia")
PAIRS = 150


def _cross_pointing_folders(root: Path) -> tuple[Path, Path]:
    """Folder 1 says a/m_i is a fine-tune of b/m_i; folder 2 says the reverse."""
    first, second = root / "one", root / "two"
    for i in range(PAIRS):
        for folder, (child, parent) in ((first, ("a", "b")), (second, ("b", "a"))):
            card = folder / child / f"m_{i}" / "README.md"
            card.parent.mkdir(parents=True)
            card.write_text(f"---\nbase_model: {parent}/m_{i}\n---\n", encoding="utf-8")
    return first, second


def _ingest_concurrently(url: str, folders: list[Path]) -> list[subprocess.CompletedProcess[str]]:
    Store(url).close()  # the schema first: this test is about the cycle check
    env = {**os.environ, "COLUMNS": "200"}
    procs = [subprocess.Popen([DIA, "ingest", str(folder), "--db", url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for folder in folders]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=300), p.stdout.read(), p.stderr.read())  # type: ignore[union-attr]
            for p in procs]


@pytest.mark.slow
def test_concurrent_cross_pointing_ingests_leave_no_cycle(store_url: str, tmp_path: Path) -> None:
    first, second = _cross_pointing_folders(tmp_path)
    # Each folder twice: four writers, two per direction.
    results = _ingest_concurrently(store_url, [first, second, first, second])
    for result in results:
        assert "Traceback" not in result.stdout + result.stderr
    with Store(store_url) as store:
        edges = store.edge_tuples()
    graph = nx.DiGraph((parent, child) for child, parent, _, _ in edges)
    assert nx.is_directed_acyclic_graph(graph), nx.find_cycle(graph)
    # Every pair kept exactly one of its two directions: the first one stored wins.
    pairs = {frozenset((child, parent)) for child, parent, _, _ in edges}
    assert len(edges) == len(pairs) == PAIRS
    # Every refused card was reported with the cycle it would have closed, on its own line.
    output = "".join(r.stdout + r.stderr for r in results)
    refused = re.findall(r"(\w)/m_(\d+)/README\.md: lineage cycle: (\w)/m_\2 -> (\w)/m_\2 -> \3/m_\2", output)
    assert refused, output[-2000:]
    stored_children = {child for child, _, _, _ in edges}
    for child, i, _, _ in refused:
        assert f"{child}/m_{i}" not in stored_children


# Every writer saves snapshots of one shared run. Worker 0 first saves the finished run
# (the most energy, the latest heartbeat); every writer then replays older running
# snapshots of it: none of them may move it back.
_SNAPSHOTS = textwrap.dedent("""
    import sys
    from datetime import datetime, timedelta, timezone
    from dia.record.report import RunReport
    from dia.record.store import Store

    url, worker, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    t0 = datetime(2025, 3, 1, tzinfo=timezone.utc)

    def report(i, status="running"):
        energy = {"it_kwh": {"value": float(i), "unit": "kWh", "quality": "measured"}}
        beat = t0 + timedelta(minutes=i)
        return RunReport(id="44444444-4444-4444-8444-444444444444", model_id="org/shared", energy=energy,
                         status=status, started_at=t0, heartbeat_at=beat,
                         ended_at=beat if status != "running" else None)

    store = Store(url)
    if worker == 0:
        store.save_run(report(100, "completed"))
        open(ready, "w").close()
    else:
        import os, time
        while not os.path.exists(ready):
            time.sleep(0.01)
    applied = sum(store.save_run(report(i)) for i in range(worker, 100, 4))
    print("applied", applied)
""")


@pytest.mark.slow
def test_concurrent_stale_snapshots_never_move_a_run_back(store_url: str, tmp_path: Path) -> None:
    Store(store_url).close()
    ready = tmp_path / "ready"
    procs = [subprocess.Popen([sys.executable, "-c", _SNAPSHOTS, store_url, str(w), str(ready)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        assert out.strip() == "applied 0"
    with Store(store_url) as store:
        run = store.get_run("44444444-4444-4444-8444-444444444444")
    assert run is not None
    assert (run.status, run.energy.it_kwh.value) == (RunStatus.COMPLETED, 100.0)


def _open(url: str, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        Store(url).close()
        errors.put("")
    except Exception as exc:  # reported to the parent, which asserts there was none
        errors.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_several_processes_open_one_fresh_sqlite_file(tmp_path: Path) -> None:
    ctx: Any = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    failures: list[str] = []
    for round_ in range(6):
        url = f"sqlite:///{tmp_path}/fresh-{round_}.sqlite"
        errors = ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, errors)) for _ in range(6)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=60)
        failures += [e for e in (errors.get(timeout=10) for _ in procs) if e]
        with Store(url) as store:
            assert store.run_count() == 0
    assert failures == []


def test_opening_retries_a_busy_fresh_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rare race seen in CI: SQLite answers "database is locked" on a fresh file's
    first write without waiting; opening is idempotent and is retried."""
    real = Store._create_tables
    calls = []

    def busy_once(self: Store, engine: object, backend: str) -> None:
        calls.append(backend)
        if len(calls) == 1:
            raise OperationalError("PRAGMA journal_mode=WAL", {}, Exception("database is locked"))
        real(self, engine, backend)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "_create_tables", busy_once)
    with Store(f"sqlite:///{tmp_path}/fresh.sqlite") as store:
        assert store.run_count() == 0
    assert len(calls) == 2


# One edge per transaction, many transactions: the writers interleave as much as they can.
# Even workers go through bulk_save (the card path), odd ones through save_runs (reports).
_EDGES = textwrap.dedent("""
    import sys
    from dia.errors import LineageCycleError
    from dia.record.report import RunReport
    from dia.record.store import Edge, ModelRecord, Store

    url, worker, pairs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = Store(url)
    refused = 0
    energy = {"it_kwh": {"value": 1.0, "unit": "kWh", "quality": "measured"}}
    for i in range(pairs):
        child, parent = (f"a/m_{i}", f"b/m_{i}") if worker % 2 == 0 else (f"b/m_{i}", f"a/m_{i}")
        if worker < 2:
            refused += len(store.bulk_save([ModelRecord(child, parents=(Edge(child, parent, "finetune"),))],
                                           skip_cycles=True))
        else:
            try:
                store.save_run(RunReport(model_id=child, parents=[parent], energy=energy))
            except LineageCycleError:
                refused += 1
    print("refused", refused)
""")


@pytest.mark.slow
def test_concurrent_edge_writers_leave_no_cycle(store_url: str) -> None:
    Store(store_url).close()
    pairs = 200
    procs = [subprocess.Popen([sys.executable, "-c", _EDGES, store_url, str(w), str(pairs)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    refused = 0
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        refused += int(out.split()[-1])
    with Store(store_url) as store:
        edges = store.edge_tuples()
    graph = nx.DiGraph((parent, child) for child, parent, _, _ in edges)
    assert nx.is_directed_acyclic_graph(graph), nx.find_cycle(graph)
    assert len(edges) == pairs
    assert refused == 2 * pairs  # per pair: both writers of the direction that came second
