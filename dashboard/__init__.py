"""The Streamlit dashboard (installed as ``dia.dashboard``)."""
