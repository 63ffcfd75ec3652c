"""The cumulative footprint of a family over time: the rebound effect made visible.

Each production run of a family member is dated by its end (else its start); a member
known only from a card is dated by the model's ``created_at`` (card date). The points
are running totals per family, so a plot shows derivatives piling up beyond their base.

>>> from dia.record.store import Store
>>> timeline("org/base", store=Store("sqlite://"))
Traceback (most recent call last):
...
dia.errors.UnknownModelError: unknown model 'org/base'
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from dia.link.graph import lineage

if TYPE_CHECKING:
    from dia.record.store import Store


class TimelinePoint(BaseModel):
    """Cumulative family totals (central values) up to and including ``date``."""

    date: datetime
    model_id: str  # the family's model (as asked for)
    energy_kwh: float
    carbon_kg: float
    water_l: float
    member: str | None = None  # the member whose run added this step


def timeline(model_ids: str | list[str], *, store: Store | str | None = None) -> list[TimelinePoint]:
    """Cumulative family footprint over time for one or several models (sorted by date)."""
    from sqlalchemy import select
    from sqlmodel import col

    from dia.record.store import Store
    from dia.record.tables import RunRow

    wanted = [model_ids] if isinstance(model_ids, str) else list(model_ids)
    opened = store if isinstance(store, Store) else Store(store)
    try:
        graph = lineage(opened)
        families = {m: {m, *graph.descendants(m)} for m in wanted}  # raises UnknownModelError
        everyone = set().union(*families.values()) if families else set()
        created = {m: info.created_at for m in everyone if (info := opened.get_model(m)) is not None}
        stmt = select(col(RunRow.model_id), col(RunRow.ended_at), col(RunRow.started_at),
                      col(RunRow.energy_kwh), col(RunRow.carbon_kg), col(RunRow.water_l)).where(
            col(RunRow.is_use).is_(False), col(RunRow.model_id).is_not(None))
        with opened._session() as session:
            runs = [r for r in session.execute(stmt).all() if r[0] in everyone]
    finally:
        if opened is not store:
            opened.close()
    points: list[TimelinePoint] = []
    for family_id, family in families.items():
        events = []
        for mid, ended, started, energy, carbon, water in runs:
            if mid in family:
                when = ended or started or created.get(mid)
                if when is not None:  # an undated run cannot be placed on a timeline
                    events.append((when.replace(tzinfo=None), mid, energy or 0.0, carbon or 0.0, water or 0.0))
        energy_kwh = carbon_kg = water_l = 0.0
        for when, mid, energy, carbon, water in sorted(events, key=lambda e: (e[0], e[1])):
            energy_kwh += energy
            carbon_kg += carbon
            water_l += water
            points.append(TimelinePoint(date=when, model_id=family_id, energy_kwh=energy_kwh,
                                        carbon_kg=carbon_kg, water_l=water_l, member=mid))
    return sorted(points, key=lambda p: (p.date, p.model_id))


__all__ = ["TimelinePoint", "timeline"]
