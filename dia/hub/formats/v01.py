"""The ai-impact-accounting v0.1 format (``dia-v0.1``): ``dia_version`` and a ``dia_report`` block.

Its vocabulary differs from DIA's: ``[low, high]`` ranges, quality labels such as
``estimated-from-region``, lineage relations ``lora`` / ``quantized`` / ``distill``, and a
``context`` with the region and factors used.

What v0.1 has no field for, DIA writes under one extension key, ``dia_report.x_dia``, and
reads back: the central value beside each ``[low, high]`` range, carbon split into
operational and embodied, water split into on-site and off-site, the place (a country stays a
country, a cloud region a cloud region), the model id and the ids of the runs the figures
came from (the marker of DIA's own card). v0.1 defines no such key: a v0.1 reader that reads
only the fields it knows still sees a complete v0.1 report, and DIA ignores an extension whose
figures disagree with the v0.1 ones (a hand-edited card), with a warning.

>>> fig = read({"footprint": {"carbon_kgco2eq": {"value": [1.0, 3.0], "quality": "measured"}}}, "README.md", [])
>>> fig.carbon_total.low, fig.carbon_total.value, fig.carbon_total.high
(1.0, 2.0, 3.0)
"""

from __future__ import annotations

import math
from typing import Any

from dia.errors import CardError
from dia.hub.formats._common import (
    MAX_GPU_COUNT,
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
from dia.hub.formats.dia_block import place, read_place, read_runs, run_ids
from dia.link.relations import plain_method
from dia.record.report import GPU, Factor, Hardware, Location, Parent, Quantity

NAME = "dia-v0.1"
# Top-level front-matter keys this format owns.
KEYS: tuple[str, ...] = ("dia_version", "dia_report")
# DIA's extension inside ``dia_report``: what v0.1 has no field for (see the module docstring).
EXTENSION = "x_dia"

# ai-impact-accounting v0.1 lineage vocabulary, from DIA's relations.
_V01_RELATION = {
    "finetune": "finetune", "continued-pretraining": "finetune", "instruction-tuning": "finetune",
    "preference-tuning": "finetune", "adapter-merged": "finetune", "adapter": "adapter",
    "quantization": "quantized", "merge": "merge", "distillation": "distill", "duplicate": "fork",
}



# -- reading ------------------------------------------------------------------------------------

def read(block: dict[str, Any], where: str, warnings: list[str]) -> Figures:
    """The figures of a ``dia_report`` block (``scope`` must be incremental)."""
    w = f"{where}: dia_report"
    check_scope(block, w)
    fig = Figures(tool=str(block["tool"])[:100] if block.get("tool") else None)
    fp = block.get("footprint") or {}
    if not isinstance(fp, dict):
        raise CardError(f"{w}.footprint: expected a mapping")
    if fp.get("energy_kwh") is not None:
        fig.energy = quantity(fp["energy_kwh"], "kWh", f"{w}.footprint.energy_kwh", warnings)
    if fp.get("carbon_kgco2eq") is not None:
        fig.carbon_total = quantity(fp["carbon_kgco2eq"], "kgCO2e", f"{w}.footprint.carbon_kgco2eq", warnings)
    if fp.get("water_liters") is not None:
        fig.water_total = quantity(fp["water_liters"], "L", f"{w}.footprint.water_liters", warnings)
    compute = block.get("compute") or {}
    if isinstance(compute, dict):
        hw = compute.get("hardware")
        if isinstance(hw, dict) and hw.get("gpu"):
            count = hw.get("count", 1)
            count = count if isinstance(count, int) and not isinstance(count, bool) \
                and 1 <= count <= MAX_GPU_COUNT else 1
            fig.hardware = Hardware(gpus=[GPU(name=str(hw["gpu"])[:200], count=count)])
        elif isinstance(hw, str):
            fig.hardware = hardware(hw)
        if compute.get("duration_gpu_hours") is not None:
            fig.gpu_hours = number(compute["duration_gpu_hours"], f"{w}.compute.duration_gpu_hours")
    context = block.get("context") or {}
    if isinstance(context, dict):
        region = context.get("region")
        if isinstance(region, str) and region.strip():
            fig.location = Location(region=region.strip()[:64])
        key = region if isinstance(region, str) else None
        for name, unit, fkey in (("carbon_intensity", "kgCO2e/kWh", "carbon_intensity"),
                                 ("wue", "L/kWh", "wue_l_per_kwh"), ("pue", "", "pue")):
            if context.get(fkey) is not None:
                q = quantity(context[fkey], unit or "1", f"{w}.context.{fkey}", warnings)
                fig.factors.append(Factor(name=name, value=q.value, low=q.low, high=q.high, unit=unit or "1",
                                          source="model card (ai-impact-accounting v0.1)", granularity="explicit",
                                          key=key))
    ext = block.get(EXTENSION)
    if isinstance(ext, dict):
        _read_extension(ext, fig, f"{w}.{EXTENSION}", warnings)
    elif ext is not None:
        warnings.append(f"{w}.{EXTENSION}: not a mapping (ignored)")
    known = {"scope", "lineage", "compute", "footprint", "context", "tool", EXTENSION}
    unknown = {k: v for k, v in block.items() if k not in known}
    if unknown:
        fig.extra["unknown"] = unknown
    return fig


def _same_range(a: Quantity, b: Quantity) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12) for x, y in ((a.low, b.low), (a.high, b.high)))


def _read_extension(ext: dict[str, Any], fig: Figures, w: str, warnings: list[str]) -> None:
    """Refine the v0.1 figures with DIA's extension, where it agrees with them."""
    if ext.get("energy_kwh") is not None and fig.energy is not None:
        q = quantity(ext["energy_kwh"], "kWh", f"{w}.energy_kwh", warnings)
        if _same_range(q, fig.energy):
            fig.energy = q
        else:
            warnings.append(f"{w}.energy_kwh: disagrees with footprint.energy_kwh (extension ignored)")
    for key, prefix, unit, parts, v01_total in (
            ("carbon_kg", "carbon", "kgCO2e", ("operational", "embodied"), fig.carbon_total),
            ("water_l", "water", "L", ("onsite", "offsite"), fig.water_total)):
        split = ext.get(key)
        if not isinstance(split, dict) or v01_total is None:
            continue
        total = quantity(split["total"], unit, f"{w}.{key}.total", warnings) if split.get("total") else None
        if total is None or not _same_range(total, v01_total):
            warnings.append(f"{w}.{key}: disagrees with the v0.1 footprint (extension ignored)")
            continue
        setattr(fig, f"{prefix}_total", total)
        for part in parts:
            if split.get(part) is not None:
                setattr(fig, f"{prefix}_{part}", quantity(split[part], unit, f"{w}.{key}.{part}", warnings))
    if ext.get("location") is not None:
        fig.location = read_place(ext["location"], f"{w}.location", warnings)


def extension_runs(block: dict[str, Any]) -> list[str]:
    """The run ids in ``dia_report.x_dia.runs`` (DIA's own card); empty for any other card."""
    ext = block.get(EXTENSION)
    return read_runs(ext) if isinstance(ext, dict) else []


def read_parents(block: dict[str, Any], child: str | None, where: str,
                 warnings: list[str]) -> list[Parent] | None:
    """Parents from ``dia_report.lineage``; ``None`` when the block has no lineage."""
    lineage = block.get("lineage")
    if lineage is None:
        return None
    if not isinstance(lineage, list):
        lineage = [lineage]
    out = []
    for i, item in enumerate(lineage):
        w = f"{where}: dia_report.lineage[{i}]"
        if isinstance(item, dict):
            rel = relation(item.get("relation"), w, warnings)
            p = parent(item.get("model"), rel, child, w, warnings)
        else:
            p = parent(item, None, child, w, warnings)
        if p is not None:
            out.append(p)
    return unique(out)


# -- writing ------------------------------------------------------------------------------------

_V01_QUALITY = {"measured": "measured", "sampled": "measured", "imputed": "imputed",
                "unavailable": "unavailable"}


def _v01_figure(q: Quantity | None, estimated_label: str) -> dict[str, Any] | None:
    if q is None:
        return None
    value: Any = rounded(q.value) if q.low == q.high else [rounded(q.low), rounded(q.high)]
    return {"value": value, "quality": _V01_QUALITY.get(q.quality.value, estimated_label)}


def _extension(data: CardData) -> dict[str, Any]:
    """``x_dia``: what v0.1 has no field for, in DIA's own vocabulary (read back by :func:`read`)."""
    own = data.own
    ext: dict[str, Any] = {"model_id": data.model_id}
    if own.energy is not None:
        ext["energy_kwh"] = qdict(own.energy)
    for key, parts in (("carbon_kg", {"operational": own.operational, "embodied": own.embodied,
                                      "total": own.carbon}),
                       ("water_l", {"onsite": own.onsite, "offsite": own.offsite, "total": own.water})):
        if parts["total"] is not None:
            ext[key] = {k: qdict(q) for k, q in parts.items() if q is not None}
    if (where := place(own.runs)) is not None:
        ext["location"] = where
    ext["runs"] = run_ids(own.runs)
    return ext


def write(data: CardData) -> dict[str, Any]:
    """The ai-impact-accounting v0.1 ``dia_version`` / ``dia_report`` front-matter keys."""
    own, parents = data.own, data.parents
    report: dict[str, Any] = {"scope": "incremental"}
    lineage = []
    for p in parents:
        rel = _V01_RELATION.get(p["relation"])
        # An inferred edge's method ("inferred:tag:lora") names its sub-type last.
        if rel == "adapter" and (method := plain_method(p.get("method"))) in ("lora", "qlora"):
            rel = method
        if rel is not None:
            lineage.append({"model": p["model_id"], "relation": rel})
    if lineage:
        report["lineage"] = lineage
    gpus = [g for r in own.runs for g in r.hardware.gpus]
    compute: dict[str, Any] = {}
    if gpus:
        compute["hardware"] = {"gpu": scrub(gpus[0].name) or "unknown", "count": max(g.count for g in gpus)}
    gpu_hours = [r.gpu_hours for r in own.runs if r.gpu_hours is not None]
    if gpu_hours:
        compute["duration_gpu_hours"] = rounded(sum(gpu_hours))
    if compute:
        report["compute"] = compute
    footprint = {"energy_kwh": _v01_figure(own.energy, "estimated-from-hardware"),
                 "carbon_kgco2eq": _v01_figure(own.carbon, "estimated-from-region"),
                 "water_liters": _v01_figure(own.water, "estimated-from-default-wue")}
    report["footprint"] = {k: v for k, v in footprint.items() if v is not None}
    context: dict[str, Any] = {}
    places = [r.location for r in own.runs]
    region = next((p.region or p.cloud_region or p.country for p in places
                   if p.region or p.cloud_region or p.country), None)
    if region:
        context["region"] = region.lower()
    for f in (f for r in own.runs for f in r.factors):
        if f.name == "carbon_intensity" and "carbon_intensity" not in context:
            context["carbon_intensity"] = rounded(f.value)
        if f.name == "wue" and "wue_l_per_kwh" not in context:
            context["wue_l_per_kwh"] = rounded(f.value) if f.low == f.high else [rounded(f.low), rounded(f.high)]
    if context:
        report["context"] = context
    report["tool"] = "dia"
    report[EXTENSION] = _extension(data)
    return {"dia_version": "0.1", "dia_report": report}


__all__ = ["EXTENSION", "KEYS", "NAME", "extension_runs", "read", "read_parents", "write"]
