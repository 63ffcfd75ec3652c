"""Time every dashboard page through Streamlit's AppTest on a large store.

    python benchmarks/dashboard.py --runs 100000 --family 10000

The store: one family of ``--family`` members (a Hub-like tree, fan-out biased to the base,
each member with one fine-tuning run) and the remaining runs spread over 200 smaller
families (a base and 20 derivatives each), a tenth of them inference runs. Every page is
timed cold: Streamlit's caches are cleared first, so each figure includes the SQL and the
lineage work. The last line is one JSON object: ``<page>_s`` per page and ``max_page_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PAGES = ("overview", "lineage", "runs", "compare", "regions", "methodology")
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
COUNTRIES = ("USA", "FRA", "DEU", "SWE", "IND", "CAN", "GBR", "JPN")


def _report(model_id: str, parent: str | None, kind: str, energy_kwh: float, day: float, country: str,
            quality: str) -> object:
    from dia.record.report import (
        Carbon,
        Energy,
        Location,
        Parent,
        Quantity,
        RunReport,
        Water,
        Workload,
    )

    carbon = Quantity.of(0.4 * energy_kwh, "kgCO2e", quality, low=0.2 * energy_kwh, high=0.7 * energy_kwh)
    water = Quantity.of(3 * energy_kwh, "L", quality, low=1.5 * energy_kwh, high=6 * energy_kwh)
    ended = T0 + timedelta(days=day)
    return RunReport(
        model_id=model_id, kind=kind, started_at=ended - timedelta(hours=1), ended_at=ended,
        parents=[Parent(model_id=parent, relation="finetune")] if parent else [],
        energy=Energy(it_kwh=Quantity.of(energy_kwh, "kWh", quality, low=0.9 * energy_kwh, high=1.1 * energy_kwh)),
        carbon=Carbon(operational_kg=carbon, total_kg=carbon), water=Water(onsite_l=water, offsite_l=water, total_l=water + water),
        location=Location(country=country), workload=Workload(inferences=1000 if kind == "inference" else None),
    )


def fill(url: str, runs: int, family: int, seed: int = 0) -> float:
    """Fill the store; return the seconds it took.

    Bulk writes through ``Store.bulk_save`` (one multi-row upsert per table and batch).
    ``Store.save_runs`` upserts row by row (~2 ms a run: 100,000 runs took 231 s); the
    stored rows are the same.
    """
    from dia.record.store import Edge, ModelRecord, Store

    rng = random.Random(seed)
    qualities = ("measured", "sampled", "estimated", "reported")
    start = time.perf_counter()
    batch: list[ModelRecord] = []

    with Store(url) as store:
        def _add(rep: Any, parent: str | None) -> None:
            # The model row keeps its earliest run date and the source of its first report.
            batch.append(ModelRecord(rep.model_id, reports=(rep,), created_at=rep.ended_at or rep.started_at,
                                     source=rep.source,
                                     parents=(Edge(rep.model_id, parent, "finetune"),) if parent else ()))
            if len(batch) >= 5000:
                _flush()

        def _flush() -> None:
            store.bulk_save(batch)
            batch.clear()

        # The big family: member i's parent is an earlier member, biased towards the base.
        for i in range(family):
            parent = None if i == 0 else f"big/m{int(i * rng.random() ** 3):05d}"
            _add(_report(f"big/m{i:05d}", parent, "pretraining" if i == 0 else "finetuning",
                         5000.0 if i == 0 else rng.lognormvariate(1.0, 1.5), rng.uniform(0, 700),
                         rng.choice(COUNTRIES), rng.choice(qualities)), parent)
        for j in range(max(0, runs - family)):
            fam, member = j % 200, (j // 200) % 21
            model = f"fam{fam:03d}/m{member:02d}"
            parent = None if member == 0 else f"fam{fam:03d}/m00"
            kind = "inference" if rng.random() < 0.1 else ("pretraining" if member == 0 else "finetuning")
            _add(_report(model, parent, kind, rng.lognormvariate(0.5, 1.5), rng.uniform(0, 700),
                         rng.choice(COUNTRIES), rng.choice(qualities)), parent)
        if batch:
            _flush()
    return time.perf_counter() - start


def time_pages(url: str) -> dict[str, float]:
    """Seconds per page, each from cold caches."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["DIA_DASHBOARD_DB"] = url
    os.environ["DIA_DASHBOARD_PUBLIC"] = "1"
    folder = Path(__file__).resolve().parents[1] / "dashboard" / "views"
    out = {}
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(folder / f"{page}.py"), default_timeout=600)
        start = time.perf_counter()
        at.run()
        out[f"{page}_s"] = round(time.perf_counter() - start, 3)
        if at.exception or at.error:  # pages show their own errors as one line (st.error)
            raise SystemExit(f"{page}: {(at.exception or at.error)[0].value}")
        print(f"{page:12s} {out[f'{page}_s']:7.2f} s", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--family", type=int, default=10_000)
    parser.add_argument("--db", help="reuse (or create) this store instead of a temporary one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.sqlite"
        from dia.record.store import Store, sqlite_file

        path = sqlite_file(url)
        fill_s = 0.0
        if path is None or not path.exists() or Store(url, read_only=True).run_count() == 0:
            fill_s = fill(url, args.runs, args.family)
            print(f"filled {args.runs:,} runs ({args.family:,}-member family) in {fill_s:.1f} s", file=sys.stderr)
        figures = time_pages(url)
        figures["max_page_s"] = max(figures.values())
        print(json.dumps({"runs": args.runs, "family": args.family, "fill_s": round(fill_s, 1), **figures}))


if __name__ == "__main__":
    main()
