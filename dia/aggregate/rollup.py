"""Cumulative footprints over a model family (``family``) or a model's ancestry (``upstream``).

A model's own footprint is the endpoint-wise sum of its production runs; evaluation and
inference runs are "use", totalled apart. ``family`` = the model plus its UNIQUE
descendants, ``upstream`` = the model plus its UNIQUE ancestors: shared ancestors and
merges count once. Members without any report are listed (coverage tells how much of the
scope is disclosed); ``impute=True`` adds priors for them, kept in ``imputed_totals``.

A figure that no member disclosed is ``None`` ("not disclosed"), never 0: a card without
energy is stored with an ``unavailable`` 0 kWh, which is not a measurement of zero.
``coverage_by_quantity`` tells, per quantity, which share of the members disclosed it; a
partly disclosed total is the sum of what was disclosed.

>>> from dia.record.store import Store
>>> store = Store("sqlite://")
>>> store.add_edge("org/child", "org/base", "finetune")
>>> r = rollup("org/base", store=store)
>>> r.members, r.with_report, r.coverage
(2, 0, 0.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from dia.aggregate.impute import impute_member, recorded_gpu
from dia.link.graph import LineageGraph, lineage
from dia.record.report import Interval

if TYPE_CHECKING:
    from dia.record.store import Store

Scope = Literal["family", "upstream"]
QUANTITIES: tuple[str, ...] = ("energy_kwh", "carbon_kg", "water_l")


class MemberRow(BaseModel):
    """One member of the scope: its own footprint (not cumulative).

    A figure is ``None`` when the member has no report, or has reports none of which
    disclosed it (``has_report`` tells which).
    """

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
    coverage_by_quantity: dict[str, float] = Field(
        description="per quantity (energy, carbon, water): members that disclosed it / members")
    energy_kwh: Interval | None = Field(description="None: no member disclosed energy")
    carbon_kg: Interval | None = Field(description="None: no member disclosed carbon")
    water_l: Interval | None = Field(description="None: no member disclosed water")
    by_quality: dict[str, Interval] = Field(description="carbon kg per quality tier")
    by_relation: dict[str, int]
    use: dict[str, Interval | None] = Field(
        description="inference/evaluation totals: energy_kwh, carbon_kg, water_l (None: not disclosed)")
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
    """Per-model sums read from the store in one SQL query, kept as plain floats.

    ``raw`` / ``raw_use`` hold value, low, high per quantity (``QUANTITIES`` order) and
    ``raw_by_quality`` the carbon triple per tier; ``disclosed`` / ``use_disclosed`` whether
    any run disclosed each quantity. Pydantic objects are built only on demand
    (validating ~10^5 intervals in the hot loop cost seconds).
    """

    __slots__ = ("disclosed", "raw", "raw_by_quality", "raw_use", "runs", "use_disclosed", "use_runs")

    def __init__(self) -> None:
        self.runs = 0
        self.raw = [0.0] * 9
        self.raw_by_quality: dict[str, list[float]] = {}
        self.raw_use = [0.0] * 9
        self.use_runs = 0
        self.disclosed = [False, False, False]
        self.use_disclosed = [False, False, False]

    @property
    def sums(self) -> dict[str, Interval | None]:
        """Production sums per quantity; ``None`` for a quantity no run disclosed."""
        return _figures(self.raw, self.disclosed)

    @property
    def use(self) -> dict[str, Interval | None]:
        return _figures(self.raw_use, self.use_disclosed)

    @property
    def carbon_by_quality(self) -> dict[str, Interval]:
        return {tier: _iv(v) for tier, v in self.raw_by_quality.items()}


def _iv(triple: list[float]) -> Interval:
    """An Interval of already-checked floats (no validation: hot path)."""
    return Interval.unchecked(triple[0], triple[1], triple[2])


def _figures(raw: list[float], disclosed: list[bool]) -> dict[str, Interval | None]:
    """Each quantity's interval, or ``None`` where nothing was disclosed (not a zero)."""
    return {q: _iv(raw[3 * i:3 * i + 3]) if disclosed[i] else None for i, q in enumerate(QUANTITIES)}


def _or_into(acc: list[bool], flags: tuple[bool, ...] | list[bool]) -> None:
    for i, flag in enumerate(flags):
        acc[i] = acc[i] or flag


def _add_into(acc: list[float], values: list[float]) -> None:
    for i, x in enumerate(values):
        acc[i] += x


def _own_footprints(store: Store, model_ids: set[str]) -> dict[str, _Own]:
    """Production and use sums per model and per quality tier (same rules as Store.model_totals)."""
    out: dict[str, _Own] = {}
    for row in store.quality_sums(model_ids):
        mid = row.model_id
        own = out.get(mid)
        if own is None:
            own = out[mid] = _Own()
        count = row.runs
        values = list(row.sums)
        if row.is_use:
            own.use_runs += count
            _add_into(own.raw_use, values)
            _or_into(own.use_disclosed, row.disclosed)
            continue
        own.runs += count
        _add_into(own.raw, values)
        _or_into(own.disclosed, row.disclosed)
        tier = own.raw_by_quality.get(row.quality)
        if tier is None:
            tier = own.raw_by_quality[row.quality] = [0.0, 0.0, 0.0]
        _add_into(tier, values[3:6])
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
    totals = [0.0] * 9
    use = [0.0] * 9
    disclosing = [0, 0, 0]  # members that disclosed energy, carbon, water
    use_disclosed = [False, False, False]
    imputed_totals = {q: Interval(value=0.0, low=0.0, high=0.0) for q in QUANTITIES}
    by_quality: dict[str, list[float]] = {}
    by_relation: dict[str, int] = {}
    rows: list[MemberRow] = []
    worst: dict[frozenset[str], str] = {}  # worst tier per set of tiers (a handful of sets)
    for member in sorted(members, key=lambda m: (depths[m], m)):
        relation, method = _member_relation(graph, member, members, model_id)
        by_relation[relation] = by_relation.get(relation, 0) + 1
        own = owns.get(member)
        has_report = own is not None and own.runs > 0
        if own is not None:
            _add_into(use, own.raw_use)
            _or_into(use_disclosed, own.use_disclosed)
        # Every field given: model_construct then skips resolving defaults (hot path).
        fields: dict[str, Any] = {"energy_kwh": None, "carbon_kg": None, "water_l": None, "quality": "unavailable",
                                  "imputed_carbon_kg": None, "imputed_energy_kwh": None, "imputed_water_l": None,
                                  "imputed_basis": None}
        if has_report and own is not None:
            _add_into(totals, own.raw)
            for tier, carbon in own.raw_by_quality.items():
                _add_into(by_quality.setdefault(tier, [0.0, 0.0, 0.0]), carbon)
            tiers = frozenset(own.raw_by_quality)
            if tiers not in worst:
                worst[tiers] = worst_quality(*sorted(tiers)).value
            for i, flag in enumerate(own.disclosed):
                disclosing[i] += flag
            fields.update(_figures(own.raw, own.disclosed), quality=worst[tiers])
        elif impute:
            est = impute_member(relation, method, gpu_name=recorded_gpu(metadata.get(member)))
            if est is not None:
                fields.update(imputed_energy_kwh=est.energy_kwh, imputed_carbon_kg=est.carbon_kg,
                              imputed_water_l=est.water_l, imputed_basis=est.basis, quality="imputed")
                imputed_totals["energy_kwh"] += fields["imputed_energy_kwh"]
                imputed_totals["carbon_kg"] += fields["imputed_carbon_kg"]
                imputed_totals["water_l"] += fields["imputed_water_l"]
        rows.append(MemberRow.model_construct(model_id=member, relation=relation, depth=depths[member],
                                              has_report=has_report, runs=own.runs if own else 0, **fields))
    with_report = sum(r.has_report for r in rows)
    figures = _figures(totals, [n > 0 for n in disclosing])
    return Rollup.model_construct(
        model=model_id, scope=scope, members=len(rows), with_report=with_report,
        coverage=with_report / len(rows),
        coverage_by_quantity={q.split("_")[0]: n / len(rows) for q, n in zip(QUANTITIES, disclosing, strict=True)},
        energy_kwh=figures["energy_kwh"], carbon_kg=figures["carbon_kg"], water_l=figures["water_l"],
        by_quality={k: _iv(v) for k, v in sorted(by_quality.items())},
        by_relation=dict(sorted(by_relation.items())),
        use=_figures(use, use_disclosed), imputed=impute,
        imputed_totals=imputed_totals if impute else None, rows=rows,
    )


__all__ = ["Interval", "MemberRow", "Rollup", "rollup"]
