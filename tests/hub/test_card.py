"""Writing model cards: Hub fields, DIA's block, the body section, byte-for-byte merges."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import ModelCard
from typer.testing import CliRunner

from dia.cli.main import app
from dia.errors import CardError, UnknownModelError
from dia.hub import card_metadata, write_card
from dia.hub.card import SECTION_END, SECTION_START, render_card
from dia.record.report import Factor, RunReport
from dia.record.store import Store

MakeRun = Callable[..., RunReport]

EXISTING = """---
# a comment the author wrote
license: apache-2.0
language:
  - en
tags: [text-classification, "custom"]
co2_eq_emissions: 99999
base_model: someone/else
---

# My model

Some text the author wrote.   Trailing spaces kept.

## Usage

```python
print("hi")
```
"""


def _front(text: str) -> dict[str, Any]:
    return ModelCard(text).data.to_dict()


def test_hub_fields_describe_this_models_own_runs_in_grams(hub_store: Store) -> None:
    meta = card_metadata("org/child", hub_store)
    co2 = meta["co2_eq_emissions"]
    # two production runs: 3 kWh x 0.25 kg/kWh + 0.03 kg embodied; the inference run is use, not cost
    assert co2["emissions"] == pytest.approx(780.0)
    assert co2["energy_consumed"] == pytest.approx(3.0)
    assert co2["training_type"] == "fine-tuning"
    assert co2["hardware_used"] == "4 x NVIDIA A100-SXM4-40GB"
    assert co2["geographical_location"] == "CA-ON, CAN"
    assert co2["source"].startswith("DIA ")
    assert meta["base_model"] == "org/base"
    assert meta["base_model_relation"] == "finetune"
    block = meta["dia"]
    assert block["schema_version"] == "1.0" and block["scope"] == "incremental"
    own = sorted(r.id for r in hub_store.list_runs(model_id="org/child") if not r.is_use)
    assert block["relation"] == "finetune" and len(own) == 2 and block["runs"] == own
    assert block["energy_kwh"] == {"value": 3.0, "low": 2.7, "high": 3.3, "unit": "kWh", "quality": "measured"}
    assert block["carbon_kg"]["operational"]["value"] == pytest.approx(0.75)
    assert block["carbon_kg"]["embodied"]["value"] == pytest.approx(0.03)
    assert block["carbon_kg"]["total"]["high"] == pytest.approx(1.02)
    assert block["water_l"]["onsite"]["value"] == pytest.approx(3.0)
    assert block["water_l"]["offsite"]["value"] == pytest.approx(6.0)
    assert block["factors"][0]["source"] == "IESO 2024"
    assert "upstream_cumulative" not in block


def test_pretraining_root_has_no_base_model(hub_store: Store) -> None:
    meta = card_metadata("org/base", hub_store)
    assert meta["co2_eq_emissions"]["training_type"] == "pre-training"
    assert meta["co2_eq_emissions"]["emissions"] == pytest.approx(2600.0)
    assert "base_model" not in meta and "base_model_relation" not in meta


def test_upstream_cumulative_is_labelled_and_never_in_co2_eq_emissions(hub_store: Store) -> None:
    meta = card_metadata("org/child", hub_store, upstream=True)
    up = meta["dia"]["upstream_cumulative"]
    assert up["cumulative"] is True and "CUMULATIVE" in up["note"]
    assert up["members"] == 2 and up["with_report"] == 2
    assert up["carbon_kg"]["value"] == pytest.approx(0.78 + 2.6)
    assert meta["co2_eq_emissions"]["emissions"] == pytest.approx(780.0)  # still own runs only


def test_the_card_text_states_coverage_and_keeps_full_precision_in_the_metadata(
        run_factory: MakeRun, hub_store: Store, tmp_path: Path) -> None:
    text = render_card("org/child", EXISTING, store=hub_store, upstream=True)
    # base 2.6 kg (1.9-3.4) + child 0.78 kg (0.57-1.02), both models reported
    assert "Cumulative with its ancestors (all 2 models reported): carbon 3.38 kg CO2e (2.47–4.42)." in text
    assert _front(text)["dia"]["upstream_cumulative"]["carbon_kg"]["value"] == pytest.approx(0.78 + 2.6)
    assert "disclosed" not in text.split(SECTION_START)[1]

    silent = Store(f"sqlite:///{tmp_path}/silent.sqlite")
    silent.save_run(run_factory("org/child", 2.0, parents=["org/silent-base"]))
    text = render_card("org/child", EXISTING, store=silent, upstream=True)
    # 2 kWh: 0.5 kg (0.36-0.66) + 0.02 embodied; the parent never reported: a lower bound, said so
    assert "Cumulative with its ancestors (lower bound: 1 of 2 models reported): carbon 520 g CO2e (380–680)." in text
    assert _front(text)["dia"]["upstream_cumulative"]["carbon_kg"]["value"] == pytest.approx(0.52)


def test_the_card_says_when_its_figures_are_all_estimates(run_factory: MakeRun, hub_store: Store,
                                                          tmp_path: Path) -> None:
    from dia.hub.card import ESTIMATE_SENTENCE as estimate

    assert "estimates" in estimate and "at least in part" in estimate  # never "only estimates"
    assert estimate not in render_card("org/child", EXISTING, store=hub_store)  # energy measured
    store = Store(f"sqlite:///{tmp_path}/est.sqlite")
    store.save_run(run_factory("org/guess", 2.0, quality="estimated"))
    text = render_card("org/guess", EXISTING, store=store)
    assert estimate in text
    assert "| Energy (IT) | 2 kWh (1.8–2.2) | estimated |" in text


@pytest.mark.parametrize(
    ("parents", "base_model", "relation"),
    [
        (["a/one:merge", "a/two:merge"], ["a/one", "a/two"], "merge"),
        (["a/one:lora"], "a/one", "adapter"),
        (["a/one:gguf"], "a/one", "quantized"),
        (["a/one:sft"], "a/one", "finetune"),
        (["a/one:distillation"], "a/one", None),  # no faithful Hub value
        (["a/one:finetune", "a/two:distillation"], ["a/one", "a/two"], None),
        (["a/one:finetune", "a/two:finetune"], ["a/one", "a/two"], None),  # two bases are not a finetune
    ],
)
def test_base_model_relation_maps_to_the_hubs_four_values_or_is_omitted(run_factory: MakeRun,
        tmp_path: Path, parents: list[str], base_model: Any, relation: str | None) -> None:
    store = Store(f"sqlite:///{tmp_path}/s.sqlite")
    store.save_run(run_factory("org/m", parents=parents))
    meta = card_metadata("org/m", store)
    assert meta["base_model"] == base_model
    assert meta.get("base_model_relation") == relation


def test_never_writes_tokens_hosts_users_or_local_paths(run_factory: MakeRun, tmp_path: Path) -> None:
    import getpass

    store = Store(f"sqlite:///{tmp_path}/s.sqlite")
    leaky = [Factor(name="pue", value=1.2, low=1.1, high=1.3, unit="ratio", source="/home/alice/pue.csv",
                    granularity="site"),
             Factor(name="wue", value=1.0, low=0.5, high=2.0, unit="L/kWh",
                    source="token hf_abcdefghijklmnopqrstuvwxyz", granularity="default")]
    store.save_run(run_factory("org/m", factors=leaky, host="secret-host-42", pid=1234))
    text = render_card("org/m", EXISTING, store=store, format="both")
    assert "secret-host-42" not in text
    assert "/home/alice" not in text and "hf_abcdefghij" not in text
    assert str(tmp_path) not in text
    user = getpass.getuser()
    if len(user) >= 3 and user not in ("root", "user"):
        assert user not in text.replace("org/m", "")
    assert "pue" in text  # the factor itself is kept, only its leaky source is withheld


def test_write_keeps_the_rest_of_the_card_byte_for_byte_and_is_idempotent(hub_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(EXISTING, encoding="utf-8")
    write_card("org/child", path, store=hub_store)
    first = path.read_bytes().decode()
    # other front-matter lines untouched (comment included), DIA-owned keys replaced
    for line in ("# a comment the author wrote", "license: apache-2.0", "language:\n  - en",
                 'tags: [text-classification, "custom"]'):
        assert line in first
    data = _front(first)
    assert data["co2_eq_emissions"]["emissions"] == pytest.approx(780.0)
    assert data["base_model"] == "org/base"
    # the author's body kept byte-for-byte, the section appended once
    body = EXISTING.split("---\n", 2)[2]
    assert first.split("\n---\n", 1)[1].startswith(body)
    assert first.count(SECTION_START) == 1 and first.count(SECTION_END) == 1
    # 0.78 kg (0.57-1.02): figures as dia.show writes them, the interval after the value
    assert "| Carbon, total | 780 g CO2e (570–1,020) | estimated |" in first
    # second run: nothing changes, the file is not even rewritten
    os.utime(path, (1_000_000, 1_000_000))
    write_card("org/child", path, store=hub_store)
    assert path.read_bytes().decode() == first
    assert path.stat().st_mtime == 1_000_000


def test_section_is_replaced_in_place_when_figures_change(run_factory: MakeRun, hub_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    write_card("org/child", path, store=hub_store)
    path.write_text(path.read_text(encoding="utf-8") + "\n## After\n\nText after the section.\n", encoding="utf-8")
    hub_store.save_run(run_factory("org/child", 4.0, parents=["org/base"]))
    write_card("org/child", path, store=hub_store)
    text = path.read_text(encoding="utf-8")
    assert text.count(SECTION_START) == 1
    assert text.index(SECTION_END) < text.index("## After")
    assert text.endswith("\n## After\n\nText after the section.\n")
    assert "| Energy (IT) | 7 kWh (6.3–7.7) | measured |" in text  # 2 + 1 + 4 kWh, each +-10 %
    assert _front(text)["co2_eq_emissions"]["emissions"] == pytest.approx(1820.0)


def test_new_card_and_card_without_front_matter(hub_store: Store, tmp_path: Path) -> None:
    new = write_card("org/child", tmp_path / "fresh", store=hub_store)  # a folder: README.md inside
    assert new == tmp_path / "fresh" / "README.md"
    assert _front(new.read_text(encoding="utf-8"))["dia"]["model_id"] == "org/child"
    plain = "# Title\n\nJust prose.\n"
    text = render_card("org/child", plain, store=hub_store)
    assert text.startswith("---\n") and "\n---\n# Title\n\nJust prose.\n" in text


def test_crlf_cards_keep_their_line_endings(hub_store: Store) -> None:
    crlf = EXISTING.replace("\n", "\r\n")
    text = render_card("org/child", crlf, store=hub_store)
    assert "\n" not in text.replace("\r\n", "")
    assert "license: apache-2.0\r\n" in text and "Trailing spaces kept.\r\n" in text
    assert render_card("org/child", text, store=hub_store) == text


def test_dia_v01_format_writes_the_dia_report_block(run_factory: MakeRun, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/s.sqlite")
    store.save_run(run_factory("org/lora", 0.5, parents=["org/base:lora"], kind="adapter"))
    text = render_card("org/lora", EXISTING, store=store, format="dia-v0.1")
    data = _front(text)
    assert data["dia_version"] == "0.1"
    rep = data["dia_report"]
    assert rep["scope"] == "incremental" and rep["tool"] == "dia"
    assert rep["lineage"] == [{"model": "org/base", "relation": "lora"}]
    assert rep["compute"] == {"hardware": {"gpu": "NVIDIA A100-SXM4-40GB", "count": 4}, "duration_gpu_hours": 4.0}
    assert rep["footprint"]["energy_kwh"] == {"value": [0.45, 0.55], "quality": "measured"}
    assert rep["footprint"]["carbon_kgco2eq"]["quality"] == "estimated-from-region"
    assert rep["footprint"]["water_liters"]["quality"] == "estimated-from-default-wue"
    assert rep["context"] == {"region": "ca-on", "carbon_intensity": 0.25}
    # dia-v0.1 alone leaves the Hub fields of the existing card alone
    assert data["co2_eq_emissions"] == 99999 and data["base_model"] == "someone/else"
    both = _front(render_card("org/lora", EXISTING, store=store, format="both"))
    assert "dia_report" in both and "dia" in both and both["base_model_relation"] == "adapter"


def test_unknown_model_and_bad_cards_raise_dia_errors(hub_store: Store) -> None:
    with pytest.raises(UnknownModelError, match="did you mean: org/child"):
        card_metadata("org/chlid", hub_store)
    with pytest.raises(CardError, match="not valid YAML"):
        render_card("org/child", "---\nkey: [unclosed\n---\n# x\n", store=hub_store)


def test_cli_prints_front_matter_and_writes_cards(hub_store: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["card", "org/child", "--db", hub_store.url])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("---\n") and res.output.rstrip().endswith("---")
    data = yaml.safe_load(res.output.strip().strip("-"))
    assert data["co2_eq_emissions"]["emissions"] == pytest.approx(780.0)

    res = runner.invoke(app, ["card", "org/child", "--db", hub_store.url, "--format", "both", "--upstream",
                              "--write", str(tmp_path / "card")])
    assert res.exit_code == 0, res.output
    data = _front((tmp_path / "card" / "README.md").read_text(encoding="utf-8"))
    assert "dia_report" in data and data["dia"]["upstream_cumulative"]["cumulative"] is True

    res = runner.invoke(app, ["card", "org/nope", "--db", hub_store.url])
    assert res.exit_code == 1 and "unknown model 'org/nope'" in res.output
    res = runner.invoke(app, ["card", "org/child", "--db", hub_store.url, "--format", "xml"])
    assert res.exit_code == 2 and "--format must be one of" in res.output


def test_example_dry_run_fills_a_local_card_idempotently(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    out = tmp_path / "model"
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(root / "examples" / "card_upload.py"), str(out)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "dry run" in proc.stdout
    text = (out / "README.md").read_text(encoding="utf-8")
    assert text.count(SECTION_START) == 1 and "Written by hand." in text
    assert _front(text)["co2_eq_emissions"]["emissions"] == pytest.approx(36.0)


def test_written_card_reads_back_as_the_same_footprint(hub_store: Store, tmp_path: Path) -> None:
    from dia.hub.reader import read_card

    path = write_card("org/child", tmp_path / "README.md", store=hub_store, format="both")
    parsed = read_card(path)
    assert parsed.model_id == "org/child" and [p.model_id for p in parsed.parents] == ["org/base"]
    assert len(parsed.reports) == 1  # the dia block and dia_report describe one footprint, not two
    report = parsed.reports[0]
    assert report.energy.it_kwh.value == pytest.approx(3.0)
    assert report.carbon is not None and report.carbon.total_kg.value == pytest.approx(0.78)
