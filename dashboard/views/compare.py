"""Compare: several models side by side, own and cumulative footprints, and inference
energy per 1,000 inferences."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from dia.dashboard import _data, _ui

with _ui.guard():
    _ui.header("Compare", "Models side by side: what each cost itself, with its family, and with its ancestry.")
    url, public = _data.db_url(), _data.is_public()
    ids = _ui.model_ids(url, public)
    if not ids:
        st.info("No models in this store yet.")
        st.stop()
    default = [f["family"] for f in _ui.overview(url, public).families[:3]] or ids[:2]
    picked = st.multiselect("Models (type to search)", ids, default=[m for m in default if m in ids], key="compare_models")
    if not picked:
        st.stop()
    totals = _ui.store().model_totals(picked)  # only the picked models: an index lookup, not a scan
    rows = []
    unreadable: list[BaseException] = []
    for mid in picked:
        own = totals.get(mid)
        fam = _ui.rollup(url, public, mid, "family", False)
        up = _ui.rollup(url, public, mid, "upstream", False)
        try:
            intensity = _data.inference_intensity(_ui.store(), mid)
        except _data.READ_ERRORS as exc:  # one unreadable stored run: the rest of the row stays
            intensity = None
            unreadable.append(exc)
        rows.append({
            "model": mid,
            "own_runs": own.runs if own else 0,
            # None (an empty cell) where nothing was disclosed: no runs, or runs without that figure.
            "own_energy_kwh": own.energy_kwh.value if own and own.discloses("energy_kwh") else None,
            "own_carbon_kg": own.carbon_kg.value if own and own.discloses("carbon_kg") else None,
            "own_water_l": own.water_l.value if own and own.discloses("water_l") else None,
            "family_carbon_kg": fam.carbon_kg.value if fam.carbon_kg else None,
            "family_carbon_low": fam.carbon_kg.low if fam.carbon_kg else None,
            "family_carbon_high": fam.carbon_kg.high if fam.carbon_kg else None,
            "family_members": fam.members, "family_coverage": fam.coverage,
            "upstream_carbon_kg": up.carbon_kg.value if up.carbon_kg else None,
            "upstream_members": up.members, "upstream_coverage": up.coverage,
            "wh_per_1000_inferences": intensity,
        })
    table = pd.DataFrame(rows)
    _ui.unreadable_note(len(unreadable), unreadable)
    st.dataframe(table, hide_index=True, width="stretch")
    long = table.melt(id_vars=["model"], value_vars=["own_carbon_kg", "upstream_carbon_kg", "family_carbon_kg"],
                      var_name="scope", value_name="kgCO2e")
    long["model"] = long["model"].map(_data.safe)  # Plotly renders a subset of HTML
    fig = px.bar(long, x="model", y="kgCO2e", color="scope", barmode="group")
    fig.update_layout(height=380, margin=dict(t=10, b=10))
    st.plotly_chart(fig, width="stretch")
    inf = table.dropna(subset=["wh_per_1000_inferences"])
    if not inf.empty:
        st.subheader("Inference energy (Wh per 1,000 inferences)")
        inf = inf.assign(model=inf["model"].map(_data.safe))
        fig = px.bar(inf, x="model", y="wh_per_1000_inferences")
        fig.update_layout(height=300, margin=dict(t=10, b=10))
        st.plotly_chart(fig, width="stretch")
    else:
        st.text("No inference runs with an inference count for these models.")
