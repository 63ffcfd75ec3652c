"""Overview: store-wide totals with intervals, coverage, quality mix, the largest families and
the cumulative footprint of selected families over time (the rebound view)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from dia.dashboard import _data, _ui

with _ui.guard():
    _ui.header("Overview", "What the recorded model families have cost, and how sure we are.")
    url, public = _data.db_url(), _data.is_public()
    ov = _ui.overview(url, public)

    if not ov.runs and not ov.models:
        st.info("This store is empty. Record runs with `dia.track(...)`, import reports with "
                "`dia import`, or try `dia demo`.")
        st.stop()

    st.subheader("Production footprint (all models)")
    _ui.metric_row(ov.totals)
    a, b, c = st.columns(3)
    a.metric("Runs", f"{ov.runs:,}")
    b.metric("Models", f"{ov.models:,}")
    c.metric("Coverage", f"{ov.coverage:.0%}", help="models with at least one production run report / all known models")
    use_e, use_c = ov.use_totals["energy_kwh"], ov.use_totals["carbon_kg"]
    st.text(f"{ov.models_with_report:,} of {ov.models:,} models disclosed a footprint; "
            "use (inference and evaluation) is counted apart: "
            f"{_data.fmt(use_e.value) + ' kWh' if use_e else 'energy ' + _data.NOT_DISCLOSED}, "
            f"{_data.fmt(use_c.value) + ' kgCO2e' if use_c else 'carbon ' + _data.NOT_DISCLOSED}.")

    left, right = st.columns(2)
    with left:
        st.subheader("Quality mix")
        if ov.carbon_by_quality:
            mix = pd.DataFrame({"quality": list(ov.carbon_by_quality), "carbon_kg": list(ov.carbon_by_quality.values()),
                                "runs": [ov.runs_by_quality[q] for q in ov.carbon_by_quality]})
            fig = px.pie(mix, names="quality", values="carbon_kg", color="quality", hole=0.45,
                         color_discrete_map=_data.QUALITY_COLOURS, hover_data=["runs"])
            fig.update_layout(margin=dict(t=10, b=10, l=10, r=10), height=280)
            st.plotly_chart(fig, width="stretch")
            st.dataframe(mix, hide_index=True, width="stretch")
    with right:
        st.subheader("Largest families")
        fam = pd.DataFrame(ov.families)
        if not fam.empty:
            fam["coverage"] = (fam["coverage"] * 100).round(1)
            # Empty cells are figures no member disclosed (named in "not disclosed"), not zeros.
            st.dataframe(fam[["family", "members", "with_report", "coverage", "energy_kwh", "carbon_kg",
                              "carbon_kg_low", "carbon_kg_high", "water_l", "not_disclosed"]],
                         hide_index=True, width="stretch",
                         column_config={"coverage": st.column_config.NumberColumn("coverage %"),
                                        "not_disclosed": st.column_config.TextColumn("not disclosed")})

    st.subheader("Cumulative footprint over time")
    st.caption("Each family's running total of carbon: derivatives piling up on top of their base model.")
    choices = [f["family"] for f in ov.families]
    picked = st.multiselect("Families", choices, default=choices[:3], key="overview_families")
    points = _ui.timeline(url, public, tuple(picked))
    if points:
        tl = pd.DataFrame(points)
        # Plotly renders a subset of HTML in legends and hovers: model ids go in escaped.
        tl["member"] = tl["member"].map(_data.safe)
        tl["model_id"] = tl["model_id"].map(_data.safe)
        fig = px.line(tl, x="date", y="carbon_kg", color="model_id", line_shape="hv", hover_data=["member", "energy_kwh"],
                      labels={"carbon_kg": "cumulative kgCO2e", "model_id": "family"})
        fig.update_layout(height=360, margin=dict(t=10, b=10))
        st.plotly_chart(fig, width="stretch")
    elif picked:
        st.text("No dated production runs in the selected families.")
