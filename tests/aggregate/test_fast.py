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
            assert fast[model]["carbon_kg_high"] == pytest.approx(slow.carbon_kg.high)
            assert fast[model]["energy_kwh"] == pytest.approx(slow.energy_kwh.value)
    assert set(fast["o/base"]) == set(COLUMNS)
    store.close()
