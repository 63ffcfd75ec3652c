"""Runs: a filterable, paginated table; one run's detail (energy split, power trace, factors
with sources, the quality of each figure)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from dia.dashboard import _data, _ui

with _ui.guard():
    _ui.header("Runs", "Every recorded run, newest first; pick one to see where its figures come from.")
    store, public = _ui.store(), _data.is_public()

    any_choice = "(any)"
    f1, f2, f3, f4 = st.columns(4)
    model = f1.selectbox("Model", [any_choice, *_ui.model_ids(_data.db_url(), public)], key="runs_model")
    kind = f2.selectbox("Kind", [any_choice, *_data.distinct(store, "kind")], key="runs_kind")
    status = f3.selectbox("Status", [any_choice, "running", "completed", "interrupted", "failed"], key="runs_status")
    country = f4.selectbox("Country", [any_choice, *_data.distinct(store, "country")], key="runs_country")
    filters = {k: (None if v == any_choice else v) for k, v in
               (("model_id", model), ("kind", kind), ("status", status), ("country", country))}
    p1, p2 = st.columns(2)
    page_size = int(p1.selectbox("Rows per page", [25, 50, 100, 200], index=1, key="runs_page_size") or 50)
    total = store.run_count(**filters)
    pages = max(1, -(-total // page_size))
    page = int(p2.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1, key="runs_page"))
    found = _data.run_page(store, **filters, page=page - 1, page_size=page_size)
    runs = found.runs
    st.text(f"{found.total:,} runs match; showing {len(runs):,} (page {page:,} of {pages:,}).")
    _ui.unreadable_note(found.unreadable, found.problems)
    rows = _data.run_rows(runs, public=public)
    if not rows:
        st.stop()
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    # The same content as `dia export` (`--public` in public mode): no host, pid or raw notes.
    d1, d2 = st.columns(2)
    d1.download_button("Download this page (CSV)", _data.runs_download(runs, "csv", public=public),
                       file_name="dia-runs.csv", mime="text/csv", key="runs_download_csv")
    d2.download_button("Download this page (JSONL)", _data.runs_download(runs, "jsonl", public=public),
                       file_name="dia-runs.jsonl", mime="application/jsonl", key="runs_download_jsonl")

    run_id = st.selectbox("Run detail", [r["run"] for r in rows], key="runs_detail",
                          format_func=lambda rid: f"{rid[:8]}  {next(x['model'] for x in rows if x['run'] == rid)}")
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
    facts = {"run": report.id, "model": report.model_id or "", "kind": report.kind.value, "status": report.status.value,
             "started": str(report.started_at or ""), "ended": str(report.ended_at or ""),
             "duration_s": _data.fmt(report.duration_s), "hardware": report.hardware.describe(),
             "location": report.location.describe(), "grid level": report.location.resolved_level or "",
             "meter": report.meter, "source": report.source,
             "parents": ", ".join(f"{p.model_id} ({p.relation.value})" for p in report.parents)}
    if not public:
        facts["host"] = report.host or ""
        facts["pid"] = "" if report.pid is None else str(report.pid)
    st.dataframe(pd.DataFrame({"field": list(facts), "value": list(facts.values())}), hide_index=True, width="stretch")

    figures = []
    energy = report.energy
    for label, q in (("energy GPU", energy.gpu_kwh), ("energy CPU", energy.cpu_kwh), ("energy RAM", energy.ram_kwh),
                     ("energy IT", energy.it_kwh), ("energy facility", energy.facility_kwh),
                     ("carbon operational", report.carbon.operational_kg if report.carbon else None),
                     ("carbon embodied", report.carbon.embodied_kg if report.carbon else None),
                     ("carbon total", report.carbon.total_kg if report.carbon else None),
                     ("water on-site", report.water.onsite_l if report.water else None),
                     ("water off-site", report.water.offsite_l if report.water else None),
                     ("water total", report.water.total_l if report.water else None),
                     ("Wh per 1,000 inferences", report.intensities.wh_per_1000_inferences),
                     ("J per token", report.intensities.j_per_token)):
        if q is not None:
            figures.append({"figure": label, "value": q.value, "low": q.low, "high": q.high, "unit": q.unit,
                            "quality": q.quality.value})
    left, right = st.columns(2)
    with left:
        st.text("Figures (each with its interval and quality)")
        st.dataframe(pd.DataFrame(figures), hide_index=True, width="stretch")
    with right:
        split = [(name, q.value) for name, q in (("GPU", energy.gpu_kwh), ("CPU", energy.cpu_kwh), ("RAM", energy.ram_kwh))
                 if q is not None and q.value > 0]
        if split:
            fig = px.pie(pd.DataFrame(split, columns=["part", "kwh"]), names="part", values="kwh", hole=0.45)
            fig.update_layout(height=260, margin=dict(t=10, b=10, l=10, r=10))
            st.plotly_chart(fig, width="stretch")
        else:
            st.text("No GPU/CPU/RAM split recorded for this run.")
    if report.power_samples:
        trace = pd.DataFrame([{"t_s": s.t_s, "power_w": s.power_w} for s in report.power_samples])
        fig = px.line(trace, x="t_s", y="power_w", labels={"t_s": "seconds since start", "power_w": "power (W)"})
        fig.update_layout(height=260, margin=dict(t=10, b=10))
        st.plotly_chart(fig, width="stretch")
    if report.phases:
        st.text("Phases")
        st.dataframe(pd.DataFrame([{"phase": p.name, "duration_s": p.duration_s,
                                    "energy_kwh": p.energy_kwh.value if p.energy_kwh else None} for p in report.phases]),
                     hide_index=True, width="stretch")
    if report.factors:
        st.text("Conversion factors used (recompute the figures with these)")
        st.dataframe(pd.DataFrame([f.model_dump() for f in report.factors]), hide_index=True, width="stretch")
    for note in _data.run_notes(report, public=public):
        st.text(f"note: {note}")
