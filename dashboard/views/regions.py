"""Regions: what the same energy would have cost in carbon and water elsewhere (a what-if
over DIA's grid and cloud-region tables), and where the recorded runs happened."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from dia.dashboard import _data, _ui

with _ui.guard():
    _ui.header("Regions", "The same energy in other grids: where you train changes the footprint.")
    url, public = _data.db_url(), _data.is_public()
    ov = _ui.overview(url, public)
    recorded_kwh = ov.totals["energy_kwh"]
    recorded = recorded_kwh.value if recorded_kwh is not None else 0.0  # not disclosed: the 100 kWh example
    energy_kwh = st.number_input("IT energy (kWh)", min_value=0.0, value=float(round(recorded, 6) or 100.0),
                                 help="defaults to the store's total recorded production energy", key="regions_energy")

    places_all: dict[str, list[str]] | None
    try:
        from dia.convert.location import known_locations

        places_all = known_locations()
    except ImportError:  # a build without the conversion tables: the map still works
        places_all = None
    if places_all is None:
        st.warning("The conversion tables (dia.convert) are not installed in this build: no what-if.")
    else:
        countries = places_all.get("countries", [])
        clouds = places_all.get("cloud_regions", [])
        default_c = [c for c in ("USA", "DEU", "FRA", "SWE", "POL", "IND", "CHN", "CAN") if c in countries]
        c1, c2 = st.columns(2)
        pick_c = c1.multiselect("Countries", countries, default=default_c, key="regions_countries")
        pick_r = c2.multiselect("Cloud regions", clouds, default=clouds[:4], key="regions_clouds")
        places = [(c, {"country": c}) for c in pick_c] + [(r, _data.cloud_place(r)) for r in pick_r]
        try:
            rows = _data.what_if(energy_kwh, places)
        except ImportError:
            rows = []
            st.warning("dia.convert.footprint is not available in this build: no what-if.")
        ok = pd.DataFrame([r for r in rows if "error" not in r])
        if not ok.empty:
            ok = ok.sort_values("carbon_kg")
            left, right = st.columns(2)
            for column, q, label in ((left, "carbon_kg", "kgCO2e"), (right, "water_l", "litres")):
                fig = px.bar(ok, x="place", y=q, labels={q: label},
                             error_y=ok[q + "_high"] - ok[q], error_y_minus=ok[q] - ok[q + "_low"])
                fig.update_layout(height=340, margin=dict(t=30, b=10), title=f"{label} for {_data.fmt(energy_kwh)} kWh")
                column.plotly_chart(fig, width="stretch")
            st.dataframe(ok, hide_index=True, width="stretch")
        for r in rows:
            if "error" in r:
                st.text(f"{r['place']}: {r['error']}")

    st.subheader("Where the recorded runs happened")
    by_country = pd.DataFrame(_data.runs_by_country(_ui.store()))
    if by_country.empty:
        st.text("No runs recorded.")
    else:
        mapped = by_country[by_country["country"] != "unknown"]
        if not mapped.empty:
            fig = px.choropleth(mapped, locations="country", locationmode="ISO-3", color="carbon_kg",
                                hover_data=["runs", "energy_kwh", "water_l"], color_continuous_scale="OrRd")
            fig.update_layout(height=420, margin=dict(t=10, b=10, l=10, r=10))
            st.plotly_chart(fig, width="stretch")
        st.dataframe(by_country.sort_values("runs", ascending=False), hide_index=True, width="stretch")
