"""Family and upstream totals for EVERY model at once, exact on DAGs, over numpy arrays.

Why not ``networkx.descendants`` per model: at Hub scale (millions of models, families
of tens of thousands) that is quadratic-ish work in Python. Instead the DAG is split into
a forest (every edge into a single-parent model) and the merges (multi-parent models,
which are roots of that forest), and:

* family (model + unique descendants) = the model's forest subtree sum, plus the subtree
  sum of every merge strictly below it, each merge once. Exact: a descendant ``u`` of
  ``v`` lies in exactly one of those subtrees (the one of the last merge on a path from
  ``v`` to ``u``, or ``v``'s own if there is none), so the subtrees are disjoint and
  cover the family. Subtree sums are bottom-up segmented sums, one per forest level.
* upstream (model + unique ancestors): a merge's total is summed over its explicit,
  de-duplicated ancestry; below it, ``up[child] = own[child] + up[tree parent]`` top-down.

Both use the same ``(merge, ancestor)`` pairs (about ten per merge on Hub-like data),
walked once for all merges together with sorted numpy keys: no Python loop per model.

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

# Columns of the per-model matrix built by :func:`own_matrix`. ``*_disclosed``: members that
# disclosed the quantity (summed over a family like the rest); where it is 0 the figure is
# not disclosed, and :func:`all_totals` gives ``None`` for it, never a 0.
COLUMNS: tuple[str, ...] = (
    "members", "with_report",
    "energy_kwh", "energy_kwh_low", "energy_kwh_high",
    "carbon_kg", "carbon_kg_low", "carbon_kg_high",
    "water_l", "water_l_low", "water_l_high",
    "energy_disclosed", "carbon_disclosed", "water_disclosed",
)
FIGURES: dict[str, tuple[str, ...]] = {
    q + "_disclosed": (q_unit, q_unit + "_low", q_unit + "_high")
    for q, q_unit in (("energy", "energy_kwh"), ("carbon", "carbon_kg"), ("water", "water_l"))
}


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


def _forest_depth(tree_parent: IntArray) -> IntArray:
    """Each node's distance to its root along ``tree_parent`` (-1 at roots), by pointer jumping:
    O(n log depth), whatever the depth."""
    depth = (tree_parent >= 0).astype(np.int64)
    jump = tree_parent.copy()
    live = np.flatnonzero(jump >= 0)
    while len(live):
        hop = jump[live]
        depth[live] += depth[hop]  # the right side is read before the write: a synchronous round
        jump[live] = jump[hop]
        live = live[jump[live] >= 0]
    return depth


def _as_matrix(own: FloatArray, n: int) -> FloatArray:
    """``own`` as an ``(n, k)`` float matrix (a vector is one column)."""
    own = np.asarray(own, dtype=np.float64)
    if own.ndim == 1:
        return own.reshape(n, 1)
    return own.reshape(n, own.shape[1]) if own.ndim == 2 else own.reshape(n, -1)  # raises unless n rows


def _add_rows(target: FloatArray, index: IntArray, rows: FloatArray) -> None:
    """``target[index] += rows`` with repeated indices summed (sort + ``reduceat``:
    faster than ``np.add.at`` on row blocks)."""
    if not len(index):
        return
    order = np.argsort(index, kind="stable")
    index = index[order]
    starts = np.flatnonzero(np.concatenate(([True], index[1:] != index[:-1])))
    target[index[starts]] += np.add.reduceat(rows[order], starts, axis=0)


class FamilyEngine:
    """Exact family/upstream sums over a DAG given as ``parents[i] -> children[i]`` index pairs.

    The graph must be acyclic (the store guarantees it; a stored cycle raises
    :class:`~dia.errors.LineageCycleError` instead of looping). Values are any ``(n, k)`` matrix.
    """

    def __init__(self, n: int, parents: Sequence[int] | IntArray, children: Sequence[int] | IntArray) -> None:
        self.n = n
        self.parent = np.asarray(parents, dtype=np.int64)
        self.child = np.asarray(children, dtype=np.int64)
        if len(self.parent):
            # Sorted unique keys: one edge per pair, grouped by parent (the child CSR, and
            # the order the forest levels rely on).
            edge_keys = np.sort(self.parent * n + self.child)  # (np.unique hashes: slower here)
            edge_keys = edge_keys[np.concatenate(([True], edge_keys[1:] != edge_keys[:-1]))]
            self.parent, self.child = edge_keys // n, edge_keys % n
        self.child_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.parent, minlength=n), out=self.child_ptr[1:])
        self.child_idx = self.child
        self.indeg = np.bincount(self.child, minlength=n)
        self.is_merge = self.indeg >= 2
        # The forest: every edge into a single-parent model (edges into merges are cut).
        in_tree = ~self.is_merge[self.child]
        self.tree_parent = np.full(n, -1, dtype=np.int64)
        self.tree_parent[self.child[in_tree]] = self.parent[in_tree]
        self._tree_edges = (self.parent[in_tree], self.child[in_tree])
        self._parent_csr: tuple[IntArray, IntArray] | None = None
        self._levels: list[tuple[IntArray, IntArray, IntArray, IntArray]] | None = None
        self._pairs: tuple[IntArray, IntArray] | None = None
        self._height: IntArray | None = None
        self._depth: IntArray | None = None
        self._in_a: npt.NDArray[np.bool_] | None = None
        self._acyclic = False

    def _require_acyclic(self) -> None:
        """Raise :class:`~dia.errors.LineageCycleError` if the graph has a cycle.

        The store refuses cycles, but one written by an older DIA or by hand would make the
        level loops below run forever. Peeling sources level by level (Kahn) costs one
        vectorised round per level of the DAG, like :func:`_longest_path_levels`.
        """
        if self._acyclic:
            return
        indeg = self.indeg.copy()
        front = np.flatnonzero(indeg == 0)
        peeled = 0
        while len(front):
            peeled += len(front)
            below = _gather(self.child_ptr, self.child_idx, front)
            if len(below) * 8 > self.n:  # a wide level: one counting pass
                indeg -= np.bincount(below, minlength=self.n)
            else:  # a narrow one (a deep chain): touch only those models
                np.subtract.at(indeg, below, 1)
            front = _sorted_unique(below[indeg[below] == 0])
        if peeled < self.n:
            from dia.errors import LineageCycleError

            raise LineageCycleError(f"lineage cycle in the store ({self.n - peeled} models on or below it): "
                                    "family totals need a DAG; `dia lineage` names the cycle")
        self._acyclic = True

    # -- structure (computed once, cached) -------------------------------------------------

    @property
    def parent_ptr(self) -> IntArray:
        return self._parents_csr()[0]

    @property
    def parent_idx(self) -> IntArray:
        return self._parents_csr()[1]

    def _parents_csr(self) -> tuple[IntArray, IntArray]:
        if self._parent_csr is None:
            # O(n) from the forest: a single-parent model's one slot is its tree parent;
            # only the (few) edges into merges need sorting by child.
            ptr = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(self.indeg, out=ptr[1:])
            idx = np.empty(len(self.child), dtype=np.int64)
            single = self.indeg == 1
            idx[ptr[:-1][single]] = self.tree_parent[single]
            into_merge = self.is_merge[self.child]
            order = np.argsort(self.child[into_merge], kind="stable")  # keeps parents ascending
            idx[np.repeat(self.is_merge, self.indeg)] = self.parent[into_merge][order]
            self._parent_csr = (ptr, idx)
        return self._parent_csr

    @property
    def height(self) -> IntArray:
        """Longest path down to a leaf (0 for leaves)."""
        if self._height is None:
            self._require_acyclic()
            self._height = _longest_path_levels(self.child, self.parent, self.n)
        return self._height

    @property
    def depth(self) -> IntArray:
        """Longest path up from a root (0 for roots)."""
        if self._depth is None:
            self._require_acyclic()
            self._depth = _longest_path_levels(self.parent, self.child, self.n)
        return self._depth

    @property
    def ancestors_of_merges(self) -> npt.NDArray[np.bool_]:
        """Strict ancestors of multi-parent models: the only ones whose family needs de-duplication."""
        if self._in_a is None:
            origin, member = self.merge_ancestry
            self._in_a = np.zeros(self.n, dtype=bool)
            self._in_a[member[origin != member]] = True
        return self._in_a

    @property
    def merge_ancestry(self) -> tuple[IntArray, IntArray]:
        """``(merge, member)`` pairs: each multi-parent model with itself and its unique ancestors."""
        if self._pairs is None:
            self._require_acyclic()
            self._pairs = self._upstream_pairs(np.flatnonzero(self.is_merge))
        return self._pairs

    def _tree_levels(self) -> list[tuple[IntArray, IntArray, IntArray, IntArray]]:
        """Forest edges by the child's depth in the forest (level 1 first), each level as
        ``(parents, children, unique parents, segment starts)``; within a level the edges
        stay grouped by parent, so a level's sums are one ``np.add.reduceat``."""
        if self._levels is None:
            self._require_acyclic()
            tp, tc = self._tree_edges
            level = _forest_depth(self.tree_parent)[tc]
            small = level.astype(np.int16) if len(level) and level.max() < 2**15 else level
            order = np.argsort(small, kind="stable")  # radix sort; keeps the parent grouping
            level = level[order]
            tp, tc = tp[order], tc[order]
            bounds = np.flatnonzero(np.concatenate(([True], level[1:] != level[:-1], [True])))
            if not len(level):
                bounds = bounds[:0]  # no forest edge: no level
            self._levels = []
            for lo, hi in itertools.pairwise(bounds):
                p = tp[lo:hi]
                starts = np.flatnonzero(np.concatenate(([True], p[1:] != p[:-1])))
                self._levels.append((p, tc[lo:hi], p[starts], starts))
        return self._levels

    # -- all-model totals -------------------------------------------------------------------

    def family_totals(self, own: FloatArray) -> FloatArray:
        """Per model: sum of ``own`` over the model and its unique descendants."""
        own = _as_matrix(own, self.n)
        total = own.copy()
        # Forest subtree sums, deepest level first: exact (one path to each node).
        for _, child, uniq, starts in reversed(self._tree_levels()):
            total[uniq] += np.add.reduceat(total[child], starts, axis=0)
        # Plus the subtree of every merge strictly below, each once (the subtrees are disjoint).
        origin, member = self.merge_ancestry
        strict = origin != member
        _add_rows(total, member[strict], total[origin[strict]])
        return total

    def upstream_totals(self, own: FloatArray) -> FloatArray:
        """Per model: sum of ``own`` over the model and its unique ancestors."""
        own = _as_matrix(own, self.n)
        total = own.copy()
        if not len(self.child):
            return total
        # A merge's upstream is its explicit ancestry; below it, chains add up top-down.
        origin, member = self.merge_ancestry
        if len(origin):
            starts = np.flatnonzero(np.concatenate(([True], origin[1:] != origin[:-1])))
            total[origin[starts]] = np.add.reduceat(own[member], starts, axis=0)
        for parent, child, _, _ in self._tree_levels():
            total[child] += total[parent]
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
            # Two sorted runs: the stable sort (timsort) merges them in linear time.
            seen = np.sort(np.concatenate((seen, frontier)), kind="stable")  # disjoint: no de-duplication
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
            own[i, 2:11] = t.sums
            own[i, 11:14] = t.disclosed
    return own


def as_totals(row: FloatArray) -> dict[str, float | None]:
    """One row of summed :data:`COLUMNS` as a dict, with ``None`` for the figures of a
    quantity no member disclosed (a sum of nothing, not a zero).

    >>> as_totals(np.array([2.0, 1.0, 0, 0, 0, 5.0, 4.0, 6.0, 0, 0, 0, 0, 1.0, 0]))["energy_kwh"] is None
    True
    """
    out: dict[str, float | None] = dict(zip(COLUMNS, map(float, row), strict=True))
    for flag, names in FIGURES.items():
        if not out[flag]:
            out.update(dict.fromkeys(names))
    return out


def all_totals(store: Store, *, scope: str = "family") -> dict[str, dict[str, float | None]]:
    """Family (or upstream) totals of every model in ``store``: ``{model: {column: value}}``,
    a figure ``None`` where no member disclosed it (:func:`as_totals`).

    >>> from dia.record.store import Store
    >>> all_totals(Store("sqlite://"))
    {}
    """
    ids = store.model_ids()
    if not ids:
        return {}
    index = {m: i for i, m in enumerate(ids)}
    edges = [(index[parent], index[child]) for child, parent, _relation, _method in store.edge_tuples()
             if parent in index and child in index]
    engine = FamilyEngine(len(ids), [p for p, _ in edges], [c for _, c in edges])
    own = own_matrix(ids, store.model_totals())
    summed = engine.upstream_totals(own) if scope == "upstream" else engine.family_totals(own)
    return {m: as_totals(summed[i]) for i, m in enumerate(ids)}


__all__ = ["COLUMNS", "FIGURES", "FamilyEngine", "all_totals", "as_totals", "own_matrix"]
