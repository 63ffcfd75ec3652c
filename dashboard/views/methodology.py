"""Methodology: the formulas DIA applies and the packaged factor tables with their sources
and licences (read from the installed package, so they match the numbers)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from dia.dashboard import _data, _ui

from dia import methodology
from dia.record.report import QUALITY_MEANING

FORMULAS = r"""
**Energy.** IT energy is what the meter saw: GPU + CPU + RAM
(NVML/RAPL counters: *measured*; integrated power samples: *sampled*; TDP x utilisation: *estimated*).
Facility energy adds the data-centre overhead:

$$E_\text{facility} = E_\text{IT} \times \text{PUE}$$

**Carbon** (location-based, kg CO2e):

$$C = E_\text{facility} \times CI_\text{grid} + \text{GPU-hours} \times e_\text{embodied}$$

**Water** (litres consumed): on-site cooling plus off-site electricity generation:

$$W = E_\text{IT} \times \text{WUE}_\text{on-site} + E_\text{facility} \times \text{EWIF}_\text{grid}$$

**Intervals.** Every figure is a central value with a low-high range; ranges add end-point-wise
(low with low, high with high), a conservative envelope.

**Quality** of a sum is the worst of its terms: measured > sampled > reported > estimated > imputed > unavailable.

**Location** resolution order: explicit factors, cloud region, sub-national grid, country, world average.

**Families.** A model's own footprint is the sum of its production runs (inference and evaluation are
*use*, counted apart). *Family* = the model plus its unique descendants; *upstream* = the model plus its unique
ancestors; shared ancestors and merges count once. *Coverage* = members with a report / members.
Imputed priors for silent members are shown apart and never added to disclosed totals.
"""

with _ui.guard():
    _ui.header("Methodology", "How every number on these pages is computed, and from which factors.")

    st.markdown(FORMULAS)

    st.subheader("Quality tiers")
    st.caption("Every figure carries one of these tiers, best first; a sum is only as good as its weakest term.")
    tiers = pd.DataFrame([{"tier": q.value, "meaning": meaning, "colour": _data.QUALITY_COLOURS.get(q.value, "")}
                          for q, meaning in QUALITY_MEANING.items()])
    st.dataframe(tiers, hide_index=True, width="stretch", key="methodology_tiers", column_config={
        "tier": st.column_config.TextColumn("Tier", pinned=True), "meaning": st.column_config.TextColumn("Meaning"),
        "colour": st.column_config.TextColumn("Colour in charts")})

    st.subheader("Conventions")
    st.caption("Each choice behind the figures, with its default, what happens to the other convention, and its source.")
    st.markdown(methodology.markdown_list())

    st.subheader("Factor tables")
    st.caption("Shipped inside the package (dia/convert/data); each row names its source and licence.")
    tables = _data.factor_tables()
    if not tables:
        st.text("No factor tables in this build.")
    for name, frame in tables.items():
        st.text(f"{name}: {len(frame):,} rows")
        # Every cell as text, as in the file: a number is never clipped or re-rounded
        # (a right-aligned number column cut "13.1992" to "3.1992" on a narrow screen).
        config = {c: st.column_config.TextColumn(c, width="medium" if i == 0 else None, pinned=i == 0)
                  for i, c in enumerate(frame.columns)}
        st.dataframe(frame, hide_index=True, width="stretch", column_config=config, key=f"factors_{name}")
