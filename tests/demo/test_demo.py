"""`dia demo --quick`: the main job end to end on a fresh demo store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dia.demo.run import PUBLISHED_ROOT, TOY
from dia.record.report import Quality, RunStatus
from dia.record.store import Store

ROOT = Path(__file__).resolve().parents[2]
CARDS = ROOT / "examples" / "bioscan" / "cards"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    work = tmp_path_factory.mktemp("demo")
    # A subprocess, as a user runs it: the CLI, the progress output, the exit code.
    proc = subprocess.run(
        [sys.executable, "-m", "dia.cli.main", "demo", "--quick", "--no-serve", "--workdir", str(work),
         "--cards", str(CARDS)],
        capture_output=True, text=True, timeout=600, cwd=work,
        env={**__import__("os").environ, "COLUMNS": "200", "DIA_DATABASE_URL": f"sqlite:///{work}/user-store.sqlite"},
    )
    return proc, work


def test_demo_exits_zero_and_prints_each_step(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    for step in ("Ingest the published BIOSCAN family", "Pretrain toy-barcodebert", "Train a LoRA adapter",
                 "Quantize to int8", "Merge the two fine-tunes", "Distil a smaller student", "Inference run"):
        assert f"done {step}" in proc.stdout
    assert "Cumulative footprints" in proc.stdout
    assert "dia dashboard --db" in proc.stdout


def test_demo_uses_its_own_store_not_the_users(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, work = demo_run
    assert (work / "dia-demo.sqlite").exists()
    assert not (work / "user-store.sqlite").exists()


def test_demo_store_holds_published_estimates_and_measured_toy_runs(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, work = demo_run
    store = Store(f"sqlite:///{work / 'dia-demo.sqlite'}", read_only=True)
    card_count = sum(1 for _ in CARDS.rglob("README.md"))
    published = store.list_runs(model_id=PUBLISHED_ROOT)
    assert published and all(r.energy.it_kwh.quality is Quality.ESTIMATED for r in published)
    assert len([m for m in store.list_models() if not m.id.startswith("dia-demo/")]) >= card_count

    toy_runs = [r for r in store.list_runs() if (r.model_id or "").startswith("dia-demo/")]
    by_model = {r.model_id: r for r in toy_runs if not r.is_use}
    assert set(by_model) == {TOY[k] for k in ("base", "species", "species_b", "lora", "int8", "merged", "distilled")}
    for rep in by_model.values():
        assert rep.status is RunStatus.COMPLETED
        assert rep.energy.it_kwh.value > 0
        assert rep.carbon is not None and rep.water is not None and rep.factors
    inference = [r for r in toy_runs if r.is_use]
    assert len(inference) == 1 and inference[0].workload.inferences
    assert inference[0].intensities.wh_per_1000_inferences is not None

    edges = {(e.child_id, e.parent_id, e.relation) for e in store.edges()}
    assert (TOY["merged"], TOY["species"], "merge") in edges and (TOY["merged"], TOY["species_b"], "merge") in edges
    assert (TOY["lora"], TOY["species"], "adapter") in edges
    assert (TOY["base"], PUBLISHED_ROOT, "continued-pretraining") in edges


def test_demo_rollups_count_shared_ancestors_once(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    from dia.aggregate.rollup import rollup

    _, work = demo_run
    store = Store(f"sqlite:///{work / 'dia-demo.sqlite'}", read_only=True)
    up = rollup(TOY["merged"], scope="upstream", store=store)
    members = {row.model_id for row in up.rows}
    # merged <- species, species-b <- toy-barcodebert <- BarcodeBERT: each once
    assert {TOY["merged"], TOY["species"], TOY["species_b"], TOY["base"], PUBLISHED_ROOT} <= members
    assert up.members == len(members)
    own = {m: t for m, t in store.model_totals().items() if m in members}
    assert up.carbon_kg.value == pytest.approx(sum(t.carbon_kg.value for t in own.values()), rel=1e-9)


def test_demo_writes_a_filled_card(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, work = demo_run
    card = work / "cards" / TOY["species"] / "README.md"
    text = card.read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front["co2_eq_emissions"]["emissions"] > 0
    assert front["base_model"] == TOY["base"]
    assert front["dia"]["schema_version"] == "1.0"
    assert str(work) not in text  # never a local path in a card
