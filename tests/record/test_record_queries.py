"""The store's public query API: bulk save with the one cycle check, and the reads that
rollups, timelines, ingest and the dashboard use instead of SQL of their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from dia.errors import LineageCycleError
from dia.record.report import RunReport
from dia.record.store import Edge, ModelRecord, Refusal, Store

Make = Callable[..., RunReport]


def _rec(child: str, *parents: str, source: str = "card", **kw: object) -> ModelRecord:
    return ModelRecord(child, parents=tuple(Edge(child, p, "finetune", None, source) for p in parents),
                       source=source, **kw)  # type: ignore[arg-type]


def test_bulk_save_stores_runs_models_and_edges_in_one_call(store_url: str, make_report: Make) -> None:
    runs = [make_report(1.0, model_id="o/base"), make_report(2.0, model_id="o/ft")]
    with Store(store_url) as store:
        refused = store.bulk_save([_rec("o/base", reports=(runs[0],)), _rec("o/ft", "o/base", reports=(runs[1],))])
        assert refused == []
        assert store.run_count() == 2
        assert store.edge_tuples() == [("o/ft", "o/base", "finetune", None)]
        assert store.model_ids() == ["o/base", "o/ft"]
        assert store.model_totals()["o/ft"].energy_kwh.value == pytest.approx(2.0)


def test_bulk_save_refuses_a_cycle_against_stored_and_batch_edges(store_url: str) -> None:
    with Store(store_url) as store:
        store.add_edge("o/b", "o/a", "finetune")
        # o/c -> o/b is new in this batch; o/a -> o/c then closes a -> c -> b -> a.
        batch = [_rec("o/c", "o/b"), _rec("o/a", "o/c"), _rec("o/d", "o/d")]
        with pytest.raises(LineageCycleError, match=r"lineage cycle: o/a -> o/c -> o/b -> o/a"):
            store.bulk_save(batch)
        assert [e[:2] for e in store.edge_tuples()] == [("o/b", "o/a")]  # rolled back
        refused = store.bulk_save(batch, skip_cycles=True)
        assert refused == [Refusal(1, "lineage cycle: o/a -> o/c -> o/b -> o/a"),
                           Refusal(2, "self-loop: o/d lists itself as a parent")]
        assert [e[:2] for e in store.edge_tuples()] == [("o/b", "o/a"), ("o/c", "o/b")]


def test_restated_edges_replace_only_that_sources_own(store_url: str) -> None:
    with Store(store_url) as store:
        store.add_edge("o/m", "o/cli", "merge", source="cli")
        store.bulk_save([_rec("o/m", "o/old", restate_edges=True)])
        store.bulk_save([_rec("o/m", "o/new", restate_edges=True)])
        assert sorted(e[1] for e in store.edge_tuples()) == ["o/cli", "o/new"]
        # Dropped in memory too: o/old -> o/m is no cycle any more.
        assert store.bulk_save([_rec("o/old", "o/m")]) == []


def test_bulk_save_keeps_the_earliest_model_date_and_merges_metadata(store_url: str) -> None:
    early, late = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, tzinfo=timezone.utc)
    with Store(store_url) as store:
        store.bulk_save([_rec("o/x", created_at=late), _rec("o/y", created_at=late, metadata={"a": 1})])
        store.bulk_save([_rec("o/x", created_at=early), _rec("o/y", created_at=early, metadata={"b": 2})])
        store.bulk_save([_rec("o/x", created_at=late)])
        x, y = store.get_model("o/x"), store.get_model("o/y")
        assert x is not None and y is not None
        assert x.created_at == early and y.created_at == early
        assert y.metadata == {"a": 1, "b": 2}


def test_reads_for_rollups_timelines_ingest_and_dashboard(store_url: str, make_report: Make) -> None:
    with Store(store_url) as store:
        store.save_runs([make_report(1.0, model_id="o/a", location={"country": "FRA"}),
                         make_report(3.0, model_id="o/a", kind="inference", location={"country": "FRA"}),
                         make_report(2.0, model_id="o/b")])
        store.bulk_save([_rec("o/card", reports=(make_report(5.0, model_id="o/card", source="card"),))])
        sums = {(g.model_id, g.is_use): g for g in store.quality_sums({"o/a"})}
        assert set(sums) == {("o/a", False), ("o/a", True)}
        assert sums[("o/a", True)].sums[0] == pytest.approx(3.0)
        assert store.model_totals(["o/a"])["o/a"].energy_kwh.value == pytest.approx(1.0)
        assert store.tracked_model_ids() == {"o/a", "o/b"}
        dated = store.dated_runs({"o/a", "o/b"})
        assert sorted((r.model_id, r.energy_kwh) for r in dated) == [("o/a", 1.0), ("o/b", 2.0)]
        assert all(r.when is not None and r.when.tzinfo is None for r in dated)
        assert set(store.model_dates({"o/a"})) == {"o/a"}
        assert store.distinct_values("country")[0] == "FRA"
        with pytest.raises(ValueError):
            store.distinct_values("report_json")
        fra = [row for row in store.by_country() if row[0] == "FRA"]
        assert fra[0][1] == 2 and fra[0][2] == pytest.approx(4.0)
        kinds = store.totals_by_kind()
        assert sum(g.runs for g in kinds) == 4
        assert sum(g.sums[0] for g in kinds if g.is_use) == pytest.approx(3.0)
