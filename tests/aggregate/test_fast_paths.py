"""The fast read paths give the same answers as the plain ones: per-model totals for a
subset, edges as tuples, the timeline thinned, large-family rollups, merge ancestries."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from dia.aggregate.fast import FamilyEngine, _forest_depth
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


@pytest.mark.slow
def test_model_totals_subset_and_edge_tuples(family: Store) -> None:
    everything = family.model_totals()
    assert family.model_totals(["o/base", "o/d001", "nobody/none"]) == {m: everything[m] for m in ("o/base", "o/d001")}
    assert everything["o/base"].runs == 2 and everything["o/base"].qualities == ("measured", "reported")
    assert everything["o/base"].energy_kwh.triple() == pytest.approx((101.0, 90.9, 111.1))
    assert "o/d001" in everything and everything["o/d001"].runs == 1  # the inference run is use, not cost
    assert family.edge_tuples() == [(e.child_id, e.parent_id, e.relation, e.method) for e in family.edges()]
    family.close()


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_merge_ancestry_is_shared_and_unique() -> None:
    rng = np.random.default_rng(5)
    n = 400
    edges = {(int(rng.integers(0, c)), c) for c in range(1, n) for _ in range(int(rng.integers(1, 3)))}
    eng = FamilyEngine(n, [p for p, _ in edges], [c for _, c in edges])
    origin, member = eng.merge_ancestry
    assert eng.merge_ancestry[0] is origin  # cached: family and upstream walk once
    keys = origin * n + member
    assert np.all(keys[1:] > keys[:-1])  # sorted, no pair twice
    g = nx.DiGraph(list(edges))
    assert len(keys) == sum(len(nx.ancestors(g, m)) + 1 for m in np.flatnonzero(eng.is_merge).tolist())


def test_forest_depth_by_pointer_jumping() -> None:
    rng = np.random.default_rng(7)
    n = 5000
    parent = np.array([-1] + [int(rng.integers(max(0, c - 3), c)) if rng.random() < 0.95 else -1 for c in range(1, n)])
    expected = np.zeros(n, dtype=np.int64)
    for v in range(1, n):  # parents precede children
        expected[v] = expected[parent[v]] + 1 if parent[v] >= 0 else 0
    np.testing.assert_array_equal(_forest_depth(parent), expected)
    assert expected.max() > 100  # long chains: several jumping rounds


def test_scale_benchmark_runs_and_agrees() -> None:
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "lineage_scale.py"
    out = subprocess.run([sys.executable, str(bench), "--models", "3000", "--queries", "5",
                          "--baseline-sample", "300", "--repeats", "2"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["models"] == 3000 and figures["exact_on_sample"] is True
    assert len(figures["baseline_runs_s"]) == 2 and len(figures["all_rollups_runs_s"]) == 2
    assert figures["speedup_vs_baseline"] > 1 and figures["peak_rss_mb"] > 0
