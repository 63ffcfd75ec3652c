"""Runs: a filterable, paginated table; one run's detail (energy split, power trace, factors
with sources, the quality of each figure)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from dia.dashboard import _data, _ui

from dia.convert.location import country_name, place_name, resolved_location
from dia.show import format_figure, format_number, quality_help


def _duration(seconds: float | None) -> str:
    """``"2 h 5 min"``, ``"42 s"``; empty when not recorded."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{format_number(seconds)} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


with _ui.guard():
    _ui.header("Runs", "Every recorded run, newest first; pick one to see where its figures come from.")
    store, public = _ui.store(), _data.is_public()

    any_choice = "(any)"
    # Collapsed on load: six stacked filters would push the table off a phone screen.
    with st.expander("Filters and pages", expanded=False):
        f1, f2 = st.columns(2)
        model = f1.selectbox("Model", [any_choice, *_ui.model_ids(_data.db_url(), public)], key="runs_model")
        kind = f2.selectbox("Kind", [any_choice, *_data.distinct(store, "kind")], key="runs_kind")
        f3, f4 = st.columns(2)
        status = f3.selectbox("Status", [any_choice, "running", "completed", "interrupted", "failed"],
                              key="runs_status")
        country = f4.selectbox("Country", [any_choice, *_data.distinct(store, "country")], key="runs_country",
                               format_func=lambda c: c if c == any_choice else f"{country_name(c)} ({c})")
        filters = {k: (None if v == any_choice else v) for k, v in
                   (("model_id", model), ("kind", kind), ("status", status), ("country", country))}
        p1, p2 = st.columns(2)
        page_size = int(p1.selectbox("Rows per page", [25, 50, 100, 200], index=1, key="runs_page_size") or 50)
        total = store.run_count(**filters)
        pages = max(1, -(-total // page_size))
        page = int(p2.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1,
                                   key="runs_page"))
    found = _data.run_page(store, **filters, page=page - 1, page_size=page_size)
    runs = found.runs
    st.text(f"{found.total:,} runs match; showing {len(runs):,} (page {page:,} of {pages:,}).")
    _ui.unreadable_note(found.unreadable, found.problems)
    rows = _data.run_rows(runs, public=public)
    if not rows:
        st.stop()
    _ui.figure_table(pd.DataFrame(rows), figures={"energy_kwh": "energy_kwh", "carbon_kg": "carbon_kg",
                                                  "water_l": "water_l"},
                     key="runs", shown=["run", "kind", "status", "started", "quality", "location"],
                     file_name="dia-runs-table.csv")
    # The same content as `dia export` (`--public` in public mode): no host, pid or raw notes.
    d1, d2 = st.columns(2)
    d1.download_button("Download this page (CSV)", _data.runs_download(runs, "csv", public=public),
                       file_name="dia-runs.csv", mime="text/csv", key="runs_download_csv")
    d2.download_button("Download this page (JSONL)", _data.runs_download(runs, "jsonl", public=public),
                       file_name="dia-runs.jsonl", mime="application/jsonl", key="runs_download_jsonl")

    run_id = st.selectbox("Run detail", [r["run_id"] for r in rows], key="runs_detail",
                          format_func=lambda rid: f"{rid[:8]}  {next(x['model'] for x in rows if x['run_id'] == rid)}")
    try:
        report = store.get_run(run_id)
    except _data.READ_ERRORS as exc:
        _ui.unreadable_note(1, [exc])
        st.stop()
    if report is None:
        st.stop()
    if public:
        from dia.record.public import public_report

        report = public_report(report)

    st.subheader("Run detail")
    # Where the grid factor says the run happened when the report names no place itself.
    where = resolved_location(report.location, report.factors)
    facts = {"run": report.id, "model": report.model_id or "", "kind": report.kind.value, "status": report.status.value,
             "started": report.started_at.isoformat(sep=" ", timespec="seconds") if report.started_at else "",
             "ended": report.ended_at.isoformat(sep=" ", timespec="seconds") if report.ended_at else "",
             "duration": _duration(report.duration_s), "hardware": report.hardware.describe(),
             "location": place_name(where), "grid level": where.resolved_level or "",
             "meter": report.meter, "source": report.source,
             "parents": ", ".join(f"{p.model_id} ({p.relation.value})" for p in report.parents)}
    if not public:
        facts["host"] = report.host or ""
        facts["pid"] = "" if report.pid is None else str(report.pid)
    st.dataframe(pd.DataFrame({"field": list(facts), "value": list(facts.values())}), hide_index=True, width="stretch")

    figures = pd.DataFrame(_data.detail_figures(report))
    energy = report.energy
    left, right = st.columns(2)
    with left:
        st.text("Figures (each with its interval and quality)")
        if figures.empty:
            st.text("No figures recorded for this run.")
        else:
            st.dataframe(figures[["figure", "shown", "quality"]], hide_index=True, width="stretch",
                         key="runs_figures", column_config={
                             "figure": st.column_config.TextColumn("Figure", pinned=True),
                             "shown": st.column_config.TextColumn("Value (low–high)"),
                             "quality": st.column_config.TextColumn("Quality", help=quality_help())})
    with right:
        split = [(name, q.value) for name, q in (("GPU", energy.gpu_kwh), ("CPU", energy.cpu_kwh), ("RAM", energy.ram_kwh))
                 if q is not None and q.value > 0]
        if split:
            fig = px.pie(pd.DataFrame(split, columns=["part", "kwh"]), names="part", values="kwh", hole=0.45)
            fig.update_layout(height=260)
            _ui.chart(fig, key="runs_split")
        else:
            st.text("No GPU/CPU/RAM split recorded for this run.")
    if report.power_samples:
        trace = pd.DataFrame([{"t_s": s.t_s, "power_w": s.power_w} for s in report.power_samples])
        fig = px.line(trace, x="t_s", y="power_w", labels={"t_s": "seconds since start", "power_w": "power (W)"})
        fig.update_layout(height=260)
        _ui.chart(fig, key="runs_power")
    if report.phases:
        st.text("Phases")
        st.dataframe(pd.DataFrame([{"Phase": p.name, "Duration": _duration(p.duration_s),
                                    "Energy": format_figure(p.energy_kwh,
                                                            "energy_kwh")} for p in report.phases]),
                     hide_index=True, width="stretch")
    if report.factors:
        st.text("Conversion factors used (recompute the figures with these)")
        st.dataframe(pd.DataFrame(_data.factor_rows(report)), hide_index=True, width="stretch", key="runs_factors",
                     column_config={"factor": st.column_config.TextColumn("Factor", pinned=True),
                                    "value": st.column_config.TextColumn("Value (low–high)")})
    for note in _data.run_notes(report, public=public):
        st.text(f"note: {note}")
