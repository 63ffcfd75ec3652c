"""Issue 14, case 3: DIA -> card -> DIA gives back the same figures, in every format.

Through the CLI with real files: ``dia import`` runs converted by ``dia.footprint``,
``dia card --write`` in ``hf``, ``dia-v0.1`` and ``both``, then ``dia ingest`` the card into a
fresh store. Value, low and high of energy, carbon (operational, embodied, total) and water
(on-site, off-site, total) come back within 1e-6 relative, with their quality tiers, and the
place comes back as it was (a country stays a country, a cloud region a cloud region).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import dia
from dia.cli.main import app
from dia.hub.formats import frontmatter, parse_card_text
from dia.record.report import GPU, Energy, Hardware, Location, Quantity, RunReport, sum_quantities
from dia.record.store import Store

FORMATS = ("hf", "dia-v0.1", "both")
MODEL = "org/m"
# The ai-impact-accounting v0.1 keys of dia_report (hub-metadata.md section 4), plus DIA's extension.
V01_KEYS = {"scope", "lineage", "compute", "footprint", "context", "tool"}


def _run(energy_kwh: float, **place: str) -> RunReport:
    e = Quantity.of(energy_kwh, "kWh", "measured", low=0.9 * energy_kwh, high=1.3 * energy_kwh)
    fp = dia.footprint(e, gpu_hours=energy_kwh / 2, gpu_name="NVIDIA A100-SXM4-40GB", **place)
    run = RunReport(model_id=MODEL, kind="finetuning", parents=["org/base:lora"], energy=Energy(it_kwh=e),
                    hardware=Hardware(gpus=[GPU(name="NVIDIA A100-SXM4-40GB", count=2)]),
                    gpu_hours=energy_kwh / 2, location=Location(**place))
    return fp.apply(run)


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _round_trip(tmp_path: Path, runs: list[RunReport], fmt: str) -> tuple[RunReport, str]:
    """Import ``runs``, write the card in ``fmt``, ingest it into a fresh store: the report read back."""
    source = f"sqlite:///{tmp_path}/source.sqlite"
    path = tmp_path / "r.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in runs), encoding="utf-8")
    _cli("import", str(path), "--db", source)
    card = tmp_path / "out" / "org" / "m" / "README.md"
    _cli("card", MODEL, "--write", str(card), "--format", fmt, "--db", source)
    fresh = f"sqlite:///{tmp_path}/fresh.sqlite"
    summary = json.loads(_cli("ingest", str(tmp_path / "out"), "--db", fresh, "--json").stdout)
    assert (summary["ingested"], summary["skipped"], summary["warnings"]) == (1, [], []), summary
    with Store(fresh) as store:
        [back] = store.list_runs()
    return back, card.read_text(encoding="utf-8")


def _figures(run: RunReport) -> dict[str, Quantity | None]:
    assert run.carbon is not None and run.water is not None
    return {"energy": run.energy.it_kwh, "operational": run.carbon.operational_kg,
            "embodied": run.carbon.embodied_kg, "carbon": run.carbon.total_kg,
            "onsite": run.water.onsite_l, "offsite": run.water.offsite_l, "water": run.water.total_l}


def _summed(runs: list[RunReport]) -> dict[str, Quantity]:
    each = [_figures(r) for r in runs]
    out = {}
    for key in each[0]:
        parts = [f[key] for f in each]
        assert all(p is not None for p in parts)
        out[key] = sum_quantities([p for p in parts if p is not None], parts[0].unit)  # type: ignore[union-attr]
    return out


def _assert_same(got: dict[str, Quantity | None], want: dict[str, Quantity]) -> None:
    for key, w in want.items():
        g = got[key]
        assert g is not None, key
        assert (g.value, g.low, g.high) == pytest.approx((w.value, w.low, w.high), rel=1e-6), key
        assert (g.unit, g.quality) == (w.unit, w.quality), key


@pytest.mark.parametrize("fmt", FORMATS)
def test_card_round_trip_returns_the_same_figures_and_country(tmp_path: Path, fmt: str) -> None:
    runs = [_run(20.0, country="FRA"), _run(3.0, country="FRA")]
    want = _summed(runs)
    # the case of the issue: a central value that is not its interval's midpoint
    carbon = want["carbon"]
    assert abs(carbon.value - (carbon.low + carbon.high) / 2) > 1e-3 * carbon.value
    back, _ = _round_trip(tmp_path, runs, fmt)
    _assert_same(_figures(back), want)
    assert back.carbon is not None and back.carbon.embodied_kg is not None  # not folded into operational
    assert back.carbon.operational_kg.value < back.carbon.total_kg.value
    assert (back.location.country, back.location.region) == ("FRA", None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_card_round_trip_keeps_a_cloud_region(tmp_path: Path, fmt: str) -> None:
    run = _run(8.0, cloud_provider="aws", cloud_region="us-east-1")
    back, _ = _round_trip(tmp_path, [run], fmt)
    _assert_same(_figures(back), _summed([run]))
    assert (back.location.cloud_provider, back.location.cloud_region) == ("aws", "us-east-1")
    assert (back.location.country, back.location.region) == (run.location.country, run.location.region)


def test_v01_card_stays_valid_v01_for_readers_that_ignore_the_extension(tmp_path: Path) -> None:
    runs = [_run(20.0, country="FRA"), _run(3.0, country="FRA")]
    want = _summed(runs)
    _, text = _round_trip(tmp_path, runs, "dia-v0.1")
    meta = frontmatter.read(text, "README.md")
    assert set(meta) == {"dia_version", "dia_report"}
    report = meta["dia_report"]
    assert set(report) == V01_KEYS | {"x_dia"}
    assert report["context"]["region"] == "fra"
    # without DIA's extension: the v0.1 figures alone, [low, high] ranges with v0.1 quality labels
    del report["x_dia"]
    plain = parse_card_text("---\n" + yaml.safe_dump(meta) + "---\n", model_id=MODEL, source_ref="README.md")
    assert plain.run_ids == [] and plain.warnings == []
    got = plain.reports[0]
    assert got.carbon is not None and got.water is not None
    for q, w in ((got.energy.it_kwh, want["energy"]), (got.carbon.total_kg, want["carbon"]),
                 (got.water.total_l, want["water"])):
        assert (q.low, q.high) == pytest.approx((w.low, w.high), rel=1e-6)
    assert got.location.region == "fra"  # what v0.1 alone can say


def test_v01_extension_that_disagrees_with_the_footprint_is_ignored_with_a_warning(tmp_path: Path) -> None:
    runs = [_run(20.0, country="FRA")]
    want = _summed(runs)
    _, text = _round_trip(tmp_path, runs, "dia-v0.1")
    meta = frontmatter.read(text, "README.md")
    meta["dia_report"]["footprint"]["carbon_kgco2eq"]["value"] = [1.0, 2.0]  # edited by hand
    card = parse_card_text("---\n" + yaml.safe_dump(meta) + "---\n", model_id=MODEL, source_ref="README.md")
    assert any("x_dia.carbon_kg: disagrees" in w for w in card.warnings), card.warnings
    got = card.reports[0]
    assert got.carbon is not None
    assert (got.carbon.total_kg.low, got.carbon.total_kg.value, got.carbon.total_kg.high) == (1.0, 1.5, 2.0)
    # the figures the edit did not touch still come back whole
    e = got.energy.it_kwh
    assert (e.value, e.low, e.high) == pytest.approx((want["energy"].value, want["energy"].low,
                                                      want["energy"].high), rel=1e-6)
