"""dia ingest: model cards of every real-world shape into the store (tolerant reader)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dia.cli.main import app
from dia.errors import CardError
from dia.hub.formats import card_run_id, parse_card_text
from dia.hub.formats.hf import parse_emissions_g
from dia.hub.reader import ingest, read_card
from dia.record.report import Carbon, Energy, Quality, Quantity, RunReport, Water
from dia.record.store import Store

BARE = "---\nco2_eq_emissions: 1500\nbase_model: org/base\n---\n# Bare number\n"
ONLY_EMISSIONS = "---\nco2_eq_emissions:\n  emissions: 250.5\n---\n"
FULL = """---
license: mit
base_model: org/base
base_model_relation: adapter
co2_eq_emissions:
  emissions: 1234.5
  source: codecarbon
  training_type: fine-tuning
  geographical_location: Ontario, Canada
  hardware_used: 4 x NVIDIA A100-SXM4-40GB
  energy_consumed: 3.2
  on_cloud: true
  cpu_model: Intel Xeon
---
# Full

Body text stays untouched.
"""
STRING_KG = "---\nco2_eq_emissions: 0.5 kg\nbase_model: [org/a, org/b]\n---\n"
DIA_V1 = """---
base_model: org/base
base_model_relation: finetune
co2_eq_emissions:
  emissions: 999999
dia:
  schema_version: "1.0"
  model_id: org/dia-child
  relation: instruction-tuning
  energy_kwh: {value: 2.0, low: 1.8, high: 2.2, unit: kWh, quality: measured}
  carbon_kg:
    operational: {value: 0.5, low: 0.4, high: 0.6, unit: kgCO2e, quality: estimated}
    embodied: {value: 0.1, low: 0.05, high: 0.2, unit: kgCO2e, quality: estimated}
    total: {value: 0.6, low: 0.45, high: 0.8, unit: kgCO2e, quality: estimated}
  water_l:
    onsite: {value: 1.0, unit: L, quality: estimated}
    offsite: {value: 3.0, unit: L, quality: estimated}
    total: {value: 4.0, unit: L, quality: estimated}
  upstream_cumulative:
    carbon_kg: {value: 5000.0, unit: kgCO2e, quality: reported}
  future_field: kept
---
"""
DIA_V01 = """---
dia_version: "0.1"
dia_report:
  scope: incremental
  lineage: [{model: org/base, relation: qlora}]
  compute:
    hardware: {gpu: "NVIDIA A100-SXM4-80GB", count: 2}
    duration_gpu_hours: 1.25
  footprint:
    energy_kwh:     {value: 0.52,  quality: measured}
    carbon_kgco2eq: {value: 0.016, quality: estimated-from-region}
    water_liters:   {value: [0.9, 2.1], quality: estimated-from-default-wue}
  context: {region: ca-on, carbon_intensity: 0.03, wue_l_per_kwh: [1.8, 4.0]}
  tool: codecarbon
---
"""
CUMULATIVE_V01 = DIA_V01.replace("scope: incremental", "scope: cumulative")
NEGATIVE = "---\nco2_eq_emissions: -5\n---\n"
BROKEN_YAML = "---\nco2_eq_emissions: [1, 2\nbase_model: x\n---\n"
LINEAGE_ONLY = "---\nbase_model: org/base\nbase_model_relation: quantized\n---\n"
NOTHING = "---\nlicense: mit\n---\n# just a model\n"


def write_card(root: Path, model_id: str, text: str) -> Path:
    path = root / model_id / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _tracked_run(energy_kwh: float, *, model_id: str, carbon_kg: float | None = None) -> RunReport:
    """A run as the tracker stores it (source "tracker")."""
    carbon = None
    if carbon_kg is not None:
        q = Quantity.of(carbon_kg, "kgCO2e", "estimated")
        carbon = Carbon(operational_kg=q, total_kg=q)
    return RunReport(model_id=model_id, energy=Energy(it_kwh=Quantity.of(energy_kwh, "kWh", "measured")),
                     carbon=carbon)


def _one(text: str, model_id: str = "org/child") -> RunReport:
    card = parse_card_text(text, model_id=model_id, source_ref=f"{model_id}/README.md")
    assert len(card.reports) == 1
    return card.reports[0]


# -- the shapes of co2_eq_emissions -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "carbon_kg"), [
    (BARE, 1.5), (ONLY_EMISSIONS, 0.2505), (FULL, 1.2345), (STRING_KG, 0.5),
])
def test_hub_emissions_are_grams_in_every_shape(text: str, carbon_kg: float) -> None:
    report = _one(text)
    assert report.carbon is not None
    assert report.carbon.total_kg.value == pytest.approx(carbon_kg)
    assert report.carbon.total_kg.quality is Quality.REPORTED
    assert (report.source, report.meter, report.source_ref) == ("card", "card", "org/child/README.md")


@pytest.mark.parametrize(("text", "grams"), [
    ("12.3 g", 12.3), ("0.5 kg", 500.0), ("1.2 t", 1.2e6), ("3 tCO2e", 3e6), ("40 kgCO2eq", 40_000.0),
    ("7 grams", 7.0), ("1,500", 1500.0), (42, 42.0), ("2e3", 2000.0),
])
def test_emission_strings_with_units(text: object, grams: float) -> None:
    assert parse_emissions_g(text, "README.md") == pytest.approx(grams)


def test_full_hub_dict_keeps_energy_hardware_kind_and_extra_keys() -> None:
    report = _one(FULL)
    assert report.energy.it_kwh.value == 3.2
    assert report.energy.it_kwh.quality is Quality.REPORTED
    assert report.hardware.gpus[0].name == "NVIDIA A100-SXM4-40GB"
    assert report.hardware.gpu_count == 4
    assert report.kind.value == "finetuning"
    assert report.parents[0].relation.value == "adapter"
    kept = report.extra["co2_eq_emissions"]
    assert kept["on_cloud"] is True and kept["cpu_model"] == "Intel Xeon"
    assert kept["geographical_location"] == "Ontario, Canada"


def test_card_without_energy_has_unavailable_energy_and_a_note() -> None:
    report = _one(ONLY_EMISSIONS)
    assert report.energy.it_kwh.value == 0.0
    assert report.energy.it_kwh.quality is Quality.UNAVAILABLE
    assert any("no energy" in n for n in report.notes)


def test_base_model_list_without_relation_is_a_merge() -> None:
    report = _one(STRING_KG)
    assert [p.model_id for p in report.parents] == ["org/a", "org/b"]
    assert {p.relation.value for p in report.parents} == {"merge"}


@pytest.mark.parametrize(("relation", "expected", "method"), [
    ("finetune", "finetune", None), ("quantized", "quantization", None), ("lora", "adapter", "lora"),
    ("GGUF", "quantization", "gguf"), ("distill", "distillation", None), ("merge", "merge", None),
])
def test_base_model_relation_is_normalised(relation: str, expected: str, method: str | None) -> None:
    text = f"---\nbase_model: org/base\nbase_model_relation: {relation}\nco2_eq_emissions: 1\n---\n"
    parent = _one(text).parents[0]
    assert (parent.relation.value, parent.method) == (expected, method)


def test_unknown_relation_and_local_path_parents_are_warnings_not_failures() -> None:
    text = "---\nbase_model: [org/base, ./checkpoints/step-100]\nbase_model_relation: wizardry\nco2_eq_emissions: 1\n---\n"
    card = parse_card_text(text, model_id="org/child", source_ref="org/child/README.md")
    assert [p.model_id for p in card.parents] == ["org/base"]
    assert any("wizardry" in w for w in card.warnings)
    assert any("checkpoints" in w for w in card.warnings)
    assert len(card.reports) == 1


# -- DIA's own blocks -----------------------------------------------------------------------------

def test_dia_v1_block_wins_over_co2_and_keeps_intervals_and_qualities() -> None:
    card = parse_card_text(DIA_V1, model_id=None, source_ref="README.md")
    assert card.model_id == "org/dia-child"  # the front matter names the model
    report = card.reports[0]
    assert report.energy.it_kwh.model_dump() == {"value": 2.0, "low": 1.8, "high": 2.2, "unit": "kWh",
                                                 "quality": Quality.MEASURED}
    assert report.carbon is not None and report.carbon.embodied_kg is not None
    assert (report.carbon.total_kg.value, report.carbon.total_kg.high) == (0.6, 0.8)
    assert report.carbon.embodied_kg.value == 0.1
    assert report.water is not None and report.water.offsite_l.value == 3.0
    # the relation in DIA's vocabulary beats the Hub's coarser one
    assert report.parents[0].relation.value == "instruction-tuning"
    # cumulative figures are kept for reference, never counted as this run's
    assert report.extra["upstream_cumulative"]["carbon_kg"]["value"] == 5000.0
    assert report.extra["unknown"] == {"future_field": "kept"}


def test_dia_v01_block_with_ranges_qualities_lineage_and_context() -> None:
    report = _one(DIA_V01)
    assert report.energy.it_kwh.quality is Quality.MEASURED
    assert report.carbon is not None and report.carbon.total_kg.quality is Quality.ESTIMATED
    assert report.water is not None
    water = report.water.total_l
    assert (water.low, water.value, water.high) == (0.9, pytest.approx(1.5), 2.1)
    assert report.parents[0].model_id == "org/base"
    assert (report.parents[0].relation.value, report.parents[0].method) == ("adapter", "qlora")
    assert report.hardware.gpu_count == 2 and report.gpu_hours == 1.25
    assert report.location.region == "ca-on"
    factors = {f.name: f for f in report.factors}
    assert factors["carbon_intensity"].value == 0.03
    assert (factors["wue"].low, factors["wue"].high) == (1.8, 4.0)
    assert report.tool.name == "codecarbon"


def test_unknown_quality_label_keeps_the_footprint_with_the_nearest_tier() -> None:
    text = "---\ndia_report:\n  footprint:\n    carbon_kgco2eq: {value: 2.0, quality: meassured}\n---\n"
    card = parse_card_text(text, model_id="org/x", source_ref="org/x/README.md")
    report = card.reports[0]
    assert report.carbon is not None and report.carbon.total_kg.value == 2.0
    assert report.carbon.total_kg.quality is Quality.MEASURED
    assert any("meassured" in w for w in card.warnings)


@pytest.mark.parametrize(("text", "reason"), [
    (NEGATIVE, "must not be negative"),
    (BROKEN_YAML, "YAML error at line"),
    (CUMULATIVE_V01, "only incremental"),
    ("---\nco2_eq_emissions: lots\n---\n", "cannot read emissions"),
    ("---\n- a list\n---\n", "not a mapping"),
    ("---\nco2_eq_emissions: 5\n", "not closed"),
])
def test_unusable_cards_raise_one_line_card_errors(text: str, reason: str) -> None:
    with pytest.raises(CardError, match=reason) as info:
        parse_card_text(text, model_id="org/x", source_ref="org/x/README.md")
    assert str(info.value).startswith("org/x/README.md: ")
    assert "\n" not in str(info.value)


def test_huge_front_matter_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(*args: object, **kwargs: object) -> object:
        raise AssertionError("an oversize front matter reached the YAML parser")

    for fn in ("load", "safe_load", "compose"):
        monkeypatch.setattr(yaml, fn, parse)
    text = "---\n" + "tags:\n" + "  - t\n" * 300_000 + "---\n"
    with pytest.raises(CardError, match="larger than 1 MB"):
        parse_card_text(text, model_id="org/x", source_ref="README.md")


def test_yaml_alias_bomb_is_refused_before_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "---\n" + "\n".join(lines) + "\nco2_eq_emissions: 1\n---\n"
    built: list[object] = []
    construct = yaml.constructor.SafeConstructor.construct_object

    def counting(self: object, node: object, deep: bool = False) -> object:
        built.append(node)
        return construct(self, node, deep)  # type: ignore[arg-type]

    monkeypatch.setattr(yaml.constructor.SafeConstructor, "construct_object", counting)
    with pytest.raises(CardError, match="alias"):
        parse_card_text(text, model_id="org/x", source_ref="README.md")
    # Refused before expansion: the bomb holds 9**9 strings once its aliases are followed.
    assert len(built) < 100


def test_a_star_in_a_plain_string_is_not_an_alias() -> None:
    report = _one("---\nco2_eq_emissions:\n  emissions: 10\n  source: '**bold** tool *1'\n---\n")
    assert report.tool.name == "**bold** tool *1"


# -- ingesting folders ----------------------------------------------------------------------------

def _tree(root: Path) -> None:
    write_card(root, "org/bare", BARE)
    write_card(root, "org/full", FULL)
    write_card(root, "org/kg", STRING_KG)
    write_card(root, "team/v01", DIA_V01)
    write_card(root, "org/dia-child", DIA_V1)  # names its own model, as its folder does
    write_card(root, "org/quant", LINEAGE_ONLY)
    write_card(root, "org/plain", NOTHING)
    write_card(root, "bad/negative", NEGATIVE)
    write_card(root, "bad/yaml", BROKEN_YAML)


def test_ingest_folder_stores_footprints_and_lineage_and_lists_skips(tmp_path: Path, store_url: str) -> None:
    root = tmp_path / "cards"
    _tree(root)
    with Store(store_url) as store:
        summary = ingest([root], store=store)
        assert summary.read == 9
        assert summary.ingested == 6 and summary.lineage_only == 1
        assert summary.empty == ["org/plain/README.md"]
        assert sorted(f for f, _ in summary.skipped) == ["bad/negative/README.md", "bad/yaml/README.md"]
        assert dict(summary.skipped)["bad/negative/README.md"].startswith("co2_eq_emissions.emissions: must not be negative")
        assert not summary.ok
        runs = {r.model_id: r for r in store.list_runs()}
        assert set(runs) == {"org/bare", "org/full", "org/kg", "team/v01", "org/dia-child"}
        assert runs["org/full"].source_ref == "org/full/README.md"
        assert runs["org/dia-child"].source_ref == "org/dia-child/README.md"
        assert all(str(tmp_path) not in r.model_dump_json() for r in runs.values())  # no local paths
        assert runs["org/bare"].id == card_run_id("org/bare")
        edges = {(e.child_id, e.parent_id): e.relation for e in store.edges()}
        assert edges[("org/full", "org/base")] == "adapter"
        assert edges[("org/quant", "org/base")] == "quantization"
        assert edges[("org/kg", "org/a")] == "merge"
        assert edges[("org/dia-child", "org/base")] == "instruction-tuning"


def test_reingest_is_idempotent(tmp_path: Path, store_url: str) -> None:
    root = tmp_path / "cards"
    _tree(root)
    with Store(store_url) as store:
        ingest([root], store=store)
        before = ([r.model_dump() for r in store.iter_runs()], store.edges(), store.model_ids())
        again = ingest([root], store=store)
        assert again.ingested == 6
        after = ([r.model_dump() for r in store.iter_runs()], store.edges(), store.model_ids())
        assert after == before


def test_rollup_sums_ingested_cards_with_unavailable_energy(tmp_path: Path) -> None:
    from dia.aggregate.rollup import rollup

    root = tmp_path / "cards"
    write_card(root, "org/base", "---\nco2_eq_emissions: {emissions: 1000, energy_consumed: 10}\n---\n")
    write_card(root, "org/child", "---\nbase_model: org/base\nco2_eq_emissions: 500\n---\n")
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        ingest([root], store=store)
        result = rollup("org/base", scope="family", store=store)
    assert result.members == 2 and result.coverage == 1.0
    assert result.carbon_kg.value == pytest.approx(1.5)
    assert result.energy_kwh.value == pytest.approx(10.0)  # the child's unknown energy adds nothing
    assert set(result.by_quality) == {"reported"}


def test_lineage_cycle_skips_only_that_card(tmp_path: Path, store_url: str) -> None:
    root = tmp_path / "cards"
    write_card(root, "org/a", "---\nbase_model: org/b\nco2_eq_emissions: 1\n---\n")
    write_card(root, "org/b", "---\nbase_model: org/a\nco2_eq_emissions: 2\n---\n")
    write_card(root, "org/c", "---\nbase_model: org/a\nco2_eq_emissions: 3\n---\n")
    with Store(store_url) as store:
        summary = ingest([root], store=store)
        assert summary.ingested == 2
        assert [f for f, _ in summary.skipped] == ["org/b/README.md"]
        assert "lineage cycle" in summary.skipped[0][1]
        assert {r.model_id for r in store.list_runs()} == {"org/a", "org/c"}


def test_single_file_takes_model_id_option_and_front_matter_wins(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text(ONLY_EMISSIONS)
    assert read_card(card, model_id="me/mine").model_id == "me/mine"
    with pytest.raises(CardError, match="no model id"):
        read_card(card)
    named = tmp_path / "named.md"
    named.write_text("---\nmodel_id: org/named\nco2_eq_emissions: 3\n---\n")
    assert read_card(named, model_id="me/mine").model_id == "org/named"


def test_dia_card_of_runs_already_in_the_store_is_not_counted_twice(tmp_path: Path) -> None:
    run = _tracked_run(2.0, carbon_kg=0.6, model_id="org/dia-child")
    text = DIA_V1.replace("  relation:", f"  runs: ['{run.id}']\n  relation:")
    root = tmp_path / "cards"
    write_card(root, "org/dia-child", text)
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        store.save_run(run)
        summary = ingest([root], store=store)
        assert summary.already_tracked == ["org/dia-child/README.md"]
        assert store.run_count() == 1


def test_jsonl_report_files_are_ingested_too(tmp_path: Path) -> None:
    root = tmp_path / "dump"
    root.mkdir()
    reports = [_tracked_run(1.0, model_id="org/j1"), _tracked_run(2.0, model_id="org/j2")]
    (root / "runs.jsonl").write_text("\n".join(r.model_dump_json() for r in reports) + "\n{bad json\n")
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        summary = ingest([root], store=store)
        assert (summary.read, summary.ingested) == (3, 2)
        assert summary.skipped[0][0] == "runs.jsonl" and "not valid JSON" in summary.skipped[0][1]
        assert {r.id for r in store.list_runs()} == {r.id for r in reports}


# -- the command line ------------------------------------------------------------------------------

def test_cli_ingest_prints_summary_and_exits_non_zero_on_skips(tmp_path: Path) -> None:
    root = tmp_path / "cards"
    _tree(root)
    db = f"sqlite:///{tmp_path}/cli.sqlite"
    result = CliRunner().invoke(app, ["ingest", str(root), "--db", db])
    assert result.exit_code == 1, result.output
    assert "skipped bad/negative/README.md: co2_eq_emissions.emissions: must not be negative" in result.output
    assert "read 9, ingested 6" in result.output
    good = tmp_path / "good"
    write_card(good, "org/full", FULL)
    ok = CliRunner().invoke(app, ["ingest", str(good), "--db", db, "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.stdout)
    assert (data["read"], data["ingested"], data["skipped"]) == (1, 1, [])


def test_cli_single_file_with_model_id(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text(FULL)
    db = f"sqlite:///{tmp_path}/cli.sqlite"
    result = CliRunner().invoke(app, ["ingest", str(card), "--model-id", "me/adapter", "--db", db])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        run = store.get_run(card_run_id("me/adapter"))
        assert run is not None and run.source_ref == "README.md"
        assert uuid.UUID(run.id).version == 5


def test_cli_missing_path_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


def test_cards_written_by_dia_read_back_to_the_same_figures(tmp_path: Path) -> None:
    """Round trip with the writing half: ``dia card`` output ingested into another store."""
    import yaml

    card = pytest.importorskip("dia.hub.card")
    e = Quantity.of(2.0, "kWh", "measured", low=1.8, high=2.2)
    op = e.times(0.25, 0.2, 0.3, unit="kgCO2e", quality="estimated")
    emb = Quantity.of(0.02, "kgCO2e", "estimated")
    water = e.times(1.0, 0.5, 1.5, unit="L", quality="estimated")
    run = RunReport(model_id="org/child", kind="finetuning", parents=["org/base:lora"], energy=Energy(it_kwh=e),
                    carbon=Carbon(operational_kg=op, embodied_kg=emb, total_kg=op + emb),
                    water=Water(onsite_l=water, offsite_l=water, total_l=water + water))
    with Store(f"sqlite:///{tmp_path}/source.sqlite") as source:
        source.save_run(run)
        meta = card.card_metadata("org/child", source)
        v01 = card.v01_metadata("org/child", source) if hasattr(card, "v01_metadata") else None
    root = tmp_path / "cards"
    write_card(root, "org/child", "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n# Child\n")
    with Store(f"sqlite:///{tmp_path}/target.sqlite") as target:
        summary = ingest([root], store=target)
        assert summary.ok and summary.ingested == 1, summary.as_dict()
        back = target.list_runs()[0]
        assert run.carbon is not None and back.carbon is not None and back.water is not None
        # the writer rounds to a few significant figures: compare endpoints and tiers, not bits
        for got, want in ((back.energy.it_kwh, run.energy.it_kwh), (back.carbon.total_kg, run.carbon.total_kg),
                          (back.carbon.embodied_kg, run.carbon.embodied_kg), (back.water.total_l, water + water)):
            assert got is not None and want is not None
            assert (got.value, got.low, got.high) == pytest.approx((want.value, want.low, want.high), rel=1e-3)
            assert (got.unit, got.quality) == (want.unit, want.quality)
        assert [(p.model_id, p.relation.value, p.method) for p in back.parents] == [("org/base", "adapter", "lora")]
        # the store that wrote the card already has the run: reading the card back adds nothing
        again = ingest([root], store=f"sqlite:///{tmp_path}/source.sqlite")
        assert again.already_tracked == ["org/child/README.md"] and again.ingested == 0
    if v01 is not None:
        other = tmp_path / "v01"
        write_card(other, "org/child", "---\n" + yaml.safe_dump(v01, sort_keys=False) + "---\n")
        parsed = read_card(other / "org" / "child" / "README.md", root=other)
        assert parsed.reports[0].carbon is not None
        assert parsed.reports[0].carbon.total_kg.low == pytest.approx(run.carbon.total_kg.low)
        assert parsed.parents[0].model_id == "org/base"


def test_an_updated_card_replaces_its_previous_lineage_and_run(tmp_path: Path, store_url: str) -> None:
    root = tmp_path / "cards"
    card = write_card(root, "org/child", "---\nbase_model: org/typo\nco2_eq_emissions: 10\n---\n")
    with Store(store_url) as store:
        store.add_edge("org/child", "org/manual", "finetune", source="cli")  # not the card's: kept
        store.add_edge("org/child", "org/base", "adapter", source="cli")  # the card restates it: still the CLI's
        ingest([root], store=store)
        card.write_text("---\nbase_model: org/base\nbase_model_relation: quantized\n---\n")
        summary = ingest([root], store=store)
        assert summary.lineage_only == 1
        assert {(e.parent_id, e.relation) for e in store.edges() if e.child_id == "org/child"} == {
            ("org/base", "adapter"), ("org/manual", "finetune")}
        assert store.run_count() == 0  # the card no longer states a footprint
