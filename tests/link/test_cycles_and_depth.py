"""Lineage traversals are iterative: a stored cycle (written by an older DIA, or by hand)
is named in one line and never loops or recurses, and a 100,000-deep chain works."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from factories import run_report
from typer.testing import CliRunner

from dia.aggregate.fast import FamilyEngine
from dia.aggregate.rollup import rollup
from dia.cli.main import app
from dia.errors import LineageCycleError
from dia.link.graph import lineage
from dia.record.store import Edge, ModelRecord, Store

DEPTH = 100_000


def _store_with_a_cycle(tmp_path: Path) -> str:
    """o/c -> o/a -> o/b -> o/a: the last edge slipped in by raw SQL, as an older DIA could."""
    path = tmp_path / "cycle.sqlite"
    url = f"sqlite:///{path}"
    with Store(url) as store:
        store.save_runs([run_report("o/a", energy_kwh=2.0, parents=[("o/b", "finetune")]),
                         run_report("o/c", energy_kwh=3.0, parents=[("o/a", "finetune")])])
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO dia_edges (child_id, parent_id, relation, source) VALUES ('o/b', 'o/a', 'merge', 'report')")
    return url


def _warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "lineage cycle" in line]


def test_dia_lineage_names_a_stored_cycle_and_shows_the_tree(tmp_path: Path) -> None:
    url = _store_with_a_cycle(tmp_path)
    for args in (["lineage", "o/a"], ["lineage", "o/c", "--depth", "5"], ["lineage", "o/b", "--json"]):
        result = CliRunner().invoke(app, [*args, "--db", url])
        assert result.exit_code == 0, result.output
        assert result.exception is None  # no RecursionError
        assert _warnings(result.output) == ["warning: lineage cycle in the store: o/a -> o/b -> o/a (child -> parent; "
                                            "written by an older DIA or by hand): each model counted once"]
    result = CliRunner().invoke(app, ["lineage", "o/a", "--db", url])
    assert "o/c" in result.output and "shown above" in result.output


@pytest.mark.parametrize("scope", ["family", "upstream"])
def test_dia_rollup_counts_each_model_of_a_stored_cycle_once(tmp_path: Path, scope: str) -> None:
    url = _store_with_a_cycle(tmp_path)
    result = CliRunner().invoke(app, ["rollup", "o/a", "--scope", scope, "--db", url])
    assert result.exit_code == 0, result.output
    assert len(_warnings(result.output)) == 1
    rolled = rollup("o/a", scope=scope, store=url)  # type: ignore[arg-type]
    members = {"family": {"o/a", "o/b", "o/c"}, "upstream": {"o/a", "o/b"}}[scope]
    assert {row.model_id for row in rolled.rows} == members
    assert rolled.energy_kwh is not None
    assert rolled.energy_kwh.value == {"family": 5.0, "upstream": 2.0}[scope]


def test_a_rollup_outside_the_cycle_says_nothing(tmp_path: Path) -> None:
    url = _store_with_a_cycle(tmp_path)
    result = CliRunner().invoke(app, ["rollup", "o/c", "--scope", "family", "--db", url])
    assert result.exit_code == 0 and _warnings(result.output) == []


def test_family_totals_refuse_a_cyclic_graph_instead_of_looping(tmp_path: Path) -> None:
    graph = lineage(_store_with_a_cycle(tmp_path))
    assert graph.cycle() == ["o/a", "o/b", "o/a"]
    ids = graph.models()
    index = {m: i for i, m in enumerate(ids)}
    pairs = [(index[p], index[c]) for p, c in graph.graph.edges()]
    engine = FamilyEngine(len(ids), [p for p, _ in pairs], [c for _, c in pairs])
    with pytest.raises(LineageCycleError, match="lineage cycle in the store"):
        engine.family_totals(np.ones((len(ids), 1)))
    with pytest.raises(LineageCycleError):
        engine.upstream_totals(np.ones((len(ids), 1)))


@pytest.mark.parametrize("order", ["top-down", "bottom-up"])
def test_a_longer_cycle_is_named_along_its_path(order: str) -> None:
    edges = [("o/b", "o/a"), ("o/c", "o/b"), ("o/d", "o/c")]
    records = [ModelRecord(c, parents=(Edge(c, p, "finetune"),)) for c, p in edges]
    store = Store("sqlite://")
    store.bulk_save(records if order == "top-down" else records[::-1])
    with pytest.raises(LineageCycleError, match=r"^lineage cycle: o/a -> o/d -> o/c -> o/b -> o/a$"):
        store.add_edge("o/a", "o/d", "finetune")
    assert store.bulk_save([ModelRecord("o/a", parents=(Edge("o/a", "o/c", "finetune"),))], skip_cycles=True)[0].reason \
        == "lineage cycle: o/a -> o/c -> o/b -> o/a"


@pytest.fixture(scope="module")
def deep_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A chain o/m0 <- o/m1 <- ... <- o/m99999, stored bottom-up in one bulk save."""
    url = f"sqlite:///{tmp_path_factory.mktemp('deep')}/deep.sqlite"
    chain = [ModelRecord(f"o/m{i}", parents=(Edge(f"o/m{i}", f"o/m{i - 1}", "finetune"),) if i else ())
             for i in range(DEPTH)]
    with Store(url) as store:
        assert store.bulk_save(reversed(chain)) == []
        store.save_run(run_report(f"o/m{DEPTH - 1}", energy_kwh=1.0))
        store.save_run(run_report("o/m0", energy_kwh=2.0))
    return url


@pytest.mark.slow
def test_a_deep_chain_rolls_up_both_ways(deep_store: str) -> None:
    graph = lineage(deep_store)
    assert graph.cycle() is None
    family = rollup("o/m0", scope="family", store=deep_store, graph=graph)
    upstream = rollup(f"o/m{DEPTH - 1}", scope="upstream", store=deep_store, graph=graph)
    for rolled in (family, upstream):
        assert rolled.members == DEPTH
        assert rolled.energy_kwh is not None and rolled.energy_kwh.value == 3.0
    assert max(row.depth for row in family.rows) == DEPTH - 1


@pytest.mark.slow
def test_a_deep_chain_refuses_the_edge_that_closes_it(deep_store: str) -> None:
    with Store(deep_store) as store:
        with pytest.raises(LineageCycleError, match=rf"^lineage cycle: o/m0 -> o/m{DEPTH - 1} -> "):
            store.add_edge("o/m0", f"o/m{DEPTH - 1}", "finetune")
        assert len(store.edge_tuples()) == DEPTH - 1


@pytest.mark.slow
def test_dia_lineage_on_a_deep_chain(deep_store: str) -> None:
    result = CliRunner().invoke(app, ["lineage", f"o/m{DEPTH // 2}", "--depth", str(DEPTH), "--db", deep_store])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    text = " ".join(result.output.replace("│", " ").split())  # the narrow test console wraps deep lines
    # Both sides of the chain are cut where the terminal has no room left, and say so.
    assert len(re.findall(r"\.\.\. deeper than \d+ levels: --json lists every model", text)) == 2
    assert f"o/m{DEPTH // 2 - 1} (parent: finetune)" in text and f"o/m{DEPTH // 2 + 1} (finetune)" in text
    engine = FamilyEngine(DEPTH, list(range(DEPTH - 1)), list(range(1, DEPTH)))
    assert engine.family_totals(np.ones(DEPTH))[0, 0] == DEPTH
