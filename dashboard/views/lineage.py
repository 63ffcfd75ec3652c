"""Lineage: one model's family (or ancestry) as a DAG drawn left to right, its cumulative
totals with their evidence, imputed values kept apart, the footprint by relation and the
member table (members without a report included)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from dia.dashboard import _data, _ui

from dia.show import QUANTITIES, axis_scale, evidence, format_count, format_figure, format_value

SCOPES = ["family", "upstream"]

with _ui.guard():
    _ui.header("Lineage", "A model's family tree, what each member cost, and how much of it is disclosed.")
    url, public = _data.db_url(), _data.is_public()
    ov = _ui.overview(url, public)
    # A node clicked in the graph on the previous run: select it before the picker exists
    # (a widget's state cannot change once it is drawn).
    clicked = st.session_state.pop("lineage_clicked", None)
    if clicked:
        st.session_state["lineage_model"] = clicked
        st.query_params["model"] = clicked
    model = _ui.pick_model("Model (type to search)", key="lineage_model",
                           default=ov.featured or (ov.families[0]["family"] if ov.families else None))
    if model is None:
        st.stop()
    c1, c2, c3 = st.columns(3)
    scope = c1.radio("Scope", SCOPES, index=SCOPES.index(_ui.url_choice("scope", SCOPES, "family")),
                     horizontal=True, key="lineage_scope",
                     help="family: the model and its unique descendants; upstream: the model and its unique ancestors")
    if st.query_params.get("scope") != scope:
        st.query_params["scope"] = scope
    colour_by = c2.radio("Colour by", ["relation", "quality"], horizontal=True, key="lineage_colour")
    impute = c3.toggle("Estimate silent members (apart)", value=False, key="lineage_impute",
                       help="priors for members without a report, never added to the totals")

    r = _ui.rollup(url, public, model, scope, impute)
    what = "the model and its descendants" if scope == "family" else "the model and its ancestors"
    st.caption(_ui.markdown_text(f"{model}: {what}, {format_count(r.members)} member{'s' if r.members != 1 else ''}."))
    ev = evidence(r.members, r.with_report, r.by_quality)
    _ui.headline({q: getattr(r, q) for q, _, _ in QUANTITIES}, ev, prefix="Cumulative ",
                 coverage=r.coverage_by_quantity)

    # -- imputed: its own block, never in the totals -------------------------------------------------
    silent = r.members - r.with_report
    it = r.imputed_totals or {}
    imputed_carbon = it.get("carbon_kg")
    if impute and silent and imputed_carbon is not None and imputed_carbon.value > 0:
        with st.container(border=True):
            st.markdown(f"**Estimated for the {format_count(silent)} members without a report: "
                        "NOT in the totals above**")
            i1, i2, i3 = st.columns(3)
            i1.metric("Imputed carbon", format_value(imputed_carbon.value, "carbon_kg"),
                      help=f"prior by relation and hardware: {format_figure(imputed_carbon, 'carbon_kg')}")
            i2.metric("Reported carbon", format_figure(r.carbon_kg, "carbon_kg").partition(" (")[0])
            reported = r.carbon_kg.value if r.carbon_kg is not None else 0.0
            if reported > 0:
                ratio = imputed_carbon.value / reported
                words = (f"{ratio:.2g}x the reported total" if ratio >= 1
                         else f"{ratio:.0%} of the reported total".replace("%", " %"))
                i3.metric("Imputed vs reported", f"{ratio:.2g}x")
                if ratio >= 1:
                    st.warning(_ui.markdown_text(f"The imputed total is {words}: the reported figure is a lower "
                                                 "bound of what this family cost."))
                else:
                    st.caption(f"The imputed total is {words}.")
            else:
                i3.metric("Imputed vs reported", "no reported carbon")
            st.caption(f"Imputed energy {format_figure(it.get('energy_kwh'), 'energy_kwh')}, "
                       f"water {format_figure(it.get('water_l'), 'water_l')}.")
    elif impute:
        st.caption("Nothing to estimate: every member in scope has a report." if not silent
                   else "No prior fits the members without a report: nothing estimated.")
    if any(iv is not None and iv.value for iv in r.use.values()):
        st.caption(f"Use (inference and evaluation, not included): {format_figure(r.use['energy_kwh'], 'energy_kwh')}, "
                   f"{format_figure(r.use['carbon_kg'], 'carbon_kg')}.")

    # -- the DAG -------------------------------------------------------------------------------------
    layout = _data.dag_layout(_ui.graph(), r)
    nodes, pos = layout["nodes"], layout["pos"]
    fig = go.Figure()
    # Arrows parent -> child; past a few hundred, plain lines (annotations get slow).
    arrows = len(layout["edges"]) <= 300
    for parent, child, relation in layout["edges"]:
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        if arrows:
            fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                               showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.2, standoff=9,
                               startstandoff=9, arrowcolor=_data.relation_colour(relation), opacity=0.7)
        else:
            fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", hoverinfo="skip", showlegend=False,
                                     line=dict(width=0.6, color=_data.relation_colour(relation))))
    max_carbon = max((n.carbon_kg or 0.0 for n in nodes), default=0.0) or 1.0
    groups: dict[str, list] = {}
    for n in nodes:
        groups.setdefault(n.relation if colour_by == "relation" else n.quality, []).append(n)
    for name, members_ in sorted(groups.items()):
        colour = (_data.relation_colour(name) if colour_by == "relation"
                  else _data.QUALITY_COLOURS.get(name, _data.OTHER_COLOUR))
        # Marker AREA proportional to carbon (diameter ~ square root); no report: a small grey ring.
        sizes = [10 + 34 * math.sqrt((n.carbon_kg or 0.0) / max_carbon) if n.has_report else 10 for n in members_]
        fill = [colour if n.has_report else "#DDDDDD" for n in members_]
        fig.add_trace(go.Scatter(
            x=[n.x for n in members_], y=[n.y for n in members_], mode="markers+text",
            name=_data.safe(name or "selected model"), text=[n.label for n in members_], textposition="bottom center",
            textfont=dict(size=11), hovertext=[n.hover for n in members_], hoverinfo="text",
            customdata=[n.model_id or "" for n in members_],
            marker=dict(size=sizes, color=fill, line=dict(width=2, color=colour),
                        symbol=["square" if n.model_id is None else "circle" for n in members_])))
    depths = sorted({n.x for n in nodes})
    fig.update_layout(
        height=max(320, min(900, 60 * max((sum(1 for n in nodes if n.x == d) for d in depths), default=1) + 120)),
        xaxis=dict(title="hops from the selected model" + (" (ancestors to the left)" if scope == "upstream" else ""),
                   tickvals=depths, ticktext=[str(abs(int(d))) for d in depths], zeroline=False,
                   range=[min(depths, default=0) - 0.6, max(depths, default=0) + 0.6]),
        yaxis=dict(visible=False), legend_title_text=colour_by, dragmode=False)
    event = _ui.chart(fig, key=f"lineage_dag_{model}_{scope}", select=True)
    st.caption("Arrows run from parent to child. Circle area is proportional to the member's own carbon; "
               "grey rings: no report; squares: collapsed groups of siblings. Click a model to open it.")
    if layout["shown"] < layout["total"]:
        st.caption(f"Drawing {format_count(layout['shown'])} of {format_count(layout['total'])} members "
                   "(the largest); the table lists all.")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    target = next((p.get("customdata") for p in points if p.get("customdata")), None)
    if isinstance(target, list):
        target = target[0] if target else None
    if target and target != model:
        st.session_state["lineage_clicked"] = target
        st.rerun()

    # -- by relation and members --------------------------------------------------------------------
    members = pd.DataFrame([{
        "model": row.model_id, "relation": row.relation or "", "depth": row.depth, "runs": row.runs,
        "has_report": row.has_report, "quality": row.quality,
        **{k: (getattr(getattr(row, q), a) if getattr(row, q) is not None else None)
           for q, _, _ in QUANTITIES for k, a in ((q, "value"), (f"{q}_low", "low"), (f"{q}_high", "high"))},
        # Empty figure cells: no report, or one that did not disclose it (named here), never 0.
        "not_disclosed": _data.not_disclosed({q: getattr(row, q) for q, _, _ in QUANTITIES}) if row.has_report else "",
        **({"imputed_carbon_kg": row.imputed_carbon_kg.value if row.imputed_carbon_kg else None,
            "imputed_carbon_kg_low": row.imputed_carbon_kg.low if row.imputed_carbon_kg else None,
            "imputed_carbon_kg_high": row.imputed_carbon_kg.high if row.imputed_carbon_kg else None,
            "imputed_basis": row.imputed_basis or ""} if impute else {}),
    } for row in r.rows])

    st.subheader("Carbon by relation")
    # min_count=1: a relation whose members disclosed no carbon sums to "not disclosed", not 0.
    by_rel = members.groupby("relation", as_index=False).agg(
        carbon_kg=("carbon_kg", lambda s: s.sum(min_count=1)),
        carbon_kg_low=("carbon_kg_low", lambda s: s.sum(min_count=1)),
        carbon_kg_high=("carbon_kg_high", lambda s: s.sum(min_count=1)), members=("model", "count"),
        with_report=("has_report", "sum"))
    by_rel["relation"] = by_rel["relation"].replace("", "selected model")
    charted = by_rel.dropna(subset=["carbon_kg"])
    if not charted.empty and charted["carbon_kg"].sum() > 0:
        scale = axis_scale(charted["carbon_kg"], "carbon_kg")
        bars = go.Figure()
        for _, row in charted.sort_values("carbon_kg").iterrows():
            rel = "" if row["relation"] == "selected model" else row["relation"]
            bars.add_trace(go.Bar(
                x=[row["carbon_kg"] * scale.factor], y=[_data.safe(row["relation"])], orientation="h",
                name=_data.safe(row["relation"]), marker_color=_data.relation_colour(rel), showlegend=False,
                hovertext=[_data.safe(f"{row['relation']}: {format_value(row['carbon_kg'], 'carbon_kg')}, "
                                      f"{int(row['with_report'])} of {int(row['members'])} members reported")],
                hoverinfo="text"))
        bars.update_layout(height=80 + 36 * len(charted), xaxis_title=f"own carbon ({scale.unit})")
        _ui.chart(bars, key="lineage_by_relation")
    by_rel["reported"] = [f"{int(w)} of {int(m)}" for w, m in zip(by_rel["with_report"], by_rel["members"], strict=True)]
    _ui.figure_table(by_rel, figures={"carbon_kg": "carbon_kg"}, key="lineage_relations", pinned="relation",
                     shown=["reported"], file_name="by_relation.csv")

    st.subheader("Members")
    _ui.figure_table(members, figures={"carbon_kg": "carbon_kg", "energy_kwh": "energy_kwh", "water_l": "water_l",
                                       **({"imputed_carbon_kg": "carbon_kg"} if impute else {})},
                     key="lineage_members", shown=["relation", "depth", "runs", "has_report", "quality",
                                                   "not_disclosed", *(["imputed_basis"] if impute else [])],
                     file_name="members.csv", height=420, pinned_width=_ui.id_column_width(members["model"]))
