"""The lineage graph: models as nodes, ``parent -> child`` edges labelled by relation.

Built from a :class:`~dia.record.store.Store` (edges come from reports' ``parents`` and
from ingested cards). Multiple parents are normal (merges, distillation, alignment);
the store rejects cycles where edges enter, so the graph is always a DAG.

>>> from dia.record.store import Store
>>> g = lineage(Store("sqlite://"))
>>> g.models()
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import networkx as nx

from dia.errors import UnknownModelError, did_you_mean

if TYPE_CHECKING:
    from dia.record.store import Store


class LineageGraph:
    """A DAG of models. ``graph`` is a networkx ``DiGraph`` with edges parent -> child and
    edge attributes ``relation`` and ``method``.

    >>> g = LineageGraph.from_edges([("org/child", "org/base", "finetune", None)])
    >>> g.parents("org/child"), g.roots()
    (['org/base'], ['org/base'])
    """

    def __init__(self, graph: nx.DiGraph | None = None) -> None:
        self.graph: nx.DiGraph = graph if graph is not None else nx.DiGraph()

    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str, str, str | None]],
                   models: Iterable[str] = ()) -> LineageGraph:
        """Build from ``(child, parent, relation, method)`` tuples plus isolated ``models``."""
        graph = nx.DiGraph()
        graph.add_nodes_from(models)
        graph.add_edges_from((parent, child, {"relation": relation, "method": method})
                             for child, parent, relation, method in edges)
        return cls(graph)

    @classmethod
    def from_store(cls, store: Store) -> LineageGraph:
        return cls.from_edges(store.edge_tuples(), store.model_ids())

    # -- queries -------------------------------------------------------------------------

    def has(self, model_id: str) -> bool:
        return model_id in self.graph

    def require(self, model_id: str) -> str:
        """Return ``model_id`` or raise :class:`UnknownModelError` with close matches."""
        if model_id not in self.graph:
            known = [str(n) for n in self.graph.nodes]
            raise UnknownModelError(f"unknown model {model_id!r}{did_you_mean(model_id, known)}")
        return model_id

    def models(self) -> list[str]:
        return sorted(self.graph.nodes)

    def parents(self, model_id: str) -> list[str]:
        return sorted(self.graph.predecessors(self.require(model_id)))

    def children(self, model_id: str) -> list[str]:
        return sorted(self.graph.successors(self.require(model_id)))

    def ancestors(self, model_id: str) -> set[str]:
        """Unique ancestors (shared ones once), excluding the model itself."""
        return set(nx.ancestors(self.graph, self.require(model_id)))

    def descendants(self, model_id: str) -> set[str]:
        """Unique descendants, excluding the model itself."""
        return set(nx.descendants(self.graph, self.require(model_id)))

    def roots(self) -> list[str]:
        return sorted(n for n, d in self.graph.in_degree() if d == 0)

    def relation(self, parent_id: str, child_id: str) -> str | None:
        data: dict[str, Any] | None = self.graph.get_edge_data(parent_id, child_id)
        return None if data is None else data.get("relation")

    def relations_to_parents(self, model_id: str) -> dict[str, str]:
        """``{parent: relation}`` for a model's parents."""
        return {p: self.graph.edges[p, model_id].get("relation") or "" for p in self.graph.predecessors(model_id)}

    def depths(self, model_id: str, *, upstream: bool, limit: int | None = None) -> dict[str, int]:
        """Shortest hop distance from ``model_id`` to each descendant (or ancestor)."""
        view = self.graph.reverse(copy=False) if upstream else self.graph
        return dict(nx.single_source_shortest_path_length(view, self.require(model_id), cutoff=limit))

    def cycle(self, within: Iterable[str] | None = None) -> list[str] | None:
        """One lineage cycle (among ``within`` only, if given) as ``[child, parent, ...,
        child]``, or ``None``. The store refuses cycles, but one written by an older DIA
        or by hand may be stored: traversals here are iterative and visit each model once,
        so a cycle never loops or recurses; callers report it with :meth:`cycle_note`.

        >>> LineageGraph.from_edges([("o/a", "o/b", "finetune", None), ("o/b", "o/a", "merge", None)]).cycle()
        ['o/a', 'o/b', 'o/a']
        >>> LineageGraph.from_edges([("o/a", "o/b", "finetune", None)]).cycle() is None
        True
        """
        graph = self.graph if within is None else self.graph.subgraph(set(within))
        try:
            edges = nx.find_cycle(graph)  # an iterative depth-first search
        except nx.NetworkXNoCycle:
            return None
        # Edges run parent -> child: walk them backwards to read child -> parent.
        nodes = [str(child) for _, child in reversed(edges)]
        start = min(range(len(nodes)), key=lambda i: nodes[i])  # a stable first model
        nodes = nodes[start:] + nodes[:start]
        return [*nodes, nodes[0]]

    def cycle_note(self, within: Iterable[str] | None = None) -> str | None:
        """One line naming a stored lineage cycle (see :meth:`cycle`), or ``None``."""
        found = self.cycle(within)
        if found is None:
            return None
        return ("lineage cycle in the store: " + " -> ".join(found)
                + " (child -> parent; written by an older DIA or by hand): each model counted once")

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __repr__(self) -> str:
        return f"LineageGraph(models={self.graph.number_of_nodes()}, edges={self.graph.number_of_edges()})"


def lineage(store: Store | str | None = None) -> LineageGraph:
    """The lineage graph of a store (default store when ``None``; a URL opens one).

    >>> lineage("sqlite://").roots()
    []
    """
    from dia.record.store import Store

    if isinstance(store, Store):
        return LineageGraph.from_store(store)
    with Store(store) as opened:
        return LineageGraph.from_store(opened)


__all__ = ["LineageGraph", "lineage"]
