"""Compare: several models side by side (own, upstream and family footprints, each with its
interval) for energy, carbon and water, and inference energy per 1,000 inferences."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from dia.dashboard import _data, _ui

from dia.show import QUANTITIES, axis_scale, format_range
from dia.show.format import format_share

SCOPES = (("own", "Own runs"), ("upstream", "With its ancestry (upstream)"), ("family", "With its family"))


# Rows per model in the bar chart: its name, then one bar per scope.
_ROWS = len(SCOPES) + 1


def _log_axis(log: bool) -> dict[str, object]:
    # Plain numbers on the ticks ("100", "2k" never; no "400µ"): the unit is in the title.
    if log:  # ticks at 1, 2, 5 per decade: readable on a phone
        return dict(type="log", tickformat="~g", exponentformat="none", dtick="D2")
    return dict(type="linear", tickformat="~g", exponentformat="none")


def named_rows(names: list[str], height_per_row: int) -> dict[str, object]:
    """Layout for horizontal bars whose model names sit on their own line above each group,
    full width: a long id squeezes neither the plot nor itself on a 390 px phone."""
    return dict(
        height=110 + height_per_row * _ROWS * len(names),
        yaxis=dict(showticklabels=False, autorange="reversed", range=None, zeroline=False, showgrid=False),
        annotations=[dict(x=0, xref="paper", y=i * _ROWS, yref="y", text=_data.safe(name), showarrow=False,
                          xanchor="left", yanchor="middle", align="left") for i, name in enumerate(names)])


def bar_chart(table: pd.DataFrame, quantity: str, *, log: bool) -> go.Figure:
    """Horizontal grouped bars, one group per model under its full name, one bar per scope in
    its fixed colour, low–high error bars, and one scaled unit in the axis title."""
    columns = [f"{scope}_{quantity}" for scope, _ in SCOPES]
    scale = axis_scale([v for c in columns for v in table[c].dropna()], quantity)
    fig = go.Figure()
    names = list(table["model"])
    for k, (scope, label) in enumerate(SCOPES):
        col = f"{scope}_{quantity}"
        value, low, high = table[col], table[f"{col}_low"], table[f"{col}_high"]
        fig.add_trace(go.Bar(
            y=[i * _ROWS + 1 + k for i in range(len(names))], x=value * scale.factor, name=label,
            orientation="h", width=0.85, marker_color=_data.SCOPE_COLOURS[scope],
            error_x=dict(type="data", symmetric=False, array=(high - value) * scale.factor,
                         arrayminus=(value - low) * scale.factor, thickness=1.2),
            # Plotly renders a subset of HTML: names and figures escaped
            customdata=[[_data.safe(m), _data.safe(format_range(v, lo, hi, quantity)) if pd.notna(v)
                         else "not disclosed"] for m, v, lo, hi in zip(names, value, low, high, strict=True)],
            hovertemplate="%{customdata[0]}<br>" + label + ": %{customdata[1]}<extra></extra>",
        ))
    unit_label = next(lbl for q, lbl, _ in QUANTITIES if q == quantity)
    fig.update_layout(barmode="overlay", xaxis=dict(title=f"{unit_label} ({scale.unit})", side="top",
                                                    **_log_axis(log)),
                      **named_rows(names, 22))
    return fig


def inference_chart(inf: pd.DataFrame) -> go.Figure:
    scale = axis_scale(inf["wh_per_1000_inferences"], "wh_per_1000_inferences")
    names = list(inf["model"])
    fig = go.Figure(go.Bar(
        y=[i * _ROWS + 1 for i in range(len(names))], x=inf["wh_per_1000_inferences"] * scale.factor,
        orientation="h", width=0.85, marker_color=_data.SCOPE_COLOURS["own"],
        customdata=[_data.safe(m) for m in names], hovertemplate="%{customdata}: %{x:.3g}<extra></extra>"))
    layout = named_rows(names, 14)
    fig.update_layout(xaxis=dict(title=scale.unit, side="top", **_log_axis(False)), **layout)
    return fig


with _ui.guard():
    _ui.header("Compare", "Models side by side: what each cost itself, with its ancestry, and with its family.")
    url, public = _data.db_url(), _data.is_public()
    ids = _ui.model_ids(url, public)
    if not ids:
        st.info("No models in this store yet.")
        st.stop()
    default = [f["family"] for f in _ui.overview(url, public).families[:3]] or ids[:2]
    picked = st.multiselect("Models (type to search)", ids, default=[m for m in default if m in ids], key="compare_models")
    if not picked:
        st.info("Pick one or more models to compare.")
        st.stop()
    totals = _ui.store().model_totals(picked)  # only the picked models: an index lookup, not a scan
    rows = []
    unreadable: list[BaseException] = []
    for mid in picked:
        own = totals.get(mid)
        scopes = {"own": own, "upstream": _ui.rollup(url, public, mid, "upstream", False),
                  "family": _ui.rollup(url, public, mid, "family", False)}
        try:
            intensity = _data.inference_intensity(_ui.store(), mid)
        except _data.READ_ERRORS as exc:  # one unreadable stored run: the rest of the row stays
            intensity = None
            unreadable.append(exc)
        row: dict[str, object] = {"model": mid, "own_runs": own.runs if own else 0}
        for scope, found in scopes.items():
            for q, _, _ in QUANTITIES:
                # None (not disclosed) where no run in scope disclosed it, never 0.
                figure = getattr(found, q) if found is not None else None
                if scope == "own" and found is not None and not found.discloses(q):
                    figure = None
                v, lo, hi = figure.triple() if figure is not None else (None, None, None)
                row[f"{scope}_{q}"], row[f"{scope}_{q}_low"], row[f"{scope}_{q}_high"] = v, lo, hi
        for scope in ("upstream", "family"):
            row[f"{scope}_members"] = scopes[scope].members
            row[f"{scope}_coverage"] = format_share(scopes[scope].coverage)
            row[f"{scope}_coverage_fraction"] = scopes[scope].coverage
        row["wh_per_1000_inferences"] = intensity
        rows.append(row)
    table = pd.DataFrame(rows)
    _ui.unreadable_note(len(unreadable), unreadable)

    log = st.toggle("Log scale", value=True, key="compare_log",
                    help="A log axis keeps a 1.7 kg model visible next to a 244 kg one.")
    tabs = st.tabs([label for _, label, _ in QUANTITIES])
    for tab, (q, label, _) in zip(tabs, QUANTITIES, strict=True):
        with tab:
            if table[[f"{s}_{q}" for s, _ in SCOPES]].isna().all().all():
                st.text(f"No {label.lower()} disclosed for these models.")
                continue
            _ui.chart(bar_chart(table, q, log=log), key=f"compare_chart_{q}")
            st.caption("Bars: central values; whiskers: the low–high interval. Own = the model's own production"
                       " runs; upstream adds its ancestors, family its descendants (shared ones count once).")
            _ui.figure_table(table, figures={f"{s}_{q}": q for s, _ in SCOPES}, key=f"compare_{q}",
                             shown=["own_runs", "upstream_members", "upstream_coverage", "family_members",
                                    "family_coverage"], file_name=f"dia-compare-{q}.csv")

    inf = table.dropna(subset=["wh_per_1000_inferences"])
    st.subheader("Energy per 1,000 inferences")
    if not inf.empty:
        _ui.chart(inference_chart(inf), key="compare_inference")
        _ui.figure_table(inf, figures={"wh_per_1000_inferences": "wh_per_1000_inferences"}, key="compare_inf",
                         file_name="dia-compare-inference.csv")
    else:
        st.text("No inference runs with an inference count for these models.")
