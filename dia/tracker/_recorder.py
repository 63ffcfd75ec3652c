"""Where a run's reports go: the store, else a fallback file (``dia-fallback-<id>.json``).

``store`` is what :func:`dia.track` was given: ``None`` (the default store), a URL, a
:class:`~dia.record.store.Store`, or ``False`` (nothing is saved). A store that cannot be
opened or written never fails the run: the report goes to the fallback file, with one
warning per run and a note in the report saying where it went.

A SQLite file deleted while a run goes on would swallow every later write (they go to
the unlinked file): before each save the file is looked at, and a deleted or replaced
file is opened afresh at its path (or, when that fails, the fallback file is used), with
a warning and a note saying which.
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

from dia.errors import DIAWarning
from dia.record.report import RunReport
from dia.redact import describe_error, redact_text
from dia.tracker import _build, _lifecycle

# (device, inode) of each store's SQLite file when it was opened, process-wide: a run that
# starts after the file was deleted still compares with what the store's engine holds.
_OPENED_AS: weakref.WeakKeyDictionary[Any, tuple[int, int] | None] = weakref.WeakKeyDictionary()
_FILE_LOCK = threading.Lock()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class Recorder:
    """Saves the reports of one run (checkpoints and the final one); never raises."""

    def __init__(self, store: Any) -> None:
        self.spec = store
        self.store: Any = None
        # Notes for the run's reports (the store could not be opened, was recreated...).
        self.notes: list[str] = []
        self.fallback_path: Path | None = None
        # Re-entered by a SIGTERM handler in the main thread; the run holds it to make
        # "still active? then save" one step.
        self.lock = threading.RLock()
        self._fallback_reason = "the store cannot be opened"
        self._fallback_warned = False
        self._file: Path | None = None

    def open(self) -> None:
        """Open the store (cached per URL per process); a failure is noted, not raised."""
        spec = self.spec
        if spec is False:
            return
        from dia.record.store import Store

        try:
            self.store = spec if isinstance(spec, Store) else _lifecycle.open_store(None if spec is None else str(spec))
            self._watch(self.store)
        except Exception as exc:
            line = describe_error(exc)
            self.notes.append(f"store could not be opened: {line}")
            self.store = None
            self._fallback_reason = f"the store cannot be opened ({line})"
            return
        said = self._check_file()
        if said:
            warnings.warn(f"DIA: {said}", DIAWarning, stacklevel=3)

    def previous(self, run_id: str) -> RunReport | None:
        """The stored report of ``run_id`` (``None`` without a store or without that run)."""
        if self.store is None:
            return None
        report: RunReport | None = self.store.get_run(run_id)
        return report

    def save(self, report: RunReport) -> RunReport:
        """Save ``report`` (store, else fallback file); returns it with the notes added on the way."""
        if self.spec is False:
            return report
        try:
            return self._save(report)
        except Exception as exc:  # a bug on the way: warn, never raise into the user's code
            warnings.warn(f"DIA: saving run {report.id} failed inside DIA ({describe_error(exc)}); "
                          f"the run goes on", DIAWarning, stacklevel=3)
            return report

    def _save(self, report: RunReport) -> RunReport:
        said = self._check_file() if self.store is not None else None
        report = self._noted(report)
        if self.store is None:
            report = self._write_fallback(report, self._fallback_reason)
        else:
            try:
                self.store.save_run(report)
            except Exception as exc:
                _lifecycle.forget_store(self.store)
                reason = (f"the store {getattr(self.store, 'masked_url', '')} cannot be written "
                          f"({describe_error(exc)})")
                report = self._write_fallback(report, reason)
        if said:  # after saving: a warning turned into an error must not cost the report
            warnings.warn(f"DIA: {said}", DIAWarning, stacklevel=4)
        return report

    def _noted(self, report: RunReport) -> RunReport:
        extra = [n for n in self.notes if n not in report.notes]
        return report.model_copy(update={"notes": [*report.notes, *extra]}) if extra else report

    # -- the store's file ----------------------------------------------------------------

    def _watch(self, store: Any) -> None:
        from dia.record.store import sqlite_file

        self._file = sqlite_file(store.url)
        if self._file is not None and store not in _OPENED_AS:
            _OPENED_AS[store] = _identity(self._file)

    def _check_file(self) -> str | None:
        """Reopen the store when its SQLite file was deleted or replaced since it was opened.

        Returns what happened, to be said in a warning once the report is saved.
        """
        path, store = self._file, self.store
        if path is None or store is None:
            return None
        with _FILE_LOCK:
            now = _identity(path)
            before = _OPENED_AS.get(store)
            if now is not None and now == before:
                return None
            what = "deleted" if now is None else "replaced"
            _lifecycle.forget_store(store)
            try:
                store.close()  # no connection of this process keeps the old file
            except Exception:  # closing is best effort: the new store below is what matters
                pass
            try:
                fresh = _lifecycle.open_store(store.url)
                _OPENED_AS[fresh] = _identity(path)
                if fresh is not store:
                    _OPENED_AS[store] = _OPENED_AS[fresh]  # a user's Store now reaches the new file
            except Exception as exc:
                self.store = None
                self._fallback_reason = (f"the store file {path.name} was {what} during the run and cannot be "
                                         f"opened again ({describe_error(exc)})")
                self.notes.append(f"the store file {path.name} was {what} during the run and could not be "
                                  f"recreated: the report went to a fallback file")
                return None  # the fallback file's own warning says it
        self.store = fresh
        if what == "deleted":
            text = (f"the store file {path.name} was deleted during the run: a new store was created at its "
                    f"path and the run saved there (runs stored before are not in it)")
        else:
            text = f"the store file {path.name} was replaced during the run: the run saved to the file now at its path"
        self.notes.append(text)
        return text

    def _write_fallback(self, report: RunReport, reason: str) -> RunReport:
        name = f"dia-fallback-{report.id}.json"
        note = redact_text(f"not in the store ({reason}): saved to the fallback file {name}")
        if not any(n.startswith("not in the store (") for n in report.notes):
            report = report.model_copy(update={"notes": [*report.notes, note]})
        path = _build.write_fallback(report, reason, warned=self._fallback_warned)
        self._fallback_warned = True
        if path is not None:
            self.fallback_path = path
        return report
