"""The lineage graph built from a store, and cycle rejection where edges enter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import run_report

import dia
from dia.errors import LineageCycleError, UnknownModelError
from dia.link.graph import LineageGraph, lineage
from dia.record.report import RunReport
from dia.record.store import Store

DIA = str(Path(sys.executable).with_name("dia"))


def _report(model_id: str, *parents: tuple[str, str]) -> RunReport:
    return run_report(model_id, parents=parents, started_at=None)


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store(store_url)
    s.save_runs([_report("o/base"), _report("o/a", ("o/base", "finetune")), _report("o/b", ("o/base", "lora")),
                 _report("o/m", ("o/a", "merge"), ("o/b", "merge"))])
    s.add_edge("o/q", "o/m", "quantized", method="gguf")
    yield s
    s.close()


def test_graph_structure_from_reports_and_cards(store: Store) -> None:
    g = lineage(store)
    assert g.models() == ["o/a", "o/b", "o/base", "o/m", "o/q"]
    assert g.roots() == ["o/base"]
    assert g.parents("o/m") == ["o/a", "o/b"]
    assert g.children("o/base") == ["o/a", "o/b"]
    assert g.ancestors("o/q") == {"o/m", "o/a", "o/b", "o/base"}
    assert g.descendants("o/base") == {"o/a", "o/b", "o/m", "o/q"}
    assert g.graph.edges["o/b", "o/m"]["relation"] == "merge"
    assert g.graph.edges["o/base", "o/b"]["relation"] == "adapter"  # alias normalised at entry
    assert g.has("o/q") and not g.has("o/zzz")
    assert g.depths("o/q", upstream=True) == {"o/q": 0, "o/m": 1, "o/a": 2, "o/b": 2, "o/base": 3}


def test_unknown_model_names_close_matches(store: Store) -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'o/bsae' \(did you mean: o/base"):
        lineage(store).descendants("o/bsae")


def test_cycle_from_a_report_is_rejected_and_nothing_lost(store: Store) -> None:
    before = store.run_count()
    # Arrows go from a model to the parent it lists, round to the start.
    with pytest.raises(LineageCycleError, match=r"^lineage cycle: o/base -> o/q -> o/m -> o/[ab] -> o/base$"):
        store.save_run(_report("o/base", ("o/q", "finetune")))
    assert store.run_count() == before
    assert lineage(store).roots() == ["o/base"]


def test_cycle_and_self_loop_from_card_edges(store: Store) -> None:
    with pytest.raises(LineageCycleError, match=r"^lineage cycle: o/a -> o/m -> o/a$"):
        store.add_edge("o/a", "o/m", "finetune")
    with pytest.raises(LineageCycleError, match=r"^self-loop: o/q lists itself as a parent$"):
        store.add_edge("o/q", "o/q", "finetune")
    assert len(store.edges()) == 5


def test_cycle_from_an_import_file_is_skipped_with_its_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/i.db"
    with Store(url) as s:
        s.save_runs([_report("o/base"), _report("o/ft", ("o/base", "finetune"))])
    bad = tmp_path / "runs.jsonl"
    bad.write_text(_report("o/base", ("o/ft", "finetune")).to_json() + "\n")
    env = {**os.environ, "DIA_DATABASE_URL": url}
    proc = subprocess.run([DIA, "import", str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert "lineage cycle: o/base -> o/ft -> o/base" in proc.stderr
    with Store(url) as s:
        assert s.run_count() == 2 and [(e.child_id, e.parent_id) for e in s.edges()] == [("o/ft", "o/base")]


def test_from_edges_and_lazy_export() -> None:
    g = LineageGraph.from_edges([("c", "p", "merge", None), ("c", "q", "merge", None)], models=["lonely"])
    assert g.roots() == ["lonely", "p", "q"] and g.relations_to_parents("c") == {"p": "merge", "q": "merge"}
    assert dia.lineage is lineage
    assert json.loads(json.dumps(g.models())) == ["c", "lonely", "p", "q"]
