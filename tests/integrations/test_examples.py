"""Each example in examples/ runs with small settings and stores what it says it stores."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transformers_trainer_example(dia_store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    summary = _load("transformers_trainer").main(["--steps", "4"])
    stored = dia_store.get_run(summary["run_id"])
    assert stored.status.value == "completed" and stored.model_id == "me/tiny-bert-sentiment"
    assert stored.workload.steps == 4
    assert summary["parents"] == ["google-bert/bert-base-uncased:finetune"]
    assert summary["forecast"] and "forecast for 4 steps" in summary["forecast"]
    assert "model_id: me/tiny-bert-sentiment" in capsys.readouterr().out


def test_lightning_fit_example(dia_store: Any) -> None:
    pytest.importorskip("lightning")
    summary = _load("lightning_fit").main(["--epochs", "2"])
    stored = dia_store.get_run(summary["run_id"])
    assert stored.status.value == "completed" and stored.workload.steps == 16
    assert summary["logged_dia_energy_kwh"] > 0
    assert summary["forecast"] and "forecast for 16 steps" in summary["forecast"]


def test_inference_metering_example(dia_store: Any) -> None:
    summary = _load("inference_metering").main(["--batches", "3", "--batch-size", "4"])
    assert summary["metered_inferences"] == 12 and summary["tracked_tokens"] == 192
    assert summary["wh_per_1000_inferences"] is not None and summary["j_per_token"] is not None
    runs = dia_store.list_runs(model_id="me/tiny-classifier")
    assert len(runs) == 2 and {r.kind.value for r in runs} == {"inference"}
