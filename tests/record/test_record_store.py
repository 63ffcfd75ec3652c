"""The store, on a SQLite file and on a real PostgreSQL database (``store_url``)."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from dia.errors import LineageCycleError, StoreError
from dia.record.report import RunReport, RunStatus
from dia.record.store import Store, mask_url

Make = Callable[..., RunReport]


def test_same_id_twice_updates_and_never_duplicates(store_url: str, make_report: Make) -> None:
    with Store(store_url) as store:
        first = make_report(1.0, model_id="org/a", status="running")
        store.save_run(first)
        store.save_run(first.model_copy(update={"status": RunStatus.COMPLETED,
                                                "energy": make_report(5.0).energy}))
        assert store.run_count() == 1
        got = store.get_run(first.id)
        assert got is not None
        assert got.status is RunStatus.COMPLETED and got.energy.it_kwh.value == 5.0
        assert store.model_totals()["org/a"].energy_kwh.triple() == pytest.approx((5.0, 4.5, 5.5))


def test_round_trip_keeps_every_field(store_url: str, make_report: Make) -> None:
    report = make_report(2.0, carbon_kg=0.8, water_l=3.0, model_id="org/child", parents=["org/base:lora"],
                         kind="adapter", workload={"tokens": 1000}, location={"country": "FRA"})
    with Store(store_url) as store:
        store.save_run(report)
        assert store.get_run(report.id) == report
        assert store.get_run(report.id[:8]) == report  # a unique prefix works too
        assert store.get_run("00000000") is None
        assert [(e.child_id, e.parent_id, e.relation, e.method) for e in store.edges()] == [
            ("org/child", "org/base", "adapter", "lora")]
        assert store.model_ids() == ["org/base", "org/child"]
        child = store.get_model("org/child")
        assert child is not None and child.created_at == report.ended_at


def test_filters_and_order(store_url: str, make_report: Make) -> None:
    with Store(store_url) as store:
        store.save_runs([
            make_report(1.0, model_id="org/a", kind="finetuning", start_offset_h=0, location={"country": "FRA"}),
            make_report(2.0, model_id="org/a", kind="inference", start_offset_h=2),
            make_report(3.0, model_id="org/b", kind="finetuning", status="failed", start_offset_h=1),
            make_report(4.0, kind="other", started_at=None, ended_at=None),
        ])
        energies = [r.energy.it_kwh.value for r in store.list_runs()]
        assert energies == [2.0, 3.0, 1.0, 4.0]  # newest first, undated last on both backends
        assert [r.energy.it_kwh.value for r in store.list_runs(model_id="org/a")] == [2.0, 1.0]
        assert [r.energy.it_kwh.value for r in store.list_runs(kind="finetune")] == [3.0, 1.0]
        assert [r.energy.it_kwh.value for r in store.list_runs(status="failed")] == [3.0]
        assert [r.energy.it_kwh.value for r in store.list_runs(country="fra")] == [1.0]
        assert [r.energy.it_kwh.value for r in store.list_runs(limit=2, offset=1)] == [3.0, 1.0]
        assert store.run_count(model_id="org/a") == 2
        assert sorted(r.energy.it_kwh.value for r in store.iter_runs(batch=3)) == [1.0, 2.0, 3.0, 4.0]


def test_model_totals_sum_production_runs_only(store_url: str, make_report: Make) -> None:
    with Store(store_url) as store:
        store.save_runs([
            make_report(1.0, carbon_kg=0.5, water_l=2.0, model_id="org/a", kind="finetuning"),
            make_report(2.0, carbon_kg=1.0, model_id="org/a", kind="pretraining"),
            make_report(50.0, carbon_kg=20.0, model_id="org/a", kind="inference"),  # use, not production
            make_report(7.0, model_id="org/b"),
        ])
        totals = store.model_totals()
        a = totals["org/a"]
        assert a.runs == 2
        assert a.energy_kwh.triple() == pytest.approx((3.0, 2.7, 3.3))
        assert a.carbon_kg.triple() == pytest.approx((1.5, 0.75, 3.0))
        assert a.water_l.triple() == pytest.approx((2.0, 2.0, 2.0))
        assert a.qualities == ("estimated",)
        assert totals["org/b"].qualities == ("unavailable",)  # no carbon converted


def test_distributed_ranks_form_one_logical_run(store_url: str, make_report: Make) -> None:
    ranks = [make_report(1.0 + rank, carbon_kg=0.1, model_id="org/big", run_group="job-1", rank=rank, world_size=3,
                         hardware={"gpus": [{"name": "NVIDIA H100", "count": 8}]}) for rank in range(3)]
    with Store(store_url) as store:
        store.save_runs(reversed(ranks))
        logical = store.list_runs()
        assert len(logical) == 1 and store.run_count() == 1
        run = logical[0]
        assert run.id == ranks[0].id
        assert run.energy.it_kwh.value == pytest.approx(6.0)  # 1 + 2 + 3
        assert run.carbon is not None and run.carbon.total_kg.value == pytest.approx(0.3)
        assert run.hardware.gpu_count == 24
        assert store.run_count(logical=False) == 3
        assert len(store.list_runs(logical=False)) == 3
        assert len(list(store.iter_runs())) == 3  # export keeps every rank
        assert store.model_totals()["org/big"].energy_kwh.value == pytest.approx(6.0)


def test_cycle_is_rejected_and_earlier_data_survives(store_url: str, make_report: Make) -> None:
    with Store(store_url) as store:
        base_run = make_report(1.0, model_id="org/b", parents=["org/a"])
        store.save_run(make_report(1.0, model_id="org/c", parents=["org/b"]))
        store.save_run(base_run)
        before = (store.run_count(), store.edges(), store.model_ids())
        innocent = make_report(9.0, model_id="org/x")
        with pytest.raises(LineageCycleError, match=r"lineage cycle: org/a -> org/c -> org/b -> org/a"):
            store.save_runs([innocent, make_report(2.0, model_id="org/a", parents=["org/c"])])
        assert (store.run_count(), store.edges(), store.model_ids()) == before  # whole batch rolled back
        assert store.get_run(innocent.id) is None
        with pytest.raises(LineageCycleError, match="self-loop"):
            store.add_edge("org/a", "org/a", "finetune")
        assert store.get_run(base_run.id) == base_run


def test_stale_running_run_is_shown_interrupted(store_url: str, make_report: Make) -> None:
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    crashed = make_report(1.0, status="running", started_at=old, ended_at=None, heartbeat_at=old,
                          host=socket.gethostname(), pid=2**22 + 12345)  # no such process
    alive = make_report(1.0, status="running", started_at=old, ended_at=None, heartbeat_at=old,
                        host=socket.gethostname(), pid=os.getpid())
    with Store(store_url) as store:
        store.save_runs([crashed, alive])
        shown = store.get_run(crashed.id)
        assert shown is not None and shown.status is RunStatus.INTERRUPTED
        assert [r.id for r in store.list_runs(status="interrupted")] == [crashed.id]
        assert [r.id for r in store.list_runs(status="running")] == [alive.id]


def test_models_and_edges_api(store_url: str) -> None:
    with Store(store_url) as store:
        store.upsert_model("org/base", source="card", metadata={"license": "mit"})
        store.upsert_model("org/base", metadata={"params": 7})
        store.add_edge("org/ft", "org/base", "finetune", source="card")
        info = store.get_model("org/base")
        assert info is not None and info.metadata == {"license": "mit", "params": 7}
        assert [e.parent_id for e in store.edges()] == ["org/base"]
        store.delete_edges("org/ft", source="report")
        assert len(store.edges()) == 1  # other sources untouched
        store.delete_edges("org/ft")
        assert store.edges() == []


def test_read_only_store_refuses_writes(tmp_path: os.PathLike[str], make_report: Make) -> None:
    url = f"sqlite:///{tmp_path}/ro.sqlite"
    Store(url).save_run(make_report(1.0))
    with Store(url, read_only=True) as ro:
        assert ro.run_count() == 1
        with pytest.raises(StoreError, match="open read-only"):
            ro.save_run(make_report(2.0))
    with pytest.raises(StoreError, match="no store at"):
        Store(f"sqlite:///{tmp_path}/missing.sqlite", read_only=True)


def test_sqlite_uri_mode_ro_is_honoured(tmp_path: os.PathLike[str], make_report: Make) -> None:
    path = f"{tmp_path}/uri.sqlite"
    Store(f"sqlite:///{path}").save_run(make_report(1.0))
    # SQLite itself refuses writes here, whoever runs the test (root included).
    with Store(f"sqlite:///file:{path}?mode=ro&uri=true") as store:
        assert store.run_count() == 1
        with pytest.raises(StoreError, match=r"^store error at sqlite:///file:.*: attempt to write a readonly database$"):
            store.save_run(make_report(2.0))
        assert store.run_count() == 1


def test_sqlite_uses_wal(tmp_path: os.PathLike[str]) -> None:
    from sqlalchemy import text

    store = Store(f"sqlite:///{tmp_path}/wal.sqlite")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


@pytest.mark.parametrize(("url", "masked"), [
    ("postgresql+psycopg://dia:s3cret@db.lab:5432/dia", "postgresql+psycopg://dia:***@db.lab:5432/dia"),
    ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
    ("postgresql+psycopg://dia:s3cret@db.lab:notaport/dia", "postgresql+psycopg://dia:***@db.lab:notaport/dia"),
    ("postgresql://dia@db.lab/dia?password=S3cret", "postgresql://dia@db.lab/dia?password=***"),
    ("postgresql://dia:p@ss@db.lab/dia", "postgresql://dia:***@db.lab/dia"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_plain_postgresql_scheme_uses_psycopg(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with Store(plain) as store:
        assert store.backend == "postgresql" and store.run_count() == 0


def test_missing_psycopg_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match=r"^cannot use postgresql\+psycopg://dia:\*\*\*@127\.0\.0\.1:5/x: "
                                         r"PostgreSQL needs psycopg: pip install 'dia\[postgres\]'$"):
        Store("postgresql+psycopg://dia:s3cret@127.0.0.1:5/x")
