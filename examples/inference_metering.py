"""Meter inference: energy per 1,000 inferences and per token (CPU, offline).

    python examples/inference_metering.py --batches 20

Part 1 wraps a torch module with ``dia.integrations.torch.meter`` (each forward call
counts its batch size). Part 2 counts by hand inside ``dia.track(kind="inference")``.
"""

from __future__ import annotations

import argparse

import torch
from dia.integrations.torch import meter

import dia


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).eval()

    # 1. a metered module: its own inference run, stored when the block ends
    with meter(model, model_id="me/tiny-classifier") as metered, torch.no_grad():
        for _ in range(args.batches):
            metered(torch.randn(args.batch_size, 64))
    per_1000 = metered.report.intensities.wh_per_1000_inferences

    # 2. by hand: count inferences and tokens in any inference run
    with dia.track("me/tiny-classifier", kind="inference") as run, torch.no_grad():
        for _ in range(args.batches):
            model(torch.randn(args.batch_size, 64))
            run.count(inferences=args.batch_size, tokens=args.batch_size * 16)
    j_per_token = run.report.intensities.j_per_token

    summary = {
        "metered_inferences": metered.report.workload.inferences,
        "wh_per_1000_inferences": per_1000.value if per_1000 else None,
        "quality": per_1000.quality.value if per_1000 else None,
        "tracked_tokens": run.report.workload.tokens,
        "j_per_token": j_per_token.value if j_per_token else None,
    }
    for key, value in summary.items():
        print(f"{key:>24}: {value}")
    return summary


if __name__ == "__main__":
    main()
