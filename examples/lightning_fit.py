"""Fit a tiny LightningModule for two epochs with DIA's Lightning callback (CPU, offline).

    python examples/lightning_fit.py --epochs 2

``dia/*`` figures go through the Lightning logger (a CSV logger here), the report is
stored at teardown, and the forecast is made after the first epoch.
"""

from __future__ import annotations

import argparse
import tempfile

import lightning.pytorch as pl
import torch
from dia.integrations.lightning import DIACallback
from lightning.pytorch.loggers import CSVLogger


class TinyRegressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def _data(n: int) -> torch.utils.data.DataLoader:
    x = torch.randn(n, 8, generator=torch.Generator().manual_seed(n))
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model-id", default="me/tiny-regressor")
    parser.add_argument("--budget-kg", type=float, default=None)
    args = parser.parse_args(argv)

    callback = DIACallback(model_id=args.model_id, parents=["me/tiny-regressor-base"], budget_kg=args.budget_kg)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=1, log_every_n_steps=2,
                             logger=CSVLogger(tmp), callbacks=[callback], enable_progress_bar=False,
                             enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp)
        trainer.fit(TinyRegressor(), _data(64), _data(16))

    report = callback.report
    summary = {
        "run_id": report.id, "model_id": report.model_id, "status": report.status.value,
        "steps": report.workload.steps, "phases": sorted({p.name for p in report.phases}),
        "energy_kwh": report.energy.it_kwh.value, "quality": report.energy.it_kwh.quality.value,
        "logged_dia_energy_kwh": float(trainer.callback_metrics["dia/energy_kwh"]),
        "forecast": callback.forecast.describe() if callback.forecast else None,
    }
    for key, value in summary.items():
        print(f"{key:>22}: {value}")
    return summary


if __name__ == "__main__":
    main()
