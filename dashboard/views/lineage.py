"""Lineage: one model's family (or ancestry) as a DAG, its cumulative totals with coverage,
the footprint by relation type and the member table (members without a report included)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from dia.dashboard import _data, _ui

with _ui.guard():
    _ui.header("Lineage", "A model's family tree, what each member cost, and how much of it is disclosed.")
    url, public = _data.db_url(), _data.is_public()
    families = _ui.overview(url, public).families
    model = _ui.pick_model("Model (type to search)", key="lineage_model",
                           default=families[0]["family"] if families else None)
    if model is None:
        st.stop()
    c1, c2, c3 = st.columns(3)
    scope = c1.radio("Scope", ["family", "upstream"], horizontal=True, key="lineage_scope",
                     help="family: the model and its unique descendants; upstream: the model and its unique ancestors")
    colour_by = c2.radio("Colour by", ["quality", "relation"], horizontal=True, key="lineage_colour")
    impute = c3.toggle("Show imputed values (apart)", value=False, key="lineage_impute",
                       help="priors for members without a report, never added to the disclosed totals")

    r = _ui.rollup(url, public, model, scope, impute)
    st.text(f"{model}: {scope}, {r.members:,} members, {r.with_report:,} with a report, coverage {r.coverage:.0%}")
    _ui.metric_row({q: getattr(r, q) for q, _, _ in _data.QUANTITIES},
                   prefix="Cumulative ", coverage=r.coverage_by_quantity)
    m1, m2 = st.columns(2)
    m1.metric("Members", f"{r.members:,}")
    m2.metric("Coverage", f"{r.coverage:.0%}")
    if r.imputed and r.imputed_totals is not None:
        it = r.imputed_totals
        st.warning(f"Imputed, NOT in the totals above: {_data.fmt_interval(it['carbon_kg'].value, it['carbon_kg'].low, it['carbon_kg'].high)} kgCO2e, "
                   f"{_data.fmt_interval(it['energy_kwh'].value, it['energy_kwh'].low, it['energy_kwh'].high)} kWh "
                   "for members that disclosed nothing.")
    if any(iv is not None and iv.value for iv in r.use.values()):
        st.text(f"Use (inference and evaluation, not included): {_data.fmt_figure(r.use['energy_kwh'])} kWh, "
                f"{_data.fmt_figure(r.use['carbon_kg'])} kgCO2e")

    # -- the DAG -------------------------------------------------------------------------------------
    layout = _data.dag_layout(_ui.graph(), r)
    rows = {row.model_id: row for row in layout["rows"]}
    pos = layout["pos"]
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for a, b in layout["edges"]:
        edge_x += [pos[a][0], pos[b][0], None]
        edge_y += [pos[a][1], pos[b][1], None]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", line=dict(width=0.6, color="#bbbbbb"),
                             hoverinfo="skip", showlegend=False))
    max_carbon = max((row.carbon_kg.value for row in rows.values() if row.carbon_kg), default=0.0) or 1.0
    groups: dict[str, list[str]] = {}
    for mid, row in rows.items():
        groups.setdefault(row.quality if colour_by == "quality" else (row.relation or "?"), []).append(mid)
    palette = px.colors.qualitative.Set2
    for i, (name, ids) in enumerate(sorted(groups.items())):
        sizes = [8 + 32 * ((rows[m].carbon_kg.value if rows[m].carbon_kg else 0.0) / max_carbon) ** 0.5 for m in ids]
        hover = []
        for m in ids:
            row = rows[m]
            own = ", ".join(f"{_data.fmt(fig.value)} {unit}" if fig is not None else f"{name.lower()} {_data.NOT_DISCLOSED}"
                            for fig, name, unit in ((row.carbon_kg, "Carbon", "kgCO2e"), (row.energy_kwh, "Energy", "kWh"),
                                                    (row.water_l, "Water", "L"))) if row.has_report else "no report"
            if row.imputed_carbon_kg is not None:
                own += f" (imputed ~{_data.fmt(row.imputed_carbon_kg.value)} kgCO2e)"
            # Hover text is HTML-escaped: Plotly renders a subset of tags.
            hover.append(f"{_data.safe(m)}<br>{_data.safe(row.relation or '')}, depth {row.depth}<br>"
                         f"{own}<br>{row.runs} runs, {row.quality}")
        colour = _data.QUALITY_COLOURS.get(name) if colour_by == "quality" else palette[i % len(palette)]
        fig.add_trace(go.Scatter(x=[pos[m][0] for m in ids], y=[pos[m][1] for m in ids], mode="markers",
                                 name=_data.safe(name), hovertext=hover, hoverinfo="text",
                                 marker=dict(size=sizes, color=colour, line=dict(width=1, color="#333333"))))
    fig.update_layout(height=460, margin=dict(t=10, b=10, l=10, r=10), xaxis=dict(title="depth (hops)", dtick=1),
                      yaxis=dict(visible=False), legend_title_text=colour_by)
    st.plotly_chart(fig, width="stretch")
    if layout["shown"] < layout["total"]:
        st.text(f"Drawing {layout['shown']:,} of {layout['total']:,} members (the largest); the table lists all.")

    # -- by relation and members --------------------------------------------------------------------
    members = pd.DataFrame([{
        "model": row.model_id, "relation": row.relation or "", "depth": row.depth, "runs": row.runs,
        "has_report": row.has_report, "quality": row.quality,
        "energy_kwh": row.energy_kwh.value if row.energy_kwh else None,
        "carbon_kg": row.carbon_kg.value if row.carbon_kg else None,
        "carbon_kg_low": row.carbon_kg.low if row.carbon_kg else None,
        "carbon_kg_high": row.carbon_kg.high if row.carbon_kg else None,
        "water_l": row.water_l.value if row.water_l else None,
        # Empty figure cells: no report, or one that did not disclose it (named here), never 0.
        "not_disclosed": _data.not_disclosed({q: getattr(row, q) for q, _, _ in _data.QUANTITIES}) if row.has_report else "",
        **({"imputed_carbon_kg": row.imputed_carbon_kg.value if row.imputed_carbon_kg else None,
            "imputed_basis": row.imputed_basis or ""} if impute else {}),
    } for row in r.rows])
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Carbon by relation")
        # min_count=1: a relation whose members disclosed no carbon sums to "not disclosed", not 0.
        by_rel = members.groupby("relation", as_index=False).agg(
            carbon_kg=("carbon_kg", lambda s: s.sum(min_count=1)), members=("model", "count"))
        if by_rel["carbon_kg"].sum() > 0:
            tree = px.treemap(by_rel, path=[px.Constant("family"), "relation"], values="carbon_kg", hover_data=["members"])
            tree.update_layout(height=340, margin=dict(t=10, b=10, l=10, r=10))
            st.plotly_chart(tree, width="stretch")
        st.dataframe(by_rel, hide_index=True, width="stretch")
    with right:
        st.subheader("Members")
        st.dataframe(members, hide_index=True, width="stretch", height=420)
