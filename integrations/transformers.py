"""Hugging Face Transformers: a Trainer callback and a pipeline meter.

>>> from dia.integrations.transformers import DIACallback
>>> trainer = Trainer(model=model, args=args, train_dataset=ds,
...                   callbacks=[DIACallback(budget_kg=5.0)])  # doctest: +SKIP
>>> trainer.train()  # doctest: +SKIP
>>> trainer.state.log_history[-2]["dia/energy_kwh"]  # doctest: +SKIP

The callback tracks from train begin to train end (evaluation and prediction are
phases), adds ``dia/energy_kwh``, ``dia/carbon_kg``, ``dia/water_l`` and ``dia/power_w``
to every log entry, forecasts the whole run after the first epoch (or ``N`` steps) and
stores the report. It does no network lookups and logs nothing on ranks other than
world process zero.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dia.integrations._common import (
    CallbackCore,
    CoreAccess,
    InferenceMeter,
    ParentSpec,
    model_parent,
)
from transformers import TrainerCallback

_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _output_dir_model_id(output_dir: str | None) -> str | None:
    """The output folder's name as a model id (``runs/bert-imdb`` -> ``bert-imdb``)."""
    if not output_dir:
        return None
    name = _NOT_ID_CHARS.sub("-", os.path.basename(os.path.normpath(output_dir))).strip("-.")
    return name[:96] or None


class DIACallback(CoreAccess, TrainerCallback):
    """Track a ``Trainer`` run with DIA.

    Args:
        model_id: the trained model's id; by default ``args.hub_model_id``, else the
            name of ``args.output_dir``.
        parents: parent specs (``"org/name"``, ``"org/name:relation"``, ``(id, relation)``);
            by default ``model.config._name_or_path`` (relation ``finetune``, or ``adapter``
            for a PEFT model). An explicit list, even empty, wins.
        kind: the run kind (``finetuning``).
        store: where to save (``None``: the default store; ``False``: do not save).
        autofill: fill DIA metadata into model cards on ``push_to_hub`` (``dia.hub``).
        forecast_after_steps: forecast after this many optimizer steps instead of after
            the first epoch.
        budget_kg, budget_l, budget_kwh: warn once (:class:`BudgetWarning`) when the
            forecast exceeds them.
        **track_kwargs: passed to :func:`dia.track` (``country=``, ``sample_interval_s=``...).
    """

    def __init__(
        self,
        model_id: str | None = None,
        *,
        parents: Iterable[ParentSpec] | None = None,
        kind: str = "finetuning",
        store: Any = None,
        autofill: bool = False,
        forecast_after_steps: int | None = None,
        budget_kg: float | None = None,
        budget_l: float | None = None,
        budget_kwh: float | None = None,
        **track_kwargs: Any,
    ) -> None:
        self.core = CallbackCore(model_id, parents=parents, kind=kind, store=store,
                                 forecast_after_steps=forecast_after_steps, budget_kg=budget_kg,
                                 budget_l=budget_l, budget_kwh=budget_kwh, **track_kwargs)
        self._is_zero = True
        if autofill:
            import dia.hub  # lazy: only users of autofill pay for it

            dia.hub.enable_autofill()

    # -- run lifecycle -----------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.core.active:
            return  # train() called again while tracking (should not happen)
        self._is_zero = bool(state.is_world_process_zero)
        self.core.start(args.hub_model_id or _output_dir_model_id(args.output_dir), model_parent(model),
                        world_size=args.world_size, group_parts=(args.output_dir,))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.core.finish("completed")

    # -- counters and forecast -----------------------------------------------------------
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.core.active:
            return
        self.core.count(steps=1, samples=args.per_device_train_batch_size * args.gradient_accumulation_steps)
        self._maybe_forecast(state, epoch_ended=False)
        if control.should_evaluate:
            self.core.open_phase("evaluation")

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.core.active:
            return
        self._maybe_forecast(state, epoch_ended=True)
        if control.should_evaluate and not self.core.open_phases:
            self.core.open_phase("evaluation")

    def _maybe_forecast(self, state: Any, *, epoch_ended: bool) -> None:
        if self._is_zero:
            self.core.maybe_forecast(steps_done=state.global_step, epoch_ended=epoch_ended,
                                     steps_planned=lambda: state.max_steps)

    # -- evaluation and prediction phases ------------------------------------------------
    def on_prediction_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # A prediction loop that no step announced (trainer.predict() from a callback).
        if self.core.active and not self.core.open_phases:
            self.core.open_phase("prediction")

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.core.close_phases()

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
        self.core.close_phases()

    # -- live metrics ----------------------------------------------------------------
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if logs is None or not state.is_world_process_zero:
            return
        metrics = self.core.live_metrics()
        if metrics is None:
            return
        metrics.update(self.core.pending_metrics)
        self.core.pending_metrics.clear()
        logs.update(metrics)
        # The Trainer appended a copy of ``logs`` to the history before calling us.
        if state.log_history and (logs.keys() - metrics.keys()) <= state.log_history[-1].keys():
            state.log_history[-1].update(metrics)


def add_callback(trainer: Any, **kwargs: Any) -> DIACallback:
    """Add a :class:`DIACallback` ahead of the ``report_to`` loggers (TensorBoard, W&B...).

    ``Trainer(callbacks=[...])`` puts user callbacks after the loggers, which then log
    before DIA's figures are added; this places DIA just before the first of them.
    """
    callback = DIACallback(**kwargs)
    handler = trainer.callback_handler
    position = next(
        (i for i, cb in enumerate(handler.callbacks)
         if type(cb).__module__.startswith("transformers.integrations")),
        len(handler.callbacks),
    )
    handler.callbacks.insert(position, callback)
    return callback


# -- pipelines ---------------------------------------------------------------------------
_TEXT_KEYS = ("generated_text", "summary_text", "translation_text")


class MeteredPipeline(InferenceMeter):
    """A pipeline (or any pipeline-like callable) whose calls are counted.

    Each input counts as one inference; generated tokens are counted when the output
    carries ``generated_token_ids`` or text that the pipeline's tokenizer can split.
    """

    def __init__(self, pipe: Any, model_id: str | None = None, **track_kwargs: Any) -> None:
        model = getattr(pipe, "model", None)
        detected = model_parent(model, adapter=False) if model is not None else []
        super().__init__(model_id or (detected[0][0] if detected else None), **track_kwargs)
        self.pipe = pipe
        self.tokenizer = getattr(pipe, "tokenizer", None)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = self.pipe(inputs, *args, **kwargs)
        batched = isinstance(inputs, (list, tuple))
        prompts = list(inputs) if batched else [inputs]
        per_input = outputs if batched and isinstance(outputs, list) else [outputs]
        tokens = sum(self._generated_tokens(out, prompt) for out, prompt in zip(per_input, prompts, strict=False))
        self.count(inferences=len(prompts), tokens=tokens)
        return outputs

    def _generated_tokens(self, output: Any, prompt: Any) -> int:
        if isinstance(output, list):
            return sum(self._generated_tokens(o, prompt) for o in output)
        if not isinstance(output, Mapping):
            return 0
        ids = output.get("generated_token_ids")
        if ids is not None:
            ids = list(ids)
            if isinstance(prompt, str) and self.tokenizer is not None:  # decoder-only: prompt first
                prompt_ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
                if prompt_ids and ids[: len(prompt_ids)] == prompt_ids:
                    return len(ids) - len(prompt_ids)
            return len(ids)
        text = next((output[k] for k in _TEXT_KEYS if k in output), None)
        if isinstance(text, list) and text and isinstance(text[-1], Mapping):  # chat output
            text = text[-1].get("content")
        if not isinstance(text, str) or self.tokenizer is None:
            return 0
        if isinstance(prompt, str) and text.startswith(prompt):
            text = text[len(prompt):]  # return_full_text=True repeats the prompt
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def __enter__(self) -> MeteredPipeline:
        return self


def meter_pipeline(pipe: Any, model_id: str | None = None, **track_kwargs: Any) -> MeteredPipeline:
    """Wrap a pipeline so each call counts inferences (inputs) and generated tokens.

    >>> generate = meter_pipeline(pipeline("text-generation", model=m, tokenizer=t))  # doctest: +SKIP
    >>> generate(["Hello", "Bonjour"], max_new_tokens=8)  # doctest: +SKIP
    >>> generate.close().intensities.j_per_token  # doctest: +SKIP
    """
    if not callable(pipe):
        raise TypeError(f"meter_pipeline() expects a callable pipeline, got {type(pipe).__name__}")
    return MeteredPipeline(pipe, model_id, **track_kwargs)


__all__ = ["DIACallback", "MeteredPipeline", "add_callback", "meter_pipeline"]
