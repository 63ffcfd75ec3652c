"""The Transformers callback on a tiny BERT trained for a few steps on CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")

from dia.integrations._forecast import BudgetWarning
from dia.integrations.transformers import DIACallback, add_callback
from transformers import Trainer, TrainerCallback, TrainingArguments

DIA_KEYS = ("dia/energy_kwh", "dia/carbon_kg", "dia/water_l", "dia/power_w")


def _args(tmp_path: Path, name: str = "tiny-bert-sst2", **kw: Any) -> TrainingArguments:
    base = dict(output_dir=str(tmp_path / name), per_device_train_batch_size=4, max_steps=4,
                logging_steps=1, report_to="none", eval_strategy="steps", eval_steps=2,
                per_device_eval_batch_size=8, save_strategy="no", disable_tqdm=True, use_cpu=True)
    return TrainingArguments(**{**base, **kw})


class LogRecorder(TrainerCallback):
    """Stands for any logger placed after DIA: records the logs it is handed."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        self.seen.append(dict(logs or {}))


def _train(tmp_path: Path, callback: DIACallback, model: Any, data: Any, *extra: TrainerCallback,
           **kw: Any) -> Trainer:
    trainer = Trainer(model=model, args=_args(tmp_path, **kw),
                      train_dataset=data(16), eval_dataset=data(8),
                      callbacks=[callback, *extra])
    trainer.train()
    return trainer


def test_trainer_run_is_stored_with_phases_counters_and_parent(tmp_path: Path, dia_store: Any, tiny_bert: Any, random_tokens: Any) -> None:
    model = tiny_bert()
    model.config._name_or_path = "google-bert/bert-base-uncased"  # what from_pretrained records
    callback = DIACallback(forecast_after_steps=2, sample_interval_s=0.05)
    recorder = LogRecorder()
    trainer = _train(tmp_path, callback, model, random_tokens, recorder)

    report = dia_store.get_run(callback.run.id)
    assert report is not None
    assert report.status.value == "completed"
    assert report.kind.value == "finetuning"
    assert report.model_id == "tiny-bert-sst2"  # the output folder's name
    assert [(p.model_id, p.relation.value) for p in report.parents] == [
        ("google-bert/bert-base-uncased", "finetune")]
    assert report.workload.steps == 4
    assert report.workload.samples == 16
    assert any(ph.name.endswith("evaluation") for ph in report.phases)
    assert report.energy.it_kwh.quality.value != "unavailable"
    assert report.carbon is not None and report.carbon.total_kg.value > 0

    # live metrics reach the history every log step (4 train logs, 2 eval logs, 1 summary)
    with_dia = [e for e in trainer.state.log_history if all(k in e for k in DIA_KEYS)]
    assert len(with_dia) == len(trainer.state.log_history) == 7
    assert all(all(k in logs for k in DIA_KEYS) for logs in recorder.seen) and len(recorder.seen) == 7
    energies = [e["dia/energy_kwh"] for e in with_dia]
    assert energies == sorted(energies) and energies[-1] > 0

    forecast = callback.forecast
    assert forecast is not None and (forecast.steps_done, forecast.steps_planned) == (2, 4)
    assert forecast.energy_kwh >= energies[1]
    assert sum("dia/forecast_energy_kwh" in e for e in trainer.state.log_history) == 1
    assert report.extra["forecast"]["steps_planned"] == 4


def test_hub_model_id_explicit_parents_and_budget_warning(tmp_path: Path, dia_store: Any, tiny_bert: Any, random_tokens: Any) -> None:
    model = tiny_bert()
    model.config._name_or_path = "google-bert/bert-base-uncased"
    callback = DIACallback(parents=["acme/bert-domain:continued-pretraining"],
                           forecast_after_steps=1, budget_kg=0.0, budget_l=0.0)
    with pytest.warns(BudgetWarning, match="budget") as caught:
        _train(tmp_path, callback, model, random_tokens, hub_model_id="acme/bert-sentiment")
    assert len([w for w in caught if issubclass(w.category, BudgetWarning)]) == 1  # warned once
    report = dia_store.get_run(callback.run.id)
    assert report.model_id == "acme/bert-sentiment"
    assert [(p.model_id, p.relation.value) for p in report.parents] == [
        ("acme/bert-domain", "continued-pretraining")]
    assert callback.forecast is not None
    assert any(f.startswith("carbon_kg") for f in callback.forecast.over_budget)


def test_peft_model_is_recorded_as_adapter(tmp_path: Path, dia_store: Any, tiny_bert: Any, random_tokens: Any) -> None:
    model = tiny_bert()
    model.config._name_or_path = "google-bert/bert-base-uncased"
    model.peft_config = {"default": {"r": 4}}  # how PEFT marks a wrapped model (duck-typed)
    callback = DIACallback(model_id="me/bert-lora")
    _train(tmp_path, callback, model, random_tokens, eval_strategy="no")
    report = dia_store.get_run(callback.run.id)
    assert [(p.model_id, p.relation.value) for p in report.parents] == [
        ("google-bert/bert-base-uncased", "adapter")]
    assert callback.forecast is not None  # default trigger: the end of the first epoch


def test_add_callback_places_dia_before_the_report_to_loggers(tmp_path: Path, tiny_bert: Any, random_tokens: Any) -> None:
    from transformers.integrations import CodeCarbonCallback

    trainer = Trainer(model=tiny_bert(), args=_args(tmp_path, report_to="codecarbon", eval_strategy="no"),
                      train_dataset=random_tokens(8))
    callback = add_callback(trainer, model_id="me/tiny", store=False)
    names = [type(cb) for cb in trainer.callback_handler.callbacks]
    assert names.index(DIACallback) == names.index(CodeCarbonCallback) - 1
    assert callback.model_id == "me/tiny"


def test_local_checkpoint_path_is_no_parent(tmp_path: Path, dia_store: Any, tiny_bert: Any, random_tokens: Any) -> None:
    model = tiny_bert()
    model.config._name_or_path = str(tmp_path)  # loaded from a local folder
    callback = DIACallback(model_id="me/from-local")
    _train(tmp_path, callback, model, random_tokens, eval_strategy="no", max_steps=2)
    assert dia_store.get_run(callback.run.id).parents == []
