"""Fill a model card from the store and upload it, with the card filled automatically.

    python examples/card_upload.py                 # dry run: writes ./card_upload_out/
    HF_TOKEN=hf_... DIA_EXAMPLE_REPO=me/tiny python examples/card_upload.py   # real upload

A fine-tune of ``org/base`` with one recorded run is stored in a temporary store. The
example writes the model folder (weights placeholder and a hand-written README) and fills
its card with :func:`dia.hub.write_card`. With ``HF_TOKEN`` set it instead switches on
:func:`dia.hub.enable_autofill` and uploads the folder: the README that reaches the Hub
carries the footprint, in the same commit, without writing metadata by hand.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dia.hub import enable_autofill, write_card
from dia.record.report import GPU, Carbon, Energy, Hardware, Location, Quantity, RunReport, Water
from dia.record.store import Store


def _run(model_id: str) -> RunReport:
    """One fine-tuning run: 1.2 kWh measured, carbon and water estimated for Ontario."""
    ended = datetime(2025, 5, 1, 12, tzinfo=timezone.utc)
    energy = Quantity.of(1.2, "kWh", "measured", low=1.15, high=1.25)
    carbon = energy.times(0.03, 0.02, 0.05, unit="kgCO2e", quality="estimated")
    onsite = energy.times(1.8, 1.0, 4.0, unit="L", quality="estimated")
    offsite = energy.times(2.0, 1.0, 3.0, unit="L", quality="estimated")
    return RunReport(
        model_id=model_id, kind="finetuning", parents=["org/base:finetune"],
        started_at=ended - timedelta(hours=1), ended_at=ended, meter="nvml", gpu_hours=1.0,
        energy=Energy(it_kwh=energy), carbon=Carbon(operational_kg=carbon, total_kg=carbon),
        water=Water(onsite_l=onsite, offsite_l=offsite, total_l=onsite + offsite),
        hardware=Hardware(gpus=[GPU(name="NVIDIA A100-SXM4-80GB", count=1)]),
        location=Location(country="CAN", region="CA-ON"),
    )


def main() -> int:
    repo_id = os.environ.get("DIA_EXAMPLE_REPO", "org/tiny-finetune")
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("card_upload_out")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/example.sqlite")
        store.save_run(_run(repo_id))
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.safetensors").write_bytes(b"placeholder weights")
        readme = out / "README.md"
        if not readme.exists():
            readme.write_text("---\nlicense: mit\n---\n\n# Tiny fine-tune\n\nWritten by hand.\n", encoding="utf-8")
        if not os.environ.get("HF_TOKEN"):
            write_card(repo_id, readme, store=store)
            print(f"dry run (no HF_TOKEN): filled {readme}")
            print(readme.read_text(encoding="utf-8"))
            return 0
        from huggingface_hub import HfApi

        enable_autofill(store)  # every upload of a repo the store knows carries the card
        api = HfApi()
        api.create_repo(repo_id, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=out)
        print(f"uploaded: {info}")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
