"""Family and upstream totals for EVERY model at once, exact on DAGs, over numpy arrays.

Why not ``networkx.descendants`` per model: at Hub scale (millions of models, families
of tens of thousands) that is quadratic-ish work in Python. Instead:

* family (model + unique descendants): sums are accumulated bottom-up over the edges,
  level by level (``np.bincount``). That is exact for every model whose descendants are
  each reached by one path only. The only models that can reach a node by two paths are
  strict ancestors of a multi-parent node (set ``A``); those few are recomputed with an
  explicit de-duplicated walk that stops as soon as it leaves ``A`` (below ``A`` the
  bottom-up sums are already exact, and distinct exits never overlap).
* upstream (model + unique ancestors): top-down, ``up[child] = own[child] + up[parent]``
  for single-parent models (exact: the child is not among the parent's ancestors); only
  multi-parent models take an explicit de-duplicated walk over their ancestors.

>>> import numpy as np
>>> eng = FamilyEngine(4, parents=[0, 0, 1, 2], children=[1, 2, 3, 3])  # a diamond
>>> eng.family_totals(np.ones((4, 1)))[:, 0].tolist()
[4.0, 2.0, 2.0, 1.0]
>>> eng.upstream_totals(np.ones((4, 1)))[:, 0].tolist()
[1.0, 2.0, 2.0, 4.0]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from dia.record.store import Store

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Columns of the per-model matrix built by :func:`own_matrix`.
COLUMNS: tuple[str, ...] = (
    "members", "with_report",
    "energy_kwh", "energy_kwh_low", "energy_kwh_high",
    "carbon_kg", "carbon_kg_low", "carbon_kg_high",
    "water_l", "water_l_low", "water_l_high",
)


def _csr(keys: IntArray, values: IntArray, n: int) -> tuple[IntArray, IntArray]:
    order = np.argsort(keys, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=indptr[1:])
    return indptr, values[order]


def _gather(indptr: IntArray, indices: IntArray, nodes: IntArray) -> IntArray:
    """All neighbours of ``nodes`` (concatenated CSR rows), vectorised."""
    starts = indptr[nodes]
    lengths = indptr[nodes + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return indices[offsets + np.arange(total, dtype=np.int64)]


def _sorted_unique(keys: IntArray) -> IntArray:
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _sorted_contains(sorted_keys: IntArray, keys: IntArray) -> npt.NDArray[np.bool_]:
    """Which of ``keys`` are in the sorted array ``sorted_keys`` (binary search, no hashing)."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _longest_path_levels(src: IntArray, dst: IntArray, n: int) -> IntArray:
    """Longest path length reaching each node along ``src -> dst`` (0 for sources).

    Relaxation restricted to edges whose source changed last round: total work is the
    number of edges times the (small, Hub: <= 8) depth of the DAG.
    """
    level = np.zeros(n, dtype=np.int64)
    active = np.ones(len(src), dtype=bool)
    while active.any():
        s, d = src[active], dst[active]
        before = level.copy()
        np.maximum.at(level, d, level[s] + 1)
        changed = level != before
        active = changed[src]
    return level


class FamilyEngine:
    """Exact family/upstream sums over a DAG given as ``parents[i] -> children[i]`` index pairs.

    The graph must be acyclic (the store guarantees it). Values are any ``(n, k)`` matrix.
    """

    def __init__(self, n: int, parents: Sequence[int] | IntArray, children: Sequence[int] | IntArray) -> None:
        self.n = n
        self.parent = np.asarray(parents, dtype=np.int64)
        self.child = np.asarray(children, dtype=np.int64)
        if len(self.parent):
            # Sorted unique keys: one edge per pair, already grouped by parent (child CSR).
            edge_keys = np.sort(self.parent * n + self.child)  # (np.unique hashes: slower here)
            edge_keys = edge_keys[np.concatenate(([True], edge_keys[1:] != edge_keys[:-1]))]
            self.parent, self.child = edge_keys // n, edge_keys % n
        self.child_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.parent, minlength=n), out=self.child_ptr[1:])
        self.child_idx = self.child
        self.parent_ptr, self.parent_idx = _csr(self.child, self.parent, n)
        self.indeg = np.diff(self.parent_ptr)
        self.is_merge = self.indeg >= 2
        self._height: IntArray | None = None
        self._depth: IntArray | None = None
        self._in_a: npt.NDArray[np.bool_] | None = None

    # -- structure (computed once, cached) -------------------------------------------------

    @property
    def height(self) -> IntArray:
        if self._height is None:
            self._height = _longest_path_levels(self.child, self.parent, self.n)
        return self._height

    @property
    def depth(self) -> IntArray:
        if self._depth is None:
            self._depth = _longest_path_levels(self.parent, self.child, self.n)
        return self._depth

    @property
    def ancestors_of_merges(self) -> npt.NDArray[np.bool_]:
        """Strict ancestors of multi-parent models: the only ones needing de-duplication."""
        if self._in_a is None:
            in_a = np.zeros(self.n, dtype=bool)
            frontier = _sorted_unique(_gather(self.parent_ptr, self.parent_idx, np.flatnonzero(self.is_merge)))
            while len(frontier):
                frontier = frontier[~in_a[frontier]]
                in_a[frontier] = True
                frontier = _sorted_unique(_gather(self.parent_ptr, self.parent_idx, frontier))
            self._in_a = in_a
        return self._in_a

    # -- all-model totals -------------------------------------------------------------------

    def family_totals(self, own: FloatArray) -> FloatArray:
        """Per model: sum of ``own`` over the model and its unique descendants."""
        own = np.asarray(own, dtype=np.float64).reshape(self.n, -1)
        total = own.copy()
        height = self.height
        if len(self.child):
            child_height = height[self.child]
            # Edges grouped by the child's height (children finish first), then by parent,
            # so each level is one segmented sum over all columns at once.
            order = np.lexsort((self.parent, child_height))
            bounds = np.searchsorted(child_height[order], np.arange(int(height.max()) + 1), side="left")
            bounds = np.append(bounds, len(order))
            for h in range(len(bounds) - 1):
                sel = order[bounds[h]:bounds[h + 1]]
                if not len(sel):
                    continue
                p = self.parent[sel]
                starts = np.flatnonzero(np.concatenate(([True], p[1:] != p[:-1])))
                total[p[starts]] += np.add.reduceat(total[self.child[sel]], starts, axis=0)
        self._fix_family(own, total)
        return total

    def _fix_family(self, own: FloatArray, naive: FloatArray) -> None:
        in_a = self.ancestors_of_merges
        a_nodes = np.flatnonzero(in_a)
        if not len(a_nodes):
            return
        # Exits below A that are single-parent: their (exact) sums attach to their one parent.
        plain = in_a[self.parent] & ~in_a[self.child] & ~self.is_merge[self.child]
        plain_sum = np.zeros_like(naive)
        for j in range(naive.shape[1]):
            plain_sum[:, j] = np.bincount(self.parent[plain], weights=naive[self.child[plain], j], minlength=self.n)
        # U(v): the models of A below v plus the multi-parent exits below them, as sets
        # merged children-first (C-level set unions; overlaps through merges vanish).
        # A child of A with v as its only parent (most of A: single-parent chains) hands
        # its set to v instead of it being copied: then exact(v) = inside(v) + exact(heir)
        # + the values of what v adds beyond the heir's set.
        special = in_a[self.parent] & (in_a[self.child] | self.is_merge[self.child])
        sptr, sidx = _csr(self.parent[special], self.child[special], self.n)
        sptr_l, sidx_l = sptr.tolist(), sidx.tolist()
        in_a_l = in_a.tolist()
        single_l = (self.indeg == 1).tolist()
        a_nodes = a_nodes[np.argsort(self.height[a_nodes], kind="stable")]
        order = a_nodes.tolist()
        below: dict[int, set[int]] = {}
        heir_of = np.full(len(order), -1, dtype=np.int64)
        added: list[list[int]] = []
        for row, v in enumerate(order):
            kids = sidx_l[sptr_l[v]:sptr_l[v + 1]]
            owned = [c for c in kids if in_a_l[c] and single_l[c]]
            heir = max(owned, key=lambda c: len(below[c])) if owned else -1
            reach = below.pop(heir) if heir >= 0 else set()
            extra: set[int] = set()
            for c in kids:
                if in_a_l[c] and c != heir:
                    extra |= below[c]
                extra.add(c)
            extra -= reach
            extra.discard(heir)  # its own value is inside exact(heir)
            reach |= extra
            if heir >= 0:
                reach.add(heir)
            below[v] = reach
            heir_of[row] = heir
            added.append(list(extra))
        # Inside A a model contributes its own value plus its plain exits; a non-A
        # multi-parent exit contributes its exact bottom-up sum.
        inside = own + plain_sum
        sizes = np.fromiter((len(x) for x in added), dtype=np.int64, count=len(added))
        flat = np.fromiter(itertools.chain.from_iterable(added), dtype=np.int64, count=int(sizes.sum()))
        values = np.where(in_a[flat][:, None], inside[flat], naive[flat])
        extra_sum = np.zeros((len(order), naive.shape[1]))
        nonempty = sizes > 0
        if nonempty.any():
            starts = (np.cumsum(sizes) - sizes)[nonempty]
            extra_sum[nonempty] = np.add.reduceat(values, starts, axis=0)
        fixed = inside[a_nodes] + extra_sum
        # Add the heirs' exact sums, children first (heirs sit at a lower height).
        row_of = np.full(self.n, -1, dtype=np.int64)
        row_of[a_nodes] = np.arange(len(order))
        heights = self.height[a_nodes]
        has_heir = heir_of >= 0
        for h in np.unique(heights[has_heir]).tolist():
            rows = np.flatnonzero(has_heir & (heights == h))
            fixed[rows] += fixed[row_of[heir_of[rows]]]
        naive[a_nodes] = fixed

    def upstream_totals(self, own: FloatArray) -> FloatArray:
        """Per model: sum of ``own`` over the model and its unique ancestors."""
        own = np.asarray(own, dtype=np.float64).reshape(self.n, -1)
        total = own.copy()
        if not len(self.child):
            return total
        depth = self.depth
        single = self.indeg == 1
        only_parent = np.full(self.n, -1, dtype=np.int64)
        only_parent[single] = self.parent_idx[self.parent_ptr[:-1][single]]
        merges = np.flatnonzero(self.is_merge)
        merge_total = np.zeros_like(total)
        if len(merges):
            origin, member = self._upstream_pairs(merges)
            for j in range(own.shape[1]):
                merge_total[:, j] = np.bincount(origin, weights=own[member, j], minlength=self.n)
        order = np.argsort(depth, kind="stable")
        bounds = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2), side="left")
        for d in range(1, len(bounds) - 1):
            level = order[bounds[d]:bounds[d + 1]]
            lone = level[single[level]]
            total[lone] = own[lone] + total[only_parent[lone]]
            joined = level[self.is_merge[level]]
            total[joined] = merge_total[joined]
        return total

    def _upstream_pairs(self, sources: IntArray) -> tuple[IntArray, IntArray]:
        """``(origin, member)`` pairs: each source with itself and each of its unique ancestors.

        All sources walk up together, one vectorised step per level (Hub chains are
        shallow), de-duplicating ``origin * n + member`` keys: no Python loop per model.
        """
        n = self.n
        seen = np.sort(sources * n + sources)
        frontier = seen
        while len(frontier):
            origin, node = frontier // n, frontier % n
            keys = np.repeat(origin, self.indeg[node]) * n + _gather(self.parent_ptr, self.parent_idx, node)
            keys = _sorted_unique(keys)  # sort-based: np.unique's hashing is slower on such keys
            frontier = keys[~_sorted_contains(seen, keys)]
            seen = np.sort(np.concatenate((seen, frontier)))  # disjoint: no de-duplication needed
        return seen // n, seen % n

    # -- single-model queries ------------------------------------------------------------------

    def _reach(self, v: int, ptr: IntArray, idx: IntArray) -> IntArray:
        seen = np.zeros(self.n, dtype=bool)
        seen[v] = True
        frontier = np.array([v], dtype=np.int64)
        while len(frontier):
            nxt = _gather(ptr, idx, frontier)
            nxt = np.unique(nxt[~seen[nxt]])
            seen[nxt] = True
            frontier = nxt
        return np.flatnonzero(seen)

    def family_members(self, v: int) -> IntArray:
        """Indices of the model and its unique descendants."""
        return self._reach(v, self.child_ptr, self.child_idx)

    def upstream_members(self, v: int) -> IntArray:
        """Indices of the model and its unique ancestors."""
        return self._reach(v, self.parent_ptr, self.parent_idx)


def own_matrix(ids: Sequence[str], totals: dict[str, Any]) -> FloatArray:
    """The ``(n, len(COLUMNS))`` matrix of each model's own figures from ``Store.model_totals()``."""
    own = np.zeros((len(ids), len(COLUMNS)))
    own[:, 0] = 1.0
    for i, mid in enumerate(ids):
        t = totals.get(mid)
        if t is not None and t.runs:
            own[i, 1] = 1.0
            own[i, 2:] = (*t.energy_kwh, *t.carbon_kg, *t.water_l)
    return own


def all_totals(store: Store, *, scope: str = "family") -> dict[str, dict[str, float]]:
    """Family (or upstream) totals of every model in ``store``: ``{model: {column: value}}``.

    >>> from dia.record.store import Store
    >>> all_totals(Store("sqlite://"))
    {}
    """
    ids = store.model_ids()
    if not ids:
        return {}
    index = {m: i for i, m in enumerate(ids)}
    edges = [(index[e.parent_id], index[e.child_id]) for e in store.edges()
             if e.parent_id in index and e.child_id in index]
    engine = FamilyEngine(len(ids), [p for p, _ in edges], [c for _, c in edges])
    own = own_matrix(ids, store.model_totals())
    summed = engine.upstream_totals(own) if scope == "upstream" else engine.family_totals(own)
    return {m: dict(zip(COLUMNS, map(float, summed[i]), strict=True)) for i, m in enumerate(ids)}


__all__ = ["COLUMNS", "FamilyEngine", "all_totals", "own_matrix"]
