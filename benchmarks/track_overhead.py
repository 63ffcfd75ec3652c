"""How much does tracking cost? Start+stop latency against CodeCarbon, and loop overhead.

Prints the median start+stop latency of ``dia.track`` (saving to a scratch SQLite store)
and of CodeCarbon's ``OfflineEmissionsTracker``, their ratio, and the wall-time overhead
of tracking a CPU training loop (tracked and untracked runs interleaved in
alternating order, the median ratio of the pairs; ``run.count(steps=1)`` every step), and
DIA's own share of it measured directly: the background thread's CPU time and the cost
of one ``run.count()`` call. The last line is one JSON object.

    python benchmarks/track_overhead.py                 # ~20 s loop, 4 pairs
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
    # A step of about 1 ms, the low end of real training steps (a small model on a CPU);
    # run.count()'s cost per call is printed on its own for anyone with shorter steps.
    dim = 10_240
    w = [0.0] * dim
    xs = [[rng.random() for _ in range(dim)] for _ in range(64)]
    ys = [sum(x) for x in xs]
    for step in range(steps):
        x, y = xs[step % 64], ys[step % 64]
        err = sum(wi * xi for wi, xi in zip(w, x, strict=True)) - y
        w = [wi - 0.001 * err * xi for wi, xi in zip(w, x, strict=True)]
        if on_step is not None:
            on_step()


def loop_overhead_pct(loop_s: float, pairs: int) -> tuple[float, float, float, float, int]:
    """Overhead of tracking the loop, from interleaved untracked/tracked runs.

    The order alternates between pairs (untracked first, then tracked first) so a drift in
    the machine's speed does not land on one side; each pair gives one ratio and the
    median is reported, for wall time and for the process's CPU time (which other load on
    a shared machine disturbs less). Returns (wall %, CPU %, fastest untracked s, fastest
    tracked s, steps per loop).
    """
    import dia

    t0 = time.perf_counter()
    _train(200, None)
    steps = max(200, int(200 * loop_s / (time.perf_counter() - t0)))

    def timed(fn: Callable[[], None]) -> tuple[float, float]:
        w, c = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - w, time.process_time() - c

    def untracked() -> None:
        _train(steps, None)

    def tracked() -> None:
        with dia.track("bench/loop", kind="pretraining") as run:
            _train(steps, lambda: run.count(steps=1))

    wall, cpu, bases, withs = [], [], [], []
    for i in range(pairs):
        if i % 2 == 0:
            base, with_dia = timed(untracked), timed(tracked)
        else:
            with_dia, base = timed(tracked), timed(untracked)
        wall.append(with_dia[0] / base[0] - 1)
        cpu.append(with_dia[1] / base[1] - 1)
        bases.append(base[0])
        withs.append(with_dia[0])
    return statistics.median(wall) * 100, statistics.median(cpu) * 100, min(bases), min(withs), steps


def tracker_cpu_ms_per_s(seconds: float) -> float:
    """CPU time DIA's background thread uses per second of an idle tracked run."""
    import resource

    import dia

    def cpu_s() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu_s(), time.perf_counter()
    with dia.track("bench/idle"):
        time.sleep(seconds)
    return (cpu_s() - c0) / (time.perf_counter() - t0) * 1000


def count_cost_us(n: int = 200_000) -> float:
    """Cost of one ``run.count(steps=1)`` call, in microseconds."""
    import dia

    with dia.track("bench/count", store=False) as run:
        t = time.perf_counter()
        for _ in range(n):
            run.count(steps=1)
        return (time.perf_counter() - t) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-s", type=float, default=20.0, help="length of one training loop (s)")
    parser.add_argument("--pairs", type=int, default=4, help="interleaved untracked/tracked pairs")
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
        pct, cpu_pct, base, tracked, steps = loop_overhead_pct(args.loop_s, args.pairs)
        print(f"CPU loop: untracked {base:.3f} s, tracked {tracked:.3f} s (fastest of {args.pairs} each); "
              f"overhead, median of {args.pairs} interleaved pairs: wall {pct:+.2f} %, CPU time {cpu_pct:+.2f} %")
        bg_ms = tracker_cpu_ms_per_s(args.loop_s)
        count_us = count_cost_us()
        step_us = base / steps * 1e6
        print(f"DIA's own work: background thread {bg_ms:.2f} ms CPU per s ({bg_ms / 10:.2f} %), "
              f"run.count() {count_us:.2f} us per call ({count_us / step_us * 100:.2f} % of a {step_us:.0f} us step)")
    print(json.dumps({"dia_start_stop_ms": round(dia_ms, 3),
                      "codecarbon_start_stop_ms": round(cc_ms, 3) if cc_ms is not None else None,
                      "latency_ratio": round(ratio, 1) if ratio is not None else None,
                      "loop_overhead_pct": round(pct, 3),
                      "loop_cpu_overhead_pct": round(cpu_pct, 3),
                      "tracker_thread_cpu_pct": round(bg_ms / 10, 3),
                      "count_call_us": round(count_us, 3),
                      "dia_first_call_ms": round(dia_first, 1),
                      "codecarbon_first_call_ms": round(cc_first, 1) if cc_first is not None else None,
                      "first_call_ratio": round(first_ratio, 1) if first_ratio is not None else None}))


if __name__ == "__main__":
    main()
