"""Fine-tune a tiny BERT with the Hugging Face Trainer and DIA's callback (CPU, offline).

    python examples/transformers_trainer.py --steps 8

The model is built from a config (no download). One line, ``callbacks=[DIACallback()]``,
gives a stored report, ``dia/*`` figures in every log entry and a forecast.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from dia.integrations.transformers import DIACallback
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments


class RandomTokens(torch.utils.data.Dataset):
    """Toy sentence classification: random token ids, alternating labels."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 64, (16,), generator=g), "labels": torch.tensor(i % 2)}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps (default 8)")
    parser.add_argument("--output-dir", default=None, help="Trainer output folder (default: a temp folder)")
    parser.add_argument("--model-id", default="me/tiny-bert-sentiment")
    parser.add_argument("--budget-kg", type=float, default=None, help="warn if the forecast exceeds it")
    args = parser.parse_args(argv)

    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(config)
    model.config._name_or_path = "google-bert/bert-base-uncased"  # as from_pretrained would record

    with tempfile.TemporaryDirectory() as tmp:
        training_args = TrainingArguments(
            output_dir=args.output_dir or tmp, max_steps=args.steps, per_device_train_batch_size=4,
            logging_steps=max(1, args.steps // 4), eval_strategy="steps", eval_steps=max(1, args.steps // 2),
            save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
        )
        callback = DIACallback(model_id=args.model_id, forecast_after_steps=max(1, args.steps // 4),
                               budget_kg=args.budget_kg)
        trainer = Trainer(model=model, args=training_args, train_dataset=RandomTokens(64),
                          eval_dataset=RandomTokens(16), callbacks=[callback])
        trainer.train()

    report = callback.report
    last = trainer.state.log_history[-1]
    summary = {
        "run_id": report.id, "model_id": report.model_id, "status": report.status.value,
        "parents": [f"{p.model_id}:{p.relation.value}" for p in report.parents],
        "steps": report.workload.steps, "phases": sorted({p.name for p in report.phases}),
        "energy_kwh": report.energy.it_kwh.value, "quality": report.energy.it_kwh.quality.value,
        "logged_dia_carbon_kg": last["dia/carbon_kg"],
        "forecast": callback.forecast.describe() if callback.forecast else None,
    }
    for key, value in summary.items():
        print(f"{key:>20}: {value}")
    return summary


if __name__ == "__main__":
    main()
