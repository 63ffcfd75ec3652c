"""Issue 14, case 9: a card with ``base_model`` but no ``base_model_relation`` gets its relation
inferred as the Hub does, and the edge's ``method`` records that it was inferred and from what."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dia.aggregate.impute import prior_gpu_hours
from dia.cli.main import app
from dia.hub.formats import CardData, v01
from dia.link.relations import Relation, infer_relation, is_inferred, plain_method
from dia.record.store import Store


def _card(root: Path, model_id: str, text: str) -> None:
    folder = root / model_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(text, encoding="utf-8")


def _edges(db: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    with Store(db) as store:
        return {(e.child_id, e.parent_id): (e.relation, e.method) for e in store.edges()}


def test_gguf_and_lora_cards_are_no_longer_finetunes(tmp_path: Path) -> None:
    # Before: every card without base_model_relation was a finetune of its base.
    root = tmp_path / "cards"
    _card(root, "TheBloke/Tiny-GGUF", "---\nbase_model: org/base\nmodel_type: llama\n---\n")
    _card(root, "someone/tiny-lora", "---\nbase_model: org/base\nlibrary_name: peft\ntags: [lora]\n---\n")
    _card(root, "someone/tiny-chat", "---\nbase_model: org/base\ntags: [trl, sft]\n---\n")
    _card(root, "someone/explicit", "---\nbase_model: org/base\nbase_model_relation: finetune\ntags: [gguf]\n---\n")
    db = f"sqlite:///{tmp_path}/s.sqlite"
    result = CliRunner().invoke(app, ["ingest", str(root), "--db", db])
    assert result.exit_code == 0, result.output
    assert _edges(db) == {
        ("TheBloke/Tiny-GGUF", "org/base"): ("quantization", "inferred:name:gguf"),
        ("someone/tiny-lora", "org/base"): ("adapter", "inferred:tag:lora"),
        ("someone/tiny-chat", "org/base"): ("finetune", "inferred:default"),
        ("someone/explicit", "org/base"): ("finetune", None),  # a stated relation always wins
    }


@pytest.mark.parametrize(("kwargs", "relation", "method"), [
    ({"tags": ["gguf"]}, Relation.QUANTIZATION, "inferred:tag:gguf"),
    ({"tags": ["4-bit", "gptq"]}, Relation.QUANTIZATION, "inferred:tag:gptq"),
    ({"tags": ["4-bit"], "model_id": "org/x-AWQ"}, Relation.QUANTIZATION, "inferred:name:awq"),
    ({"library_name": "GGUF"}, Relation.QUANTIZATION, "inferred:library:gguf"),
    ({"tags": ["bitsandbytes"]}, Relation.QUANTIZATION, "inferred:tag:bnb"),
    ({"model_id": "org/opt-8bit"}, Relation.QUANTIZATION, "inferred:name:int8"),
    ({"tags": ["exl2"]}, Relation.QUANTIZATION, "inferred:tag:exl2"),
    ({"library_name": "peft"}, Relation.ADAPTER, "inferred:library:peft"),
    ({"library_name": "peft", "tags": ["qlora", "4-bit"]}, Relation.ADAPTER, "inferred:tag:qlora"),
    ({"tags": ["lora", "4-bit"]}, Relation.ADAPTER, "inferred:tag:lora"),
    ({"tags": ["lora", "gguf"]}, Relation.QUANTIZATION, "inferred:tag:gguf"),
    ({"tags": ["adapter"]}, Relation.ADAPTER, "inferred:tag:adapter"),
    ({"tags": ["peft"]}, Relation.ADAPTER, "inferred:tag:peft"),
    ({"files": ["adapter_config.json", "adapter_model.safetensors"]}, Relation.ADAPTER,
     "inferred:file:adapter_config"),
    ({"files": ["README.md", "model-Q4_K_M.gguf"]}, Relation.QUANTIZATION, "inferred:file:gguf"),
    ({"files": ["adapter_config.json"], "tags": ["gguf"]}, Relation.ADAPTER, "inferred:file:adapter_config"),
    ({"tags": ["base_model:adapter:org/b"]}, Relation.ADAPTER, "inferred:hub-tag:adapter"),
    ({"tags": ["mergekit", "merge"]}, Relation.FINETUNE, "inferred:mergekit-1-base"),
    ({"tags": ["llama", "text-generation"]}, Relation.FINETUNE, "inferred:default"),
    ({}, Relation.FINETUNE, "inferred:default"),
])
def test_infer_relation_for_one_base(kwargs: dict, relation: Relation, method: str) -> None:
    assert infer_relation(1, **kwargs) == (relation, method)


def test_several_bases_are_a_merge_unless_the_repo_is_a_quantization() -> None:
    assert infer_relation(2, tags=["mergekit", "merge"]) == (Relation.MERGE, "inferred:bases:2")
    assert infer_relation(3) == (Relation.MERGE, "inferred:bases:3")
    assert infer_relation(2, model_id="org/merged-GGUF")[0] is Relation.QUANTIZATION


def test_a_method_never_exceeds_the_store_column() -> None:
    _, method = infer_relation(123456789012345678901234567890)
    assert len(method) <= 32 and is_inferred(method)


def test_an_inferred_method_keeps_its_sub_type_for_priors_and_writers() -> None:
    assert plain_method("inferred:tag:qlora") == "qlora" and plain_method("inferred:file:adapter_config") is None
    assert not is_inferred("lora") and plain_method("lora") == "lora"
    # --impute: a quantization is 0.5 GPU-h, a QLoRA adapter 1.5, not a finetune's 100.
    assert prior_gpu_hours("quantization", "inferred:name:gguf") == 0.5
    assert prior_gpu_hours("adapter", "inferred:tag:qlora") == 1.5
    assert prior_gpu_hours("adapter", "inferred:library:peft") == 1.0
    # v0.1 maps only lora/qlora adapters to its own words: an inferred one too.
    data = CardData("org/x", [], [{"model_id": "org/b", "relation": "adapter", "method": "inferred:tag:lora"},
                                  {"model_id": "org/c", "relation": "quantization", "method": "inferred:tag:gguf"}])
    assert v01.write(data)["dia_report"]["lineage"] == [{"model": "org/b", "relation": "lora"},
                                                         {"model": "org/c", "relation": "quantized"}]


def test_dia_lineage_shows_inferred_relations(tmp_path: Path) -> None:
    root = tmp_path / "cards"
    _card(root, "org/base", "---\nco2_eq_emissions: 1000\n---\n")
    _card(root, "org/base-GGUF", "---\nbase_model: org/base\n---\n")
    _card(root, "org/merge", "---\nbase_model: [org/base, org/base-GGUF]\ntags: [mergekit]\n---\n")
    db = f"sqlite:///{tmp_path}/s.sqlite"
    assert CliRunner().invoke(app, ["ingest", str(root), "--db", db]).exit_code == 0
    doc = json.loads(CliRunner().invoke(app, ["lineage", "org/base", "--db", db, "--json"]).stdout)
    edges = {(e["child"], e["parent"]): (e["relation"], e["method"]) for e in doc["edges"]}
    assert edges[("org/base-GGUF", "org/base")] == ("quantization", "inferred:name:gguf")
    assert edges[("org/merge", "org/base")] == ("merge", "inferred:bases:2")
    tree = CliRunner().invoke(app, ["lineage", "org/base", "--db", db])
    assert tree.exit_code == 0 and "quantization" in tree.output
