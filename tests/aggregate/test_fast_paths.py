"""The fast read paths give the same answers as the plain ones: per-model totals for a
subset, edges as tuples, the timeline thinned, large-family rollups, merge ancestries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from dia.aggregate.fast import FamilyEngine
from dia.aggregate.rollup import rollup
from dia.aggregate.timeline import timeline
from dia.record.report import RunReport
from dia.record.store import Store


@pytest.fixture
def family(tmp_path: Path, make_run: Callable[..., RunReport]) -> Store:
    store = Store(f"sqlite:///{tmp_path}/f.db")
    runs = [make_run("o/base", 100.0, day=0), make_run("o/base", 1.0, day=1, quality="measured")]
    # 600 derivatives: above the size where the rollup stops filtering in SQL.
    runs += [make_run(f"o/d{i:03d}", 1.0 + i, parents=[("o/base", "finetune")], day=2 + i % 50) for i in range(600)]
    runs += [make_run("o/d001", 7.0, kind="inference", day=3), make_run("x/other", 5.0, day=1)]
    store.save_runs(runs)
    return store


def test_model_totals_subset_and_edge_tuples(family: Store) -> None:
    everything = family.model_totals()
    assert family.model_totals(["o/base", "o/d001", "nobody/none"]) == {m: everything[m] for m in ("o/base", "o/d001")}
    assert everything["o/base"].runs == 2 and everything["o/base"].qualities == ("measured", "reported")
    assert everything["o/base"].energy_kwh == pytest.approx((101.0, 90.9, 111.1))
    assert "o/d001" in everything and everything["o/d001"].runs == 1  # the inference run is use, not cost
    assert family.edge_tuples() == [(e.child_id, e.parent_id, e.relation, e.method) for e in family.edges()]
    family.close()


def test_large_family_rollup_matches_hand_sums(family: Store) -> None:
    r = rollup("o/base", store=family)
    assert r.members == 601 and r.with_report == 601
    expected_kwh = 101.0 + sum(1.0 + i for i in range(600))
    assert r.energy_kwh.value == pytest.approx(expected_kwh)
    assert r.carbon_kg.low == pytest.approx(0.25 * expected_kwh)
    assert r.use["energy_kwh"].value == pytest.approx(7.0)
    assert sum(iv.value for iv in r.by_quality.values()) == pytest.approx(r.carbon_kg.value)
    base = next(row for row in r.rows if row.model_id == "o/base")
    assert base.quality == "reported" and base.runs == 2  # worst tier of its runs
    assert r.to_json_dict()["rows"][0]["energy_kwh"]["value"] == pytest.approx(101.0)
    family.close()


def test_timeline_thinned_keeps_exact_running_totals(family: Store) -> None:
    full = timeline("o/base", store=family)
    thin = timeline("o/base", store=family, max_points=10)
    assert len(full) == 602 and len(thin) <= 11
    assert thin[-1].energy_kwh == pytest.approx(full[-1].energy_kwh)
    by_date = {(p.date, p.member): p.energy_kwh for p in full}
    assert all(by_date[(p.date, p.member)] == pytest.approx(p.energy_kwh) for p in thin)
    assert full[0].date.tzinfo is None and full[0].member == "o/base"
    family.close()


def test_upstream_pairs_equal_networkx_ancestors() -> None:
    rng = np.random.default_rng(3)
    n = 300
    edges = {(int(rng.integers(0, c)), c) for c in range(1, n) for _ in range(int(rng.integers(1, 4)))}
    eng = FamilyEngine(n, [p for p, _ in edges], [c for _, c in edges])
    merges = np.flatnonzero(eng.is_merge)
    origin, member = eng._upstream_pairs(merges)
    g = nx.DiGraph(list(edges))
    for m in merges.tolist():
        assert set(member[origin == m].tolist()) == nx.ancestors(g, m) | {m}
