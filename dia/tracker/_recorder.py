"""Where a run's reports go: the store, else a fallback file (``dia-fallback-<id>.json``).

``store`` is what :func:`dia.track` was given: ``None`` (the default store), a URL, a
:class:`~dia.record.store.Store`, or ``False`` (nothing is saved). A store that cannot be
opened or written never fails the run: the report goes to the fallback file, with one
warning per run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dia.record.report import RunReport
from dia.tracker import _build, _lifecycle


class Recorder:
    """Saves the reports of one run (checkpoints and the final one)."""

    def __init__(self, store: Any) -> None:
        self.spec = store
        self.store: Any = None
        self.notes: list[str] = []
        self.fallback_path: Path | None = None
        # Re-entered by a SIGTERM handler in the main thread; the run holds it to make
        # "still active? then save" one step.
        self.lock = threading.RLock()
        self._fallback_reason = "the store cannot be opened"
        self._fallback_warned = False

    def open(self) -> None:
        """Open the store (cached per URL per process); a failure is noted, not raised."""
        spec = self.spec
        if spec is False:
            return
        from dia.record.store import Store

        if isinstance(spec, Store):
            self.store = spec
            return
        try:
            self.store = _lifecycle.open_store(None if spec is None else str(spec))
        except Exception as exc:
            self.notes.append(f"store could not be opened: {str(exc)[:200]}")
            self.store = None
            self._fallback_reason = f"the store cannot be opened ({str(exc)[:200]})"

    def previous(self, run_id: str) -> RunReport | None:
        """The stored report of ``run_id`` (``None`` without a store or without that run)."""
        if self.store is None:
            return None
        report: RunReport | None = self.store.get_run(run_id)
        return report

    def save(self, report: RunReport) -> None:
        if self.spec is False:
            return
        if self.store is None:
            self._write_fallback(report, self._fallback_reason)
            return
        try:
            self.store.save_run(report)
        except Exception as exc:
            _lifecycle.forget_store(self.store)
            self._write_fallback(report, f"the store {getattr(self.store, 'masked_url', '')} cannot be "
                                         f"written ({type(exc).__name__}: {str(exc)[:200]})")

    def _write_fallback(self, report: RunReport, reason: str) -> None:
        path = _build.write_fallback(report, reason, warned=self._fallback_warned)
        self._fallback_warned = True
        if path is not None:
            self.fallback_path = path
