"""Compare, Runs, Regions and Methodology as a reader sees them (issue 17): charts that keep a
small model visible and show their intervals, tables of formatted figures, filters that leave
the table on a phone screen, a free-form energy and each run's resolved location."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from factories import run_report

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dia.record.report import Factor, Location
from dia.record.store import Store

PAGES = Path(__file__).resolve().parents[2] / "dashboard"
# A raw float as the issue found it: "630.5415", "0.0000000008" (5 or more decimals).
RAW_FLOAT = re.compile(r"\d\.\d{5,}")


def _page(name: str, url: str, monkeypatch: pytest.MonkeyPatch, *, public: bool = False) -> AppTest:
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "1" if public else "0")
    at = AppTest.from_file(str(PAGES / "views" / f"{name}.py"), default_timeout=60)
    at.run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]


def _figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _array(data: Any) -> list[float]:
    """A Plotly JSON array: a list, or the binary form (``{"dtype": "f8", "bdata": ...}``)."""
    if isinstance(data, dict) and "bdata" in data:
        import base64

        import numpy as np

        return [float(x) for x in np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])]
    return [float(x) for x in data]


def _cells(frame: Any) -> list[str]:
    return [str(v) for v in frame.to_numpy().ravel()]


# -- Compare --------------------------------------------------------------------------------

def _compare(url: str, monkeypatch: pytest.MonkeyPatch, models: list[str]) -> AppTest:
    at = _page("compare", url, monkeypatch)
    at.multiselect(key="compare_models").set_value(models).run()
    _ok(at)
    return at


def test_compare_has_quantity_tabs_and_a_log_toggle(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _compare(filled_url, monkeypatch, ["org/base", "org/base-lora"])
    assert [t.label for t in at.tabs] == ["Energy", "Carbon", "Water"]
    charts = _figures(at)
    titles = [f["layout"]["xaxis"]["title"]["text"] for f in charts[:3]]
    assert [t.split(" (")[0] for t in titles] == ["Energy", "Carbon", "Water"]
    # log by default: the 2 kWh adapter stays visible next to its 120 kWh base
    assert all(f["layout"]["xaxis"]["type"] == "log" for f in charts[:3])
    at.toggle(key="compare_log").set_value(False).run()
    assert all(f["layout"]["xaxis"]["type"] == "linear" for f in _figures(at)[:3])


def test_compare_bars_are_horizontal_with_full_names_error_bars_and_fixed_scope_colours(
        filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.dashboard._data import SCOPE_COLOURS

    models = ["org/base", "org/base-chat", "org/merged"]
    at = _compare(filled_url, monkeypatch, models)
    carbon = _figures(at)[1]
    bars = carbon["data"]
    assert [b["name"] for b in bars] == ["Own runs", "With its ancestry (upstream)", "With its family"]
    assert [b["marker"]["color"] for b in bars] == list(SCOPE_COLOURS.values())
    # the full names, each on its own line above its group of bars (not squeezed beside them)
    labels = [a for a in carbon["layout"]["annotations"] if a["xref"] == "paper"]
    assert [a["text"] for a in labels] == models
    for bar in bars:
        assert bar["orientation"] == "h"
        rows = _array(bar["y"])
        assert len(rows) == len(models)
        # each model's bar sits below its name and above the next model's name
        assert all(label["y"] < y < label["y"] + 4 for label, y in zip(labels, rows, strict=True))
        assert [c[0] for c in bar["customdata"]] == models  # the hover names the model
        errors = bar["error_x"]
        above, below = _array(errors["array"]), _array(errors["arrayminus"])
        assert errors["type"] == "data" and len(above) == len(below) == len(models)
        assert any(e > 0 for e in above) and any(e > 0 for e in below)  # the intervals are drawn
    # one unit for the axis, in its title; height grows with the number of models
    assert carbon["layout"]["xaxis"]["title"]["text"] == "Carbon (kg CO2e)"
    one = _figures(_compare(filled_url, monkeypatch, ["org/base"]))[1]
    assert carbon["layout"]["height"] > one["layout"]["height"]


def test_compare_inference_chart_has_a_unit_not_a_field_name(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _compare(filled_url, monkeypatch, ["org/base-chat"])
    assert any(s.value == "Energy per 1,000 inferences" for s in at.subheader)
    inference = _figures(at)[-1]
    assert inference["layout"]["xaxis"]["title"]["text"] == "Wh per 1,000 inferences"
    assert _array(inference["data"][0]["x"]) == [pytest.approx(50.0)]  # 0.2 kWh over 4,000 inferences
    assert "wh_per_1000_inferences" not in json.dumps(inference)
    table = at.dataframe[-2].value  # the shown table, before its details
    assert list(table["wh_per_1000_inferences"]) == ["50 Wh per 1,000 inferences"]


def test_compare_table_shows_formatted_figures_and_coverage_as_a_share(filled_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    at = _compare(filled_url, monkeypatch, ["org/base", "org/base-chat"])
    shown = at.dataframe[2].value  # carbon tab: its table, after the energy tab's table and details
    assert list(shown.columns[:1]) == ["model"]
    assert shown.set_index("model").loc["org/base", "own_carbon_kg"] == "48 kg CO2e (36–72)"
    assert all(c.endswith("%") for c in shown["family_coverage"])
    assert not any(RAW_FLOAT.search(c) or c == "None" for c in _cells(shown))


# -- Runs -----------------------------------------------------------------------------------

def test_runs_filters_sit_in_a_collapsed_expander(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("runs", filled_url, monkeypatch)
    filters = at.expander[0]
    assert filters.proto.expanded is False
    keys = {w.key for w in filters.selectbox}
    assert {"runs_model", "runs_kind", "runs_status", "runs_country"} <= keys
    assert filters.number_input(key="runs_page") is not None
    # nothing but the count line between the title and the table
    assert at.dataframe[0].value.columns[0] == "model"


def test_run_detail_has_no_raw_floats_or_none(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("runs", filled_url, monkeypatch)
    figures = next(df.value for df in at.dataframe if "figure" in df.value.columns)
    factors = next(df.value for df in at.dataframe if "factor" in df.value.columns)
    facts = next(df.value for df in at.dataframe if "field" in df.value.columns)
    for frame in (figures, factors, facts):
        cells = _cells(frame)
        assert not [c for c in cells if RAW_FLOAT.search(c) or c in ("None", "nan")], frame
    ci = factors.set_index("factor").loc["carbon_intensity"]
    assert ci["value"] == "0.4 (0.3–0.6)" and ci["unit"] == "kgCO2e/kWh"
    assert set(figures.columns) == {"figure", "shown", "quality"}


def test_factor_values_keep_their_leading_digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's 13.1992 (low 11, high 15) was clipped to "3.1992", below its own low."""
    url = f"sqlite:///{tmp_path}/f.sqlite"
    pue = Factor(name="pue", value=13.1992, low=11.0, high=15.0, unit="ratio", source="test", granularity="site")
    with Store(url) as store:
        store.save_runs([run_report("org/m", energy_kwh=630.5415, carbon_kg=8e-10, factors=[pue])])
    at = _page("runs", url, monkeypatch)
    factors = next(df.value for df in at.dataframe if "factor" in df.value.columns).set_index("factor")
    assert factors.loc["pue", "value"] == "13.2 (11–15)"
    figures = next(df.value for df in at.dataframe if "figure" in df.value.columns).set_index("figure")
    assert figures.loc["Energy, IT", "shown"] == "631 kWh"
    assert figures.loc["Carbon, total", "shown"] == "8e-4 mg CO2e"


# -- Regions --------------------------------------------------------------------------------

def _what_if_caption(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_regions_tiny_energy_reads_in_wh_not_zero(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("regions", filled_url, monkeypatch)
    at.text_input(key="regions_energy").set_value("0.001 kWh").run()
    _ok(at)
    assert "1 Wh of IT energy" in _what_if_caption(at)
    assert "0.00" not in _what_if_caption(at)
    carbon = next(f for f in _figures(at) if f["layout"].get("title", {}).get("text", "").startswith("Carbon"))
    assert carbon["layout"]["title"]["text"] == "Carbon for 1 Wh"
    at.text_input(key="regions_energy").set_value("1.2 MWh").run()
    assert "1.2 MWh of IT energy" in _what_if_caption(at)


@pytest.mark.parametrize("typed", ["0", "0 kWh"])
def test_regions_zero_energy_gives_a_message_not_empty_charts(filled_url: str, monkeypatch: pytest.MonkeyPatch,
                                                              typed: str) -> None:
    at = _page("regions", filled_url, monkeypatch)
    charts_before = len(at.get("plotly_chart"))
    at.text_input(key="regions_energy").set_value(typed).run()
    _ok(at)
    assert any("above zero" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == charts_before - 2  # no carbon/water charts; the map stays


def test_regions_unreadable_energy_says_so(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("regions", filled_url, monkeypatch)
    at.text_input(key="regions_energy").set_value("lots").run()
    _ok(at)
    assert any("not an energy" in i.value for i in at.info)


def test_regions_defaults_to_the_stores_countries_with_names(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.dashboard._data import DEFAULT_CLOUDS

    at = _page("regions", filled_url, monkeypatch)
    assert at.multiselect(key="regions_countries").value == ["USA", "FRA"]  # most runs first
    assert at.multiselect(key="regions_clouds").value == list(DEFAULT_CLOUDS)
    what_if = next(df.value for df in at.dataframe if "place_name" in df.value.columns)
    assert {"United States", "France"} <= set(what_if["place_name"])
    by_country = next(df.value for df in at.dataframe if "country_name" in df.value.columns)
    assert set(by_country["country_name"]) == {"United States", "France"}


# -- the resolved location ------------------------------------------------------------------

def _ontario_store(tmp_path: Path, *, legacy: bool) -> tuple[str, str]:
    """A run whose grid factor is Ontario's (key CA-ON) but whose report names no place;
    ``legacy``: its country column emptied, as a store written before this fix has it."""
    url = f"sqlite:///{tmp_path}/on.sqlite"
    ci = Factor(name="carbon_intensity", value=0.03, low=0.02, high=0.05, unit="kgCO2e/kWh",
                source="Ontario IESO", granularity="subnational", key="CA-ON")
    report = run_report("lab/ontario-model", energy_kwh=10.0, carbon_kg=(0.3, 0.2, 0.5), factors=[ci],
                        location=Location())
    paris = run_report("lab/paris-model", energy_kwh=1.0, carbon_kg=0.05, location=Location(country="FRA"))
    with Store(url) as store:
        store.save_runs([report, paris])
    if legacy:
        con = sqlite3.connect(f"{tmp_path}/on.sqlite")
        with con:
            con.execute("UPDATE dia_runs SET country = NULL WHERE id = ?", (report.id,))
        con.close()
    return url, report.id


def test_store_saves_the_country_the_grid_factor_names(tmp_path: Path) -> None:
    url, _ = _ontario_store(tmp_path, legacy=False)
    with Store(url, read_only=True) as store:
        assert store.distinct_values("country") == ["CAN", "FRA"]
        assert store.run_count(country="CAN") == 1


@pytest.mark.parametrize("legacy", [False, True])
def test_ontario_run_is_shown_in_ontario_and_counted_under_canada(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   legacy: bool) -> None:
    url, run_id = _ontario_store(tmp_path, legacy=legacy)
    runs = _page("runs", url, monkeypatch)
    table = next(df.value for df in runs.dataframe if "run_id" in df.value.columns).set_index("run_id")
    assert table.loc[run_id, "location"] == "Ontario, Canada"
    runs.selectbox(key="runs_detail").set_value(run_id).run()
    facts = next(df.value for df in runs.dataframe if "field" in df.value.columns).set_index("field")["value"]
    assert facts["location"] == "Ontario, Canada" and facts["grid level"] == "subnational"

    regions = _page("regions", url, monkeypatch)
    by_country = next(df.value for df in regions.dataframe if "country_name" in df.value.columns)
    counted = dict(zip(by_country["country_name"], by_country["runs"], strict=True))
    assert counted == {"Canada": 1, "France": 1}  # nothing left under "unknown"
    assert regions.multiselect(key="regions_countries").value[:1] in (["CAN"], ["FRA"])
    assert set(regions.multiselect(key="regions_countries").value) == {"CAN", "FRA"}


def test_resolved_location_from_each_kind_of_factor_key() -> None:
    from dia.convert.location import place_name, resolved_location

    def ci(granularity: str, key: str) -> Factor:
        return Factor(name="carbon_intensity", value=0.4, low=0.3, high=0.5, unit="kgCO2e/kWh", source="t",
                      granularity=granularity, key=key)  # type: ignore[arg-type]

    assert place_name(resolved_location(Location(), [ci("subnational", "ontario")])) == "Ontario, Canada"
    assert resolved_location(Location(), [ci("country", "FRA")]).country == "FRA"
    cloud = resolved_location(Location(), [ci("cloud_region", "gcp:europe-west9")])
    assert (cloud.country, cloud.cloud_provider, cloud.cloud_region) == ("FRA", "gcp", "europe-west9")
    # a key DIA's tables do not know, and the world default, leave the place unknown
    assert resolved_location(Location(), [ci("subnational", "atlantis")]).country is None
    assert place_name(resolved_location(Location(), [ci("world", "world")])) == "unknown"
