"""Regions: what the same energy would have cost in carbon and water elsewhere (a what-if
over DIA's grid and cloud-region tables), and where the recorded runs happened."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from dia.dashboard import _data, _ui

from dia.show import axis_scale, format_range, format_value

# Shown when the store has no located runs: a spread of grids from low to high carbon.
FALLBACK_COUNTRIES = ("USA", "DEU", "FRA", "SWE", "IND", "CAN")


def what_if_chart(ok: pd.DataFrame, quantity: str, title: str) -> go.Figure:
    """Horizontal bars, one per place (its name on the axis), low–high whiskers, one unit."""
    scale = axis_scale(ok[quantity], quantity)
    fig = go.Figure(go.Bar(
        y=[_data.safe(n) for n in ok["label"]], x=ok[quantity] * scale.factor, orientation="h",
        marker_color=_data.SCOPE_COLOURS["own"],
        error_x=dict(type="data", symmetric=False, array=(ok[f"{quantity}_high"] - ok[quantity]) * scale.factor,
                     arrayminus=(ok[quantity] - ok[f"{quantity}_low"]) * scale.factor, thickness=1.2),
        customdata=[_data.safe(format_range(v, lo, hi, quantity)) for v, lo, hi in
                    zip(ok[quantity], ok[f"{quantity}_low"], ok[f"{quantity}_high"], strict=True)],
        hovertemplate="%{y}: %{customdata}<extra></extra>"))
    fig.update_layout(title=title, height=120 + 32 * len(ok), xaxis=dict(title=scale.unit, tickformat="~g"),
                      yaxis=dict(autorange="reversed", automargin=True))
    return fig


with _ui.guard():
    _ui.header("Regions", "The same energy in other grids: where you train changes the footprint.")
    url, public = _data.db_url(), _data.is_public()
    ov = _ui.overview(url, public)
    recorded_kwh = ov.totals["energy_kwh"]
    recorded = recorded_kwh.value if recorded_kwh is not None and recorded_kwh.value > 0 else 100.0
    # The default keeps the recorded total's digits (format_value's 3 figures would shift it).
    typed = st.text_input("IT energy", value=f"{recorded:.6g} kWh", key="regions_energy",
                          help="A number with a unit (Wh, kWh, MWh, GWh; kWh when none): e.g. 1.2 MWh or 0.001 kWh."
                               " Defaults to the store's total recorded production energy.")
    energy_kwh = _data.parse_energy_kwh(typed)
    by_country_rows = _ui.runs_by_country(url, public)
    by_country = pd.DataFrame(by_country_rows)

    places_all: dict[str, list[str]] | None
    try:
        from dia.convert.location import country_name, known_locations

        places_all = known_locations()
    except ImportError:  # a build without the conversion tables: the map still works
        places_all = None
    if places_all is None:
        st.warning("The conversion tables (dia.convert) are not installed in this build: no what-if.")
    elif energy_kwh is None:
        st.info(_ui.markdown_text(f"{typed!r} is not an energy: type a number and a unit, e.g. 1.2 MWh."))
    elif energy_kwh == 0:
        st.info("Type an energy above zero to compare grids: zero energy costs nothing anywhere.")
    else:
        countries = places_all.get("countries", [])
        clouds = places_all.get("cloud_regions", [])
        own = [c for c in _data.store_places(by_country_rows) if c in countries]  # where this store's runs happened
        default_c = own or [c for c in FALLBACK_COUNTRIES if c in countries]
        c1, c2 = st.columns(2)
        pick_c = c1.multiselect("Countries", countries, default=default_c, key="regions_countries",
                                format_func=lambda c: f"{country_name(c)} ({c})",
                                help="Defaults to the countries where this store's runs happened.")
        pick_r = c2.multiselect("Cloud regions", clouds, default=[c for c in _data.DEFAULT_CLOUDS if c in clouds],
                                key="regions_clouds", help="Defaults to one well-known region per major cloud.")
        places = [(c, {"country": c}) for c in pick_c] + [(r, _data.cloud_place(r)) for r in pick_r]
        try:
            rows = _data.what_if(energy_kwh, places)
        except ImportError:
            rows = []
            st.warning("dia.convert.footprint is not available in this build: no what-if.")
        ok = pd.DataFrame([r for r in rows if "error" not in r])
        if ok.empty:
            st.text("Pick a country or a cloud region to compare.")
        else:
            ok = ok.sort_values("carbon_kg").reset_index(drop=True)
            ok["label"] = ok["name"]
            shown = format_value(energy_kwh, "energy_kwh")
            st.caption(f"Carbon and water of {shown} of IT energy at each place (whiskers: low–high).")
            left, right = st.columns(2)
            for column, q, label in ((left, "carbon_kg", "Carbon"), (right, "water_l", "Water")):
                with column:
                    _ui.chart(what_if_chart(ok, q, f"{label} for {shown}"), key=f"regions_{q}")
            table = ok.rename(columns={"name": "place_name"})[
                ["place_name", "place", "level", "carbon_kg", "carbon_kg_low", "carbon_kg_high",
                 "water_l", "water_l_low", "water_l_high"]]
            _ui.figure_table(table, figures={"carbon_kg": "carbon_kg", "water_l": "water_l"}, key="regions_what_if",
                             pinned="place_name", shown=["level"], file_name="dia-what-if.csv")
        for r in rows:
            if "error" in r:
                st.text(f"{r['place']}: {r['error']}")

    st.subheader("Where the recorded runs happened")
    if by_country.empty:
        st.text("No runs recorded.")
    else:
        # Bars, not a world map: a few countries read better by name, on a phone too, and a
        # map's outlines would be fetched from a CDN an offline dashboard cannot reach.
        located = by_country.dropna(subset=["carbon_kg"]).sort_values("carbon_kg", ascending=False)
        if not located.empty:
            scale = axis_scale(located["carbon_kg"], "carbon_kg")
            names = [n if c != "unknown" else "unknown location" for n, c in
                     zip(located["name"], located["country"], strict=True)]
            hover = [_data.safe(f"{n}: {r:,} runs, {format_value(k, 'carbon_kg')}")
                     for n, r, k in zip(names, located["runs"], located["carbon_kg"], strict=True)]
            fig = go.Figure(go.Bar(y=[_data.safe(n) for n in names], x=located["carbon_kg"] * scale.factor,
                                   orientation="h", marker_color=_data.SCOPE_COLOURS["own"], text=hover,
                                   textposition="none", hovertemplate="%{text}<extra></extra>"))
            fig.update_layout(title="Carbon of the recorded runs by country", height=120 + 32 * len(located),
                              xaxis=dict(title=scale.unit, tickformat="~g"),
                              yaxis=dict(autorange="reversed", automargin=True))
            _ui.chart(fig, key="regions_by_country_chart")
        table = by_country.sort_values("runs", ascending=False).rename(columns={"name": "country_name"})
        _ui.figure_table(table[["country_name", "country", "runs", "energy_kwh", "carbon_kg", "water_l"]],
                         figures={"energy_kwh": "energy_kwh", "carbon_kg": "carbon_kg", "water_l": "water_l"},
                         key="regions_by_country", pinned="country_name", shown=["runs"],
                         file_name="dia-runs-by-country.csv")
