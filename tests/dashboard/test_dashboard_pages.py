"""Every dashboard page through Streamlit's AppTest on a filled store: no exception, and the
key numbers equal what ``dia rollup --json`` and ``dia runs --json`` print for the same store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dia.cli.main import app

PAGES = Path(__file__).resolve().parents[2] / "dashboard"
XSS = "<script>alert(1)</script>"


def _cli_json(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _page(name: str, url: str, monkeypatch: pytest.MonkeyPatch, *, public: bool = False) -> AppTest:
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "1" if public else "0")
    at = AppTest.from_file(str(PAGES / "views" / f"{name}.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _texts(at: AppTest) -> str:
    return "\n".join(t.value for t in at.text)


def test_overview_totals_equal_cli_runs(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.show import format_range

    runs = [json.loads(line) for line in _cli_json("runs", "--json", "--limit", "1000", "--db", filled_url).splitlines()]
    production = [r for r in runs if r["kind"] not in ("inference", "evaluation") and r["model_id"]]
    at = _page("overview", filled_url, monkeypatch)
    m = _metrics(at)
    for label, quantity, path in (("Energy", "energy_kwh", ("energy", "it_kwh")),
                                  ("Carbon", "carbon_kg", ("carbon", "total_kg")),
                                  ("Water", "water_l", ("water", "total_l"))):
        value, low, high = (sum(r[path[0]][path[1]][k] for r in production) for k in ("value", "low", "high"))
        # the headline value as the one formatter writes it (2-3 significant figures, scaled unit)
        assert m[label] == format_range(value, low, high, quantity).partition(" (")[0]
    captions = "\n".join(c.value for c in at.caption)
    # 8 models (two of them card-only), 6 with a production run
    assert f"{len(runs):,} runs over 8 models" in captions
    assert any("lower bound: 6 of 8 models reported" in md.value for md in at.markdown)
    frames = [df.value for df in at.dataframe]
    shown = next(f for f in frames if "family" in f.columns)
    assert list(shown["family"])[:2] == ["org/base", "other/root"]
    families = next(f for f in frames if "family" in f.columns and "members" in f.columns)  # the details
    base = json.loads(_cli_json("rollup", "org/base", "--json", "--db", filled_url))
    assert families.iloc[0]["carbon_kg"] == pytest.approx(base["carbon_kg"]["value"])
    assert families.iloc[0]["members"] == base["members"]
    assert shown.iloc[0]["carbon_kg"] == format_range(base["carbon_kg"]["value"], base["carbon_kg"]["low"],
                                                      base["carbon_kg"]["high"], "carbon_kg")


@pytest.mark.parametrize("scope", ["family", "upstream"])
def test_lineage_equals_cli_rollup(filled_url: str, monkeypatch: pytest.MonkeyPatch, scope: str) -> None:
    from dia.show import format_range

    model = "org/base" if scope == "family" else "org/merged"
    expected = json.loads(_cli_json("rollup", model, "--scope", scope, "--json", "--db", filled_url))
    monkeypatch.setenv("DIA_DASHBOARD_DB", filled_url)
    at = AppTest.from_file(str(PAGES / "views" / "lineage.py"), default_timeout=60)
    at.run()
    at.selectbox(key="lineage_model").select(model).run()
    at.radio(key="lineage_scope").set_value(scope).run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    m = _metrics(at)
    for label, q in (("energy", "energy_kwh"), ("carbon", "carbon_kg"), ("water", "water_l")):
        figure = expected[q]
        assert m[f"Cumulative {label}"] == format_range(figure["value"], figure["low"], figure["high"], q).partition(" (")[0]
    captions = "\n".join(c.value for c in at.caption)
    assert f"{expected['members']} members" in captions
    with_report = sum(r["has_report"] for r in expected["rows"])
    badge = (f"all {expected['members']} members reported" if with_report == expected["members"]
             else f"lower bound: {with_report} of {expected['members']} members reported")
    assert any(badge in md.value for md in at.markdown)
    members = next(df.value for df in at.dataframe if "has_report" in df.value.columns)
    assert sorted(members["model"]) == sorted(r["model_id"] for r in expected["rows"])
    if scope == "family":  # members with no report are listed, the XSS id as plain data
        assert XSS in set(members["model"]) and "org/silent" in set(members["model"])
        assert not members.set_index("model").loc["org/silent", "has_report"]
        assert members.set_index("model").loc["org/silent", "carbon_kg"] == "not disclosed"


def test_lineage_imputed_shown_apart(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.show import format_range, format_value

    expected = json.loads(_cli_json("rollup", "org/base", "--impute", "--json", "--db", filled_url))
    monkeypatch.setenv("DIA_DASHBOARD_DB", filled_url)
    at = AppTest.from_file(str(PAGES / "views" / "lineage.py"), default_timeout=60).run()
    at.toggle(key="lineage_impute").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    carbon = expected["carbon_kg"]
    assert _metrics(at)["Cumulative carbon"] == format_range(carbon["value"], carbon["low"], carbon["high"],
                                                             "carbon_kg").partition(" (")[0]  # unchanged
    assert any("NOT in the totals" in md.value for md in at.markdown)
    assert _metrics(at)["Imputed carbon"] == format_value(expected["imputed_totals"]["carbon_kg"]["value"], "carbon_kg")


def test_runs_page_matches_cli_and_hides_host_in_public(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.show import format_range

    runs = [json.loads(line) for line in _cli_json("runs", "--json", "--db", filled_url).splitlines()]
    at = _page("runs", filled_url, monkeypatch)
    shown = at.dataframe[0].value
    assert list(shown["run"]) == [r["id"][:8] for r in runs]  # the short id; the full one in the details
    table = next(df.value for df in at.dataframe if "run_id" in df.value.columns)
    assert list(table["run_id"]) == [r["id"] for r in runs]
    assert list(table["carbon_kg"]) == pytest.approx([r["carbon"]["total_kg"]["value"] for r in runs])
    assert list(shown["carbon_kg"]) == [format_range(r["carbon"]["total_kg"]["value"], r["carbon"]["total_kg"]["low"],
                                                     r["carbon"]["total_kg"]["high"], "carbon_kg") for r in runs]
    assert "host" in table.columns
    assert f"{len(runs):,} runs match" in _texts(at)
    # filter by model and page through
    at.selectbox(key="runs_model").select("org/base").run()
    assert list(at.dataframe[0].value["model"]) == ["org/base", "org/base"]
    figures = next(df.value for df in at.dataframe if "figure" in df.value.columns)
    assert {"Energy, GPU", "Energy, CPU", "Energy, RAM", "Carbon, total"} <= set(figures["figure"])
    factors = next(df.value for df in at.dataframe if "source" in df.value.columns)
    assert factors.iloc[0]["source"].startswith("Ember")
    assert len(at.get("plotly_chart")) >= 2  # energy split and power trace

    public = _page("runs", filled_url, monkeypatch, public=True)
    everything = "\n".join(df.value.to_csv() for df in public.dataframe) + _texts(public)
    assert all("host" not in df.value.columns for df in public.dataframe)
    assert "secret-host" not in everything and "4242" not in everything


def test_compare_page(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_DASHBOARD_DB", filled_url)
    at = AppTest.from_file(str(PAGES / "views" / "compare.py"), default_timeout=60).run()
    at.multiselect(key="compare_models").set_value(["org/base", "org/base-chat"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # the unrounded columns sit in the tables' Details expander
    table = next(df.value for df in at.dataframe if "family_carbon_kg_low" in df.value.columns).set_index("model")
    fam = json.loads(_cli_json("rollup", "org/base", "--json", "--db", filled_url))
    up = json.loads(_cli_json("rollup", "org/base-chat", "--scope", "upstream", "--json", "--db", filled_url))
    assert table.loc["org/base", "family_carbon_kg"] == pytest.approx(fam["carbon_kg"]["value"])
    assert table.loc["org/base-chat", "upstream_carbon_kg"] == pytest.approx(up["carbon_kg"]["value"])
    assert table.loc["org/base", "own_energy_kwh"] == pytest.approx(120.0)
    # 0.2 kWh over 4,000 inferences = 50 Wh per 1,000
    assert table.loc["org/base-chat", "wh_per_1000_inferences"] == pytest.approx(50.0)


def test_regions_page_what_if_and_map(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.convert import footprint

    at = _page("regions", filled_url, monkeypatch)
    assert at.text_input(key="regions_energy").value == "187.5 kWh"  # the store's recorded total
    at.multiselect(key="regions_countries").set_value(["FRA", "POL"]).run()
    frames = [df.value for df in at.dataframe]
    what_if = next(f for f in frames if "place" in f.columns and "carbon_kg_low" in f.columns).set_index("place")
    assert what_if.loc["FRA", "carbon_kg"] == pytest.approx(footprint(187.5, country="FRA").carbon.total_kg.value)
    assert what_if.loc["FRA", "carbon_kg"] < what_if.loc["POL", "carbon_kg"]
    countries = next(f for f in frames if "runs" in f.columns and "country" in f.columns).set_index("country")
    assert countries.loc["USA", "runs"] == 6 and countries.loc["FRA", "runs"] == 2


def test_methodology_lists_factor_tables_with_sources(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.record.report import QUALITY_MEANING

    at = _page("methodology", filled_url, monkeypatch)
    tiers, *factor_frames = [df.value for df in at.dataframe]
    assert dict(zip(tiers["tier"], tiers["meaning"], strict=True)) == {q.value: m for q, m in QUALITY_MEANING.items()}
    assert len(factor_frames) >= 3
    assert all("source" in df.columns for df in factor_frames)
    assert "cloud-regions.csv" in _texts(at)
    # Every convention is stated with its source, as in the README's methodology section.
    from dia import methodology

    shown = "\n".join(m.value for m in at.markdown)
    assert methodology.markdown_list() in shown


def test_app_entry_point_and_empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.record.store import Store

    url = f"sqlite:///{tmp_path}/empty.sqlite"
    Store(url).close()
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    at = AppTest.from_file(str(PAGES / "app.py"), default_timeout=60).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("This store is empty" in i.value for i in at.info)


def test_public_store_is_read_only(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.dashboard._data import open_store

    from dia.errors import StoreError

    store = open_store(filled_url, public=True)
    assert store.read_only
    with pytest.raises(StoreError, match="read-only"):
        store.add_edge("a/b", "c/d", "finetune")
    store.close()


def test_family_timeline_equals_aggregate_timeline(filled_url: str) -> None:
    from dia.dashboard._data import family_timeline, open_store

    from dia.aggregate.timeline import timeline

    store = open_store(filled_url, public=True)
    families = ["org/base", "other/root"]
    expected = [p.model_dump() for p in timeline(families, store=store)]
    got = sorted(family_timeline(store, families), key=lambda p: (p["date"], p["model_id"]))
    assert [(p["date"], p["model_id"], p["member"]) for p in got] == [(p["date"], p["model_id"], p["member"]) for p in expected]
    assert [p["carbon_kg"] for p in got] == pytest.approx([p["carbon_kg"] for p in expected])
    # thinned: at most max_points per family, the final total exact
    thin = [p for p in family_timeline(store, ["org/base"], max_points=2) if p["model_id"] == "org/base"]
    assert len(thin) <= 3 and thin[-1]["carbon_kg"] == pytest.approx(expected_last(expected, "org/base"))
    store.close()


def expected_last(points: list[dict[str, object]], family: str) -> float:
    return float([p["carbon_kg"] for p in points if p["model_id"] == family][-1])  # type: ignore[arg-type]


def test_public_mode_shows_no_store_location(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = filled_url.removeprefix("sqlite:///")
    for page in ("overview", "lineage", "compare", "regions"):
        at = _page(page, filled_url, monkeypatch, public=True)
        shown = _texts(at) + "".join(c.value for c in at.caption) + "".join(m.value for m in at.markdown)
        assert path not in shown and "dash.sqlite" not in shown
    # The store is named once, in the sidebar of the whole app: public mode says only that.
    for public, expected in ((True, "store: public, read-only"), (False, "dash.sqlite")):
        monkeypatch.setenv("DIA_DASHBOARD_DB", filled_url)
        monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "1" if public else "0")
        app = AppTest.from_file(str(PAGES / "app.py"), default_timeout=60)
        app.run()
        assert not app.exception
        sidebar = " ".join(c.value for c in app.sidebar.caption)
        assert expected in sidebar
        if public:
            assert path not in sidebar and "dash.sqlite" not in sidebar
        # and only there: the page itself no longer repeats it
        assert "dash.sqlite" not in _texts(app) + "".join(c.value for c in app.main.caption)
