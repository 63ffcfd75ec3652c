"""The cumulative footprint of a family over time: the rebound effect made visible.

Each production run of a family member is dated by its end (else its start); a member
known only from a card is dated by the model's ``created_at`` (card date). The points
are running totals per family, so a plot shows derivatives piling up beyond their base.
Two SQL queries in all (runs, model dates), whatever the family size.

>>> from dia.record.store import Store
>>> timeline("org/base", store=Store("sqlite://"))
Traceback (most recent call last):
...
dia.errors.UnknownModelError: unknown model 'org/base'
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from dia.link.graph import lineage

if TYPE_CHECKING:
    from dia.link.graph import LineageGraph
    from dia.record.store import Store



class TimelinePoint(BaseModel):
    """Cumulative family totals (central values) up to and including ``date``.

    A quantity no run up to ``date`` disclosed is ``None`` ("not disclosed"), never 0.
    """

    date: datetime
    model_id: str  # the family's model (as asked for)
    energy_kwh: float | None
    carbon_kg: float | None
    water_l: float | None
    member: str | None = None  # the member whose run added this step


def timeline(model_ids: str | list[str], *, store: Store | str | None = None, graph: LineageGraph | None = None,
             max_points: int | None = None) -> list[TimelinePoint]:
    """Cumulative family footprint over time for one or several models (sorted by date).

    ``max_points`` thins each family's curve to about that many points (the running
    total stays exact at every point kept, and the last point is always kept).
    """
    from dia.record.store import Store

    wanted = [model_ids] if isinstance(model_ids, str) else list(model_ids)
    opened = store if isinstance(store, Store) else Store(store)
    try:
        points = cumulative_points(opened, wanted, graph=graph, max_points=max_points)
    finally:
        if opened is not store:
            opened.close()
    out = [TimelinePoint.model_construct(**p) for p in points]  # fields built below: no re-validation
    return sorted(out, key=lambda p: (p.date, p.model_id))


def cumulative_points(store: Store, families: list[str], *, graph: LineageGraph | None = None,
                      max_points: int | None = None) -> list[dict[str, Any]]:
    """The timeline as plain dicts (``date``, ``model_id``, ``energy_kwh``, ``carbon_kg``,
    ``water_l``, ``member``), family by family, each family's points by date.

    Raises :class:`~dia.errors.UnknownModelError` for an unknown family model.
    """
    graph = graph if graph is not None else lineage(store)
    members = {f: {f, *graph.descendants(f)} for f in families}  # raises UnknownModelError
    everyone: set[str] = set().union(*members.values()) if members else set()
    if not everyone:
        return []
    runs = store.dated_runs(everyone)  # plain tuples: (model, date, energy, carbon, water)
    created = store.model_dates(everyone)
    out: list[dict[str, Any]] = []
    for family, group in members.items():
        events = []
        for mid, when, energy, carbon, water in runs:
            if mid in group:
                when = when or created.get(mid)
                if when is not None:  # an undated run cannot be placed on a timeline
                    events.append((when, mid, energy, carbon, water))
        events.sort(key=lambda e: (e[0], e[1]))
        step = 1 if not max_points else max(1, -(-len(events) // max_points))
        energy_kwh: float | None = None
        carbon_kg: float | None = None
        water_l: float | None = None
        last = len(events) - 1
        for i, (when, mid, energy, carbon, water) in enumerate(events):
            energy_kwh = _add(energy_kwh, energy)
            carbon_kg = _add(carbon_kg, carbon)
            water_l = _add(water_l, water)
            if i % step == 0 or i == last:
                out.append({"date": when, "model_id": family, "energy_kwh": energy_kwh, "carbon_kg": carbon_kg,
                            "water_l": water_l, "member": mid})
    return out


def _add(total: float | None, figure: float | None) -> float | None:
    """A running total of disclosed figures: ``None`` until the first one."""
    if figure is None:
        return total
    return figure if total is None else total + figure


__all__ = ["TimelinePoint", "cumulative_points", "timeline"]
