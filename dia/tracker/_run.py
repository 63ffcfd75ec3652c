"""The :class:`Run`: start, sample in the background, checkpoint, stop and save.

>>> from dia.tracker import track
>>> @track("me/tiny", store=False)
... def train():
...     return 42
>>> train()
42
>>> train.dia_run.report.status.value
'completed'

Nothing in here may break the user's code: an exception inside DIA becomes a
:class:`~dia.errors.DIAWarning` and a degraded report labelled in its notes.
Bad arguments (unknown kind or relation, a parent that is not a model id) do raise,
from :func:`track`, before the user's code runs.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, cast

from dia.errors import DIAWarning, InvalidArgumentError
from dia.measure.base import ComponentEnergy
from dia.record.report import Energy, Parent, Phase, Quantity, RunKind, RunReport, RunStatus
from dia.redact import describe_error, redact_text
from dia.tracker import _build, _lifecycle, _nesting
from dia.tracker._options import RunOptions, checkpoint_interval_s, location_inputs
from dia.tracker._phase import PhaseWindow
from dia.tracker._recorder import Recorder
from dia.tracker._sampler import Sampler

_F = TypeVar("_F", bound=Callable[..., Any])
_P = ParamSpec("_P")
_COUNTERS = ("steps", "samples", "tokens", "inferences")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Run:
    """One measured run. Use :func:`track` to make one; see the module docstring.

    ``Run(model_id, **options)`` takes the arguments of :class:`RunOptions`, or
    ``Run(options=RunOptions(...))`` an already checked set of them.
    """

    def __init__(self, model_id: str | None = None, *, options: RunOptions | None = None,
                 **kwargs: Any) -> None:
        if options is None:
            options = RunOptions(model_id, **kwargs)  # bad input raises here, before the user's code
        elif model_id is not None or kwargs:
            raise TypeError("Run(options=...) takes no other argument")
        self.options = options
        self.model_id = options.model_id
        self.parents: list[Parent] = list(cast("tuple[Parent, ...]", options.parents))
        self.kind = cast(RunKind, options.kind)
        self.meter_name = options.meter
        self.sample_interval_s = float(options.sample_interval_s)
        self.checkpoint_s = checkpoint_interval_s(options.checkpoint_s)
        self.run_group = options.run_group
        self._location = location_inputs(options)
        self.id: str = str(options.run_id) if options.run_id else _new_id()
        self.report: RunReport | None = None
        self._lock = threading.RLock()
        self._phase_stack: list[str] = []
        self._phases: list[Phase] = []
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._count_lock = threading.Lock()  # a plain lock: count() is on the hot path
        self._notes: list[str] = []
        self._degraded = False
        self._host_skipped = False
        self._active = False
        self._started = False
        self._previous: RunReport | None = None
        self._rank: Any = None
        self._t0 = 0.0
        self._t_end = 0.0
        self._started_at: datetime | None = None
        self._pid = 0
        # The run this one is a window of (None: a run of its own), and the windows of this one.
        self._outer: _nesting.Outer | None = None
        self._windows = _nesting.Windows()
        self._recorder = Recorder(options.store)
        self._sampler = Sampler(interval_s=self.sample_interval_s, checkpoint_s=self.checkpoint_s,
                                degrade=self._degrade, checkpoint=self._checkpoint)

    # -- public API ----------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def elapsed_s(self) -> float:
        """Seconds measured so far, including the earlier sessions of a resumed run."""
        before = (self._previous.duration_s or 0.0) if self._previous is not None else 0.0
        if not self._started:
            return before
        end = self._t_end if not self._active else time.perf_counter()
        return before + max(0.0, end - self._t0)

    def start(self) -> Run:
        """Open the measurement window (cheap: detection is cached per process)."""
        if self._active:
            return self
        if self._started:
            raise RuntimeError("a Run is started once; call dia.track(...) again (run_id= resumes it)")
        self._started = True
        self._pid = os.getpid()
        try:
            self._outer, stale = _nesting.find_outer(_lifecycle.current_run())
        except Exception as exc:  # pragma: no cover - measure on our own rather than fail
            self._outer, stale = None, None
            self._degrade("finding an outer run", exc)
        if stale:
            self._notes.append(stale)
        self._sync_edge()
        self._t0 = time.perf_counter()
        self._t_end = self._t0
        self._started_at = _now()
        try:
            self._setup()
        except Exception as exc:
            self._degrade("setup", exc)
        if self._outer is None:
            try:
                self._windows.export(self.id)
            except Exception as exc:  # child processes then measure on their own
                self._degrade("exporting the run to child processes", exc)
        self._active = True
        _lifecycle.register(self)
        offset_s = (self._previous.duration_s or 0.0) if self._previous is not None else 0.0
        self._sampler.start(self._t0, offset_s=offset_s, name=f"dia-run-{self.id[:8]}")
        return self

    def stop(self, status: str | RunStatus | None = None, *, note: str | None = None) -> RunReport:
        """Close the window, build the complete report, save it and return it.

        Never raises once the window is closed: a failure inside DIA becomes a
        :class:`~dia.errors.DIAWarning`, a note, and a degraded report that is still saved
        (to the store, else to the fallback file).
        """
        try:
            shown = RunStatus(status) if status is not None else RunStatus.COMPLETED
        except ValueError:
            raise InvalidArgumentError(f"unknown run status {status!r}; expected one of "
                                       f"{', '.join(s.value for s in RunStatus)}") from None
        if self._active:
            self._sync_edge()
        with self._lock:
            if not self._active:
                if self.report is not None:
                    return self.report
                if not self._started:
                    self.start()
                else:  # pragma: no cover - started but never active: setup crashed badly
                    return self._last_resort(RunStatus.FAILED)
            self._active = False
            self._t_end = time.perf_counter()
        try:
            return self._finish(shown, note)
        except Exception as exc:  # a bug inside DIA: the user's code must not see it
            text, new = self._failure_note("stop", exc)
            report = self._label(self._last_resort(shown))
            with self._recorder.lock:
                self.report = self._save_final(report)
            if new:  # after saving: a warning turned into an error must not cost the report
                warnings.warn(f"DIA: {text}; the report is saved degraded", DIAWarning, stacklevel=2)
            return self.report

    def _finish(self, shown: RunStatus, note: str | None) -> RunReport:
        _lifecycle.unregister(self)
        final = self._sampler.stop()
        try:
            self._windows.close()
        except Exception as exc:
            self._degrade("taking in the windows", exc)
        if note:
            self._notes.append(redact_text(note))
        self._flag_short("the run", self._t_end - self._t0)
        report = self._build(shown, final, ended=True)
        with self._recorder.lock:
            self.report = report
            self.report = self._save_final(report)
        return self.report

    def _save_final(self, report: RunReport) -> RunReport:
        """Save the stopped run's report, or hand it to the outer run it is a window of."""
        outer = self._outer
        if outer is None:
            return self._recorder.save(report)
        try:
            if outer.publish(report):
                return report
        except Exception as exc:
            self._degrade("handing the window to its outer run", exc)
        # The outer run ended first: this run's energy would be lost, store it as its own.
        self._outer = None
        extra = {k: v for k, v in report.extra.items() if k != "window_of"}
        notes = [n for n in report.notes if n != _nesting.window_note(outer.run_id)]
        notes.append(f"started inside run {outer.run_id}, which ended first: stored as a run of its own "
                     f"(the time both ran may be counted in both)")
        self._notes.append(notes[-1])
        self._recorder.open()
        return self._recorder.save(report.model_copy(update={"extra": extra, "notes": notes}))

    def _label(self, report: RunReport) -> RunReport:
        outer = self._outer
        return _nesting.window_extra(report, outer.run_id) if outer is not None else report

    def _sync_edge(self) -> None:
        """Wait for queued CUDA work at a window's edge (``sync_cuda``); never raises."""
        if not self.options.sync_cuda:
            return
        try:
            from dia.measure.gpu.cuda import synchronize

            synchronize()
        except Exception:  # a failed sync only blurs the edge
            pass

    def _flag_short(self, what: str, duration_s: float) -> None:
        """Note a window shorter than what the slowest of the run's meters resolves."""
        slowest = max(self._sampler.meters, key=lambda m: m.min_window_s, default=None)
        if slowest is None or slowest.min_window_s <= 0 or duration_s >= slowest.min_window_s:
            return
        text = (f"{what} was shorter than the {slowest.min_window_s:g} s the {slowest.name} meter resolves "
                f"(its counter's update period): its energy may read 0 and is not reliable")
        with self._lock:
            if text not in self._notes:
                self._notes.append(text)

    def _last_resort(self, status: RunStatus) -> RunReport:
        """A labelled report even when building one from the run's state fails."""
        try:
            return _build.minimal_report(self._snapshot(), status)
        except Exception:  # the state itself is unusable: keep what identifies the run
            return RunReport.model_construct(
                id=self.id, model_id=self.model_id, parents=list(self.parents), kind=self.kind, status=status,
                started_at=self._started_at, ended_at=_now(), meter="degraded",
                energy=Energy(it_kwh=Quantity.zero("kWh", "unavailable")), notes=list(self._notes),
                extra={"degraded": True})

    def add_extra(self, **items: Any) -> RunReport | None:
        """Add ``items`` to the stopped run's ``extra`` and save the report again.

        It goes where the run's report went (its store, else its fallback file); like
        :meth:`stop`, it never raises: a failure is a :class:`~dia.errors.DIAWarning`.
        ``None`` while the run has not stopped.
        """
        with self._recorder.lock:
            report = self.report
            if report is None or self._active:
                return None
            try:
                updated = report.model_copy(update={"extra": {**report.extra, **items}})
                if self._outer is not None:  # a window is stored by its outer run, never here
                    self.report = updated
                    self._outer.publish(updated)
                else:
                    self.report = self._recorder.save(updated)
            except Exception as exc:
                self._degrade("updating the stopped report", exc)
            return self.report

    def snapshot(self) -> RunReport:
        """The report so far (status ``running``), with carbon and water; not saved."""
        if not self._active and self.report is not None:
            return self.report
        try:
            return self._build(RunStatus.RUNNING, self._safe_readings() or [], ended=False, where="snapshot")
        except Exception as exc:
            self._degrade("snapshot", exc)
            return self._last_resort(RunStatus.RUNNING)

    def phase(self, name: str) -> PhaseWindow:
        """A named sub-window; nested phases get path names (``"fit/validate"``)."""
        # A str-valued Enum (Lightning's TrainerFn) names its phase by value: "fit".
        return PhaseWindow(self, str(getattr(name, "value", name)))

    def count(self, *, steps: int = 0, samples: int = 0, tokens: int = 0, inferences: int = 0) -> None:
        """Add to the workload counters (cheap, ~0.4 us: call it every step, from any thread)."""
        with self._count_lock:
            c = self._counts
            if steps:
                c["steps"] += steps
            if samples:
                c["samples"] += samples
            if tokens:
                c["tokens"] += tokens
            if inferences:
                c["inferences"] += inferences

    # -- context manager and decorator ---------------------------------------------------

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc_type is None:
            status = RunStatus.COMPLETED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.INTERRUPTED
        elif issubclass(exc_type, SystemExit) and getattr(exc, "code", 1) in (0, None):
            status = RunStatus.COMPLETED
        else:
            status = RunStatus.FAILED
        note = None
        if exc_type is not None and status is not RunStatus.COMPLETED:
            note = describe_error(exc) if exc is not None else exc_type.__name__
        self.stop(status, note=note)
        return False  # the user's exception propagates unchanged

    def __call__(self, func: _F) -> _F:
        """Decorate a function: every call is its own run (``func.dia_run`` is the latest)."""
        options = self.options  # checked once, here; each call starts a fresh Run with them

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = Run(options=options)
            wrapper.dia_run = run  # type: ignore[attr-defined]
            with run:
                return func(*args, **kwargs)

        wrapper.dia_run = None  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        state = "active" if self._active else ("stopped" if self.report else "new")
        return f"<dia.Run {self.id[:8]} {self.model_id or '-'} {state}>"

    # -- internals -----------------------------------------------------------------------

    def _setup(self) -> None:
        from dia.measure import select_meters
        from dia.measure.distributed import RankInfo, detect_rank

        try:
            self._rank = detect_rank()
        except Exception as exc:  # odd launcher variables: measure as a single process
            self._degrade("rank detection", exc)
            self._rank = RankInfo()
        if self.run_group is None:
            self.run_group = self._rank.run_group
        if self._outer is None:  # a window is not saved: no store to open
            self._recorder.open()
        elif self.options.run_id is not None:
            self._notes.append(f"run_id given inside run {self._outer.run_id}: measured as a window of it, "
                               f"the stored run is not resumed")
        if self.options.run_id is not None and self._recorder.store is not None:
            try:
                self._resume()
            except Exception as exc:  # the stored run cannot be read: start afresh under its id
                self._degrade("resuming the stored run", exc)
        try:
            meters, notes = select_meters(self.meter_name, rank=self._rank, country=self._location["country"])
        except Exception as exc:
            self._degrade("meter selection", exc)
            meters, notes = [], []
        self._notes += notes
        self._host_skipped = not self._rank.measures_host
        self._sampler.open(meters, power=list(self._previous.power_samples) if self._previous else None)

    def _resume(self) -> None:
        previous = self._recorder.previous(self.id)
        if previous is None:
            self._notes.append(f"run {self.id} not in the store: started afresh under that id")
            return
        if "unreadable" in previous.extra:  # written by a newer DIA: never overwrite it
            stored_id, self.id = self.id, _new_id()
            self._notes.append(f"run {stored_id} cannot be resumed ({previous.extra['unreadable']}): "
                               f"measured as a new run")
            return
        self.id = previous.id
        self._previous = previous
        self._started_at = previous.started_at or self._started_at
        self._phases = list(previous.phases)
        for name in _COUNTERS:
            self._counts[name] = getattr(previous.workload, name) or 0
        self._notes = [n for n in previous.notes if not n.startswith("process gone")]
        self._notes.append(f"resumed at {_now().isoformat(timespec='seconds')}")
        if self.model_id is None:
            self.model_id = previous.model_id
        if not self.parents:
            self.parents = list(previous.parents)

    def _degrade(self, where: str, exc: BaseException) -> str:
        text, new = self._failure_note(where, exc)
        if new:
            warnings.warn(f"DIA: {text}; the run goes on", DIAWarning, stacklevel=3)
        return text

    def _failure_note(self, where: str, exc: BaseException) -> tuple[str, bool]:
        """Label the run degraded; the note, and whether it is new (then worth a warning)."""
        self._degraded = True
        text = f"degraded: {where} failed inside DIA ({describe_error(exc, limit=200)})"
        if text in self._notes:
            return text, False
        self._notes.append(text)
        return text, True

    def _safe_readings(self) -> list[ComponentEnergy] | None:
        return self._sampler.readings()

    def _checkpoint(self, status: str = "running", note: str | None = None) -> None:
        """Save the running report with a fresh heartbeat (no-op once stopped)."""
        if not self._active:
            return
        try:
            self._windows.collect()
            report = self._label(_build.build_report(self._snapshot(), RunStatus(status), self._safe_readings() or [],
                                                     ended=False, degrade=self._degrade))
            if note:
                report = report.model_copy(update={"notes": [*report.notes, note]})
        except Exception as exc:
            self._degrade("checkpoint", exc)
            return
        with self._recorder.lock:
            if not self._active:  # stop() saves the final report: never overwrite it with this one
                return
            if self._outer is not None:
                try:
                    self._outer.publish(report)
                except Exception as exc:
                    self._degrade("handing the window to its outer run", exc)
            else:
                self._recorder.save(report)

    def _snapshot(self) -> _build.RunSnapshot:
        with self._count_lock:
            counts = dict(self._counts)
        with self._lock:
            phases = list(self._phases)
        windows, window_notes = self._windows.snapshot()
        return _nesting.apply_windows(_build.RunSnapshot(
            id=self.id, model_id=self.model_id, parents=self.parents, kind=self.kind,
            started_at=self._started_at, elapsed_s=self.elapsed_s, run_group=self.run_group,
            rank=self._rank, location=self._location, meters=self._sampler.meters, counts=counts,
            phases=phases, power=self._sampler.power(), notes=self._all_notes(), previous=self._previous,
            degraded=self._degraded, host_skipped=self._host_skipped, checkpoint_s=self.checkpoint_s),
            windows, window_notes)

    def _all_notes(self) -> list[str]:
        return [*self._notes, *(n for n in self._recorder.notes if n not in self._notes)]

    def _build(self, status: RunStatus, readings: list[ComponentEnergy], *, ended: bool,
               where: str = "report") -> RunReport:
        """The report now; if building it fails, a labelled minimal one (never raises)."""
        try:
            return self._label(_build.build_report(self._snapshot(), status, readings, ended=ended,
                                                   degrade=self._degrade))
        except Exception as exc:
            self._degrade(where, exc)
            return self._label(_build.minimal_report(self._snapshot(), status))


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _signature_of(options: Callable[_P, RunOptions]) -> Callable[[Callable[..., Run]], Callable[_P, Run]]:
    """Give ``track`` the parameters of :class:`RunOptions` (for type checkers and ``help()``)."""

    def apply(func: Callable[..., Run]) -> Callable[_P, Run]:
        func.__signature__ = inspect.signature(options).replace(  # type: ignore[attr-defined]
            return_annotation="Run")
        return func

    return apply


@_signature_of(RunOptions)
def track(*args: Any, **kwargs: Any) -> Run:
    """A run to measure: a context manager, a decorator, or ``.start()`` / ``.stop()``.

    Takes the arguments of :class:`~dia.tracker.RunOptions` (``model_id`` first, the rest
    by keyword). ``store``: ``None`` for the default store (``DIA_DATABASE_URL`` or the
    embedded SQLite file), a URL, a :class:`~dia.record.store.Store`, or ``False`` not to
    save. ``run_id`` resumes a stored run: energy, counters and phases continue in the
    same report.

    >>> with track("me/tiny", store=False, meter="estimate") as run:
    ...     run.count(tokens=100)
    >>> run.report.energy.it_kwh.quality.value
    'estimated'
    """
    return Run(options=RunOptions(*args, **kwargs))
