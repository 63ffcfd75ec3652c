"""Data access for the dashboard pages: every figure comes from the store's SQL aggregates,
the lineage module or the rollup, never from loading every run into pandas.

The pages read the store named by ``DIA_DASHBOARD_DB`` (set by ``dia dashboard``; default:
the usual ``DIA_DATABASE_URL`` / embedded store). ``DIA_DASHBOARD_PUBLIC=1`` opens it
read-only and hides host and process details.

>>> fmt(1234.5678), fmt(0.000123), fmt(None)
('1,235', '0.000123', '-')

A figure no report disclosed is ``None`` and shown as :data:`NOT_DISCLOSED`, never as 0:

>>> fmt_figure(None), fmt_figure(Interval(value=2.0, low=1.0, high=3.0))
('not disclosed', '2 [1-3]')
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dia import settings
from dia.demo.run import PUBLISHED_ROOT
from dia.errors import DIAError
from dia.record.report import Interval
from dia.redact import redact_text
from dia.show import NOT_DISCLOSED, QUANTITIES, format_figure

if TYPE_CHECKING:
    from dia.aggregate.rollup import Rollup
    from dia.link.graph import LineageGraph
    from dia.record.report import RunReport
    from dia.record.store import Store

# Colour-blind-safe colours (Okabe & Ito, 2008), one per quality tier, best to worst, shared
# by every chart; the names are always shown beside them, never the colour alone.
QUALITY_COLOURS = {
    "measured": "#0072B2", "sampled": "#56B4E9", "reported": "#009E73", "estimated": "#E69F00",
    "imputed": "#D55E00", "unavailable": "#999999",
}
# One fixed colour per relation (every chart, every view): Okabe-Ito first, then Paul Tol's
# colour-blind-safe "muted" scheme for the rarer relations.
RELATION_COLOURS = {
    "": "#000000", "pretraining": "#000000", "finetune": "#0072B2", "adapter": "#E69F00",
    "quantization": "#D55E00", "merge": "#CC79A7", "distillation": "#009E73", "adapter-merged": "#F0E442",
    "continued-pretraining": "#56B4E9", "instruction-tuning": "#332288", "preference-tuning": "#88CCEE",
    "pruning": "#117733", "conversion": "#999933", "upscaling": "#44AA99", "contrastive-alignment": "#882255",
    "duplicate": "#BBBBBB", "new-version": "#DDCC77", "checkpoint": "#AA4499",
}
OTHER_COLOUR = "#777777"


# -- settings and formatting ----------------------------------------------------------------

def db_url() -> str:
    """The store URL the dashboard shows (``DIA_DASHBOARD_DB``, else the default store)."""
    from dia.record.store import default_database_url

    return settings.dashboard_db() or default_database_url()


def is_public() -> bool:
    """Public mode: read-only store, no host/pid, no write paths."""
    return settings.dashboard_public()


def fmt(x: float | None) -> str:
    """Four significant figures, thousands separated; ``-`` for nothing."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}" if abs(x) >= 1e-4 else f"{x:.2e}"


def fmt_interval(value: float, low: float, high: float) -> str:
    """``"12.5 [10-15]"`` (the interval only when it is not a single point)."""
    if low == high == value:
        return fmt(value)
    return f"{fmt(value)} [{fmt(low)}-{fmt(high)}]"


def fmt_figure(figure: Interval | None) -> str:
    """An interval as :func:`fmt_interval`, or ``"not disclosed"`` for ``None`` (never "0")."""
    if figure is None:
        return NOT_DISCLOSED
    return fmt_interval(figure.value, figure.low, figure.high)


def not_disclosed(figures: dict[str, Any]) -> str:
    """The quantities among ``figures`` (energy_kwh, carbon_kg, water_l) that are ``None``,
    as ``"energy, water"``: the "not disclosed" column of a table of numbers.

    >>> not_disclosed({"energy_kwh": None, "carbon_kg": 5.0, "water_l": None})
    'energy, water'
    """
    return ", ".join(q.split("_")[0] for q, _, _ in QUANTITIES if figures.get(q) is None)


def safe(text: object) -> str:
    """HTML-escaped text for Plotly hover labels and node texts (Plotly renders a tag subset)."""
    return html.escape(str(text), quote=True)


# -- store --------------------------------------------------------------------------------------

def open_store(url: str | None = None, public: bool | None = None) -> Store:
    """Open the store: read-only in public mode, and whenever the SQLite file already exists
    (the dashboard never writes, and a read-only handle cannot lock out a running tracker)."""
    from dia.record.store import Store, sqlite_file

    url = url or db_url()
    public = is_public() if public is None else public
    path = sqlite_file(url)
    read_only = public or (path is not None and path.exists())
    return Store(url, read_only=read_only)


def graph_of(store: Store) -> LineageGraph:
    from dia.link.graph import lineage

    return lineage(store)


# The project's worked example (the BIOSCAN family of ``dia demo``, see docs): when a store
# holds it with data, Overview leads with it; any other store leads with its families with data.
WORKED_EXAMPLE = PUBLISHED_ROOT


@dataclass
class Overview:
    """Store-wide totals of production runs (use runs apart), coverage and quality mix.

    A total is ``None`` where no run disclosed that quantity ("not disclosed", not 0).
    ``families`` are the top families, those with data first (the worked example leading
    when present); ``family_ids`` names every family, in the same order, for a search.
    """

    runs: int
    models: int
    models_with_report: int
    totals: dict[str, Interval | None]
    use_totals: dict[str, Interval | None]
    carbon_by_quality: dict[str, float]
    runs_by_quality: dict[str, int]
    families: list[dict[str, Any]] = field(default_factory=list)
    family_ids: list[str] = field(default_factory=list)
    featured: str | None = None

    @property
    def coverage(self) -> float:
        return self.models_with_report / self.models if self.models else 0.0

    @property
    def with_data(self) -> list[str]:
        """The families (among ``families``) where at least one member reported."""
        return [str(f["family"]) for f in self.families if f["with_report"] > 0]


def overview(store: Store, *, top: int = 10, featured: str | None = WORKED_EXAMPLE) -> Overview:
    """Totals, coverage, quality mix and the families, all from SQL aggregates.

    Families are ordered: ``featured`` (when it is in the store and has data), then the
    families with at least one report by carbon, largest first, then those without data.
    """
    per_model = store.model_totals()
    # Summed as plain floats: one Interval per model and quantity costs more than the query.
    summed = [0.0] * 9
    disclosed = [False, False, False]
    for t in per_model.values():
        for i, x in enumerate(t.sums):
            summed[i] += x
        disclosed = [a or b for a, b in zip(disclosed, t.disclosed, strict=True)]
    totals = _figures(summed, disclosed)
    # Use totals and the quality mix from one grouped scan (not one scan each).
    use_row = [0.0] * 9
    use_disclosed = [False, False, False]
    carbon_by_quality: dict[str, float] = {}
    runs_by_quality: dict[str, int] = {}
    for g in store.totals_by_kind():
        quality, values = str(g.quality), g.sums
        if g.is_use:
            use_row = [a + float(b or 0.0) for a, b in zip(use_row, values, strict=True)]
            use_disclosed = [a or b for a, b in zip(use_disclosed, g.disclosed, strict=True)]
        elif g.model_id:
            carbon_by_quality[quality] = carbon_by_quality.get(quality, 0.0) + float(values[3] or 0.0)
            runs_by_quality[quality] = runs_by_quality.get(quality, 0) + int(g.runs)
    use_totals = _figures(use_row, use_disclosed)
    graph = graph_of(store)
    roots = graph.roots()
    family = _family_totals(graph, per_model) if roots else {}
    families: list[dict[str, Any]] = []
    for root in roots:
        fam = family.get(root)
        if not fam or fam["members"] < 1:
            continue
        families.append({
            "family": root, "members": int(fam["members"]), "with_report": int(fam["with_report"]),
            "coverage": fam["with_report"] / fam["members"],
            **{k: fam[k] for q, _, _ in QUANTITIES for k in (q, f"{q}_low", f"{q}_high")},
            "not_disclosed": not_disclosed(fam),
        })
    shown = featured if any(f["family"] == featured and f["with_report"] > 0 for f in families) else None
    # Data first: a third-party base with a big card figure and a family nobody reported on
    # must not push the family the reader came for (the worked example) off the first rows.
    families.sort(key=lambda f: (f["family"] != shown, f["with_report"] == 0, -float(f["carbon_kg"] or 0.0),
                                 -int(f["members"]), str(f["family"])))
    return Overview(
        runs=store.run_count(), models=len(graph), models_with_report=sum(1 for t in per_model.values() if t.runs),
        totals=totals, use_totals=use_totals,
        carbon_by_quality=dict(sorted(carbon_by_quality.items())),
        runs_by_quality=dict(sorted(runs_by_quality.items())), families=families[:top],
        family_ids=[str(f["family"]) for f in families], featured=shown,
    )


def _figures(summed: list[float], disclosed: list[bool]) -> dict[str, Interval | None]:
    return {q: Interval.unchecked(*summed[3 * i:3 * i + 3]) if disclosed[i] else None
            for i, (q, _, _) in enumerate(QUANTITIES)}


def _family_totals(graph: LineageGraph, per_model: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Family totals of every model (``dia.aggregate.fast``), reusing the graph and the
    per-model sums already read, so the store is not queried twice; a figure no member
    disclosed is ``None``."""
    from dia.aggregate.fast import FamilyEngine, as_totals, own_matrix

    ids = graph.models()
    index = {m: i for i, m in enumerate(ids)}
    pairs = [(index[p], index[c]) for p, c in graph.graph.edges()]
    engine = FamilyEngine(len(ids), [p for p, _ in pairs], [c for _, c in pairs])
    summed = engine.family_totals(own_matrix(ids, per_model))
    return {m: as_totals(summed[i]) for i, m in enumerate(ids)}


def family_rollup(store: Store, model_id: str, scope: str = "family", *, impute: bool = False,
                  graph: LineageGraph | None = None) -> Rollup:
    """The same computation as ``dia rollup`` (so the page and the CLI agree)."""
    from dia.aggregate.rollup import rollup

    return rollup(model_id, scope=scope, impute=impute, store=store, graph=graph)  # type: ignore[arg-type]


# How a collapsed group of siblings is named ("+38 fine-tunes"); other relations: "+3 pruning members".
RELATION_PLURALS = {
    "finetune": "fine-tunes", "adapter": "adapters", "quantization": "quantizations", "merge": "merges",
    "distillation": "distillations", "checkpoint": "checkpoints", "conversion": "conversions",
    "duplicate": "duplicates", "new-version": "new versions", "pretraining": "pretrained models",
}
LABEL_CHARS = 22  # a node label: the short name, cut with an ellipsis (hover and tables keep the full id)


def short_label(model_id: str, limit: int = LABEL_CHARS) -> str:
    """A node label: the name after the last "/", cut to ``limit`` characters with "…" in
    the middle (siblings often differ only at the end: "-int8", "-lora").

    >>> short_label("bioscan-ml/BarcodeBERT"), short_label("dia-demo/toy-barcodebert-species-distilled")
    ('BarcodeBERT', 'toy-barcode…-distilled')
    """
    name = model_id.rsplit("/", 1)[-1] or model_id
    if len(name) <= limit:
        return name
    tail = (limit - 1) // 2
    return name[:limit - 1 - tail] + "…" + name[-tail:]


def group_label(relation: str, count: int, reported: int) -> str:
    """The label of a collapsed sibling group: ``"+38 fine-tunes, 2 reported"``.

    >>> group_label("finetune", 38, 2), group_label("pruning", 9, 0)
    ('+38 fine-tunes, 2 reported', '+9 pruning members, none reported')
    """
    noun = RELATION_PLURALS.get(relation) or f"{relation or 'linked'} members"
    return f"+{count:,} {noun}, {f'{reported:,}' if reported else 'none'} reported"


def relation_colour(relation: str | None) -> str:
    """The fixed colour of a relation (:data:`RELATION_COLOURS`), the same in every view."""
    return RELATION_COLOURS.get(relation or "", OTHER_COLOUR)


@dataclass
class DagNode:
    """One drawn node: a member (``model_id`` set) or a collapsed group of siblings."""

    key: str  # unique node key: the model id, or "group:<anchor>:<relation>"
    x: float
    y: float
    label: str  # short, for the drawing (never the only place the id is shown)
    hover: str  # HTML-escaped, full ids
    relation: str
    quality: str
    has_report: bool
    carbon_kg: float | None  # own carbon (a group: the sum of its reported members)
    model_id: str | None = None
    count: int = 1  # members drawn by this node
    reported: int = 0  # of which with a report


def dag_layout(graph: LineageGraph, rolled: Rollup, *, max_nodes: int = 400, collapse_over: int = 8,
               keep: int = 5) -> dict[str, Any]:
    """A layered drawing of a rollup, left to right: x = hops from the model, negative
    upstream, so ancestors sit LEFT of the selected model and every edge runs parent -> child.

    Siblings that hang off the same member by the same relation are collapsed into one node
    when there are more than ``collapse_over`` of them: the ``keep`` largest reported ones
    (and any with members further out) stay as their own nodes, the rest become one node
    labelled ``"+38 fine-tunes, none reported"``. Past ``max_nodes`` nodes, the largest and
    the shallowest are drawn; the table lists everyone. Returns ``nodes`` (:class:`DagNode`),
    ``edges`` (``(parent_key, child_key, relation)``), ``pos`` (key -> (x, y)), ``shown``,
    ``total`` and ``groups`` (collapsed groups).
    """
    rows = rolled.rows
    upstream = rolled.scope == "upstream"
    by_id = {r.model_id: r for r in rows}
    g = graph.graph
    # The neighbour one hop closer to the model (its "anchor"), and who hangs off each member.
    outward: dict[str, list[str]] = {}
    anchor: dict[str, str] = {}
    for r in rows:
        if r.depth == 0:
            continue
        near = g.successors(r.model_id) if upstream else g.predecessors(r.model_id)
        closer = sorted(n for n in near if n in by_id and by_id[n].depth == r.depth - 1)
        if closer:
            anchor[r.model_id] = closer[0]
            outward.setdefault(closer[0], []).append(r.model_id)

    def carbon(r: Any) -> float:
        return r.carbon_kg.value if r.carbon_kg is not None else -1.0

    nodes: dict[str, DagNode] = {}
    member_node: dict[str, str] = {}  # member -> the node that draws it
    groups = 0
    for r in rows:
        member_node[r.model_id] = r.model_id
    # Collapse: per anchor and relation, beyond collapse_over siblings.
    collapsed: dict[str, tuple[str, str, list[str]]] = {}
    for parent, kids in outward.items():
        by_rel: dict[str, list[str]] = {}
        for k in kids:
            by_rel.setdefault(by_id[k].relation or "", []).append(k)
        for relation, sibs in by_rel.items():
            if len(sibs) <= collapse_over:
                continue
            # Members with their own members further out stay (else their subtree floats).
            stay = {k for k in sibs if k in outward}
            ranked = sorted((k for k in sibs if by_id[k].has_report and k not in stay),
                            key=lambda k: (-carbon(by_id[k]), k))
            stay.update(ranked[:keep])
            folded = [k for k in sibs if k not in stay]
            if len(folded) < 2:
                continue
            key = f"group:{parent}:{relation}"
            collapsed[key] = (parent, relation, folded)
            for k in folded:
                member_node[k] = key
            groups += 1
    # Drawn members, then capped: the largest and the shallowest first.
    drawn = [r for r in rows if member_node[r.model_id] == r.model_id]
    budget = max(1, max_nodes - len(collapsed))
    if len(drawn) > budget:
        ranked_rows = sorted(drawn, key=lambda r: (r.depth > 1, -carbon(r), r.depth, r.model_id))
        kept = {r.model_id for r in ranked_rows[:budget]}
        drawn = [r for r in drawn if r.model_id in kept]
    drawn_ids = {r.model_id for r in drawn}
    sign = -1.0 if upstream else 1.0
    for r in drawn:
        c = r.carbon_kg.value if r.carbon_kg is not None else None
        own = (", ".join(format_figure(getattr(r, q), q) for q, _, _ in QUANTITIES) if r.has_report
               else "no report")
        nodes[r.model_id] = DagNode(
            key=r.model_id, x=sign * r.depth if r.depth else 0.0, y=0.0, label=safe(short_label(r.model_id)),
            hover=(f"{safe(r.model_id)}<br>{safe(r.relation or 'selected model')}, {r.depth} hop(s)<br>"
                   f"{safe(own)}<br>{r.runs:,} runs, {safe(r.quality)}"),
            relation=r.relation or "", quality=r.quality, has_report=r.has_report, carbon_kg=c,
            model_id=r.model_id, count=1, reported=int(r.has_report))
    for key, (parent, relation, folded) in collapsed.items():
        if parent not in drawn_ids:
            continue
        reported = [by_id[k] for k in folded if by_id[k].has_report]
        total = sum(r.carbon_kg.value for r in reported if r.carbon_kg is not None) if reported else None
        depth = by_id[folded[0]].depth
        names = ", ".join(safe(k) for k in sorted(folded)[:8]) + (f" and {len(folded) - 8:,} more" if len(folded) > 8 else "")
        label = group_label(relation, len(folded), len(reported))
        nodes[key] = DagNode(
            key=key, x=sign * depth, y=0.0, label=safe(label),
            hover=(f"{safe(label)} (of {safe(parent)})<br>"
                   f"own carbon of the reported ones: {safe(format_figure(None, 'carbon_kg') if total is None else format_figure(Interval.unchecked(total, total, total), 'carbon_kg'))}"
                   f"<br>{names}"),
            relation=relation, quality="unavailable" if not reported else "mixed", has_report=bool(reported),
            carbon_kg=total, model_id=None, count=len(folded), reported=len(reported))
    # Rows: depth by depth outward, each node placed near its anchor (fewer crossings).
    by_depth: dict[int, list[DagNode]] = {}
    for n in nodes.values():
        by_depth.setdefault(int(abs(n.x)), []).append(n)
    for depth in sorted(by_depth):
        def order(n: DagNode) -> tuple[float, str, float, str]:
            first = n.model_id if n.model_id is not None else collapsed[n.key][2][0]
            near = n.key.split(":", 2)[1] if n.model_id is None else anchor.get(first)
            y = nodes[near].y if near in nodes else 0.0
            return (y, n.relation, -(n.carbon_kg or 0.0), n.key)
        level = sorted(by_depth[depth], key=order)
        for i, n in enumerate(level):
            n.y = float(i - (len(level) - 1) / 2.0)
    edges: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for mid in member_node:
        if member_node[mid] not in nodes:
            continue
        for child in g.successors(mid):
            if child not in member_node or member_node[child] not in nodes:
                continue
            pair = (member_node[mid], member_node[child])
            if pair[0] != pair[1] and pair not in seen:
                seen.add(pair)
                edges.append((pair[0], pair[1], str(g.edges[mid, child].get("relation") or "")))
    edges.sort()
    pos = {k: (n.x, n.y) for k, n in nodes.items()}
    return {"nodes": list(nodes.values()), "edges": edges, "pos": pos, "rows": drawn,
            "shown": sum(n.count for n in nodes.values()), "total": len(rows), "groups": groups}


# What reading a stored report can raise: a newer schema (DIAError), a damaged or foreign
# row (pydantic's ValidationError is a ValueError).
READ_ERRORS: tuple[type[BaseException], ...] = (DIAError, ValueError, TypeError, KeyError)


@dataclass
class RunPage:
    """One page of runs, the count for the filters, and the stored rows that could not be read."""

    total: int
    runs: list[RunReport]
    unreadable: int = 0
    problems: list[BaseException] = field(default_factory=list)


def run_page(store: Store, *, model_id: str | None = None, kind: str | None = None,
             status: str | None = None, country: str | None = None, page: int = 0,
             page_size: int = 50) -> RunPage:
    """One page of runs (newest first) and the total count for the same filters.

    One stored row that cannot be read (a report from a newer DIA, a damaged row) does not
    hide the page: the page is then read run by run, the readable ones are returned and the
    others counted in ``unreadable``.
    """
    filters: dict[str, Any] = {"model_id": model_id, "kind": kind, "status": status, "country": country}
    count = store.run_count(**filters)
    try:
        runs = store.list_runs(**filters, limit=page_size, offset=page * page_size)
    except READ_ERRORS:
        pass
    else:
        # A store that skips unreadable rows itself returns fewer than the count promises
        # (not comparable for running/interrupted: those are decided when read).
        expected = min(page_size, max(0, count - page * page_size))
        missing = expected - len(runs) if status not in ("running", "interrupted") else 0
        # A row the store could read only from its columns (marked ``unreadable``) is
        # counted in the page's one-line note, not listed as if it were whole.
        problems: list[BaseException] = [DIAError(r.extra["unreadable"]) for r in runs if "unreadable" in r.extra]
        runs = [r for r in runs if "unreadable" not in r.extra]
        return RunPage(count, runs, max(0, missing) + len(problems), problems)
    runs: list[RunReport] = []
    problems: list[BaseException] = []
    for offset in range(page * page_size, min(count, (page + 1) * page_size)):
        try:
            runs.extend(store.list_runs(**filters, limit=1, offset=offset))
        except READ_ERRORS as exc:
            problems.append(exc)
    return RunPage(count, runs, len(problems), problems)


def run_rows(runs: list[RunReport], *, public: bool) -> list[dict[str, Any]]:
    """Flat rows for the runs table: ``run`` is the short id shown, ``run_id`` the full one;
    each figure with its ``_low``/``_high`` (``None``: not disclosed); ``location`` in words
    (the place the run's grid factor resolved to when the report names none); no host or
    pid in public mode."""
    from dia.convert.location import place_name, resolved_location

    rows = []
    for r in runs:
        # An unavailable energy is stored as 0 kWh: shown "not disclosed", not 0.
        energy = r.energy.it_kwh if r.energy.it_kwh.quality.value != "unavailable" else None
        carbon = r.carbon.total_kg if r.carbon else None
        water = r.water.total_l if r.water else None
        where = resolved_location(r.location, r.factors)
        row: dict[str, Any] = {
            "run": r.id[:8], "model": r.model_id or "", "kind": r.kind.value, "status": r.status.value,
            "started": r.started_at.isoformat(timespec="seconds") if r.started_at else "",
            "quality": carbon.quality.value if carbon else "unavailable",
            "location": place_name(where), "country": where.country or "", "meter": r.meter,
        }
        for name, q in (("energy_kwh", energy), ("carbon_kg", carbon), ("water_l", water)):
            row[name], row[f"{name}_low"], row[f"{name}_high"] = (q.value, q.low, q.high) if q else (None, None, None)
        row["run_id"] = r.id
        if not public:
            row["host"] = r.host or ""
            row["pid"] = r.pid
        rows.append(row)
    return rows


def detail_figures(report: RunReport) -> list[dict[str, Any]]:
    """One run's figures as table rows: ``figure``, the formatted ``value (low–high)``, the
    ``quality``, and the raw ``value``/``low``/``high``/``unit`` for the details."""
    from dia.show import format_range

    energy = report.energy
    carbon, water, rates = report.carbon, report.water, report.intensities
    rows = []
    for label, q, quantity in (
            ("Energy, GPU", energy.gpu_kwh, "energy_kwh"), ("Energy, CPU", energy.cpu_kwh, "energy_kwh"),
            ("Energy, RAM", energy.ram_kwh, "energy_kwh"), ("Energy, IT", energy.it_kwh, "energy_kwh"),
            ("Energy, facility", energy.facility_kwh, "energy_kwh"),
            ("Carbon, operational", carbon.operational_kg if carbon else None, "carbon_kg"),
            ("Carbon, embodied", carbon.embodied_kg if carbon else None, "carbon_kg"),
            ("Carbon, total", carbon.total_kg if carbon else None, "carbon_kg"),
            ("Water, on-site", water.onsite_l if water else None, "water_l"),
            ("Water, off-site", water.offsite_l if water else None, "water_l"),
            ("Water, total", water.total_l if water else None, "water_l"),
            ("Energy per 1,000 inferences", rates.wh_per_1000_inferences, "wh_per_1000_inferences"),
            ("Energy per token", rates.j_per_token, "j_per_token")):
        if q is None:
            continue
        shown = NOT_DISCLOSED if q.quality.value == "unavailable" else format_range(q.value, q.low, q.high, quantity)
        rows.append({"figure": label, "shown": shown, "quality": q.quality.value,
                     "value": q.value, "low": q.low, "high": q.high, "unit": q.unit})
    return rows


def factor_rows(report: RunReport) -> list[dict[str, Any]]:
    """One run's conversion factors as text cells (``13.2 (11–15)``, 3 significant figures;
    raw numbers are in the report's JSON download), with unit, granularity, key and source."""
    from dia.show import format_number

    rows = []
    for f in report.factors:
        value = format_number(f.value)
        span = "" if f.low == f.high == f.value else f" ({format_number(f.low)}–{format_number(f.high)})"
        rows.append({"factor": f.name, "value": value + span, "unit": f.unit, "granularity": f.granularity,
                     "key": f.key or "", "source": f.source, "year": "" if f.year is None else str(f.year),
                     "licence": f.licence or "", "convention": f.convention or "", "note": f.note or ""})
    return rows


def runs_download(runs: list[RunReport], fmt: str, *, public: bool) -> str:
    """The runs of a page as a download: ``"jsonl"`` (one full report per line) or ``"csv"``
    (the columns of ``dia export --format csv``). In public mode every report goes through
    :func:`dia.record.public.public_report` first: no host, pid, raw notes or local paths,
    exactly what ``dia export --public`` writes."""
    import io

    from dia.record import files
    from dia.record.public import public_report

    shown = [public_report(r) for r in runs] if public else runs
    out = io.StringIO()
    (files.write_jsonl if fmt == "jsonl" else files.write_csv)(shown, out)
    return out.getvalue()


def run_notes(report: RunReport, *, public: bool) -> list[str]:
    """The notes to show: as stored on a local dashboard; redacted, without any that carries
    a path, in public mode."""
    from dia.record.public import public_notes

    return public_notes(report.notes) if public else list(report.notes)


def distinct(store: Store, column: str) -> list[str]:
    """Distinct non-null values of a run column (model_id, kind, status, country) for filters."""
    return store.distinct_values(column)


def runs_by_country(store: Store, *, read_cap: int = 2000) -> list[dict[str, Any]]:
    """Logical runs per country (ISO-3 ``country`` and its ``name``), with their energy,
    carbon and water (SQL; ``None``: no run there disclosed it). Runs stored with no
    country are placed where their grid factor says (``resolved_location``), at most
    ``read_cap`` of them (newest first); the rest stay under "unknown"."""
    from dia.convert.location import country_name, resolved_location

    groups: dict[str, dict[str, Any]] = {}
    for c, n, e, k, w in store.by_country():
        groups[c or "unknown"] = {"country": c or "unknown", "runs": n, "energy_kwh": e, "carbon_kg": k, "water_l": w}
    if "unknown" in groups:
        for r in store.unlocated_runs(limit=read_cap):
            country = resolved_location(r.location, r.factors).country
            if not country:
                continue
            moved = {"energy_kwh": r.energy.it_kwh.value if r.energy.it_kwh.quality.value != "unavailable" else None,
                     "carbon_kg": r.carbon.total_kg.value if r.carbon else None,
                     "water_l": r.water.total_l.value if r.water else None}
            target = groups.setdefault(country, {"country": country, "runs": 0, "energy_kwh": None,
                                                 "carbon_kg": None, "water_l": None})
            unknown = groups["unknown"]
            unknown["runs"] -= 1
            target["runs"] += 1
            for q, v in moved.items():
                if v is not None:
                    target[q] = (target[q] or 0.0) + v
                    unknown[q] = (unknown[q] or 0.0) - v
        if groups["unknown"]["runs"] <= 0:
            del groups["unknown"]
    return [{**g, "name": country_name(None if c == "unknown" else c)} for c, g in groups.items()]


def store_places(by_country: list[dict[str, Any]]) -> list[str]:
    """The countries (ISO-3) where this store's runs happened, most runs first, from the
    rows of :func:`runs_by_country`."""
    rows = sorted(by_country, key=lambda g: (-g["runs"], g["country"]))
    return [g["country"] for g in rows if g["country"] != "unknown"]


# One well-known region per major cloud: the Regions page's default comparison.
DEFAULT_CLOUDS = ("aws:us-east-1", "gcp:europe-west4", "azure:West Europe")

_ENERGY_UNITS = {"mwh": None, "wh": 1e-3, "kwh": 1.0, "gwh": 1e6, "twh": 1e9}


def parse_energy_kwh(text: str) -> float | None:
    """An energy typed by a person, in kWh: ``"1.2 MWh"`` -> 1200.0, ``"0.001"`` (kWh) ->
    0.001, ``"500 Wh"`` -> 0.5, ``"1,358"`` -> 1358.0; ``None`` for text that is not an
    energy or is negative (``mWh`` is milli-watt-hours; ``MWh`` mega: the case counts there).

    >>> parse_energy_kwh("1.2 MWh"), parse_energy_kwh("500 Wh"), parse_energy_kwh("1,358"), parse_energy_kwh("x")
    (1200.0, 0.5, 1358.0, None)
    """
    import re

    m = re.fullmatch(r"\s*([0-9][0-9,]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+)\s*([a-zA-Z]*)\s*", text or "")
    if not m:
        return None
    try:
        number = float(m.group(1).replace(",", ""))
    except ValueError:
        return None
    unit = m.group(2)
    if not unit:
        factor = 1.0
    elif unit == "MWh":
        factor = 1e3
    elif unit == "mWh":
        factor = 1e-6
    else:
        found = _ENERGY_UNITS.get(unit.lower())
        if found is None:
            return None
        factor = found
    value = number * factor
    return value if value >= 0 and value == value and value != float("inf") else None


def inference_intensity(store: Store, model_id: str, *, cap: int = 5000) -> float | None:
    """Wh per 1,000 inferences over the model's inference runs (latest ``cap`` runs)."""
    energy_kwh = 0.0
    inferences = 0
    # Raises READ_ERRORS when a stored run cannot be read: the page says so in one line.
    for r in store.list_runs(model_id=model_id, kind="inference", limit=cap):
        if r.workload.inferences:
            energy_kwh += r.energy.it_kwh.value
            inferences += r.workload.inferences
    return energy_kwh * 1e6 / inferences if inferences else None


def what_if(energy_kwh: float, places: list[tuple[str, dict[str, str]]]) -> list[dict[str, Any]]:
    """Carbon and water of ``energy_kwh`` at each place (``dia.convert.footprint``)."""
    from dia.convert import footprint

    out = []
    for label, where in places:
        try:
            fp = footprint(energy_kwh, **where)  # type: ignore[arg-type]
        except Exception as exc:  # a place the tables cannot resolve is listed, not fatal
            # redacted: a message may name a file of the installed package (a local path)
            message = str(exc).strip()
            out.append({"place": label, "error": redact_text(message.splitlines()[0] if message else type(exc).__name__)})
            continue
        row: dict[str, Any] = {
            "place": label, "level": fp.level, "name": _place_label(fp.location),
            "carbon_kg": fp.carbon.total_kg.value, "carbon_kg_low": fp.carbon.total_kg.low,
            "carbon_kg_high": fp.carbon.total_kg.high,
            "water_l": fp.water.total_l.value, "water_l_low": fp.water.total_l.low,
            "water_l_high": fp.water.total_l.high,
        }
        out.append(row)
    return out


def _place_label(location: Any) -> str:
    from dia.convert.location import place_name

    return place_name(location)


def cloud_place(name: str) -> dict[str, str]:
    """``"gcp:us-central1"`` or ``"gcp/us-central1"`` -> footprint keyword arguments."""
    for sep in (":", "/"):
        if sep in name:
            provider, region = name.split(sep, 1)
            return {"cloud_provider": provider, "cloud_region": region}
    return {"cloud_region": name}


def factor_tables() -> dict[str, Any]:
    """The packaged factor tables (``dia/convert/data/*.csv``) as pandas frames, by file name."""
    from importlib import resources

    import pandas as pd

    out = {}
    folder = resources.files("dia") / "convert" / "data"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".csv"):
            with item.open("r", encoding="utf-8") as fh:
                out[item.name] = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return out


def family_timeline(store: Store, families: list[str], *, graph: LineageGraph | None = None,
                    max_points: int = 2000) -> list[dict[str, Any]]:
    """Cumulative production footprint of each family over time (the rebound view):
    :func:`dia.aggregate.timeline.cumulative_points`, at most about ``max_points`` points per
    family (the running total is exact at each point kept; the last point is always kept)."""
    from dia.aggregate.timeline import cumulative_points

    return cumulative_points(store, families, graph=graph or graph_of(store), max_points=max_points)


def family_undated(store: Store, families: list[str], *, graph: LineageGraph | None = None) -> dict[str, dict[str, Any]]:
    """What the timeline cannot place: per family, the production runs with no date of
    their own and a member with no card date (a published estimate, typically), summed:
    ``{family: {"runs": n, "energy_kwh": ..., "carbon_kg": ..., "water_l": ...}}`` (a
    figure ``None`` when none of them disclosed it); families without such runs are left out."""
    graph = graph if graph is not None else graph_of(store)
    members = {f: {f, *graph.descendants(f)} for f in families}
    everyone: set[str] = set().union(*members.values()) if members else set()
    if not everyone:
        return {}
    created = store.model_dates(everyone)
    undated = [r for r in store.dated_runs(everyone) if r[1] is None and created.get(r[0]) is None]
    out: dict[str, dict[str, Any]] = {}
    for family, group in members.items():
        mine = [r for r in undated if r[0] in group]
        if not mine:
            continue
        sums: dict[str, Any] = {"runs": len(mine)}
        for i, (q, _, _) in enumerate(QUANTITIES):
            values = [r[2 + i] for r in mine if r[2 + i] is not None]
            sums[q] = sum(values) if values else None
        out[family] = sums
    return out


# One fixed colour per footprint scope on the Compare page (Okabe-Ito; names always shown).
SCOPE_COLOURS = {"own": "#0072B2", "upstream": "#E69F00", "family": "#009E73"}
