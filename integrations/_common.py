"""What the framework integrations share: :class:`CallbackCore`, metrics, parents, forecasts.

The Transformers and Lightning callbacks map their hooks onto one :class:`CallbackCore`
(start or resume the run, phases, counters, live ``dia/*`` metrics, forecast and
budgets, failures, storing). Ranks and run groups come from
:mod:`dia.measure.distributed`, as for the tracker.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dia.integrations._forecast import Forecast, Forecaster

if TYPE_CHECKING:  # pragma: no cover
    from dia.record.report import RunReport
    from dia.tracker import Run
    from dia.tracker._phase import PhaseWindow

ParentSpec = str | tuple[str, str]

METRIC_PREFIX = "dia/"


def metrics_from_report(report: RunReport, elapsed_s: float | None = None) -> dict[str, float]:
    """The live ``dia/*`` scalars logged by the callbacks.

    ``dia/energy_kwh`` is IT energy (GPU + CPU + RAM, what the meter saw), ``dia/carbon_kg``
    and ``dia/water_l`` are totals (they include the facility overhead), ``dia/power_w``
    is the latest power sample, else the mean power so far.
    """
    energy_kwh = report.energy.it_kwh.value
    out = {
        f"{METRIC_PREFIX}energy_kwh": energy_kwh,
        f"{METRIC_PREFIX}carbon_kg": report.carbon.total_kg.value if report.carbon else 0.0,
        f"{METRIC_PREFIX}water_l": report.water.total_l.value if report.water else 0.0,
    }
    elapsed = elapsed_s if elapsed_s is not None else report.duration_s
    if report.power_samples:
        out[f"{METRIC_PREFIX}power_w"] = report.power_samples[-1].power_w
    elif elapsed:
        out[f"{METRIC_PREFIX}power_w"] = energy_kwh * 3.6e6 / elapsed
    return out


def model_parent(model: Any, *, adapter: bool | None = None) -> list[ParentSpec]:
    """The parent recorded in a Hugging Face model's config (``config._name_or_path``).

    A local path or an empty name is no model id and gives no parent. The relation is
    ``adapter`` for a PEFT model (detected by its ``peft_config``), else ``finetune``.
    """
    from dia.errors import InvalidModelIdError
    from dia.link.relations import validate_model_id

    config = getattr(model, "config", None)
    base = getattr(model, "base_model", None)
    if getattr(config, "_name_or_path", None) in (None, "") and base is not None:
        config = getattr(base, "config", config)  # PEFT wraps the HF model
    name = str(getattr(config, "_name_or_path", "") or "").strip()
    if not name or os.path.isabs(name) or name.startswith((".", "~")) or os.path.isdir(name):
        return []
    try:
        name = validate_model_id(name)
    except InvalidModelIdError:
        return []
    is_adapter = adapter if adapter is not None else hasattr(model, "peft_config")
    return [(name, "adapter" if is_adapter else "finetune")]


def resolve_parents(explicit: Iterable[ParentSpec] | None, detected: Sequence[ParentSpec]) -> list[ParentSpec]:
    """An explicit ``parents=`` (even empty) wins over the detected ones."""
    return list(explicit) if explicit is not None else list(detected)


def drop_self(parents: list[ParentSpec], model_id: str | None) -> list[ParentSpec]:
    """Drop a parent equal to the model itself (resuming from one's own checkpoint)."""
    if model_id is None:
        return parents
    return [p for p in parents if (p if isinstance(p, str) else p[0]).split(":")[0] != model_id]


def store_forecast(run: Any, forecast: dict[str, object], store: Any = None) -> None:
    """Keep the forecast in the stopped run's report, as ``extra["forecast"]``.

    The report is saved again where the run saved it (its store, else its fallback file);
    a failure is a :class:`~dia.errors.DIAWarning`, never an exception in the training code.
    """
    report = getattr(run, "report", None)
    if report is None or store is False or report.extra.get("forecast") == forecast:
        return
    add_extra = getattr(run, "add_extra", None)
    if add_extra is not None:
        add_extra(forecast=forecast)
        return
    from dia.record.store import Store

    updated = report.model_copy(update={"extra": {**report.extra, "forecast": forecast}})
    try:
        if isinstance(store, Store):
            store.save_run(updated)
        else:
            with Store(store) as opened:
                opened.save_run(updated)
    except Exception as exc:
        _warn("storing the forecast", exc)
        return
    try:
        run.report = updated
    except AttributeError:  # a read-only property: the stored copy is what matters
        pass


def _warn(where: str, exc: BaseException) -> None:
    """A failure inside DIA during training: one warning, the training goes on."""
    import warnings

    from dia.errors import DIAWarning
    from dia.redact import describe_error

    warnings.warn(f"DIA: {where} failed inside DIA ({describe_error(exc)}); training goes on",
                  DIAWarning, stacklevel=3)


class CallbackCore:
    """The framework-independent part of a DIA training callback.

    A callback builds one from its keyword arguments and calls it from its hooks:
    :meth:`start` when training begins, :meth:`count` per optimizer step,
    :meth:`open_phase` / :meth:`close_phase` around evaluation, :meth:`maybe_forecast`,
    :meth:`live_metrics` when logging and :meth:`finish` at the end or on an exception.

    >>> core = CallbackCore(store=False, meter="estimate")
    >>> run = core.start("me/tiny", world_size=1)
    >>> core.count(steps=1, samples=8)
    >>> core.finish("completed").workload.samples
    8
    """

    def __init__(self, model_id: str | None = None, *, parents: Iterable[ParentSpec] | None = None,
                 kind: str = "finetuning", store: Any = None, forecast_after_steps: int | None = None,
                 budget_kg: float | None = None, budget_l: float | None = None,
                 budget_kwh: float | None = None, **track_kwargs: Any) -> None:
        self.model_id = model_id
        self.parents = None if parents is None else list(parents)
        self.kind = kind
        self.store = store
        self.track_kwargs = track_kwargs
        self.forecaster = Forecaster(after_steps=forecast_after_steps, budget_kg=budget_kg,
                                     budget_l=budget_l, budget_kwh=budget_kwh)
        self.run: Run | None = None
        self.pending_metrics: dict[str, float] = {}  # forecast figures not logged yet
        self._phases: list[PhaseWindow] = []

    @property
    def active(self) -> bool:
        return self.run is not None and self.run.is_active

    @property
    def forecast(self) -> Forecast | None:
        return self.forecaster.forecast

    @property
    def report(self) -> RunReport | None:
        return None if self.run is None else self.run.report

    def start(self, default_model_id: str | None = None, detected_parents: Sequence[ParentSpec] = (), *,
              world_size: int, group_parts: Sequence[object] = (), run_id: str | None = None) -> Run:
        """Start (or, with ``run_id``, resume) the run; a no-op while one is active.

        ``model_id=`` and ``parents=`` given to the callback win over the defaults the
        framework found. With ``world_size > 1``, every rank derives the same run group from
        the launcher and ``group_parts`` (e.g. the output folder).
        """
        from dia.measure.distributed import run_group
        from dia.tracker import track

        if self.run is not None and self.run.is_active:
            return self.run
        model_id = self.model_id or default_model_id
        parents = drop_self(resolve_parents(self.parents, detected_parents), model_id)
        kwargs = dict(self.track_kwargs)
        if world_size > 1 and kwargs.get("run_group") is None:
            kwargs["run_group"] = run_group(*group_parts)
        if run_id is not None:
            kwargs["run_id"] = run_id
        self.run = track(model_id, parents=parents, kind=self.kind, store=self.store, **kwargs).start()
        return self.run

    def count(self, *, steps: int = 0, samples: int = 0) -> None:
        if self.run is not None and self.run.is_active:
            self.run.count(steps=steps, samples=samples)

    # -- phases ------------------------------------------------------------------------
    def open_phase(self, name: str) -> PhaseWindow:
        """Enter a phase of the active run (closed by :meth:`close_phase` or :meth:`finish`)."""
        assert self.run is not None
        cm = self.run.phase(name)
        cm.__enter__()
        self._phases.append(cm)
        return cm

    @property
    def open_phases(self) -> int:
        return len(self._phases)

    def close_phase(self, phase: PhaseWindow) -> None:
        """Close ``phase`` if it is the innermost open one (else leave the stack alone)."""
        if self._phases and self._phases[-1] is phase:
            self._phases.pop().__exit__(None, None, None)

    def close_phases(self, exc: BaseException | None = None) -> None:
        while self._phases:
            self._phases.pop().__exit__(type(exc) if exc else None, exc, None)

    # -- forecast and metrics ------------------------------------------------------------
    def maybe_forecast(self, *, steps_done: int, epoch_ended: bool,
                       steps_planned: Callable[[], int | None]) -> Forecast | None:
        """Forecast once when due (warns once over budget); its metrics wait in ``pending_metrics``."""
        if self.run is None or not self.forecaster.due(steps_done=steps_done, epoch_ended=epoch_ended):
            return None
        try:
            f = self.forecaster.make(self.run.snapshot(), steps_done=steps_done, steps_planned=steps_planned(),
                                     elapsed_s=self.run.elapsed_s)
        except Warning:  # a budget warning the user turned into an error is theirs to see
            raise
        except Exception as exc:
            _warn("the forecast", exc)
            return None
        if f is not None:
            self.pending_metrics.update(f.as_metrics())
        return f

    def live_metrics(self) -> dict[str, float] | None:
        """The ``dia/*`` scalars now (``None`` before the run); running or stored report."""
        if self.run is None:
            return None
        try:
            report = self.run.snapshot() if self.run.is_active else self.run.report
            return None if report is None else metrics_from_report(report, self.run.elapsed_s)
        except Exception as exc:
            _warn("the live metrics", exc)
            return None

    # -- the end -----------------------------------------------------------------------
    def finish(self, status: str, exc: BaseException | None = None, *, keep_forecast: bool = True
               ) -> RunReport | None:
        """Close the phases, stop and store the run as ``status``; keep the forecast in it."""
        if self.run is None or not self.run.is_active:
            return self.report
        try:
            self.close_phases(exc)
        except Exception as err:  # a phase that cannot close must not keep the run from stopping
            _warn("closing the phases", err)
        self.run.stop(status)
        if self.forecast is not None and keep_forecast:
            try:
                store_forecast(self.run, self.forecast.as_dict(), self.store)
            except Exception as err:
                _warn("storing the forecast", err)
        return self.report


class CoreAccess:
    """What a callback shows of its :class:`CallbackCore` (``callback.run``, ``.report``...)."""

    core: CallbackCore

    @property
    def run(self) -> Any:
        """The DIA run (``None`` before training starts)."""
        return self.core.run

    @property
    def report(self) -> Any:
        """The stored report once the run has stopped (``None`` before)."""
        return self.core.report

    @property
    def forecast(self) -> Forecast | None:
        """The forecast made after the first epoch (or ``forecast_after_steps``)."""
        return self.core.forecast

    @property
    def forecaster(self) -> Forecaster:
        return self.core.forecaster

    @property
    def model_id(self) -> str | None:
        return self.core.model_id

    @property
    def parents(self) -> list[ParentSpec] | None:
        return self.core.parents

    @property
    def kind(self) -> str:
        return self.core.kind

    @property
    def store(self) -> Any:
        return self.core.store

    @property
    def track_kwargs(self) -> dict[str, Any]:
        return self.core.track_kwargs


class InferenceMeter:
    """Counts inferences into the active DIA run, or into its own run started on first use.

    The automatic run (kind ``inference``) is stopped and stored by :meth:`close`, by
    leaving a ``with`` block, or at interpreter exit, whichever comes first.
    """

    def __init__(self, model_id: str | None = None, **track_kwargs: Any) -> None:
        self.model_id = model_id
        self._track_kwargs = {"kind": "inference", **track_kwargs}
        self._own_run: Any = None
        self._lock = threading.Lock()
        self.report: RunReport | None = None

    @property
    def run(self) -> Any:
        """The run counts go to now: the active one, else this meter's own (may be ``None``)."""
        from dia.tracker import current_run

        return current_run() or self._own_run

    def _target(self) -> Any:
        from dia.tracker import current_run, track

        active = current_run()
        if active is not None:
            return active
        with self._lock:
            if self._own_run is None or not self._own_run.is_active:
                self._own_run = track(self.model_id, **self._track_kwargs).start()
                atexit.register(self.close)
            return self._own_run

    def count(self, *, inferences: int = 0, tokens: int = 0) -> None:
        """Add ``inferences`` (batch size) and ``tokens`` to the run."""
        if inferences or tokens:
            self._target().count(inferences=inferences, tokens=tokens)

    def close(self) -> RunReport | None:
        """Stop and store this meter's own run, if it started one; returns its report."""
        with self._lock:
            run, self._own_run = self._own_run, None
        if run is not None:
            atexit.unregister(self.close)
            if run.is_active:
                self.report = run.stop()
        return self.report

    def __enter__(self) -> InferenceMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
