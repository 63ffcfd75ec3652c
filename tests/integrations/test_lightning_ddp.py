"""A real Lightning DDP fit with Lightning's own launcher: 2 CPU processes, gloo.

Lightning's ``strategy="ddp"`` makes the launching process rank 0 and starts rank 1 as its
child, re-running the script with ``LOCAL_RANK=1``. Both ranks must land in one run group
(one logical run in the store), with rank 1's own CPU work counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning.pytorch")
pytest.importorskip("torch")

from dia.record.store import Store

SCRIPT = """
import sys
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
from dia.integrations.lightning import DIACallback


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(16, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        for _ in range(20):  # some CPU work in each rank, so its share is above zero
            torch.mm(torch.randn(128, 128), torch.randn(128, 128))
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(64, 16), torch.randn(64, 1))
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=4, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=sys.argv[2],
                         callbacks=[DIACallback(model_id="me/tiny-ddp", store=sys.argv[1], meter="estimate")])
    trainer.fit(Tiny(), DataLoader(data, batch_size=8))
"""

_LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT",
                "TORCHELASTIC_RUN_ID", "DIA_RUN_GROUP", "DIA_RUN_NONCE", "PMIX_NAMESPACE")


@pytest.mark.slow
def test_lightning_ddp_fit_is_one_logical_run_with_both_ranks(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    db = tmp_path / "dia.db"
    env = {k: v for k, v in os.environ.items()
           if k not in _LAUNCH_VARS and not k.startswith(("SLURM_", "OMPI_", "PMI_", "MPI_"))}
    env["PL_DISABLE_FORK"] = "1"
    done = subprocess.run([sys.executable, str(script), f"sqlite:///{db}", str(tmp_path / "out")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    store = Store(f"sqlite:///{db}")
    ranks = store.list_runs(logical=False)
    assert sorted(r.rank for r in ranks) == [0, 1], [(r.rank, r.run_group) for r in ranks]
    # Today: two groups ("job-66d7..." and "job-778e..."), two unrelated runs.
    assert len({r.run_group for r in ranks}) == 1 and ranks[0].run_group is not None
    assert all(r.world_size == 2 for r in ranks)
    logical = store.list_runs()
    assert len(logical) == 1 and logical[0].rank == 0
    rank1 = next(r for r in ranks if r.rank == 1)
    # Rank 1's own process tree did CPU work: its share is counted (today 0 kWh).
    assert rank1.energy.cpu_kwh is not None and rank1.energy.cpu_kwh.value > 0, rank1.notes
