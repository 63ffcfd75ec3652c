"""Process-wide state of the tracker: the active runs, SIGTERM and exit hooks, open stores.

Kept apart from :mod:`dia.tracker._run` so the hooks are installed once per process,
whatever the number of runs, and removed when the last run stops.

>>> from dia.tracker import current_run
>>> current_run() is None
True
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dia.record.store import Store
    from dia.tracker._run import Run

_LOCK = threading.RLock()
_ACTIVE: list[Run] = []
_STORES: dict[str, Store] = {}
_state: dict[str, Any] = {"atexit": False, "sigterm_prev": None, "sigterm_installed": False}


def current_run() -> Run | None:
    """The innermost active run of this process (``None`` outside any run)."""
    with _LOCK:
        return _ACTIVE[-1] if _ACTIVE else None


def active_runs() -> list[Run]:
    with _LOCK:
        return list(_ACTIVE)


def register(run: Run) -> None:
    """Mark ``run`` active and make sure the exit and SIGTERM hooks are in place."""
    with _LOCK:
        _ACTIVE.append(run)
        if not _state["atexit"]:
            atexit.register(_at_exit)
            _state["atexit"] = True
        _install_sigterm()


def unregister(run: Run) -> None:
    with _LOCK:
        if run in _ACTIVE:
            _ACTIVE.remove(run)
        if not _ACTIVE:
            _restore_sigterm()


def _install_sigterm() -> None:
    # Signal handlers can only be set from the main thread; elsewhere checkpoints suffice.
    if _state["sigterm_installed"] or threading.current_thread() is not threading.main_thread():
        return
    try:
        prev = signal.getsignal(signal.SIGTERM)
        if prev is signal.SIG_IGN:
            return  # the program ignores SIGTERM: so do we
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # embedded interpreters, odd platforms
        return
    _state["sigterm_prev"] = prev
    _state["sigterm_installed"] = True


def _restore_sigterm() -> None:
    if not _state["sigterm_installed"] or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, _state["sigterm_prev"] or signal.SIG_DFL)
    except (ValueError, OSError):
        return
    _state["sigterm_installed"] = False


def _on_sigterm(signum: int, frame: Any) -> None:
    """SLURM preemption and friends: record the runs as interrupted, then do what was there."""
    prev = _state["sigterm_prev"]
    if callable(prev):
        # The program handles SIGTERM itself and may go on: checkpoint, keep measuring.
        for run in active_runs():
            run._checkpoint(status="interrupted", note="SIGTERM received")
        prev(signum, frame)
        return
    for run in reversed(active_runs()):
        run.stop("interrupted", note="stopped by SIGTERM")
    _restore_sigterm()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _at_exit() -> None:
    for run in reversed(active_runs()):
        run.stop("interrupted", note="still running at interpreter exit: stopped as interrupted")


def open_store(url: str | None) -> Store:
    """One :class:`Store` per URL per process (opening costs milliseconds; starts must not)."""
    from dia.record.store import Store, default_database_url

    key = url or default_database_url()
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            store = Store(key)
            _STORES[key] = store
        return store


def forget_store(store: Store) -> None:
    """Drop a cached store after a failure, so the next save opens it afresh."""
    with _LOCK:
        for key, value in list(_STORES.items()):
            if value is store:
                del _STORES[key]
