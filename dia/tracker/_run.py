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
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Literal, TypeVar

from dia.constants import (
    DEFAULT_CHECKPOINT_S,
    DEFAULT_SAMPLE_INTERVAL_S,
    ENV_CHECKPOINT_S,
    ENV_CLOUD_PROVIDER,
    ENV_CLOUD_REGION,
    ENV_COUNTRY,
    ENV_REGION,
)
from dia.errors import DIAWarning, InvalidArgumentError
from dia.measure.base import ComponentEnergy, Meter
from dia.record.report import (
    GPU,
    Energy,
    Hardware,
    Location,
    Phase,
    PowerSample,
    Quantity,
    RunKind,
    RunReport,
    RunStatus,
    Tool,
    Workload,
    parse_kind,
)
from dia.tracker import _build, _lifecycle
from dia.tracker._inputs import parse_parents
from dia.tracker._phase import PhaseWindow

_F = TypeVar("_F", bound=Callable[..., Any])
_MAX_POWER_SAMPLES = 2000  # beyond this, every other sample is dropped (trace kept whole)
_FIRST_CHECKPOINT_S = 1.0
_COUNTERS = ("steps", "samples", "tokens", "inferences")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _checkpoint_interval(checkpoint_s: float | None) -> float:
    if checkpoint_s is not None:
        return float(checkpoint_s)
    try:
        return float(os.environ.get(ENV_CHECKPOINT_S, DEFAULT_CHECKPOINT_S))
    except ValueError:
        return DEFAULT_CHECKPOINT_S


class Run:
    """One measured run. Use :func:`track` to make one; see the module docstring."""

    def __init__(self, model_id: str | None = None, *, parents: Iterable[Any] | str | None = (),
                 kind: str | RunKind = "other", store: Any = None, run_id: str | None = None,
                 country: str | None = None, region: str | None = None, cloud_provider: str | None = None,
                 cloud_region: str | None = None, pue: float | None = None, wue: float | None = None,
                 carbon_intensity: float | None = None, meter: str = "auto",
                 sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S, checkpoint_s: float | None = None,
                 run_group: str | None = None) -> None:
        from dia.link.relations import validate_model_id
        from dia.measure import METER_NAMES

        self._spec = dict(model_id=model_id, parents=parents, kind=kind, store=store, run_id=run_id,
                          country=country, region=region, cloud_provider=cloud_provider,
                          cloud_region=cloud_region, pue=pue, wue=wue, carbon_intensity=carbon_intensity,
                          meter=meter, sample_interval_s=sample_interval_s, checkpoint_s=checkpoint_s,
                          run_group=run_group)
        # Bad input raises here, before the user's code runs.
        self.model_id = validate_model_id(model_id) if model_id is not None else None
        self.parents = parse_parents(parents)
        self.kind = parse_kind(kind)
        if meter not in METER_NAMES:
            raise InvalidArgumentError(f"unknown meter {meter!r}; expected one of {', '.join(METER_NAMES)}")
        if not sample_interval_s > 0:
            raise InvalidArgumentError(f"sample_interval_s must be positive (got {sample_interval_s})")
        self.meter_name = meter
        self.sample_interval_s = float(sample_interval_s)
        self.checkpoint_s = max(0.05, _checkpoint_interval(checkpoint_s))
        self.run_group = run_group
        self._location: dict[str, Any] = {
            "country": country or os.environ.get(ENV_COUNTRY),
            "region": region or os.environ.get(ENV_REGION),
            "cloud_provider": cloud_provider or os.environ.get(ENV_CLOUD_PROVIDER),
            "cloud_region": cloud_region or os.environ.get(ENV_CLOUD_REGION),
            "pue": pue, "wue": wue, "carbon_intensity": carbon_intensity,
        }
        self._store_spec = store
        self._resume_id = run_id
        self.id: str = str(run_id) if run_id else _new_id()
        self.report: RunReport | None = None
        self._lock = threading.RLock()
        self._save_lock = threading.RLock()  # re-entered by a SIGTERM handler in the main thread
        self._phase_stack: list[str] = []
        self._phases: list[Phase] = []
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._count_lock = threading.Lock()  # a plain lock: count() is on the hot path
        self._meters: list[Meter] = []
        self._notes: list[str] = []
        self._degraded = False
        self._host_skipped = False
        self._active = False
        self._started = False
        self._store: Any = None
        self._fallback_warned = False
        self._previous: RunReport | None = None
        self._power: list[PowerSample] = []
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._rank: Any = None
        self._t0 = 0.0
        self._started_at: datetime | None = None
        self._last_call: Run | None = None

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
        self._t0 = time.perf_counter()
        self._t_end = self._t0
        self._started_at = _now()
        try:
            self._setup()
        except Exception as exc:
            self._degrade("setup", exc)
        self._active = True
        _lifecycle.register(self)
        self._thread = threading.Thread(target=self._loop, name=f"dia-run-{self.id[:8]}", daemon=True)
        self._thread.start()
        return self

    def stop(self, status: str | RunStatus | None = None, *, note: str | None = None) -> RunReport:
        """Close the window, build the complete report, save it and return it."""
        with self._lock:
            if not self._active:
                if self.report is not None:
                    return self.report
                if not self._started:
                    self.start()
                else:  # pragma: no cover - started but never active: setup crashed badly
                    return self._minimal_report(RunStatus.FAILED)
            self._active = False
            self._t_end = time.perf_counter()
        _lifecycle.unregister(self)
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if note:
            self._notes.append(note)
        shown = RunStatus(status) if status is not None else RunStatus.COMPLETED
        final: list[ComponentEnergy] = []
        for m in self._meters:
            try:
                final += m.stop()
            except Exception as exc:
                self._degrade(f"meter {m.name}", exc)
        try:
            report = self._build(shown, final, ended=True)
        except Exception as exc:
            self._degrade("report", exc)
            report = self._minimal_report(shown)
        with self._save_lock:
            self.report = report
            self._save(report)
        return report

    def snapshot(self) -> RunReport:
        """The report so far (status ``running``), with carbon and water; not saved."""
        if not self._active and self.report is not None:
            return self.report
        try:
            return self._build(RunStatus.RUNNING, self._safe_readings() or [], ended=False)
        except Exception as exc:
            self._degrade("snapshot", exc)
            return self._minimal_report(RunStatus.RUNNING)

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
        note = f"{exc_type.__name__}: {exc}"[:300] if exc_type is not None and status is not RunStatus.COMPLETED else None
        self.stop(status, note=note)
        return False  # the user's exception propagates unchanged

    def __call__(self, func: _F) -> _F:
        """Decorate a function: every call is its own run (``func.dia_run`` is the latest)."""
        spec = self._spec

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = Run(**spec)  # type: ignore[arg-type]
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
        from dia.measure.distributed import detect_rank

        self._rank = detect_rank()
        if self.run_group is None:
            self.run_group = self._rank.run_group
        self._open_store()
        if self._resume_id is not None and self._store is not None:
            self._resume()
        try:
            meters, notes = select_meters(self.meter_name, rank=self._rank, country=self._location["country"])
        except Exception as exc:
            self._degrade("meter selection", exc)
            meters, notes = [], []
        self._notes += notes
        self._host_skipped = not self._rank.measures_host
        for m in meters:
            try:
                m.start()
                self._meters.append(m)
            except Exception as exc:
                self._degrade(f"meter {m.name}", exc)

    def _open_store(self) -> None:
        spec = self._store_spec
        if spec is False:
            return
        from dia.record.store import Store

        if isinstance(spec, Store):
            self._store = spec
            return
        try:
            self._store = _lifecycle.open_store(None if spec is None else str(spec))
        except Exception as exc:
            self._notes.append(f"store could not be opened: {str(exc)[:200]}")
            self._store = None
            self._fallback_reason = f"the store cannot be opened ({str(exc)[:200]})"

    def _resume(self) -> None:
        previous = self._store.get_run(self.id)
        if previous is None:
            self._notes.append(f"run {self.id} not in the store: started afresh under that id")
            return
        self.id = previous.id
        self._previous = previous
        self._started_at = previous.started_at or self._started_at
        self._phases = list(previous.phases)
        self._power = list(previous.power_samples)
        for name in _COUNTERS:
            self._counts[name] = getattr(previous.workload, name) or 0
        self._notes = [n for n in previous.notes if not n.startswith("process gone")]
        self._notes.append(f"resumed at {_now().isoformat(timespec='seconds')}")
        if self.model_id is None:
            self.model_id = previous.model_id
        if not self.parents:
            self.parents = list(previous.parents)

    def _degrade(self, where: str, exc: BaseException) -> None:
        self._degraded = True
        text = f"degraded: {where} failed inside DIA ({type(exc).__name__}: {str(exc)[:200]})"
        if text not in self._notes:
            self._notes.append(text)
            warnings.warn(f"DIA: {text}; the run goes on", DIAWarning, stacklevel=3)

    def _safe_readings(self) -> list[ComponentEnergy] | None:
        out: list[ComponentEnergy] = []
        for m in self._meters:
            try:
                out += m.read()
            except Exception as exc:
                self._degrade(f"meter {m.name}", exc)
                return None
        return out

    def _loop(self) -> None:
        """Background thread: sample the meters, keep a power trace, checkpoint."""
        try:
            last_t, last_j = time.perf_counter(), 0.0
            # The first checkpoint comes early (a crash then leaves the run in the store),
            # but not at once: a block shorter than that is saved once, by stop().
            next_cp = last_t + min(self.checkpoint_s, _FIRST_CHECKPOINT_S)
            while True:
                now = time.perf_counter()
                wait = max(0.0, min(self.sample_interval_s, next_cp - now))
                if self._stop_event.wait(wait):
                    return
                for m in self._meters:
                    m.sample()
                now = time.perf_counter()
                readings = self._safe_readings()
                if readings is not None and self._meters and now > last_t:
                    joules = _build.total_j(readings)
                    self._record_power(now, max(0.0, joules - last_j) / (now - last_t))
                    last_t, last_j = now, joules
                if now >= next_cp:
                    self._checkpoint()
                    next_cp = now + self.checkpoint_s
        except Exception as exc:  # the sampler died: the final reading at stop still counts
            self._degrade("background sampler", exc)

    def _record_power(self, now: float, watts: float) -> None:
        offset = (self._previous.duration_s or 0.0) if self._previous is not None else 0.0
        with self._lock:
            self._power.append(PowerSample(t_s=offset + now - self._t0, power_w=watts))
            if len(self._power) > _MAX_POWER_SAMPLES:
                self._power = self._power[::2]

    def _checkpoint(self, status: str = "running", note: str | None = None) -> None:
        """Save the running report with a fresh heartbeat (no-op once stopped)."""
        if not self._active:
            return
        try:
            report = self._build(RunStatus(status), self._safe_readings() or [], ended=False)
            if note:
                report = report.model_copy(update={"notes": [*report.notes, note]})
        except Exception as exc:
            self._degrade("checkpoint", exc)
            return
        with self._save_lock:
            if self._active:  # stop() saves the final report: never overwrite it with this one
                self._save(report)

    def _save(self, report: RunReport) -> None:
        if self._store_spec is False:
            return
        if self._store is None:
            self._write_fallback(report, getattr(self, "_fallback_reason", "the store cannot be opened"))
            return
        try:
            self._store.save_run(report)
        except Exception as exc:
            _lifecycle.forget_store(self._store)
            self._write_fallback(report, f"the store {getattr(self._store, 'masked_url', '')} cannot be "
                                         f"written ({type(exc).__name__}: {str(exc)[:200]})")

    def _write_fallback(self, report: RunReport, reason: str) -> None:
        path = _build.write_fallback(report, reason, warned=self._fallback_warned)
        self._fallback_warned = True
        if path is not None:
            self._fallback_path = path

    def _hardware(self) -> Hardware:
        from dia.measure.hardware import host_info

        host = host_info()
        names: dict[str, int] = {}
        for m in self._meters:
            for g in m.gpus:
                names[g.name] = names.get(g.name, 0) + 1
        if self._previous is not None and not names:
            return self._previous.hardware
        return Hardware(gpus=[GPU(name=n, count=c) for n, c in names.items()], cpu_model=host.cpu_model,
                        cpu_cores=host.cpu_count, ram_gb=round(host.ram_gb, 2) if host.ram_gb else None)

    def _build(self, status: RunStatus, readings: list[ComponentEnergy], *, ended: bool) -> RunReport:
        now = _now()
        elapsed = self.elapsed_s
        nothing = "measured" if (self._host_skipped and not self._degraded) else "unavailable"
        offset: Energy | None = self._previous.energy if self._previous is not None else None
        energy = _build.energy_from(readings, offset=offset, nothing_quality=nothing)
        hardware = self._hardware()
        new_gpu_h = hardware.gpu_count * max(0.0, elapsed - ((self._previous.duration_s or 0.0)
                                                              if self._previous is not None else 0.0)) / 3600.0
        gpu_hours = new_gpu_h + ((self._previous.gpu_hours or 0.0) if self._previous is not None else 0.0)
        notes = list(self._notes)
        for m in self._meters:
            notes += [n for n in m.notes if n not in notes]
        if self._host_skipped and not readings:
            notes.append("this rank measures no device of its own: its energy is counted by other ranks")
        with self._count_lock:
            counts = dict(self._counts)
        with self._lock:
            phases = list(self._phases)
            power = list(self._power)
        rank = self._rank
        loc = self._location
        meter = "+".join(m.name for m in self._meters) or ("none" if not self._degraded else "degraded")
        report = RunReport(
            id=self.id, model_id=self.model_id, parents=self.parents, kind=self.kind, status=status,
            started_at=self._started_at, ended_at=now if ended else None, duration_s=elapsed,
            heartbeat_at=now, run_group=self.run_group,
            rank=rank.rank if rank is not None else 0, world_size=rank.world_size if rank is not None else 1,
            hardware=hardware,
            location=Location(country=loc["country"], region=loc["region"],
                              cloud_provider=loc["cloud_provider"], cloud_region=loc["cloud_region"]),
            tool=Tool(version=_version()), meter=meter, gpu_hours=gpu_hours if hardware.gpus else None,
            host=socket.gethostname(), pid=os.getpid(), source="tracker", energy=energy,
            workload=Workload(**{k: (v or None) for k, v in counts.items()}), phases=phases,
            power_samples=power, notes=notes,
            extra=dict(self._previous.extra) if self._previous is not None else {},
        )
        try:
            report = _build.convert(report, {k: v for k, v in loc.items()})
        except Exception as exc:
            self._degrade("conversion to carbon and water", exc)
            report = report.model_copy(update={"notes": list(self._notes)})
        if self._degraded:
            report.extra["degraded"] = True
        return report

    def _minimal_report(self, status: RunStatus) -> RunReport:
        """What is left when building the report itself failed: labelled, energy unavailable."""
        return RunReport(id=self.id, model_id=self.model_id, parents=self.parents, kind=self.kind,
                         status=status, started_at=self._started_at, ended_at=_now(),
                         duration_s=self.elapsed_s, host=socket.gethostname(), pid=os.getpid(),
                         meter="degraded", energy=Energy(it_kwh=Quantity.zero("kWh", "unavailable")),
                         notes=list(self._notes), extra={"degraded": True})


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


@functools.lru_cache(maxsize=1)
def _version() -> str:
    from dia._version import __version__

    return __version__


def track(model_id: str | None = None, *, parents: Iterable[Any] | str | None = (),
          kind: str | RunKind = "other", store: Any = None, run_id: str | None = None,
          country: str | None = None, region: str | None = None, cloud_provider: str | None = None,
          cloud_region: str | None = None, pue: float | None = None, wue: float | None = None,
          carbon_intensity: float | None = None, meter: str = "auto",
          sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S, checkpoint_s: float | None = None,
          run_group: str | None = None) -> Run:
    """A run to measure: a context manager, a decorator, or ``.start()`` / ``.stop()``.

    ``store``: ``None`` for the default store (``DIA_DATABASE_URL`` or the embedded SQLite
    file), a URL, a :class:`~dia.record.store.Store`, or ``False`` not to save. ``run_id`` resumes a
    stored run: energy, counters and phases continue in the same report.

    >>> with track("me/tiny", store=False, meter="estimate") as run:
    ...     run.count(tokens=100)
    >>> run.report.energy.it_kwh.quality.value
    'estimated'
    """
    return Run(model_id, parents=parents, kind=kind, store=store, run_id=run_id, country=country,
               region=region, cloud_provider=cloud_provider, cloud_region=cloud_region, pue=pue, wue=wue,
               carbon_intensity=carbon_intensity, meter=meter, sample_interval_s=sample_interval_s,
               checkpoint_s=checkpoint_s, run_group=run_group)
