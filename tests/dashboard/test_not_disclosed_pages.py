"""Issue case 7 on the dashboard: a family whose cards disclose no energy shows "not
disclosed", never "0", on every page that shows its totals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dia.cli.main import app

PAGES = Path(__file__).resolve().parents[2] / "dashboard"
CARDS = {
    "fam/base": "---\nco2_eq_emissions: 500\n---\n",
    "fam/chat": "---\nbase_model: fam/base\nbase_model_relation: finetune\nco2_eq_emissions: 300\n---\n",
}


@pytest.fixture
def cards_url(tmp_path: Path) -> str:
    for model_id, text in CARDS.items():
        path = tmp_path / "cards" / model_id / "README.md"
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
    url = f"sqlite:///{tmp_path}/cards.sqlite"
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "cards"), "--db", url])
    assert result.exit_code == 0, result.output
    return url


def _run(page: str, url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "0")
    at = AppTest.from_file(str(PAGES / "views" / f"{page}.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    return at


def _shown(at: AppTest) -> str:
    return "\n".join([t.value for t in at.text] + [f"{m.label}: {m.value}" for m in at.metric])


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def test_overview_says_not_disclosed_for_energy(cards_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run("overview", cards_url, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Energy"] == "not disclosed" and metrics["Water"] == "not disclosed"
    assert metrics["Carbon"] == "800 g CO2e"
    assert "0 kWh" not in _shown(at)
    shown = next(df.value for df in at.dataframe if "family" in df.value.columns).set_index("family")
    assert shown.loc["fam/base", "energy_kwh"] == "not disclosed" == shown.loc["fam/base", "water_l"]
    families = next(df.value for df in at.dataframe if "members" in df.value.columns)  # the details
    base = families.set_index("family").loc["fam/base"]
    assert _missing(base["energy_kwh"]) and _missing(base["water_l"])
    assert base["not_disclosed"] == "energy, water" and base["carbon_kg"] == pytest.approx(0.8)


def test_lineage_says_not_disclosed_for_the_family(cards_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _run("lineage", cards_url, monkeypatch)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Cumulative energy"] == "not disclosed"
    assert metrics["Cumulative water"] == "not disclosed"
    assert metrics["Cumulative carbon"] == "800 g CO2e"
    assert "0 kWh" not in _shown(at)
    shown = next(df.value for df in at.dataframe if "has_report" in df.value.columns)
    assert set(shown["energy_kwh"]) == {"not disclosed"}
    members = next(df.value for df in at.dataframe if "energy_kwh_low" in df.value.columns)  # the details
    assert all(_missing(x) for x in members["energy_kwh"])
    assert set(members["not_disclosed"]) == {"energy, water"}


@pytest.mark.parametrize("page", ["compare", "regions", "runs"])
def test_other_pages_run_on_a_store_without_energy(cards_url: str, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    from dia.show import NOT_DISCLOSED

    at = _run(page, cards_url, monkeypatch)
    checked = 0
    for df in at.dataframe:
        for column in ("energy_kwh", "own_energy_kwh"):
            if column in df.value.columns:
                # empty in the unrounded details, "not disclosed" in the shown figure column
                assert all(_missing(x) or x == NOT_DISCLOSED for x in df.value[column])
                assert "0 kWh" not in set(df.value[column])
                checked += 1
    assert checked
