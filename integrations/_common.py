"""Helpers shared by the framework integrations: metrics, parents, stored forecasts.

Ranks and run groups come from :mod:`dia.measure.distributed`, as for the tracker.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dia.record.report import RunReport

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

    The report is saved again (an upsert by run id) into the store the run used.
    """
    report = getattr(run, "report", None)
    if report is None or store is False or report.extra.get("forecast") == forecast:
        return
    from dia.record.store import Store

    updated = report.model_copy(update={"extra": {**report.extra, "forecast": forecast}})
    if isinstance(store, Store):
        store.save_run(updated)
    else:
        with Store(store) as opened:
            opened.save_run(updated)
    try:
        run.report = updated
    except AttributeError:  # a read-only property: the stored copy is what matters
        pass


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
