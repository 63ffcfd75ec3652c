"""Family and upstream rollups against a real store (SQLite file and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import dia
from dia.aggregate.rollup import rollup
from dia.errors import UnknownModelError
from dia.record.report import RunReport
from dia.record.store import Store


@pytest.fixture
def diamond(store_url: str, make_run: Callable[..., RunReport]) -> Iterator[Store]:
    """base -> a, base -> b, (a, b) -> merged, a -> lora; c is known only from a card edge."""
    store, run = Store(store_url), make_run
    store.save_runs([
        run("org/base", 100.0, kind="pretraining", quality="measured"),
        run("org/a", 10.0, parents=[("org/base", "finetune")], quality="reported"),
        run("org/b", 20.0, parents=[("org/base", "finetune")], quality="estimated"),
        run("org/merged", 1.0, parents=[("org/a", "merge"), ("org/b", "merge")]),
        run("org/lora", 2.0, parents=[("org/a", "lora")]),
        run("org/a", 7.0, kind="inference"),
        run("org/a", 3.0, kind="evaluation"),
    ])
    store.add_edge("org/c", "org/b", "quantization", method="gguf")
    yield store
    store.close()


def test_family_counts_each_descendant_once(diamond: Store) -> None:
    r = rollup("org/base", store=diamond)
    assert r.members == 6 and r.with_report == 5
    assert r.coverage == pytest.approx(5 / 6)
    assert r.energy_kwh.value == pytest.approx(133.0)  # merge below a diamond counted once
    assert r.energy_kwh.low == pytest.approx(0.9 * 133.0)
    assert r.energy_kwh.high == pytest.approx(1.1 * 133.0)
    assert r.carbon_kg.model_dump() == pytest.approx({"value": 66.5, "low": 33.25, "high": 133.0})
    assert r.water_l.value == pytest.approx(266.0)


def test_use_runs_are_separate_from_the_cost_to_produce(diamond: Store) -> None:
    r = rollup("org/a", store=diamond)
    assert r.energy_kwh.value == pytest.approx(13.0)  # a + merged + lora, no inference/eval
    assert r.use["energy_kwh"].value == pytest.approx(10.0)
    assert r.use["carbon_kg"].value == pytest.approx(5.0)
    assert next(row for row in r.rows if row.model_id == "org/a").runs == 1


def test_upstream_counts_shared_ancestor_once(diamond: Store) -> None:
    r = rollup("org/merged", scope="upstream", store=diamond)
    assert {row.model_id for row in r.rows} == {"org/merged", "org/a", "org/b", "org/base"}
    assert r.energy_kwh.value == pytest.approx(131.0)
    assert r.by_relation == {"finetune": 2, "merge": 1, "pretraining": 1}


def test_quality_mix_relations_and_rows(diamond: Store) -> None:
    r = rollup("org/base", store=diamond)
    assert r.by_quality["measured"].value == pytest.approx(50.0)
    assert r.by_quality["estimated"].value == pytest.approx(10.0)
    assert r.by_quality["reported"].value == pytest.approx(6.5)
    assert sum(iv.value for iv in r.by_quality.values()) == pytest.approx(r.carbon_kg.value)
    assert r.by_relation == {"adapter": 1, "finetune": 2, "merge": 1, "pretraining": 1, "quantization": 1}
    row_c = next(row for row in r.rows if row.model_id == "org/c")
    assert (row_c.has_report, row_c.carbon_kg, row_c.quality, row_c.depth) == (False, None, "unavailable", 2)
    assert [row.depth for row in r.rows] == sorted(row.depth for row in r.rows)


def test_impute_is_labelled_and_kept_apart(diamond: Store) -> None:
    plain = rollup("org/base", store=diamond)
    imputed = rollup("org/base", impute=True, store=diamond)
    assert imputed.carbon_kg == plain.carbon_kg  # never mixed into disclosed totals
    assert imputed.imputed and imputed.imputed_totals is not None
    row_c = next(row for row in imputed.rows if row.model_id == "org/c")
    assert row_c.quality == "imputed" and row_c.imputed_carbon_kg is not None
    assert imputed.imputed_totals["carbon_kg"] == row_c.imputed_carbon_kg
    lo, mid, hi = row_c.imputed_carbon_kg.low, row_c.imputed_carbon_kg.value, row_c.imputed_carbon_kg.high
    assert 0 < lo < mid < hi
    assert "quantization:gguf prior 0.5 GPU-h" in (row_c.imputed_basis or "")
    assert "imputed_totals" in imputed.to_json_dict() and "imputed_totals" not in plain.to_json_dict()


def test_unknown_model_suggests_close_matches(diamond: Store) -> None:
    with pytest.raises(UnknownModelError, match=r"unknown model 'org/bsae' \(did you mean: org/base"):
        rollup("org/bsae", store=diamond)


def test_public_api_and_url_store(tmp_path: Path, make_run: Callable[..., RunReport]) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    with Store(url) as store:
        store.save_runs([make_run("o/p", 4.0), make_run("o/q", 1.0, parents=[("o/p", "finetune")])])
    r = dia.rollup("o/p", store=url)
    assert isinstance(r, dia.Rollup) and r.energy_kwh.value == pytest.approx(5.0)
    assert dia.lineage(url).children("o/p") == ["o/q"]


def test_bad_scope_is_rejected(diamond: Store) -> None:
    with pytest.raises(ValueError, match="scope must be"):
        rollup("org/base", scope="sideways", store=diamond)  # type: ignore[arg-type]
