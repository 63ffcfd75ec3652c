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

if TYPE_CHECKING:
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
    """Page title, one line of what it shows, and which store (password masked; in public
    mode no location at all: a local path can contain a user name, a URL a host)."""
    st.title(title)
    st.caption(blurb)
    if _data.is_public():
        st.text("store: public, read-only")
        return
    s = store()
    st.text(f"store: {s.masked_url} ({'read-only' if s.read_only else 'read-write'})")


def metric_row(values: dict[str, Interval | None], *, prefix: str = "",
               coverage: dict[str, float] | None = None) -> None:
    """Energy, carbon and water as metrics, the interval under each value; "not disclosed"
    (never 0) for a figure that is ``None``, and the share of members that disclosed a
    partly disclosed one (``coverage``: ``{"energy": 0.5, ...}``)."""
    cols = st.columns(len(_data.QUANTITIES))
    for column, (q, label, unit) in zip(cols, _data.QUANTITIES, strict=True):
        figure = values[q]
        if figure is None:
            column.metric(f"{prefix}{label} ({unit})", _data.NOT_DISCLOSED,
                          help=f"no report in scope disclosed {label.lower()}: unknown, not zero")
            column.text(_data.NOT_DISCLOSED)
            continue
        v, lo, hi = figure.triple()
        column.metric(f"{prefix}{label} ({unit})", _data.fmt(v), help=f"interval {_data.fmt(lo)} to {_data.fmt(hi)} {unit}")
        share = (coverage or {}).get(q.split("_")[0], 1.0)
        column.text(f"range {_data.fmt(lo)} - {_data.fmt(hi)}" + (f", disclosed by {share:.0%}" if share < 1.0 else ""))


def pick_model(label: str, *, key: str, default: str | None = None) -> str | None:
    """A searchable model picker (Streamlit's selectbox filters as you type)."""
    ids = model_ids(_data.db_url(), _data.is_public())
    if not ids:
        st.info("No models in this store yet: record a run with `dia.track` or ingest a card.")
        return None
    wanted = st.query_params.get("model") or default
    index = ids.index(wanted) if wanted in ids else 0
    return st.selectbox(label, ids, index=index, key=key)


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
