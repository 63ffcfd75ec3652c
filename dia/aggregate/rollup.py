"""Cumulative footprints over a model family (``family``) or a model's ancestry (``upstream``).

A model's own footprint is the endpoint-wise sum of its production runs; evaluation and
inference runs are "use", totalled apart. ``family`` = the model plus its UNIQUE
descendants, ``upstream`` = the model plus its UNIQUE ancestors: shared ancestors and
merges count once. Members without any report are listed (coverage tells how much of the
scope is disclosed); ``impute=True`` adds priors for them, kept in ``imputed_totals``.

>>> from dia.record.store import Store
>>> store = Store("sqlite://")
>>> store.add_edge("org/child", "org/base", "finetune")
>>> r = rollup("org/base", store=store)
>>> r.members, r.with_report, r.coverage
(2, 0, 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from dia.aggregate.impute import impute_member, recorded_gpu
from dia.link.graph import LineageGraph, lineage

if TYPE_CHECKING:
    from dia.record.store import Store

Scope = Literal["family", "upstream"]
QUANTITIES: tuple[str, ...] = ("energy_kwh", "carbon_kg", "water_l")


class Interval(BaseModel):
    """A central value with its low-high range (intervals add endpoint-wise)."""

    value: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def __add__(self, other: Interval) -> Interval:
        return Interval(value=self.value + other.value, low=self.low + other.low, high=self.high + other.high)

    @classmethod
    def of(cls, triple: Iterable[float]) -> Interval:
        value, low, high = (float(x) for x in triple)
        return cls(value=value, low=low, high=high)


class MemberRow(BaseModel):
    """One member of the scope: its own footprint (not cumulative)."""

    model_id: str
    relation: str | None
    depth: int = Field(description="hops from the rolled-up model")
    has_report: bool
    runs: int
    energy_kwh: Interval | None
    carbon_kg: Interval | None
    water_l: Interval | None
    quality: str
    imputed_carbon_kg: Interval | None = None
    imputed_energy_kwh: Interval | None = None
    imputed_water_l: Interval | None = None
    imputed_basis: str | None = None


class Rollup(BaseModel):
    """The cumulative footprint of a family or an ancestry, with how much of it is disclosed."""

    model: str
    scope: Scope
    members: int
    with_report: int
    coverage: float = Field(description="with_report / members")
    energy_kwh: Interval
    carbon_kg: Interval
    water_l: Interval
    by_quality: dict[str, Interval] = Field(description="carbon kg per quality tier")
    by_relation: dict[str, int]
    use: dict[str, Interval] = Field(description="inference/evaluation totals: energy_kwh, carbon_kg, water_l")
    imputed: bool
    imputed_totals: dict[str, Interval] | None
    rows: list[MemberRow]

    def to_json_dict(self) -> dict[str, Any]:
        """The ``dia rollup --json`` document (``imputed_totals`` only when imputing)."""
        data = self.model_dump(mode="json")
        if not self.imputed:
            data.pop("imputed_totals", None)
        return data


class _Own:
    """Per-model sums read from the store in one SQL query."""

    def __init__(self) -> None:
        self.runs = 0
        self.sums = {q: Interval() for q in QUANTITIES}
        self.carbon_by_quality: dict[str, Interval] = {}
        self.use = {q: Interval() for q in QUANTITIES}
        self.use_runs = 0


def _own_footprints(store: Store, model_ids: set[str]) -> dict[str, _Own]:
    """Production and use sums per model and per quality tier (same rules as Store.model_totals)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from dia.record.tables import RunRow

    cols: list[Any] = [col(RunRow.model_id), col(RunRow.is_use), col(RunRow.quality), func.count()]
    for q in QUANTITIES:
        cols += [func.sum(getattr(RunRow, q)), func.sum(getattr(RunRow, q + "_low")),
                 func.sum(getattr(RunRow, q + "_high"))]
    stmt = (select(*cols).where(col(RunRow.model_id).is_not(None))
            .group_by(col(RunRow.model_id), col(RunRow.is_use), col(RunRow.quality)))
    if len(model_ids) <= 500:  # small scopes: let the database filter
        stmt = stmt.where(col(RunRow.model_id).in_(sorted(model_ids)))
    out: dict[str, _Own] = {}
    with store._session() as session:
        for row in session.execute(stmt).all():
            mid, is_use, quality, count = row[0], bool(row[1]), row[2], int(row[3])
            if mid not in model_ids:
                continue
            own = out.setdefault(mid, _Own())
            values = [float(x or 0.0) for x in row[4:]]
            triples = {q: Interval.of(values[3 * i:3 * i + 3]) for i, q in enumerate(QUANTITIES)}
            if is_use:
                own.use_runs += count
                for q in QUANTITIES:
                    own.use[q] = own.use[q] + triples[q]
                continue
            own.runs += count
            for q in QUANTITIES:
                own.sums[q] = own.sums[q] + triples[q]
            own.carbon_by_quality[quality] = own.carbon_by_quality.get(quality, Interval()) + triples["carbon_kg"]
    return out


def _member_relation(graph: LineageGraph, member: str, scope_members: set[str], anchor: str) -> tuple[str, str | None]:
    """(relation, method) of a member to its parent(s) inside the scope.

    The rolled-up model itself uses its relation to its real parents; a model without
    parents is a ``pretraining`` root.
    """
    g = graph.graph
    parents = sorted(g.predecessors(member))
    inside = [p for p in parents if p in scope_members]
    chosen = inside if (inside and member != anchor) else parents
    if not chosen:
        return "pretraining", None
    data = g.edges[chosen[0], member]
    return str(data.get("relation") or "finetune"), data.get("method")


def rollup(model_id: str, *, scope: Scope = "family", impute: bool = False,
           store: Store | str | None = None, graph: LineageGraph | None = None) -> Rollup:
    """Roll up the footprint of ``model_id``'s family (or ancestry).

    Raises :class:`~dia.errors.UnknownModelError` (with close matches) for an unknown model.

    >>> from dia.record.store import Store
    >>> rollup("nobody/none", store=Store("sqlite://"))
    Traceback (most recent call last):
    ...
    dia.errors.UnknownModelError: unknown model 'nobody/none'
    """
    from dia.record.store import Store

    if scope not in ("family", "upstream"):
        raise ValueError(f"scope must be 'family' or 'upstream', not {scope!r}")
    opened = store if isinstance(store, Store) else Store(store)
    try:
        graph = graph if graph is not None else lineage(opened)
        graph.require(model_id)
        depths = graph.depths(model_id, upstream=scope == "upstream")
        members = set(depths)
        owns = _own_footprints(opened, members)
        metadata = {}
        if impute:
            metadata = {m: (info.metadata if (info := opened.get_model(m)) else {}) for m in members if m not in owns
                        or not owns[m].runs}
    finally:
        if opened is not store:
            opened.close()
    return _assemble(model_id, scope, impute, graph, depths, owns, metadata)


def _assemble(model_id: str, scope: Scope, impute: bool, graph: LineageGraph, depths: dict[str, int],
              owns: dict[str, _Own], metadata: dict[str, dict[str, Any]]) -> Rollup:
    from dia.record.report import worst_quality

    members = set(depths)
    totals = {q: Interval() for q in QUANTITIES}
    use = {q: Interval() for q in QUANTITIES}
    imputed_totals = {q: Interval() for q in QUANTITIES}
    by_quality: dict[str, Interval] = {}
    by_relation: dict[str, int] = {}
    rows: list[MemberRow] = []
    for member in sorted(members, key=lambda m: (depths[m], m)):
        relation, method = _member_relation(graph, member, members, model_id)
        by_relation[relation] = by_relation.get(relation, 0) + 1
        own = owns.get(member)
        has_report = own is not None and own.runs > 0
        if own is not None:
            for q in QUANTITIES:
                use[q] = use[q] + own.use[q]
        row = MemberRow(model_id=member, relation=relation, depth=depths[member], has_report=has_report,
                        runs=own.runs if own else 0, energy_kwh=None, carbon_kg=None, water_l=None,
                        quality="unavailable")
        if has_report and own is not None:
            for q in QUANTITIES:
                totals[q] = totals[q] + own.sums[q]
            for tier, carbon in own.carbon_by_quality.items():
                by_quality[tier] = by_quality.get(tier, Interval()) + carbon
            row.energy_kwh, row.carbon_kg, row.water_l = own.sums["energy_kwh"], own.sums["carbon_kg"], own.sums["water_l"]
            row.quality = worst_quality(*own.carbon_by_quality).value
        elif impute:
            est = impute_member(relation, method, gpu_name=recorded_gpu(metadata.get(member)))
            if est is not None:
                row.imputed_energy_kwh = Interval(**vars(est.energy_kwh))
                row.imputed_carbon_kg = Interval(**vars(est.carbon_kg))
                row.imputed_water_l = Interval(**vars(est.water_l))
                row.imputed_basis = est.basis
                row.quality = "imputed"
                imputed_totals["energy_kwh"] += row.imputed_energy_kwh
                imputed_totals["carbon_kg"] += row.imputed_carbon_kg
                imputed_totals["water_l"] += row.imputed_water_l
        rows.append(row)
    with_report = sum(r.has_report for r in rows)
    return Rollup(
        model=model_id, scope=scope, members=len(rows), with_report=with_report,
        coverage=with_report / len(rows), energy_kwh=totals["energy_kwh"], carbon_kg=totals["carbon_kg"],
        water_l=totals["water_l"], by_quality=dict(sorted(by_quality.items())),
        by_relation=dict(sorted(by_relation.items())), use=use, imputed=impute,
        imputed_totals=imputed_totals if impute else None, rows=rows,
    )


__all__ = ["Interval", "MemberRow", "Rollup", "rollup"]
