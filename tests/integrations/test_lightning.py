"""The Lightning callback on a tiny LightningModule: fit, failure, resume, later stages."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from dia.integrations.lightning import DIACallback  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers import CSVLogger  # noqa: E402


class TinyRegressor(pl.LightningModule):
    def __init__(self, fail_at_step: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.hparams.fail_at_step is not None and self.global_step >= self.hparams.fail_at_step:
            raise RuntimeError("boom: loss is NaN")
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.validation_step(batch, batch_idx)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader(n: int = 16, batch_size: int = 4) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)),
                                       batch_size=batch_size)


def _trainer(tmp_path: Path, callback: DIACallback, **kw: Any) -> pl.Trainer:
    base = dict(max_epochs=2, accelerator="cpu", devices=1, log_every_n_steps=1,
                enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                logger=CSVLogger(tmp_path, name="logs", version=0), enable_checkpointing=False)
    extra = kw.pop("extra_callbacks", [])
    return pl.Trainer(**{**base, **kw}, callbacks=[callback, *extra])


def _logged(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "logs" / "version_0" / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_fit_two_epochs_is_stored_with_phases_metrics_and_forecast(tmp_path: Path, dia_store: Any) -> None:
    callback = DIACallback(model_id="me/tiny-regressor", parents=["me/tiny-base"],
                           sample_interval_s=0.05)
    trainer = _trainer(tmp_path, callback)
    trainer.fit(TinyRegressor(), _loader(), _loader(8))

    report = dia_store.get_run(callback.run_id)
    assert report.status.value == "completed"
    assert report.model_id == "me/tiny-regressor"
    assert [(p.model_id, p.relation.value) for p in report.parents] == [("me/tiny-base", "finetune")]
    assert report.workload.steps == 8 and report.workload.samples == 32
    names = [ph.name for ph in report.phases]
    assert "fit" in names and any(n.endswith("validate") and n != "validate" for n in names), names
    assert report.energy.it_kwh.value > 0

    assert float(trainer.callback_metrics["dia/energy_kwh"]) > 0
    rows = _logged(tmp_path)
    energies = [float(r["dia/energy_kwh"]) for r in rows if r.get("dia/energy_kwh")]
    assert len(energies) >= 8 and energies == sorted(energies)
    assert any(r.get("dia/forecast_carbon_kg") for r in rows)

    forecast = callback.forecast  # after the first epoch: 4 of 8 steps
    assert forecast is not None and (forecast.steps_done, forecast.steps_planned) == (4, 8)
    assert report.extra["forecast"]["steps_planned"] == 8


def test_failing_training_step_saves_a_failed_report(tmp_path: Path, dia_store: Any) -> None:
    callback = DIACallback(model_id="me/tiny-fails")
    trainer = _trainer(tmp_path, callback)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(TinyRegressor(fail_at_step=2), _loader())
    report = dia_store.get_run(callback.run_id)
    assert report.status.value == "failed"
    assert report.workload.steps == 2
    assert report.ended_at is not None


def test_resumed_fit_continues_the_same_report(tmp_path: Path, dia_store: Any) -> None:
    first = DIACallback(model_id="me/tiny-resumed")
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    _trainer(tmp_path, first, max_epochs=1, enable_checkpointing=True,
             extra_callbacks=[ckpt]).fit(TinyRegressor(), _loader())
    stored_first = dia_store.get_run(first.run_id)
    assert stored_first.workload.steps == 4

    second = DIACallback(model_id="me/tiny-resumed")
    _trainer(tmp_path, second, max_epochs=2).fit(TinyRegressor(), _loader(),
                                                 ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    assert second.run_id == first.run_id
    resumed = dia_store.get_run(first.run_id)
    assert resumed.status.value == "completed"
    assert resumed.workload.steps == 8
    assert resumed.energy.it_kwh.value >= stored_first.energy.it_kwh.value
    assert dia_store.run_count(model_id="me/tiny-resumed") == 1


def test_test_stage_after_fit_adds_a_phase_to_the_same_report(tmp_path: Path, dia_store: Any) -> None:
    callback = DIACallback(model_id="me/tiny-tested")
    trainer = _trainer(tmp_path, callback, max_epochs=1)
    module = TinyRegressor()
    trainer.fit(module, _loader())
    trainer.test(module, _loader(8))
    report = dia_store.get_run(callback.run_id)
    assert {"fit", "test"} <= {ph.name for ph in report.phases}
    assert dia_store.run_count(model_id="me/tiny-tested") == 1
