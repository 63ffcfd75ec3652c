"""CLI commands: ``dia lineage`` (the DAG around a model) and ``dia rollup`` (family totals)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dia.cli._common import DbOption, JsonOption, console, fail, note, open_store
from dia.cli.tables import id_column, number_column, print_table

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from dia.aggregate.rollup import Interval, Rollup
    from dia.link.graph import LineageGraph


_TREE_LEVELS = 32  # deeper, a tree view is wider than any terminal (and slow to draw)
_LABEL_COLUMNS = 40  # what a node's label needs beside its 4-column indent per level


def _value(interval: Interval | None, quantity: str, name: str) -> str:
    """A node's own figure, central value only (``"244 kg CO2e"``), or ``"carbon not disclosed"``."""
    from dia.show import NOT_DISCLOSED, format_value

    return format_value(interval.value, quantity) if interval is not None else f"{name} {NOT_DISCLOSED}"


def _node_label(model_id: str, relation: str | None, own: Any, *, seen: bool = False) -> Text:
    """A tree node: the model id verbatim (never markup), its relation and own footprint."""
    from rich.text import Text

    label = Text(model_id)
    if relation:
        label.append(f" ({relation})", style="dim")
    if seen:
        label.append(" ... shown above (merge)", style="dim")
        return label
    if own is None or not own.runs:
        label.append("  ")
        label.append("no report", style="yellow")
        return label
    from dia.record.report import worst_quality

    label.stylize("bold", 0, len(model_id))
    sums = own.sums
    label.append(f"  {_value(sums['energy_kwh'], 'energy_kwh', 'energy')}, "
                 f"{_value(sums['carbon_kg'], 'carbon_kg', 'carbon')}, {_value(sums['water_l'], 'water_l', 'water')}  ")
    label.append(worst_quality(*own.carbon_by_quality).value, style="cyan")
    label.append(f" ({own.runs} runs)")
    return label


def _lineage_doc(graph: LineageGraph, model_id: str, up: dict[str, int], down: dict[str, int],
                 owns: dict[str, Any]) -> dict[str, Any]:
    nodes = []
    for mid in sorted(set(up) | set(down), key=lambda m: (-up.get(m, 0), down.get(m, 0), m)):
        own = owns.get(mid)
        has = own is not None and own.runs > 0
        nodes.append({
            "model_id": mid,
            "direction": "self" if mid == model_id else ("ancestor" if mid in up else "descendant"),
            "distance": up.get(mid, down.get(mid, 0)),
            "parents": graph.relations_to_parents(mid),
            "has_report": has, "runs": own.runs if own else 0,
            # None: no report, or reports that did not disclose the quantity (never a 0).
            **{q: (iv.model_dump() if has and own is not None and (iv := own.sums[q]) is not None else None)
               for q in ("energy_kwh", "carbon_kg", "water_l")},
        })
    within = set(up) | set(down)
    edges = [{"parent": p, "child": c, "relation": d.get("relation"), "method": d.get("method")}
             for p, c, d in graph.graph.edges(data=True) if p in within and c in within]
    return {"model": model_id, "nodes": nodes, "edges": sorted(edges, key=lambda e: (e["child"], e["parent"]))}


def _tree(graph: LineageGraph, model_id: str, up: dict[str, int], down: dict[str, int], owns: dict[str, Any]) -> Tree:
    """The tree view, built without recursion (a 100,000-deep chain must not hit Python's
    recursion limit): each model is expanded once; met again (a merge, a shared ancestor,
    or a cycle stored by an older DIA) it is shown and marked as shown above. Past the
    levels the terminal has room for (Rich silently drops what is deeper), a line says
    the rest is in ``--json``."""
    from rich.text import Text
    from rich.tree import Tree

    levels = max(2, min(_TREE_LEVELS, (console.width - _LABEL_COLUMNS) // 4))
    cut = Text(f"... deeper than {levels} levels: --json lists every model", style="dim")
    rels = graph.relations_to_parents(model_id)
    root = Tree(_node_label(model_id, ", ".join(sorted(set(rels.values()))) or "pretraining", owns.get(model_id)))
    if len(up) > 1:
        ancestors = root.add("ancestors", style="dim")
        shown_up: set[str] = {model_id}
        stack: list[tuple[Tree, str, int]] = [(ancestors, model_id, 1)]  # one level down already
        while stack:
            node, mid, level = stack.pop()
            parents = [(p, r) for p, r in sorted(graph.relations_to_parents(mid).items()) if p in up]
            if parents and level == levels:
                node.add(cut)
                continue
            branches = []
            for parent, relation in parents:
                if parent in shown_up:
                    node.add(_node_label(parent, f"parent: {relation}", None, seen=True))
                    continue
                shown_up.add(parent)
                branches.append((node.add(_node_label(parent, f"parent: {relation}", owns.get(parent))), parent,
                                 level + 1))
            stack.extend(reversed(branches))
    shown: set[str] = {model_id}
    stack = [(root, model_id, 0)]
    while stack:
        node, mid, level = stack.pop()
        children = [c for c in graph.children(mid) if c in down]
        if children and level == levels:
            node.add(cut)
            continue
        branches = []
        for child in children:
            kind = graph.relation(mid, child)
            if child in shown:
                node.add(_node_label(child, kind, None, seen=True))
                continue
            shown.add(child)
            branches.append((node.add(_node_label(child, kind, owns.get(child))), child, level + 1))
        stack.extend(reversed(branches))
    return root


def lineage_command(
    model: Annotated[str, typer.Argument(help="Model id, e.g. org/name.")],
    depth: Annotated[int, typer.Option("--depth", min=1, help="Hops up and down from the model.")] = 2,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show the lineage DAG around a model: ancestors and descendants with their own footprints."""
    from dia.aggregate.rollup import _own_footprints
    from dia.link.graph import lineage

    with open_store(db, read_only=True) as store:
        graph = lineage(store)
        graph.require(model)
        up = graph.depths(model, upstream=True, limit=depth)
        down = graph.depths(model, upstream=False, limit=depth)
        owns = _own_footprints(store, set(up) | set(down))
    cycle = graph.cycle_note(set(up) | set(down))
    if cycle is not None:
        note("warning:", cycle)
    if as_json:
        typer.echo(json.dumps(_lineage_doc(graph, model, up, down, owns), indent=2))
        return
    console.print(_tree(graph, model, up, down, owns))


def rollup_command(
    model: Annotated[str, typer.Argument(help="Model id, e.g. org/name.")],
    scope: Annotated[str, typer.Option("--scope", help="family (model + descendants) or upstream (model + ancestors).")] = "family",
    impute: Annotated[bool, typer.Option("--impute", help="Add priors for members without a report (shown apart).")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Cumulative footprint of a model's family (or ancestry), with coverage and quality mix."""
    from dia.aggregate.rollup import rollup
    from dia.link.graph import lineage

    if scope not in ("family", "upstream"):
        raise fail(f"--scope must be 'family' or 'upstream', not {scope!r}", 2)
    with open_store(db, read_only=True) as store:
        graph = lineage(store)
        result = rollup(model, scope=scope, impute=impute, store=store, graph=graph)  # type: ignore[arg-type]
    cycle = graph.cycle_note(row.model_id for row in result.rows)
    if cycle is not None:
        note("warning:", cycle)
    if as_json:
        typer.echo(json.dumps(result.to_json_dict(), indent=2))
        return
    _print_rollup(result)


def _print_rollup(r: Rollup) -> None:
    from rich.text import Text

    from dia.show import evidence, format_figure, format_value

    what = "model + unique descendants" if r.scope == "family" else "model + unique ancestors"
    head = Text(r.model, style="bold")
    head.append(f" {r.scope} ({what}): {r.members:,} members, {r.with_report:,} with a report", style="")
    console.print(head, soft_wrap=True)
    # How sure the totals are: a lower bound unless every member reported, and an estimate
    # (not a disclosure) when every figure is DIA's own.
    ev = evidence(r.members, r.with_report, r.by_quality)
    console.print(f"  {ev.badge}; {ev.summary}", highlight=False, soft_wrap=True)
    for name, figure, quantity in (("energy", r.energy_kwh, "energy_kwh"), ("carbon", r.carbon_kg, "carbon_kg"),
                                   ("water", r.water_l, "water_l")):
        total = f"  {name:<7} {format_figure(figure, quantity)}"
        share = r.coverage_by_quantity.get(name, 0.0)
        if figure is not None and share < 1.0:  # a partial sum: say how much is missing
            total += f" (disclosed by {round(share * r.members):,} of {r.members:,})"
        console.print(total, highlight=False)
    if r.by_quality:
        mix = ", ".join(f"{tier} {format_value(iv.value, 'carbon_kg')}" for tier, iv in r.by_quality.items())
        console.print(f"  carbon by quality: {mix}", highlight=False)
    console.print("  relations: " + ", ".join(f"{k} {v}" for k, v in r.by_relation.items()), highlight=False)
    if any(iv is not None and iv.value for iv in r.use.values()):
        console.print(f"  use (inference/evaluation, not included): {format_figure(r.use['energy_kwh'], 'energy_kwh')}, "
                      f"{format_figure(r.use['carbon_kg'], 'carbon_kg')}", highlight=False)
    if r.imputed and r.imputed_totals is not None:
        line = Text("  ")
        line.append("imputed, NOT in the totals above", style="yellow")
        line.append(f": {format_figure(r.imputed_totals['carbon_kg'], 'carbon_kg')}, "
                    f"{format_figure(r.imputed_totals['energy_kwh'], 'energy_kwh')}")
        console.print(line)
    print_table(_members_table(r))


def _members_table(r: Rollup) -> Table:
    """One row per member. Model ids fold (never an ellipsis) and numbers never shrink."""
    from rich.table import Table
    from rich.text import Text

    from dia.show import format_figure, format_value

    table = Table(box=None, pad_edge=False)
    id_column(table)
    table.add_column("relation", no_wrap=True)
    number_column(table, "depth")
    number_column(table, "runs")
    table.add_column("carbon", no_wrap=True)
    table.add_column("quality", no_wrap=True)
    for row in r.rows:
        carbon: Text | str = format_figure(row.carbon_kg, "carbon_kg") if row.has_report else (
            Text(f"~{format_value(row.imputed_carbon_kg.value, 'carbon_kg')} imputed", style="yellow")
            if row.imputed_carbon_kg else "no report")  # has a report but no carbon in it: "not disclosed"
        table.add_row(row.model_id, row.relation or "", str(row.depth), str(row.runs), carbon, row.quality)
    return table


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("lineage")(lineage_command)
    app.command("rollup")(rollup_command)
