"""PyTorch Lightning: a callback that tracks a Trainer with DIA.

>>> from dia.integrations.lightning import DIACallback
>>> trainer = L.Trainer(max_epochs=3, callbacks=[DIACallback(model_id="me/tiny")])  # doctest: +SKIP
>>> trainer.fit(module, data)  # doctest: +SKIP
>>> trainer.callback_metrics["dia/energy_kwh"]  # doctest: +SKIP

Tracks ``setup`` to ``teardown``; ``fit``, ``validate``, ``test`` and ``predict`` are
phases (validation inside ``fit`` is a nested ``fit/validate``). ``dia/*`` metrics go
through the Lightning logger on rank zero. An exception stores the report as
``failed`` (``interrupted`` for Ctrl+C). The run id is kept in checkpoints, so
``trainer.fit(ckpt_path=...)`` continues the same report; a later ``trainer.test()``
with the same callback adds a phase to it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import lightning.pytorch as pl
from dia.integrations._common import CallbackCore, CoreAccess, ParentSpec, model_parent


class DIACallback(CoreAccess, pl.Callback):
    """Track a Lightning ``Trainer`` with DIA.

    Args:
        model_id: the trained model's id; by default ``pl_module.model_id`` or the
            ``model_id`` hyper-parameter, else none.
        parents: parent specs; by default the ``config._name_or_path`` of a Hugging
            Face model held as ``pl_module.model`` (``adapter`` for a PEFT model).
        kind: the run kind (``finetuning``).
        store: where to save (``None``: the default store; ``False``: do not save).
        log_every_n_steps: log ``dia/*`` every N optimizer steps (default: the
            Trainer's ``log_every_n_steps``), and at every epoch end.
        forecast_after_steps, budget_kg, budget_l, budget_kwh: as in the Transformers
            callback: forecast after N steps (default: the first epoch), warn once over
            budget.
        **track_kwargs: passed to :func:`dia.track`.
    """

    def __init__(
        self,
        model_id: str | None = None,
        *,
        parents: Iterable[ParentSpec] | None = None,
        kind: str = "finetuning",
        store: Any = None,
        log_every_n_steps: int | None = None,
        forecast_after_steps: int | None = None,
        budget_kg: float | None = None,
        budget_l: float | None = None,
        budget_kwh: float | None = None,
        **track_kwargs: Any,
    ) -> None:
        self.core = CallbackCore(model_id, parents=parents, kind=kind, store=store,
                                 forecast_after_steps=forecast_after_steps, budget_kg=budget_kg,
                                 budget_l=budget_l, budget_kwh=budget_kwh, **track_kwargs)
        self.log_every_n_steps = log_every_n_steps
        self.run_id: str | None = None  # kept in checkpoints
        self._stage: str | None = None
        self._validate_phase: Any = None
        self._last_logged_step = -1

    # -- checkpoints -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"run_id": self.run.id if self.run is not None else self.run_id}
        if self.forecast is not None:
            state["forecast"] = self.forecast.as_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.run_id = state_dict.get("run_id") or self.run_id
        # A stored forecast means this run has already had its forecast.
        if state_dict.get("forecast") is not None and self.forecaster.forecast is None:
            self.forecaster.restored = state_dict["forecast"]

    # -- run lifecycle -------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # The run starts at the first hook after checkpoint restoration (on_fit_start, or
        # the loop's start): load_state_dict runs after setup, and a resumed run must
        # know its stored run id before it starts. Only device placement runs between.
        self._stage = stage

    def _ensure_started(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._stage is None or self.core.active:
            return
        detected = model_parent(getattr(pl_module, "model", None)) if hasattr(pl_module, "model") else []
        run = self.core.start(_module_model_id(pl_module), detected, world_size=trainer.world_size,
                              group_parts=(trainer.default_root_dir,), run_id=self.run_id)
        self.run_id = run.id
        self.core.open_phase(self._stage)

    def _finish(self, status: str, trainer: pl.Trainer, exc: BaseException | None = None) -> None:
        if not self.core.active:
            return
        if status == "completed" and trainer.is_global_zero:
            self._log(trainer, force=True)
        self._validate_phase = None
        self.core.finish(status, exc, keep_forecast=trainer.is_global_zero)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._finish("completed", trainer)
        self._stage = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self._finish(status, trainer, exception)
        self._stage = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.strategy.restore_checkpoint_after_setup:  # else: restored later
            self._ensure_started(trainer, pl_module)

    # Loops start after checkpoint restoration in every strategy.
    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_started(trainer, pl_module)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_started(trainer, pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_started(trainer, pl_module)

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_started(trainer, pl_module)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._ensure_started(trainer, pl_module)
        if self._stage == "fit" and self.run is not None and self._validate_phase is None:
            self._validate_phase = self.core.open_phase("validate")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._validate_phase is not None:
            self.core.close_phase(self._validate_phase)
        self._validate_phase = None

    # -- counters, metrics, forecast -----------------------------------------------------
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if not self.core.active:
            return
        self.core.count(steps=1, samples=_batch_len(batch))
        if not trainer.is_global_zero:
            return
        self._forecast(trainer, epoch_ended=False)
        every = self.log_every_n_steps or getattr(trainer, "log_every_n_steps", 0) or 50
        if trainer.global_step % every == 0:
            self._log(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.core.active or not trainer.is_global_zero:
            return
        self._forecast(trainer, epoch_ended=True)
        self._log(trainer, force=True)

    def _forecast(self, trainer: pl.Trainer, *, epoch_ended: bool) -> None:
        f = self.core.maybe_forecast(steps_done=trainer.global_step, epoch_ended=epoch_ended,
                                     steps_planned=lambda: _planned_steps(trainer))
        self.core.pending_metrics.clear()  # every _log adds the forecast: nothing waits
        if f is not None and trainer.logger is not None:
            trainer.logger.log_metrics(f.as_metrics(), step=trainer.global_step)

    def _log(self, trainer: pl.Trainer, *, force: bool = False) -> None:
        if trainer.global_step == self._last_logged_step and not force:
            return
        metrics = self.core.live_metrics()
        if metrics is None:
            return
        self._last_logged_step = trainer.global_step
        if self.forecast is not None:
            metrics.update(self.forecast.as_metrics())
        # callback_metrics: visible to other callbacks (checkpointing, early stopping, ...).
        trainer.callback_metrics.update({k: _tensor(v) for k, v in metrics.items()})
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


def _tensor(value: float) -> Any:
    import torch

    return torch.tensor(value, dtype=torch.float64)


def _module_model_id(pl_module: pl.LightningModule) -> str | None:
    explicit = getattr(pl_module, "model_id", None)
    if explicit is None:
        hparams = getattr(pl_module, "hparams", None)
        explicit = hparams.get("model_id") if hparams is not None and hasattr(hparams, "get") else None
    return str(explicit) if explicit else None


def _planned_steps(trainer: pl.Trainer) -> int | None:
    """Optimizer steps the fit will run (``None`` when unbounded)."""
    try:
        planned = trainer.estimated_stepping_batches
    except Exception:  # no dataloader length: an iterable dataset without max_steps
        return None
    return int(planned) if planned and math.isfinite(planned) else None


def _batch_len(batch: Any) -> int:
    """The leading dimension of the first tensor in a batch (0 if none)."""
    import torch

    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            n = _batch_len(item)
            if n:
                return n
    return 0


__all__ = ["DIACallback"]
