"""Several processes writing to one store at once lose nothing and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest

from dia.record.store import Store

PROCESSES = 4
WRITES = 200
SHARED_ID = "00000000-0000-4000-8000-000000000000"

# Each writer saves WRITES runs of its own, all for the same model and parent (so model
# rows and lineage edges are upserted concurrently too), and, every 20 writes, updates one
# run id that every writer shares.
_WRITER = textwrap.dedent("""
    import sys, uuid
    from dia.record.report import RunReport
    from dia.record.store import Store

    url, worker, writes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    shared_id = "00000000-0000-4000-8000-000000000000"
    store = Store(url)
    for i in range(writes):
        energy = {"it_kwh": {"value": float(i), "unit": "kWh", "quality": "measured"}}
        run_id = shared_id if i % 20 == 0 else str(uuid.UUID(int=(worker + 1) << 32 | i))
        store.save_run(RunReport(id=run_id, model_id="org/shared", parents=["org/base"],
                                 energy=energy, notes=[f"worker {worker} write {i}"]))
    print("done", worker)
""")


def _hammer(url: str) -> None:
    Store(url).close()  # schema first; creation races are covered by the store itself too
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, str(w), str(WRITES)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(PROCESSES)]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        assert out.startswith("done")
    expected = {SHARED_ID} | {str(uuid.UUID(int=(worker + 1) << 32 | i))
                              for worker in range(PROCESSES) for i in range(WRITES) if i % 20}
    with Store(url) as store:
        ids = [r.id for r in store.iter_runs(batch=97)]
        assert len(ids) == len(set(ids)) == len(expected) == PROCESSES * (WRITES - WRITES // 20) + 1
        assert set(ids) == expected
        assert store.run_count(model_id="org/shared") == len(expected)
        assert store.model_ids() == ["org/base", "org/shared"]
        assert len(store.edges()) == 1


@pytest.mark.slow
def test_concurrent_writers_on_one_sqlite_file(tmp_path: object) -> None:
    _hammer(f"sqlite:///{tmp_path}/busy.sqlite")


@pytest.mark.slow
def test_concurrent_writers_on_postgresql(postgres_url: str) -> None:
    _hammer(postgres_url)
