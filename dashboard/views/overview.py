"""Overview: store-wide totals with their evidence (coverage and quality), the families with
data (the worked example first when the store has it) and the cumulative footprint of any
family over time (the rebound view), undated estimates noted apart."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from dia.dashboard import _data, _ui

from dia.show import axis_scale, evidence, format_count, format_figure, format_value, quality_help
from dia.show.format import format_share

with _ui.guard():
    _ui.header("Overview", "What the recorded model families have cost, and how sure we are.")
    url, public = _data.db_url(), _data.is_public()
    ov = _ui.overview(url, public)

    if not ov.runs and not ov.models:
        st.info("This store is empty. Record runs with `dia.track(...)`, import reports with "
                "`dia import`, or try `dia demo`.")
        st.stop()

    st.subheader("Production footprint (all models)")
    ev = evidence(ov.models, ov.models_with_report, ov.carbon_by_quality, noun="model")
    _ui.headline(ov.totals, ev)
    use = [format_figure(ov.use_totals[q], q) for q in ("energy_kwh", "carbon_kg")]
    st.caption(f"{format_count(ov.runs)} runs over {format_count(ov.models)} models. Use (inference and "
               f"evaluation) is counted apart and not in these totals: {use[0]}, {use[1]}.")

    # A one-tier mix says nothing a sentence does not (the evidence line above): a bar only
    # when there is a mix to see, each tier defined in the tooltip.
    if len([q for q, c in ov.carbon_by_quality.items() if c > 0]) >= 2:
        st.subheader("Quality mix of the carbon", help=quality_help(list(ov.carbon_by_quality)))
        total = sum(ov.carbon_by_quality.values())
        mix = go.Figure()
        for tier, carbon in ov.carbon_by_quality.items():
            if carbon <= 0:
                continue
            share = format_share(carbon / total)
            mix.add_trace(go.Bar(
                x=[carbon / total], y=["carbon"], orientation="h", name=_data.safe(f"{tier} {share}"),
                marker_color=_data.QUALITY_COLOURS.get(tier, _data.OTHER_COLOUR),
                text=[_data.safe(f"{tier} {share}")], textposition="inside",
                hovertext=[_data.safe(f"{tier}: {format_value(carbon, 'carbon_kg')} ({share}), "
                                      f"{format_count(ov.runs_by_quality.get(tier, 0))} runs")],
                hoverinfo="text"))
        mix.update_layout(barmode="stack", height=150, xaxis=dict(tickformat=".0%", range=[0, 1]),
                          yaxis=dict(visible=False))
        _ui.chart(mix, key="overview_mix")

    st.subheader("Families with data" if ov.with_data else "Families")
    if ov.featured:
        st.caption(_ui.markdown_text(f"{ov.featured} (the worked example) first, then the families with a "
                                     "report, largest carbon first. Coverage: members that reported."))
    else:
        st.caption("Families with a report first, largest carbon first. Coverage: members that reported.")
    fam = pd.DataFrame(ov.families)
    if not fam.empty:
        fam.insert(1, "reported", [f"{format_count(w)} of {format_count(m)}"
                                   for w, m in zip(fam["with_report"], fam["members"], strict=True)])
        _ui.figure_table(fam, figures={"carbon_kg": "carbon_kg", "energy_kwh": "energy_kwh", "water_l": "water_l"},
                         key="overview_families", pinned="family", shown=["reported", "not_disclosed"],
                         file_name="families.csv", pinned_width=_ui.id_column_width(fam["family"]))
    hidden = len(ov.family_ids) - len(ov.families)
    if hidden > 0:
        st.caption(f"{format_count(hidden)} more families: search them in the timeline below or on the Lineage page.")

    st.subheader("Cumulative footprint over time")
    st.caption("Each family's running total of carbon: derivatives piling up on top of their base model.")
    default = [ov.featured] if ov.featured else ov.with_data[:3]
    picked = st.multiselect("Families (type to search)", ov.family_ids, default=default, key="overview_families",
                            placeholder="Choose families")
    points = _ui.timeline(url, public, tuple(picked))
    undated = _ui.undated(url, public, tuple(picked))
    if points:
        tl = pd.DataFrame(points)
        scale = axis_scale(tl["carbon_kg"], "carbon_kg")
        tl["carbon"] = tl["carbon_kg"] * scale.factor
        tl["carbon_text"] = [format_value(v, "carbon_kg") if v is not None and not pd.isna(v) else "not disclosed"
                             for v in tl["carbon_kg"]]
        # Plotly renders a subset of HTML in legends and hovers: model ids go in escaped.
        tl["member"] = tl["member"].map(_data.safe)
        tl["family"] = tl["model_id"].map(_data.safe)
        fig = px.line(tl, x="date", y="carbon", color="family", line_shape="hv", markers=True,
                      custom_data=["member", "carbon_text"],
                      labels={"carbon": f"cumulative carbon ({scale.unit})", "date": "date", "family": "family"})
        fig.update_traces(hovertemplate="%{x|%Y-%m-%d}<br>%{customdata[1]} so far<br>added by %{customdata[0]}"
                                        "<extra>%{fullData.name}</extra>")
        fig.update_layout(height=360)
        _ui.chart(fig, key="overview_timeline")
    elif picked and not undated:
        st.info("No production runs in the selected families yet.")
    undated_carbon = {f: sums["carbon_kg"] for f, sums in undated.items() if sums["carbon_kg"] is not None}
    if undated_carbon:
        # Undated estimates are plotted too, on their own "date unknown" axis: a date would be invented.
        unit = axis_scale(list(undated_carbon.values()), "carbon_kg")
        bars = go.Figure(go.Bar(
            x=[unit.apply(v) for v in undated_carbon.values()], y=[_data.safe(f) for f in undated_carbon],
            orientation="h", name="date unknown", marker_color=_data.OTHER_COLOUR,
            text=[format_value(v, "carbon_kg") for v in undated_carbon.values()], textposition="auto",
            hovertext=[_data.safe(f"{f}: {format_value(v, 'carbon_kg')}, date unknown") for f, v in undated_carbon.items()],
            hoverinfo="text"))
        bars.update_layout(height=80 + 40 * len(undated_carbon), showlegend=False,
                           title=dict(text="Date unknown", x=0, font=dict(size=14)),
                           xaxis=dict(title=f"carbon ({unit.unit})"), yaxis=dict(automargin=True))
        _ui.chart(bars, key="overview_undated")
    for family, sums in undated.items():
        figure = (format_value(sums["carbon_kg"], "carbon_kg") if sums["carbon_kg"] is not None
                  else "carbon not disclosed")
        where = "not on the time axis" if points else "so nothing to plot over time"
        st.caption(_ui.markdown_text(f"Date unknown: {family} has {figure} from {format_count(sums['runs'])} "
                                     f"run(s) with no date (published estimates, typically), {where}."))
