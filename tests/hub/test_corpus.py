"""A corpus of card front matters in the shapes found on the Hub, ingested through ``dia ingest``.

Each card in ``tests/hub/corpus/<org>/<name>/README.md`` was written for these tests (none is
copied from a real repo). ``expected.json`` gives, per card: its parent edges as
``{parent: [relation, method]}`` (``{}``: none), the carbon (kg) and energy (kWh) stored, or
the one-line reason its figures were refused (``refused``: lineage kept) or the card skipped
(``skipped``), or ``empty`` for a card with nothing to read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dia.cli.main import app
from dia.hub.formats import card_run_id
from dia.record.report import Quality
from dia.record.store import Store

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def _model_id(card: str) -> str:
    return card.rpartition("/README.md")[0]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    """The whole corpus ingested once by the CLI: (exit code, JSON summary, store URL)."""
    tmp = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS, tmp / "cards")
    db = f"sqlite:///{tmp}/corpus.sqlite"
    result = CliRunner().invoke(app, ["ingest", str(tmp / "cards"), "--db", db, "--json"])
    return result.exit_code, json.loads(result.stdout), db


def test_the_corpus_has_30_cards_or_more_each_with_an_expectation() -> None:
    cards = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("README.md"))
    assert len(cards) >= 30
    assert cards == sorted(EXPECTED)


def test_crlf_and_blank_line_cards_keep_their_bytes() -> None:
    # A checkout that normalised line breaks would test nothing: .gitattributes keeps them.
    assert b"\r\n" in (CORPUS / "shapes/crlf/README.md").read_bytes()
    assert (CORPUS / "shapes/blank-line-before-fence/README.md").read_bytes().startswith(b"\n")


def test_summary_counts_and_exit_code(ingested: tuple[int, dict[str, Any], str]) -> None:
    code, summary, _ = ingested
    refused = {c for c, e in EXPECTED.items() if "refused" in e}
    skipped = {c for c, e in EXPECTED.items() if "skipped" in e}
    empty = {c for c, e in EXPECTED.items() if e.get("empty")}
    assert code == 1  # refused figures and unreadable cards are errors the user must see
    assert summary["read"] == len(EXPECTED)
    assert {s["file"] for s in summary["skipped"]} == refused | skipped
    assert set(summary["empty"]) == empty
    # A refused card whose lineage is kept counts as lineage-only; every other readable card is ingested.
    assert summary["ingested"] == len(EXPECTED) - len(skipped) - len(empty) - \
        len([c for c in refused if not EXPECTED[c]["relations"]])
    lineage_only = [c for c, e in EXPECTED.items() if "carbon_kg" not in e and e.get("relations") and not e.get("copied")]
    assert summary["lineage_only"] == len(lineage_only)


def test_a_bases_co2_block_copied_onto_a_quantization_is_not_counted_twice(
        ingested: tuple[int, dict[str, Any], str]) -> None:
    # Quantizations often carry their base's card, co2 block included: summing both counts the base twice.
    _, summary, db = ingested
    copied = sorted(c for c, e in EXPECTED.items() if e.get("copied"))
    assert copied and summary["copied"] == copied
    for card in copied:
        assert any(w.startswith(f"{card}: carbon ") and "copied" in w for w in summary["warnings"])
    family = json.loads(CliRunner().invoke(app, ["rollup", "copied/base-model", "--json", "--db", db]).stdout)
    own = {c.rpartition("/README.md")[0]: e["carbon_kg"] for c, e in EXPECTED.items()
           if c.startswith("copied/") and "carbon_kg" in e}
    assert family["members"] == 3 and family["carbon_kg"]["value"] == pytest.approx(sum(own.values()))


@pytest.mark.parametrize("card", sorted(c for c, e in EXPECTED.items() if "refused" in e or "skipped" in e))
def test_refused_and_skipped_cards_give_their_one_line_reason(card: str,
                                                              ingested: tuple[int, dict[str, Any], str]) -> None:
    _, summary, db = ingested
    reasons = {s["file"]: s["reason"] for s in summary["skipped"]}
    want = EXPECTED[card].get("refused") or EXPECTED[card]["skipped"]
    assert want in reasons[card]
    assert "\n" not in reasons[card]
    with Store(db) as store:
        assert store.get_run(card_run_id(_model_id(card))) is None  # figures never stored


@pytest.mark.parametrize("card", sorted(EXPECTED))
def test_relations_and_methods_are_stored_as_expected(card: str, ingested: tuple[int, dict[str, Any], str]) -> None:
    _, _, db = ingested
    with Store(db) as store:
        edges = {e.parent_id: [e.relation, e.method] for e in store.edges() if e.child_id == _model_id(card)}
    assert edges == EXPECTED[card].get("relations", {})
    assert all(m is None or len(m) <= 32 for _, m in edges.values())  # the store's column limit


@pytest.mark.parametrize("card", sorted(c for c, e in EXPECTED.items() if "carbon_kg" in e))
def test_figures_are_stored_in_kg_and_kwh(card: str, ingested: tuple[int, dict[str, Any], str]) -> None:
    _, _, db = ingested
    expected = EXPECTED[card]
    with Store(db) as store:
        report = store.get_run(card_run_id(_model_id(card)))
    assert report is not None and report.carbon is not None
    assert report.carbon.total_kg.value == pytest.approx(expected["carbon_kg"], rel=1e-9)
    if expected["energy_kwh"] is None:
        assert report.energy.it_kwh.quality is Quality.UNAVAILABLE
    else:
        assert report.energy.it_kwh.value == pytest.approx(expected["energy_kwh"], rel=1e-9)
        assert report.energy.it_kwh.quality is Quality.REPORTED


def test_every_store_holds_the_same_edges_and_figures(tmp_path: Path, store_url: str) -> None:
    # PostgreSQL included: an inferred method must fit the edge table's 32-character column.
    shutil.copytree(CORPUS, tmp_path / "cards")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "cards"), "--db", store_url, "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["read"] == len(EXPECTED)
    with Store(store_url) as store:
        edges = {(e.child_id, e.parent_id): [e.relation, e.method] for e in store.edges()}
        carbon = {r.model_id: r.carbon.total_kg.value for r in store.list_runs() if r.carbon is not None}
    assert edges == {(_model_id(c), p): rel for c, e in EXPECTED.items() for p, rel in e.get("relations", {}).items()}
    assert carbon == pytest.approx({_model_id(c): e["carbon_kg"] for c, e in EXPECTED.items() if "carbon_kg" in e})
