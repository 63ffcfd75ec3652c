"""Issue 17 on the Overview and Lineage pages: headlines with their evidence, the families
with data (the worked example) first, a timeline that can reach every family and says what
it cannot date, and a lineage graph people can read (left to right, labels, arrows, fixed
relation colours, collapsed sibling groups, the model and scope in the URL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import run_report

pytest.importorskip("streamlit")
from dia.dashboard import _data
from streamlit.testing.v1 import AppTest

from dia.demo.run import PUBLISHED_ROOT
from dia.record.report import Interval
from dia.record.store import Store
from dia.show import evidence, format_figure, format_range, format_value

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "views"


def _page(name: str, url: str, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    monkeypatch.setenv("DIA_DASHBOARD_PUBLIC", "0")
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    _no_error(at)
    return at


def _no_error(at: AppTest) -> None:
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _shown(at: AppTest) -> str:
    """Every text the page shows (captions, Markdown, alerts, metric labels and values)."""
    parts = [c.value for c in at.caption] + [m.value for m in at.markdown] + [t.value for t in at.text]
    parts += [w.value for w in [*at.warning, *at.info]] + [f"{m.label}: {m.value}" for m in at.metric]
    return "\n".join(parts)


def _badges(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "-badge[" in m.value]


def _table(at: AppTest, column: str) -> list[object]:
    """The first shown table with ``column`` (the figure table, before its details)."""
    return list(next(df.value for df in at.dataframe if column in df.value.columns)[column])


def _charts(at: AppTest) -> list[dict[str, object]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _run(model: str, carbon: float, *, parents: tuple[tuple[str, str], ...] = (), quality: str = "estimated",
         dated: bool = True, day: int = 0):
    from datetime import datetime, timedelta, timezone

    start = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=day) if dated else None
    return run_report(model, energy_kwh=(carbon * 2, carbon, carbon * 4), quality=quality,
                      carbon_kg=(carbon, carbon / 3, carbon * 3), water_l=carbon * 5, parents=parents,
                      kind="pretraining" if not parents else "finetuning", started_at=start)


@pytest.fixture
def families_url(tmp_path: Path) -> str:
    """The worked example with the smallest carbon, a big third-party base, a family with
    more members but no report, and 11 small families more (past the top ten)."""
    url = f"sqlite:///{tmp_path}/families.sqlite"
    with Store(url) as store:
        store.save_runs([
            _run(PUBLISHED_ROOT, 1.5, day=3),
            _run("third/base", 240.0, day=1),
            *[_run(f"small/f{i:02d}", 2.0 + i, day=5 + i) for i in range(11)],
        ])
        # The published estimate of a member: no run date, no card date.
        store.save_runs([_run(f"{PUBLISHED_ROOT}-ft", 0.4, parents=((PUBLISHED_ROOT, "finetune"),), dated=False)])
        for i in range(6):
            store.add_edge(f"silent/child{i}", "silent/base", "finetune")
    return url


@pytest.fixture
def siblings_url(tmp_path: Path) -> str:
    """52 members: a base and 51 fine-tunes of it, two of them reported."""
    url = f"sqlite:///{tmp_path}/siblings.sqlite"
    with Store(url) as store:
        for i in range(51):
            store.add_edge(f"sib/ft-{i:02d}", "sib/base", "finetune")
        store.save_runs([_run("sib/ft-07", 3.0, parents=(("sib/base", "finetune"),), quality="measured"),
                         _run("sib/ft-33", 1.0, parents=(("sib/base", "finetune"),), quality="measured", day=2)])
    return url


# -- Overview ---------------------------------------------------------------------------------------

def test_overview_headline_uses_the_formatter_and_the_badge_follows_coverage(
        filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ov = _data.overview(_data.open_store(filled_url, public=True))
    at = _page("overview", filled_url, monkeypatch)
    m = _metrics(at)
    for q, label in (("energy_kwh", "Energy"), ("carbon_kg", "Carbon"), ("water_l", "Water")):
        figure = ov.totals[q]
        assert figure is not None
        text = format_range(figure.value, figure.low, figure.high, q)
        assert m[label] == text.partition(" (")[0]  # "158 kWh", not "157.7"
        assert f"range {text.partition(' (')[2][:-1]}" in _shown(at)
    assert "–" in _shown(at) and " - " not in "\n".join(c.value for c in at.caption if c.value.startswith("range"))
    # 8 models, 6 with a production run: a lower bound, said so
    assert _badges(at) == [":orange-badge[lower bound: 6 of 8 models reported]"]
    assert "6 of 8 models" in _shown(at)


def test_all_estimated_store_says_has_an_estimate_and_all_reported(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/est.sqlite"
    with Store(url) as store:
        store.save_runs([_run("e/a", 3.0), _run("e/b", 1.0, parents=(("e/a", "finetune"),), day=1)])
    at = _page("overview", url, monkeypatch)
    assert "2 of 2 models have an estimate (no measurement or report)" in _shown(at)
    assert "disclosed a footprint" not in _shown(at)
    assert _badges(at) == [":blue-badge[all 2 models reported]"]
    # one tier only: no single-slice chart of it (the sentence says it)
    assert not [c for c in _charts(at) if any(t.get("type") in ("pie", "bar") for t in c["data"])]


def test_badge_says_unknown_when_no_model_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/none.sqlite"
    with Store(url) as store:
        store.add_edge("n/child", "n/base", "finetune")
    at = _page("overview", url, monkeypatch)
    assert _badges(at) == [":gray-badge[unknown: none of 2 models reported]"]
    assert _metrics(at)["Carbon"] == "not disclosed"


def test_quality_mix_is_a_bar_with_tier_definitions_when_there_are_tiers(
        filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("overview", filled_url, monkeypatch)
    bars = [c for c in _charts(at) if c["data"] and all(t.get("type") == "bar" for t in c["data"])]
    assert bars and {t["name"].split()[0] for t in bars[0]["data"]} >= {"measured", "sampled", "estimated"}
    assert not any(t.get("type") == "pie" for c in _charts(at) for t in c["data"])
    helps = [h.help or "" for h in at.get("subheader") if hasattr(h, "help")]  # type: ignore[attr-defined]
    shown = "\n".join(helps) + "\n".join(str(el.proto) for el in at.get("heading"))
    assert "measured:" in shown and "estimated:" in shown


def test_families_with_data_first_and_the_worked_example_leads(families_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("overview", families_url, monkeypatch)
    shown = _table(at, "family")
    # the worked example has the smallest carbon but leads; then by carbon; no-data last or cut
    assert shown[0] == PUBLISHED_ROOT and shown[1] == "third/base"
    assert "silent/base" not in shown[:10]
    carbon = _table(at, "carbon_kg")
    assert carbon[1] == format_figure(Interval(value=240.0, low=80.0, high=720.0), "carbon_kg")
    assert "2 of 2" in _table(at, "reported")  # the worked example: base and its fine-tune


def test_without_the_worked_example_families_with_data_lead_by_carbon(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plain.sqlite"
    with Store(url) as store:
        # a family that reported energy but no carbon: has data, though its carbon sorts as 0
        store.save_runs([_run("a/small", 1.0), _run("b/big", 50.0), run_report("c/energy-only", energy_kwh=5.0)])
        for i in range(30):  # many members, none reported: used to tie at 0 carbon and win on members
            store.add_edge(f"z/child{i}", "z/many", "finetune")
    ov = _data.overview(Store(url, read_only=True))
    assert [f["family"] for f in ov.families] == ["b/big", "a/small", "c/energy-only", "z/many"]
    assert ov.featured is None and ov.with_data == ["b/big", "a/small", "c/energy-only"]


def test_timeline_searches_every_family_and_defaults_to_the_worked_example(
        families_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("overview", families_url, monkeypatch)
    pick = at.multiselect(key="overview_families")
    assert pick.value == [PUBLISHED_ROOT]
    # every family can be searched, not only the ten in the table
    assert len(pick.options) == 14 and {"small/f00", "silent/base"} <= set(pick.options)
    assert not any("No dated" in s or "No production runs" in s for s in _shown(at).splitlines())
    lines = [c for c in _charts(at) if any(t.get("mode", "").startswith("lines") for t in c["data"])]
    assert lines, "the default selection plots a curve"


def test_timeline_notes_undated_estimates_as_date_unknown(families_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("overview", families_url, monkeypatch)
    notes = [c.value for c in at.caption if c.value.startswith("Date unknown")]
    assert len(notes) == 1 and format_value(0.4, "carbon_kg") in notes[0] and "1 run(s)" in notes[0]
    # and plotted, on its own "date unknown" chart (never at an invented date)
    unknown = [t for c in _charts(at) for t in c["data"] if t.get("name") == "date unknown"]
    assert len(unknown) == 1 and unknown[0]["y"] == [PUBLISHED_ROOT]
    assert unknown[0]["text"] == [format_value(0.4, "carbon_kg")]
    # the undated total is the undated run's own figure, for that family only (no date is invented)
    undated = _data.family_undated(Store(families_url, read_only=True), [PUBLISHED_ROOT, "third/base"])
    assert list(undated) == [PUBLISHED_ROOT] and undated[PUBLISHED_ROOT]["carbon_kg"] == pytest.approx(0.4)


def test_timeline_default_on_the_shared_store_is_the_families_with_data(filled_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("overview", filled_url, monkeypatch)
    assert at.multiselect(key="overview_families").value == ["org/base", "other/root"]


# -- dag_layout (pure) -------------------------------------------------------------------------------

def _layout(url: str, model: str, scope: str = "family", **kw: int) -> dict[str, object]:
    store = _data.open_store(url, public=True)
    graph = _data.graph_of(store)
    return _data.dag_layout(graph, _data.family_rollup(store, model, scope, graph=graph), **kw)


def test_upstream_ancestors_are_left_of_the_model_and_edges_run_parent_to_child(filled_url: str) -> None:
    layout = _layout(filled_url, "org/merged", "upstream")
    pos = layout["pos"]
    assert pos["org/base"][0] < pos["org/base-chat"][0] < pos["org/merged"][0]
    assert pos["org/base-lora"][0] < pos["org/merged"][0]
    assert ("org/base-chat", "org/merged", "merge") in layout["edges"]
    assert ("org/base", "org/base-lora", "adapter") in layout["edges"]
    for parent, child, _ in layout["edges"]:
        assert pos[parent][0] < pos[child][0]
    family = _layout(filled_url, "org/base")
    for parent, child, _ in family["edges"]:
        assert family["pos"][parent][0] < family["pos"][child][0]


def test_nodes_carry_short_labels_and_full_ids_in_the_hover(filled_url: str) -> None:
    layout = _layout(filled_url, "org/base")
    nodes = {n.key: n for n in layout["nodes"]}
    assert nodes["org/base-lora"].label == "base-lora"
    xss = nodes["<script>alert(1)</script>"]
    assert "<script>" not in xss.label and "<script>" not in xss.hover and "&lt;script&gt;" in xss.hover
    assert all(n.label for n in nodes.values())
    assert _data.short_label("org/" + "x" * 40).count("…") == 1 and len(_data.short_label("org/" + "x" * 40)) == 22


def test_large_sibling_groups_collapse_into_one_node(siblings_url: str) -> None:
    layout = _layout(siblings_url, "sib/base")
    nodes = layout["nodes"]
    groups = [n for n in nodes if n.model_id is None]
    assert len(groups) == 1 and groups[0].label == "+49 fine-tunes, none reported" and groups[0].count == 49
    # the reported ones stay their own nodes; every member is drawn by exactly one node
    assert {n.model_id for n in nodes if n.model_id} == {"sib/base", "sib/ft-07", "sib/ft-33"}
    assert sum(n.count for n in nodes) == layout["total"] == 52 == layout["shown"]
    assert ("sib/base", groups[0].key, "finetune") in layout["edges"]
    # small groups stay expanded
    assert not [n for n in _layout(siblings_url, "sib/base", collapse_over=60)["nodes"] if n.model_id is None]


def test_relation_colours_are_fixed_across_views(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    colours: list[dict[str, str]] = []
    for model in ("org/base", "other/root"):
        at = _page("lineage", filled_url, monkeypatch, model=model)
        dag = next(c for c in _charts(at) if any(t.get("mode") == "markers+text" for t in c["data"]))
        colours.append({t["name"]: t["marker"]["line"]["color"] for t in dag["data"] if t.get("mode") == "markers+text"})
    assert colours[0]["finetune"] == colours[1]["finetune"] == _data.RELATION_COLOURS["finetune"]
    assert colours[0]["adapter"] == _data.RELATION_COLOURS["adapter"]


# -- Lineage page ------------------------------------------------------------------------------------

def test_lineage_headline_badge_is_a_lower_bound_for_silent_members(siblings_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("lineage", siblings_url, monkeypatch, model="sib/base")
    assert _badges(at) == [f":orange-badge[{evidence(52, 2).badge}]"]
    assert "lower bound: 2 of 52 members reported" in _badges(at)[0]
    assert _metrics(at)["Cumulative carbon"] == format_value(4.0, "carbon_kg")
    labels = [t for c in _charts(at) for t in c["data"] if t.get("mode") == "markers+text"]
    assert "+49 fine-tunes, none reported" in [x for t in labels for x in t["text"]]


def test_no_imputation_warning_when_nothing_was_imputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/all.sqlite"
    with Store(url) as store:
        store.save_runs([_run("a/base", 3.0), _run("a/ft", 1.0, parents=(("a/base", "finetune"),), day=1)])
    monkeypatch.setenv("DIA_DASHBOARD_DB", url)
    at = AppTest.from_file(str(PAGES / "lineage.py"), default_timeout=60).run()
    at.toggle(key="lineage_impute").set_value(True).run()
    _no_error(at)
    assert not at.warning and "Imputed 0" not in _shown(at) and "Imputed carbon" not in _metrics(at)
    assert "Nothing to estimate" in _shown(at)


def test_imputed_total_is_its_own_block_with_the_ratio(siblings_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _data.open_store(siblings_url, public=True)
    expected = _data.family_rollup(store, "sib/base", impute=True)
    assert expected.imputed_totals is not None and expected.carbon_kg is not None
    ratio = expected.imputed_totals["carbon_kg"].value / expected.carbon_kg.value
    monkeypatch.setenv("DIA_DASHBOARD_DB", siblings_url)
    at = AppTest.from_file(str(PAGES / "lineage.py"), default_timeout=60)
    at.query_params["model"] = "sib/base"
    at.run()
    at.toggle(key="lineage_impute").set_value(True).run()
    _no_error(at)
    m = _metrics(at)
    assert m["Cumulative carbon"] == format_value(4.0, "carbon_kg")  # never added into the totals
    assert m["Imputed carbon"] == format_value(expected.imputed_totals["carbon_kg"].value, "carbon_kg")
    assert m["Imputed vs reported"] == f"{ratio:.2g}x"
    assert "NOT in the totals above" in _shown(at)


def test_model_and_scope_round_trip_through_the_url(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("lineage", filled_url, monkeypatch, model="org/merged", scope="upstream")
    assert at.selectbox(key="lineage_model").value == "org/merged"
    assert at.radio(key="lineage_scope").value == "upstream"
    assert _metrics(at)["Cumulative carbon"] == format_value(
        _data.family_rollup(_data.open_store(filled_url, public=True), "org/merged", "upstream").carbon_kg.value,  # type: ignore[union-attr]
        "carbon_kg")
    at.selectbox(key="lineage_model").select("other/root").run()
    at.radio(key="lineage_scope").set_value("family").run()
    _no_error(at)
    assert at.query_params["model"] in ("other/root", ["other/root"])
    assert at.query_params["scope"] in ("family", ["family"])


def test_unknown_model_in_the_url_says_so(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("lineage", filled_url, monkeypatch, model="org/nope")
    assert any("No model 'org/nope'" in w.value.replace("\\", "") for w in at.warning)


def test_default_model_is_the_worked_example_when_present(families_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("lineage", families_url, monkeypatch)
    assert at.selectbox(key="lineage_model").value == PUBLISHED_ROOT


def test_a_clicked_node_becomes_the_selected_model(filled_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _page("lineage", filled_url, monkeypatch, model="org/base")
    dag = next(c for c in _charts(at) if any(t.get("mode") == "markers+text" for t in c["data"]))
    ids = [x for t in dag["data"] if t.get("mode") == "markers+text" for x in t["customdata"]]
    assert "org/base-chat" in ids  # the model id rides on each node for the click
    at.session_state["lineage_clicked"] = "org/base-chat"  # what a click on that node stores
    at.run()
    _no_error(at)
    assert at.selectbox(key="lineage_model").value == "org/base-chat"
    assert at.query_params["model"] in ("org/base-chat", ["org/base-chat"])


def test_pinned_id_column_leaves_room_for_carbon_on_a_phone() -> None:
    from dia.dashboard._ui import id_column_width

    long_ids = ["InstaDeepAI/nucleotide-transformer-v2-50m-multi-species", "a/b"]
    # 390 px phone: about 358 px of table; the carbon cell "1.7 kg CO2e (0.56–4.2)" needs ~150 px
    assert id_column_width(long_ids) <= 358 - 150
    assert id_column_width(["a/b"]) < id_column_width(["org/a-longer-name"])  # short ids: no wasted width
