"""The DIA dashboard (``dia dashboard``): Streamlit entry point with one page per view.

Run it with ``dia dashboard --db URL`` (or ``streamlit run app.py`` with
``DIA_DASHBOARD_DB`` set, as on a Hugging Face Space).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from dia.dashboard import _data, _serve, _ui

_HERE = Path(__file__).parent / "views"

st.set_page_config(page_title="DIA: footprints of model families", layout="wide")
if _data.is_public():
    # Also when started by `streamlit run` (a Space), not only by `dia dashboard --public`.
    st.set_option("client.showErrorDetails", _serve.hidden_error_details())
pages = [
    st.Page(str(_HERE / "overview.py"), title="Overview", default=True),
    st.Page(str(_HERE / "lineage.py"), title="Lineage", url_path="lineage"),
    st.Page(str(_HERE / "runs.py"), title="Runs", url_path="runs"),
    st.Page(str(_HERE / "compare.py"), title="Compare", url_path="compare"),
    st.Page(str(_HERE / "regions.py"), title="Regions", url_path="regions"),
    st.Page(str(_HERE / "methodology.py"), title="Methodology", url_path="methodology"),
]
with _ui.guard():
    page = st.navigation(pages)
    _ui.store_caption()
    page.run()
