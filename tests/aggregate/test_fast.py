"""The all-models engine must agree exactly with networkx on any DAG (merges, diamonds)."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dia.aggregate.fast import COLUMNS, FamilyEngine, all_totals
from dia.record.report import RunReport
from dia.record.store import Store


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], np.ndarray]:
    """Random DAGs: edges only go from a lower to a higher index, so no cycle is possible.
    Several parents per node are common, which makes diamonds and merges of merges."""
    n = draw(st.integers(1, 40))
    edges: list[tuple[int, int]] = []
    for child in range(1, n):
        k = draw(st.integers(0, min(child, 3)))
        parents = draw(st.lists(st.integers(0, child - 1), min_size=k, max_size=k, unique=True))
        edges += [(p, child) for p in parents]
    values = draw(st.lists(st.floats(0, 1000, allow_nan=False), min_size=n, max_size=n))
    return n, edges, np.array(values)


def _baseline(n: int, edges: list[tuple[int, int]], values: np.ndarray, upstream: bool) -> np.ndarray:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    reach = nx.ancestors if upstream else nx.descendants
    return np.array([values[v] + sum(values[u] for u in reach(g, v)) for v in range(n)])


@settings(max_examples=150, deadline=None)
@given(dags())
def test_family_and_upstream_equal_networkx(dag: tuple[int, list[tuple[int, int]], np.ndarray]) -> None:
    n, edges, values = dag
    engine = FamilyEngine(n, [p for p, _ in edges], [c for _, c in edges])
    own = np.stack([values, np.ones(n)], axis=1)
    family, upstream = engine.family_totals(own), engine.upstream_totals(own)
    np.testing.assert_allclose(family[:, 0], _baseline(n, edges, values, upstream=False), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(upstream[:, 0], _baseline(n, edges, values, upstream=True), rtol=1e-9, atol=1e-9)
    ones = np.ones(n)
    np.testing.assert_array_equal(family[:, 1], _baseline(n, edges, ones, upstream=False))
    for v in range(0, n, 7):
        assert len(engine.family_members(v)) == family[v, 1]
        assert len(engine.upstream_members(v)) == upstream[v, 1]


@st.composite
def hub_like_dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], np.ndarray]:
    """Mostly trees (one parent), with long chains, several roots, and a few merges whose
    extra parents sit anywhere above: merges of merges, merges across families, merges
    whose parents lie on one chain (the case the forest + merge-ancestry split must get right)."""
    n = draw(st.integers(2, 60))
    edges: list[tuple[int, int]] = []
    for child in range(1, n):
        if draw(st.integers(0, 9)) == 0:
            continue  # a new root
        chain = draw(st.booleans())
        parents = [child - 1 if chain else draw(st.integers(0, child - 1))]
        if draw(st.integers(0, 4)) == 0:  # a merge
            parents += draw(st.lists(st.integers(0, child - 1), min_size=1, max_size=3))
        edges += [(p, child) for p in set(parents)]
    values = draw(st.lists(st.floats(0, 1000, allow_nan=False), min_size=n, max_size=n))
    return n, edges, np.array(values)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(hub_like_dags())
def test_hub_like_dags_equal_networkx(dag: tuple[int, list[tuple[int, int]], np.ndarray]) -> None:
    n, edges, values = dag
    engine = FamilyEngine(n, [p for p, _ in edges], [c for _, c in edges])
    own = np.stack([values, np.ones(n), 2 * values], axis=1)  # columns are summed independently
    family, upstream = engine.family_totals(own), engine.upstream_totals(own)
    for col, scale in ((0, values), (1, np.ones(n)), (2, 2 * values)):
        np.testing.assert_allclose(family[:, col], _baseline(n, edges, scale, upstream=False), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(upstream[:, col], _baseline(n, edges, scale, upstream=True), rtol=1e-9, atol=1e-9)
    g = nx.DiGraph(edges)
    g.add_nodes_from(range(n))
    expected_a = {a for m in range(n) if g.in_degree(m) >= 2 for a in nx.ancestors(g, m)}
    assert set(np.flatnonzero(engine.ancestors_of_merges).tolist()) == expected_a
    for v in range(n):  # the parent CSR built from the forest lists each model's parents, sorted
        row = engine.parent_idx[engine.parent_ptr[v]:engine.parent_ptr[v + 1]].tolist()
        assert row == sorted(g.predecessors(v))


@pytest.mark.slow
def test_deep_chains_with_merges_below() -> None:
    # Two 3,000-long chains joined by a merge at the bottom, and a diamond on one of them:
    # many forest levels (pointer-jumping depth) and a merge far below its ancestors.
    n = 6002
    edges = [(i, i + 1) for i in range(2999)] + [(i, i + 1) for i in range(3000, 5999)]
    edges += [(2999, 6000), (5999, 6000), (6000, 6001), (10, 6001)]
    engine = FamilyEngine(n, [p for p, _ in edges], [c for _, c in edges])
    values = np.arange(n, dtype=float)
    family, upstream = engine.family_totals(values)[:, 0], engine.upstream_totals(values)[:, 0]
    np.testing.assert_allclose(family, _baseline(n, edges, values, upstream=False))
    np.testing.assert_allclose(upstream, _baseline(n, edges, values, upstream=True))
    assert family[0] == values[:3000].sum() + values[6000:].sum()


def test_nested_diamonds_and_duplicate_edges() -> None:
    # 0 -> 1, 0 -> 2, (1, 2) -> 3, 3 -> 4, 3 -> 5, (4, 5) -> 6; edge 0 -> 1 listed twice.
    edges = [(0, 1), (0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (3, 5), (4, 6), (5, 6)]
    engine = FamilyEngine(7, [p for p, _ in edges], [c for _, c in edges])
    counts = engine.family_totals(np.ones(7))[:, 0]
    assert counts.tolist() == [7, 5, 5, 4, 2, 2, 1]
    assert engine.upstream_totals(np.ones(7))[:, 0].tolist() == [1, 2, 2, 4, 5, 5, 7]


def test_all_totals_matches_rollup(tmp_path: object, make_run: Callable[..., RunReport]) -> None:
    from dia.aggregate.rollup import rollup

    store = Store(f"sqlite:///{tmp_path}/s.db")
    store.save_runs([
        make_run("o/base", 10.0), make_run("o/a", 1.0, parents=[("o/base", "finetune")]),
        make_run("o/b", 2.0, parents=[("o/base", "finetune")]),
        make_run("o/m", 0.5, parents=[("o/a", "merge"), ("o/b", "merge")]),
    ])
    store.add_edge("o/q", "o/m", "quantization")
    for scope in ("family", "upstream"):
        fast = all_totals(store, scope=scope)
        for model in store.model_ids():
            slow = rollup(model, scope=scope, store=store)  # type: ignore[arg-type]
            assert fast[model]["members"] == slow.members
            assert fast[model]["with_report"] == slow.with_report
            if slow.carbon_kg is None:  # o/q's family: a card-less quantization, nothing disclosed
                assert fast[model]["carbon_kg_high"] is None and fast[model]["energy_kwh"] is None
                continue
            assert fast[model]["carbon_kg_high"] == pytest.approx(slow.carbon_kg.high)
            assert slow.energy_kwh is not None
            assert fast[model]["energy_kwh"] == pytest.approx(slow.energy_kwh.value)
    assert set(fast["o/base"]) == set(COLUMNS)
    store.close()
