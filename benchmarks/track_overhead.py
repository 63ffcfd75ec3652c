"""How much does tracking cost? Start+stop latency against CodeCarbon, and loop overhead.

Prints the median start+stop latency of ``dia.track`` (saving to a scratch SQLite store)
and of CodeCarbon's ``OfflineEmissionsTracker``, their ratio, and the wall-time overhead
of tracking a CPU training loop (tracked and untracked runs interleaved, the
fastest of each compared; ``run.count(steps=1)`` every step). The last line is one JSON object.

    python benchmarks/track_overhead.py                 # ~20 s loop, 3 pairs
    python benchmarks/track_overhead.py --loop-s 2 --pairs 2 --codecarbon-n 2   # quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable


def _median_ms(fn: Callable[[], None], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def dia_latency_ms(n: int) -> tuple[float, float]:
    """(first call in the process, median of the next ``n``), in ms."""
    import dia

    def once() -> None:
        with dia.track("bench/latency"):
            pass

    first = _median_ms(once, 1)  # imports, hardware detection, opening the store
    return first, _median_ms(once, n)


def codecarbon_latency_ms(n: int, workdir: str) -> tuple[float, float]:
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    from codecarbon import OfflineEmissionsTracker

    def once() -> None:
        tracker = OfflineEmissionsTracker(country_iso_code="USA", save_to_file=False, log_level="error",
                                          output_dir=workdir)
        tracker.start()
        tracker.stop()

    first = _median_ms(once, 1)
    return first, _median_ms(once, n)


def _train(steps: int, on_step: Callable[[], None] | None) -> None:
    """A small CPU "training loop": SGD on a linear model in pure Python lists."""
    import random

    rng = random.Random(0)
    dim = 1024  # a step of ~0.1 ms: smaller than real training steps, so per-step costs show
    w = [0.0] * dim
    xs = [[rng.random() for _ in range(dim)] for _ in range(64)]
    ys = [sum(x) for x in xs]
    for step in range(steps):
        x, y = xs[step % 64], ys[step % 64]
        err = sum(wi * xi for wi, xi in zip(w, x, strict=True)) - y
        w = [wi - 0.001 * err * xi for wi, xi in zip(w, x, strict=True)]
        if on_step is not None:
            on_step()


def loop_overhead_pct(loop_s: float, pairs: int) -> tuple[float, float, float]:
    import dia

    t0 = time.perf_counter()
    _train(2000, None)
    steps = max(2000, int(2000 * loop_s / (time.perf_counter() - t0)))
    untracked, tracked = [], []
    for _ in range(pairs):
        t0 = time.perf_counter()
        _train(steps, None)
        untracked.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with dia.track("bench/loop", kind="pretraining") as run:
            _train(steps, lambda: run.count(steps=1))
        tracked.append(time.perf_counter() - t0)
    # Other load on the machine only ever adds time: the fastest of each kind is the
    # least disturbed measurement of it.
    base, with_dia = min(untracked), min(tracked)
    return (with_dia - base) / base * 100, base, with_dia


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-s", type=float, default=20.0, help="length of one training loop (s)")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved untracked/tracked pairs")
    parser.add_argument("--dia-n", type=int, default=30, help="start+stop repetitions for dia")
    parser.add_argument("--codecarbon-n", type=int, default=5, help="start+stop repetitions for CodeCarbon")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dia-bench-") as tmp:
        os.environ["DIA_DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite"
        os.environ.setdefault("DIA_COUNTRY", "USA")
        dia_first, dia_ms = dia_latency_ms(args.dia_n)
        print(f"dia.track start+stop, saved to SQLite: first call {dia_first:.1f} ms, "
              f"then median of {args.dia_n}: {dia_ms:.2f} ms")
        cc_ms: float | None = None
        cc_first: float | None = None
        try:
            cc_first, cc_ms = codecarbon_latency_ms(args.codecarbon_n, tmp)
            print(f"CodeCarbon OfflineEmissionsTracker start+stop: first call {cc_first:.1f} ms, "
                  f"then median of {args.codecarbon_n}: {cc_ms:.1f} ms")
        except ImportError:
            print("CodeCarbon not installed: no comparison")
        ratio = cc_ms / dia_ms if cc_ms is not None and dia_ms > 0 else None
        first_ratio = cc_first / dia_first if cc_first is not None and dia_first > 0 else None
        if ratio is not None and first_ratio is not None:
            print(f"latency ratio (CodeCarbon / dia): warm medians {ratio:.1f}x, first call in a process "
                  f"{first_ratio:.1f}x")
        pct, base, tracked = loop_overhead_pct(args.loop_s, args.pairs)
        print(f"CPU loop: untracked {base:.3f} s, tracked {tracked:.3f} s (fastest of {args.pairs} each): "
              f"overhead {pct:+.2f} %")
    print(json.dumps({"dia_start_stop_ms": round(dia_ms, 3),
                      "codecarbon_start_stop_ms": round(cc_ms, 3) if cc_ms is not None else None,
                      "latency_ratio": round(ratio, 1) if ratio is not None else None,
                      "loop_overhead_pct": round(pct, 3),
                      "dia_first_call_ms": round(dia_first, 1),
                      "codecarbon_first_call_ms": round(cc_first, 1) if cc_first is not None else None,
                      "first_call_ratio": round(first_ratio, 1) if first_ratio is not None else None}))


if __name__ == "__main__":
    main()
