"""Family and upstream totals for every model of a synthetic Hub-like lineage DAG.

    python benchmarks/lineage_scale.py --models 1000000

The DAG: heavy-tailed family sizes (Pareto, capped at 50,000 descendants), fan-out biased
towards the base model as on the Hub, chains up to depth 8, about 2 % of models merging
2-4 parents (a third of those across families), 30 % of models with a report. It times
DIA's all-models engine (dia.aggregate.fast: indexing the DAG plus family and upstream
totals of every model; the median of ``--repeats`` runs), single-model queries, and a
baseline doing what the DIA paper's reference implementation does (networkx
descendants/ancestors plus a Python sum per model). The baseline's per-model cost is
heavy-tailed, so it is measured stratified: every model with a large family + upstream is
timed, the others on a uniform sample (``--repeats`` samples, median and spread reported)
extrapolated to all of them; ``--baseline-sample 0`` times every model instead. Every model
timed is also checked for exact agreement. The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

import numpy as np

from dia.aggregate.fast import FamilyEngine

MAX_FAMILY = 50_000
MAX_DEPTH = 8


def _peak_rss_mb() -> float:
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def synthetic_hub(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(parents, children, own) of a Hub-like DAG with ``n`` models; parents precede children."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(np.floor(rng.pareto(0.9, size=n) + 1).astype(np.int64), MAX_FAMILY + 1)
    cut = int(np.searchsorted(np.cumsum(sizes), n))
    sizes = sizes[:cut + 1]
    sizes[-1] -= int(sizes.sum()) - n
    sizes = sizes[sizes > 0]
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)  # each model's family root
    pos = np.arange(n) - start
    # Parent: an earlier member of the family, biased towards the root (u^3).
    parent = start + np.floor(pos * rng.random(n) ** 3).astype(np.int64)
    parent[pos == 0] = -1
    for _ in range(4):  # cap chain depth: too-deep models re-attach to a shallower node
        depth = np.zeros(n, dtype=np.int64)
        has = parent >= 0
        for _ in range(64):
            new = np.where(has, depth[np.maximum(parent, 0)] + 1, 0)
            if np.array_equal(new, depth):
                break
            depth = new
        deep = depth > MAX_DEPTH
        if not deep.any():
            break
        parent[deep] = start[deep]
    children = np.flatnonzero(parent >= 0)
    parents = parent[children]
    # Merges: ~2 % of non-root models get 1-3 extra earlier parents.
    merging = children[rng.random(len(children)) < 0.02]
    extra = rng.integers(1, 4, size=len(merging))
    m_child = np.repeat(merging, extra)
    m_pos = pos[m_child]
    same_family = start[m_child] + np.floor(m_pos * rng.random(len(m_child))).astype(np.int64)
    anywhere = np.floor(m_child * rng.random(len(m_child))).astype(np.int64)
    m_parent = np.where(rng.random(len(m_child)) < 2 / 3, same_family, anywhere)
    ok = m_parent < m_child
    parents = np.concatenate([parents, m_parent[ok]])
    children = np.concatenate([children, m_child[ok]])
    # Own figures: members, with_report, energy (v, low, high), carbon (v, low, high).
    reported = rng.random(n) < 0.30
    energy = np.where(reported, rng.lognormal(1.0, 2.0, size=n), 0.0)
    own = np.stack([np.ones(n), reported.astype(float), energy, 0.8 * energy, 1.3 * energy,
                    0.4 * energy, 0.1 * energy, 0.8 * energy], axis=1)
    return parents, children, own


def _rollup_sum(rows: list[list[float]], members: set[int]) -> list[float]:
    """The reference implementation's per-model sum: every column, member by member."""
    acc = [0.0] * len(rows[0])
    for u in members:
        for j, x in enumerate(rows[u]):
            acc[j] += x
    return acc


def _baseline_graph(n: int, parents: np.ndarray, children: np.ndarray) -> tuple[Any, float]:
    """The reference implementation's networkx graph, and the seconds it took to build."""
    import networkx as nx

    t0 = time.perf_counter()
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(parents.tolist(), children.tolist(), strict=True))
    return graph, time.perf_counter() - t0


def _baseline(graph: Any, rows: list[list[float]], models: np.ndarray
              ) -> tuple[float, dict[int, tuple[list[float], list[float]]]]:
    """Seconds the reference implementation takes for ``models`` (descendants + ancestors +
    Python sums of the same columns the fast path computes), and its results."""
    import networkx as nx

    results = {}
    t0 = time.perf_counter()
    for v in models.tolist():
        family = _rollup_sum(rows, nx.descendants(graph, v) | {v})
        upstream = _rollup_sum(rows, nx.ancestors(graph, v) | {v})
        results[v] = (family, upstream)
    return time.perf_counter() - t0, results


def _fast_path(n: int, parents: np.ndarray, children: np.ndarray, own: np.ndarray
               ) -> tuple[float, FamilyEngine, np.ndarray, np.ndarray]:
    """Seconds for the engine's all-model work only (index the DAG, family and upstream
    totals of every model), and its results."""
    t0 = time.perf_counter()
    engine = FamilyEngine(n, parents, children)
    family = engine.family_totals(own)
    upstream = engine.upstream_totals(own)
    return time.perf_counter() - t0, engine, family, upstream


def _spread(values: list[float]) -> str:
    return f"median {np.median(values):.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--baseline-sample", type=int, default=20_000,
                    help="uniform random sample of the light models per baseline run (0: time every model)")
    ap.add_argument("--baseline-heavy", type=int, default=256,
                    help="models with at least this many family + upstream members are all timed")
    ap.add_argument("--repeats", type=int, default=3, help="fast-path runs and baseline samples (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = args.models

    t0 = time.perf_counter()
    parents, children, own = synthetic_hub(n, args.seed)
    print(f"synthetic DAG: {n:,} models, {len(children):,} edges, "
          f"{int((np.bincount(children, minlength=n) >= 2).sum()):,} merges, built in {time.perf_counter() - t0:.1f} s")

    # Earlier runs' arrays are dropped at once: the peak RSS is that of one run.
    fast_runs_s = [_fast_path(n, parents, children, own)[0] for _ in range(max(args.repeats, 1) - 1)]
    seconds, engine, family, upstream = _fast_path(n, parents, children, own)
    fast_runs_s.append(seconds)
    all_rollups_s = float(np.median(fast_runs_s))
    peak_rss_mb = _peak_rss_mb()
    print(f"all-model family + upstream totals: {_spread(fast_runs_s)} "
          f"(largest family {int(family[:, 0].max()):,} members; "
          f"{int(engine.ancestors_of_merges.sum()):,} ancestors of merges)")
    print(f"peak RSS (fast path): {peak_rss_mb:.0f} MB")

    rng = np.random.default_rng(args.seed + 1)
    queries = np.concatenate([[int(np.argmax(family[:, 0]))], rng.integers(0, n, size=args.queries - 1)])
    times_ms = []
    for v in queries.tolist():
        t = time.perf_counter()
        members = engine.family_members(v)
        own[members, 2:].sum(axis=0)
        times_ms.append((time.perf_counter() - t) * 1000)
    query_p50_ms = float(np.median(times_ms))
    print(f"single-model family query: p50 {query_p50_ms:.2f} ms, max {max(times_ms):.1f} ms "
          f"(incl. the largest family)")

    # The baseline's cost per model grows with its family + upstream size, which is heavy-tailed:
    # a small uniform sample mostly misses the few huge families and its extrapolation swings
    # run to run. So it is stratified: every heavy model is timed, the light ones are sampled.
    graph, build_s = _baseline_graph(n, parents, children)
    rows = own.tolist()
    size = family[:, 0] + upstream[:, 0]
    if args.baseline_sample <= 0:
        heavy, light = np.arange(n), np.empty(0, dtype=np.int64)
    else:
        heavy, light = np.flatnonzero(size >= args.baseline_heavy), np.flatnonzero(size < args.baseline_heavy)
    # Models are visited in index order, as a loop over the graph's nodes would (a random
    # order is slower for networkx's dicts and would flatter the fast path).
    heavy_s, results = _baseline(graph, rows, heavy)
    estimates_s = []
    for _ in range(max(args.repeats, 1) if len(light) else 1):
        sample = np.sort(rng.choice(light, size=min(args.baseline_sample, len(light)), replace=False))
        light_s, sampled = _baseline(graph, rows, sample)
        results.update(sampled)
        estimates_s.append(build_s + heavy_s + (light_s / len(sample) * len(light) if len(sample) else 0.0))
    baseline_all_s = float(np.median(estimates_s))
    exact = all(np.allclose(family[v], f) and np.allclose(upstream[v], u) for v, (f, u) in results.items())
    speedup = baseline_all_s / all_rollups_s
    timed = (f"all {n:,} models timed: {_spread(estimates_s)}" if not len(light) else
             f"{len(heavy):,} models with >= {args.baseline_heavy} members all timed ({heavy_s:.1f} s) + "
             f"{len(light):,} others extrapolated from {args.baseline_sample:,}-model samples: {_spread(estimates_s)}")
    print(f"baseline (networkx + Python sums of the same 8 columns): build {build_s:.1f} s + {timed}; "
          f"fast path agrees on all {len(results):,} models timed: {exact}")
    print(f"speedup vs baseline: {speedup:.1f}x (baseline spread {min(estimates_s) / all_rollups_s:.1f}x"
          f"-{max(estimates_s) / all_rollups_s:.1f}x)")
    print(json.dumps({"models": n, "all_rollups_s": round(all_rollups_s, 3), "peak_rss_mb": round(peak_rss_mb, 1),
                      "query_p50_ms": round(query_p50_ms, 3), "speedup_vs_baseline": round(speedup, 1),
                      "baseline_extrapolated_s": round(baseline_all_s, 3),
                      "baseline_runs_s": [round(x, 3) for x in estimates_s],
                      "all_rollups_runs_s": [round(x, 3) for x in fast_runs_s], "exact_on_sample": bool(exact)}))
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()
