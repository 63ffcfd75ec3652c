"""DIA's own ``dia:`` block (schema 1.x): a model's incremental figures with ranges and quality.

The block carries what the Hub's fields cannot: energy, carbon split into operational and
embodied, water, the conversion factors, the relation to each parent, the place, the ids of
the runs the figures came from (so ``dia ingest`` recognises DIA's own card and never counts
those runs twice) and, optionally, a clearly labelled ``upstream_cumulative`` block that is
never summed on read.

>>> fig = read({"energy_kwh": {"value": 2.0, "low": 1.5, "high": 2.5, "quality": "measured"}}, "README.md", [])
>>> fig.energy.low, fig.energy.value, fig.energy.high
(1.5, 2.0, 2.5)
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from dia.constants import SCHEMA_VERSION
from dia.hub.formats._common import (
    CardData,
    Figures,
    check_scope,
    hardware,
    number,
    parent,
    qdict,
    quantity,
    relation,
    rounded,
    scrub,
    unique,
)
from dia.record.report import Factor, Location, Parent, RunReport

if TYPE_CHECKING:
    from dia.aggregate.rollup import Rollup

NAME = "dia"
# The one top-level front-matter key this format owns.
KEYS: tuple[str, ...] = ("dia",)


# -- reading ------------------------------------------------------------------------------------

_V1_KNOWN = {"schema_version", "model_id", "relation", "energy_kwh", "carbon_kg", "water_l", "factors",
             "runs", "upstream_cumulative", "scope", "parents", "kind", "tool", "gpu_hours", "hardware",
             "location"}


def read(block: dict[str, Any], where: str, warnings: list[str]) -> Figures:
    """The figures of a ``dia:`` block (``scope`` must be incremental)."""
    w = f"{where}: dia"
    check_scope(block, w)
    fig = Figures(kind=block.get("kind"), tool="dia")
    if block.get("energy_kwh") is not None:
        fig.energy = quantity(block["energy_kwh"], "kWh", f"{w}.energy_kwh", warnings)
    for key, prefix, unit, parts in (("carbon_kg", "carbon", "kgCO2e", ("operational", "embodied", "total")),
                                     ("water_l", "water", "L", ("onsite", "offsite", "total"))):
        value = block.get(key)
        if isinstance(value, dict) and "value" not in value:  # split into parts
            for part in parts:
                if value.get(part) is not None:
                    setattr(fig, f"{prefix}_{part}", quantity(value[part], unit, f"{w}.{key}.{part}", warnings))
        elif value is not None:  # one figure: the total
            setattr(fig, f"{prefix}_total", quantity(value, unit, f"{w}.{key}", warnings))
    for i, f in enumerate(block.get("factors") or []):
        try:
            fig.factors.append(Factor.model_validate(f))
        except Exception:  # a factor we cannot read does not drop the footprint
            warnings.append(f"{w}.factors[{i}]: unreadable factor (ignored)")
    if block.get("gpu_hours") is not None:
        fig.gpu_hours = number(block["gpu_hours"], f"{w}.gpu_hours")
    if isinstance(block.get("hardware"), str):
        fig.hardware = hardware(block["hardware"])
    if block.get("location") is not None:
        fig.location = read_place(block["location"], f"{w}.location", warnings)
    if block.get("upstream_cumulative") is not None:
        # Cumulative figures would double count ancestors: kept for reference, never summed.
        fig.extra["upstream_cumulative"] = block["upstream_cumulative"]
    unknown = {k: v for k, v in block.items() if k not in _V1_KNOWN}
    if unknown:
        fig.extra["unknown"] = unknown
    return fig


def read_parents(items: list[Any], child: str | None, where: str, warnings: list[str]) -> list[Parent]:
    """``dia.parents``: ``[{model_id, relation, method}]`` in DIA's own vocabulary."""
    out = []
    for i, item in enumerate(items):
        w = f"{where}: dia.parents[{i}]"
        rel = relation(item.get("relation"), w, warnings) if isinstance(item, dict) else None
        if rel is not None and isinstance(item, dict) and isinstance(item.get("method"), str):
            rel = (rel[0], item["method"])
        if (p := parent(item, rel, child, w, warnings)) is not None:
            out.append(p)
    return unique(out)


def read_runs(block: dict[str, Any]) -> list[str]:
    """The run ids the figures came from (an old card's count names none).

    >>> read_runs({"runs": ["8C5F1B9A-0D6E-4F3A-9B2C-1E7D4A6F0B3C", "not-a-uuid", 7]}), read_runs({"runs": 3})
    (['8c5f1b9a-0d6e-4f3a-9b2c-1e7d4a6f0b3c'], [])
    """
    runs = block.get("runs")
    if not isinstance(runs, list):
        return []
    out = []
    for r in runs:
        try:  # the store's spelling of a UUID, so the lookup matches
            out.append(str(uuid.UUID(str(r))))
        except ValueError:
            continue
    return out


_PLACE_KEYS = ("country", "region", "cloud_provider", "cloud_region", "resolved_level")


def read_place(data: Any, where: str, warnings: list[str]) -> Location:
    """A :class:`Location` from ``{country, region, cloud_provider, cloud_region, resolved_level}``.

    >>> read_place({"country": "FRA", "resolved_level": "country"}, "x", []).country
    'FRA'
    """
    if not isinstance(data, dict):
        warnings.append(f"{where}: not a mapping (ignored)")
        return Location()
    fields = {k: str(data[k]).strip()[:64] for k in _PLACE_KEYS if isinstance(data.get(k), str) and data[k].strip()}
    try:
        return Location.model_validate(fields)
    except Exception:  # an unknown resolution level does not drop the place
        fields.pop("resolved_level", None)
        warnings.append(f"{where}.resolved_level: unknown level {data.get('resolved_level')!r} (ignored)")
        return Location.model_validate(fields)


def place(runs: list[RunReport]) -> dict[str, str] | None:
    """The runs' one place as a mapping; ``None`` when they ran in several places (or none known)."""
    places = {tuple(getattr(r.location, k) for k in _PLACE_KEYS) for r in runs}
    if len(places) != 1:
        return None
    out = {k: scrub(v) for k, v in zip(_PLACE_KEYS, places.pop(), strict=True)}
    found = {k: v for k, v in out.items() if v}
    return found if set(found) - {"resolved_level"} else None


def run_ids(runs: list[RunReport]) -> list[str]:
    """The marker of DIA's own card: the ids (UUIDs: no host, user or path) of its runs, sorted."""
    return sorted(r.id for r in runs)


# -- writing ------------------------------------------------------------------------------------

def _factors(runs: list[RunReport]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for run in runs:
        for f in run.factors:
            d: dict[str, Any] = {"name": f.name, "value": rounded(f.value), "low": rounded(f.low),
                                 "high": rounded(f.high), "unit": f.unit, "source": scrub(f.source),
                                 "year": f.year, "granularity": f.granularity, "key": scrub(f.key),
                                 "licence": scrub(f.licence)}
            d = {k: v for k, v in d.items() if v is not None}
            d.setdefault("source", "withheld (local or private)")
            seen.setdefault(tuple(sorted(d.items())), d)
    return [seen[k] for k in sorted(seen, key=lambda t: (dict(t)["name"], str(dict(t).get("key")), t))]


def upstream_block(r: Rollup) -> dict[str, Any]:
    """The ``upstream_cumulative`` block from an upstream rollup (labelled: never summed on read).

    A quantity no member disclosed is written as ``null`` ("not disclosed"), never as 0.
    """

    def iv(x: Any) -> dict[str, float] | None:
        if x is None:
            return None
        return {"value": rounded(x.value), "low": rounded(x.low), "high": rounded(x.high)}

    return {
        "cumulative": True,
        "scope": "upstream",
        "note": "CUMULATIVE: this model plus its unique ancestors; not this model's own runs",
        "members": r.members, "with_report": r.with_report, "coverage": rounded(r.coverage),
        "energy_kwh": iv(r.energy_kwh), "carbon_kg": iv(r.carbon_kg), "water_l": iv(r.water_l),
    }


def write(data: CardData, *, upstream: Rollup | None = None) -> dict[str, Any]:
    """The ``dia`` block for ``data``, with ``upstream_cumulative`` from an upstream rollup if given."""
    model_id, own, parents = data.model_id, data.own, data.parents
    block: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "model_id": model_id,
                             "scope": "incremental"}
    if parents:
        rels = sorted({p["relation"] for p in parents})
        block["relation"] = rels[0] if len(rels) == 1 else rels
        block["parents"] = [{k: v for k, v in p.items() if v is not None} for p in parents]
    if own.energy is not None:
        block["energy_kwh"] = qdict(own.energy)
    if own.carbon is not None:
        carbon = {"operational": qdict(own.operational), "embodied": qdict(own.embodied),
                  "total": qdict(own.carbon)}
        block["carbon_kg"] = {k: v for k, v in carbon.items() if v is not None}
    if own.water is not None:
        water = {"onsite": qdict(own.onsite), "offsite": qdict(own.offsite), "total": qdict(own.water)}
        block["water_l"] = {k: v for k, v in water.items() if v is not None}
    if factors := _factors(own.runs):
        block["factors"] = factors
    if (where := place(own.runs)) is not None:
        block["location"] = where
    block["runs"] = run_ids(own.runs)
    if upstream is not None:
        block["upstream_cumulative"] = upstream_block(upstream)
    return {"dia": block}


__all__ = ["KEYS", "NAME", "place", "read", "read_parents", "read_place", "read_runs", "run_ids", "upstream_block",
           "write"]
