"""Throughput of ``dia ingest`` on a folder of synthetic model cards.

    python benchmarks/ingest.py --cards 100000

Generates ``<org>/<name>/README.md`` cards in the shapes found on the Hub (bare number of
grams, ``{emissions}`` only, the full ``co2_eq_emissions`` dict with extra keys, a string
with a unit, DIA v1 blocks, ai-impact-accounting v0.1 blocks, lineage-only cards and cards
with nothing to read), each with a long body, in families of 1-50 models that name their
parents with ``base_model``. Then it ingests the folder into a fresh SQLite store and
prints cards per second and peak memory. The last line is one JSON object:
``{"cards", "cards_per_s", "peak_rss_mb", ...}``. Target: at least 2,000 cards/s.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

BODY = "# Model\n\n" + "This model card describes the model, its training data and intended uses.\n" * 40

_RELATIONS = ["finetune", "adapter", "quantized", "merge", "lora", "GGUF", "distill", None]


def _peak_rss_mb() -> float:
    scale = 1024 if sys.platform != "darwin" else 1
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def _front_matter(rng: random.Random, parent: str | None, shape: int) -> str:
    lines = ["license: apache-2.0", "tags: [text-generation, dia-benchmark]"]
    if parent is not None:
        lines.append(f"base_model: {parent}")
        rel = rng.choice(_RELATIONS)
        if rel is not None:
            lines.append(f"base_model_relation: {rel}")
    grams = round(rng.uniform(1, 1e6), 2)
    if shape == 0:
        lines.append(f"co2_eq_emissions: {grams}")
    elif shape == 1:
        lines.append(f"co2_eq_emissions:\n  emissions: {grams}")
    elif shape == 2:
        lines.append(
            f"co2_eq_emissions:\n  emissions: {grams}\n  source: codecarbon\n  training_type: fine-tuning\n"
            f"  geographical_location: Ontario, Canada\n  hardware_used: 4 x NVIDIA A100-SXM4-40GB\n"
            f"  energy_consumed: {grams / 300:.4f}\n  on_cloud: false\n  cpu_model: Intel Xeon")
    elif shape == 3:
        lines.append(f"co2_eq_emissions: {grams / 1000:.3f} kg")
    elif shape == 4:
        kwh = grams / 300
        lines.append(
            "dia:\n  schema_version: '1.0'\n  scope: incremental\n"
            f"  energy_kwh: {{value: {kwh:.4f}, low: {kwh * 0.9:.4f}, high: {kwh * 1.1:.4f}, unit: kWh, quality: measured}}\n"
            f"  carbon_kg:\n    total: {{value: {grams / 1000:.4f}, low: {grams / 2000:.4f}, high: {grams / 500:.4f},"
            " unit: kgCO2e, quality: estimated}\n"
            f"  water_l:\n    onsite: {{value: 1.0, unit: L, quality: estimated}}\n"
            f"    offsite: {{value: 2.0, unit: L, quality: estimated}}\n"
            f"    total: {{value: 3.0, unit: L, quality: estimated}}\n  runs: 1")
    elif shape == 5:
        lines.append(
            "dia_version: '0.1'\ndia_report:\n  scope: incremental\n"
            "  compute: {hardware: {gpu: NVIDIA A100-SXM4-80GB, count: 1}, duration_gpu_hours: 1.25}\n"
            f"  footprint:\n    energy_kwh: {{value: {grams / 300:.4f}, quality: measured}}\n"
            f"    carbon_kgco2eq: {{value: {grams / 1000:.4f}, quality: estimated-from-region}}\n"
            "    water_liters: {value: [0.9, 2.1], quality: estimated-from-default-wue}\n"
            "  context: {region: ca-on, carbon_intensity: 0.03, wue_l_per_kwh: [1.8, 4.0]}\n  tool: codecarbon")
    # shape 6: lineage only (or nothing at all for a root)
    return "---\n" + "\n".join(lines) + "\n---\n"


def generate(root: Path, n: int, seed: int = 0) -> None:
    """``n`` cards in families of 1-50 models; parents precede their children."""
    rng = random.Random(seed)
    made = 0
    family = 0
    while made < n:
        size = min(n - made, max(1, int(rng.paretovariate(1.2))) if rng.random() < 0.5 else rng.randint(1, 50))
        members: list[str] = []
        for i in range(size):
            mid = f"org{family % 997}/fam{family}-m{i}"
            parent = rng.choice(members[-8:]) if members else None
            folder = root / mid
            folder.mkdir(parents=True, exist_ok=True)
            shape = rng.choices(range(7), weights=[20, 15, 25, 10, 10, 10, 10])[0]
            (folder / "README.md").write_text(_front_matter(rng, parent, shape) + BODY, encoding="utf-8")
            members.append(mid)
        made += size
        family += 1


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from dia.hub.reader import ingest
    from dia.record.store import Store

    with tempfile.TemporaryDirectory(prefix="dia-ingest-bench-") as tmp:
        root = Path(tmp) / "cards"
        t0 = time.perf_counter()
        generate(root, args.cards, args.seed)
        gen_s = time.perf_counter() - t0
        print(f"generated {args.cards} cards in {gen_s:.1f} s", file=sys.stderr)
        with Store(f"sqlite:///{tmp}/bench.sqlite") as store:
            t0 = time.perf_counter()
            summary = ingest([root], store=store)
            ingest_s = time.perf_counter() - t0
            runs = store.run_count()
            edges = len(store.edges())
    result = {
        "cards": summary.read, "ingested": summary.ingested, "runs": runs, "edges": edges,
        "skipped": len(summary.skipped), "empty": len(summary.empty), "seconds": round(ingest_s, 2),
        "cards_per_s": round(summary.read / ingest_s, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    print(f"ingested {summary.read} cards in {ingest_s:.1f} s: {result['cards_per_s']:.0f} cards/s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
