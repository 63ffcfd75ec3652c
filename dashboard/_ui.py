"""Streamlit glue shared by the pages: cached data access and small widgets.

Caches are keyed by the store URL (and the page's arguments) and expire after a minute,
so a running tracker's new runs show up without restarting the dashboard.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import streamlit as st
from dia.dashboard import _data

from dia.redact import describe_error
from dia.show import (
    NOT_DISCLOSED,
    QUANTITIES,
    Evidence,
    format_figure,
    format_range,
    format_value,
    quality_help,
)

if TYPE_CHECKING:
    import pandas as pd

    from dia.record.report import Interval

TTL_S = 60
# Tracebacks go to the server log under a short reference, never to the page.
log = logging.getLogger("dia.dashboard")
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]<>|~$#!]")


@st.cache_resource(show_spinner=False)
def _store(url: str, public: bool) -> Any:
    return _data.open_store(url, public)


def store() -> Any:
    """The (cached) store this dashboard shows."""
    return _store(_data.db_url(), _data.is_public())


@st.cache_resource(ttl=TTL_S, show_spinner=False)
def _graph(url: str, public: bool) -> Any:
    return _data.graph_of(_store(url, public))


def graph() -> Any:
    return _graph(_data.db_url(), _data.is_public())


@st.cache_data(ttl=TTL_S, show_spinner=False)
def overview(url: str, public: bool) -> _data.Overview:
    return _data.overview(_store(url, public))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def rollup(url: str, public: bool, model_id: str, scope: str, impute: bool) -> Any:
    return _data.family_rollup(_store(url, public), model_id, scope, impute=impute, graph=_graph(url, public))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def model_ids(url: str, public: bool) -> list[str]:
    return _graph(url, public).models()


@st.cache_data(ttl=TTL_S, show_spinner=False)
def timeline(url: str, public: bool, families: tuple[str, ...]) -> list[dict[str, Any]]:
    return _data.family_timeline(_store(url, public), list(families), graph=_graph(url, public))


def header(title: str, blurb: str) -> None:
    """Page title and one line of what it shows (the store is named once, in the sidebar)."""
    st.title(title)
    st.caption(blurb)


def store_caption() -> None:
    """Which store the dashboard shows, in the sidebar (password masked; in public mode no
    location at all: a local path can contain a user name, a URL a host)."""
    if _data.is_public():
        st.sidebar.caption("store: public, read-only")
        return
    s = store()
    st.sidebar.caption(f"store: {s.masked_url} ({'read-only' if s.read_only else 'read-write'})")


BADGE_COLOURS = {"complete": "blue", "partial": "orange", "none": "gray"}


def headline(values: dict[str, Interval | None], ev: Evidence, *, prefix: str = "",
             coverage: dict[str, float] | None = None) -> None:
    """Energy, carbon and water as metrics (scaled unit, 2-3 significant figures, interval
    under the value; "not disclosed", never 0, for ``None``), then the evidence: a coverage
    badge ("lower bound: 2 of 52 members reported") and the quality mix, tiers defined in
    the tooltip. ``coverage`` (``{"energy": 0.5, ...}``) names a partly disclosed quantity."""
    cols = st.columns(len(QUANTITIES))
    for column, (q, label, _unit) in zip(cols, QUANTITIES, strict=True):
        figure = values.get(q)
        name = f"{prefix}{label.lower() if prefix else label}"
        if figure is None:
            column.metric(name, NOT_DISCLOSED, help=f"no report in scope disclosed {label.lower()}: unknown, not zero")
            continue
        v, lo, hi = figure.triple()
        text = format_range(v, lo, hi, q)
        value, _, span = text.partition(" (")
        column.metric(name, value, help=f"{label}: {text}")
        share = (coverage or {}).get(q.split("_")[0], 1.0)
        notes = [f"range {span[:-1]}" if span else "a single value"]
        if share < 1.0:
            notes.append(f"disclosed by {share:.0%} of members")
        column.caption(", ".join(notes))
    evidence_line(ev)


def evidence_line(ev: Evidence) -> None:
    """The coverage badge and the quality mix of a total, tiers defined in the tooltip."""
    tiers = list(ev.shares) or None
    st.badge(ev.badge, color=BADGE_COLOURS[ev.level], help=quality_help(tiers))  # type: ignore[arg-type]
    st.caption(ev.summary, help=quality_help(tiers))


def figure_text(figure: Interval | None, quantity: str) -> str:
    """A table cell: ``"240 kg CO2e (8.9–920)"``, or "not disclosed"."""
    return format_figure(figure, quantity)


def figure_table(frame: pd.DataFrame, *, figures: dict[str, str], key: str, pinned: str = "model",
                 shown: list[str] | None = None, file_name: str = "figures.csv",
                 height: int | None = None, pinned_width: int | None = None) -> None:
    """A table that shows the numbers: ``pinned`` (the model) stays left, each column in
    ``figures`` (column -> quantity, e.g. ``{"carbon_kg": "carbon_kg"}``, with ``_low``/``_high``
    beside it) is one "figure (low–high)" text column with a human label, then the columns in
    ``shown``. Every raw column sits in a "Details" expander, and the CSV download has them all.
    ``pinned_width`` (pixels) caps the pinned column so a figure column fits beside it on a phone."""
    import pandas as pd

    from dia.show import field_label

    display = pd.DataFrame(index=frame.index)
    config: dict[str, Any] = {}
    if pinned in frame:
        display[pinned] = frame[pinned]
        config[pinned] = st.column_config.TextColumn(field_label(pinned), pinned=True, width=pinned_width)
    for column, quantity in figures.items():
        low, high = frame.get(f"{column}_low"), frame.get(f"{column}_high")
        cells = []
        for i, v in enumerate(frame[column]):
            if v is None or pd.isna(v):
                cells.append(NOT_DISCLOSED)
            elif low is not None and high is not None and not pd.isna(low.iloc[i]) and not pd.isna(high.iloc[i]):
                cells.append(format_range(float(v), float(low.iloc[i]), float(high.iloc[i]), quantity))
            else:
                cells.append(format_value(float(v), quantity))
        display[column] = cells
        config[column] = st.column_config.TextColumn(field_label(column))
    for column in shown or []:
        display[column] = frame[column]
        config[column] = st.column_config.Column(field_label(column))
    kwargs: dict[str, Any] = {"height": height} if height else {}
    st.dataframe(display, hide_index=True, width="stretch", column_config=config, key=f"{key}_table", **kwargs)
    with st.expander("Details: every column, unrounded"):
        st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_details")
        st.download_button("Download CSV", frame.to_csv(index=False), file_name=file_name, mime="text/csv",
                           key=f"{key}_csv")


PLOTLY_CONFIG = {"displayModeBar": False, "displaylogo": False, "responsive": True}


def chart(fig: Any, *, key: str | None = None, select: bool = False) -> Any:
    """Show a Plotly figure the same way everywhere: no toolbar, horizontal legend under the
    plot (fits a phone), and, with ``select``, a rerun on a click (the selection is returned)."""
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0),
                      margin=dict(l=10, r=10, t=30, b=10))
    if select:
        return st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key, on_select="rerun",
                               selection_mode="points")
    return st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key)


def metric_row(values: dict[str, Interval | None], *, prefix: str = "",
               coverage: dict[str, float] | None = None) -> None:
    """Energy, carbon and water as metrics without the evidence line (see :func:`headline`)."""
    cols = st.columns(len(QUANTITIES))
    for column, (q, label, _unit) in zip(cols, QUANTITIES, strict=True):
        figure = values.get(q)
        if figure is None:
            column.metric(f"{prefix}{label}", NOT_DISCLOSED,
                          help=f"no report in scope disclosed {label.lower()}: unknown, not zero")
            continue
        text = format_range(*figure.triple(), q)
        value, _, span = text.partition(" (")
        column.metric(f"{prefix}{label}", value, help=f"{label}: {text}")
        share = (coverage or {}).get(q.split("_")[0], 1.0)
        column.caption((f"range {span[:-1]}" if span else "a single value")
                       + (f", disclosed by {share:.0%} of members" if share < 1.0 else ""))


def url_choice(name: str, options: list[str], default: str) -> str:
    """The value of query parameter ``name`` when it is one of ``options``, else ``default``
    (a shared link with a stale value still opens)."""
    wanted = st.query_params.get(name)
    return wanted if wanted in options else default


def pick_model(label: str, *, key: str, default: str | None = None) -> str | None:
    """A searchable model picker (Streamlit's selectbox filters as you type) that reads and
    writes ``?model=`` so a link opens the same model; an unknown ``?model=`` says so
    rather than silently showing another model."""
    ids = model_ids(_data.db_url(), _data.is_public())
    if not ids:
        st.info("No models in this store yet: record a run with `dia.track` or ingest a card.")
        return None
    wanted = st.query_params.get("model")
    fallback = default if default in ids else ids[0]
    if wanted and wanted not in ids:
        st.warning(markdown_text(f"No model {wanted!r} in this store: showing {fallback} instead."))
    index = ids.index(wanted) if wanted in ids else ids.index(fallback)
    choice = st.selectbox(label, ids, index=index, key=key)
    if choice is not None and st.query_params.get("model") != choice:
        st.query_params["model"] = choice
    return choice


def error_line(exc: BaseException, what: str = "Something went wrong") -> str:
    """Log ``exc`` with its traceback under a new reference; return the one line to show.

    Public mode shows only ``what`` and the reference (the operator finds the details in the
    server log); a local dashboard adds the redacted one-line reason.
    """
    ref = secrets.token_hex(4)
    log.error("%s (ref %s)", what, ref, exc_info=exc)
    if _data.is_public():
        return f"{what} (ref {ref})."
    return f"{what} (ref {ref}): {describe_error(exc)}"


@contextmanager
def guard(what: str = "Something went wrong") -> Iterator[None]:
    """Run a page (or a section of one): any exception becomes ONE line on the page plus a
    reference, never a traceback. Streamlit's own st.stop()/rerun are BaseExceptions and
    pass through."""
    try:
        yield
    except Exception as exc:  # the last line of defence: nothing may reach the browser raw
        st.error(markdown_text(error_line(exc, what)))


def markdown_text(text: str) -> str:
    """``text`` with the Markdown characters that could format or link escaped: st.error
    and st.warning render Markdown, and a message may quote a model id or a value
    (``[x](https://...)``, ``*bold*``, Streamlit's ``:red[...]``).

    >>> print(markdown_text("bad id [x](https://e.example) *here* (ref 3f9a1c2b)"))
    bad id \\[x\\](https://e.example) \\*here\\* (ref 3f9a1c2b)
    """
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def unreadable_note(count: int, problems: list[BaseException]) -> None:
    """One line for stored runs that could not be read (a newer schema, a damaged row)."""
    if not count:
        return
    what = (f"{count:,} stored run(s) could not be read (a newer schema version or a damaged "
            "record) and are not shown")
    st.warning(markdown_text(error_line(problems[0], what) if problems else what + "."))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def undated(url: str, public: bool, families: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per family, the runs the timeline cannot date (:func:`_data.family_undated`)."""
    return _data.family_undated(_store(url, public), list(families), graph=_graph(url, public))


def id_column_width(ids: Any, cap_px: int = 190) -> int:
    """A pinned id column's width in pixels: wide enough for the ids, at most ``cap_px`` so the
    first figure column still fits beside it on a 390 px phone (a longer id is cut by the
    table, never in the data: the cell, the details and the CSV hold it whole)."""
    longest = max((len(str(i)) for i in ids), default=8)
    return min(cap_px, 24 + 7 * longest)


def runs_by_country(url: str, public: bool) -> list[dict[str, Any]]:
    """:func:`_data.runs_by_country`, cached: it reads the runs stored without a country."""
    return _data.runs_by_country(_store(url, public))
