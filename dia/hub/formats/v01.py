"""The ai-impact-accounting v0.1 format (``dia-v0.1``): ``dia_version`` and a ``dia_report`` block.

Its vocabulary differs from DIA's: ``[low, high]`` ranges, quality labels such as
``estimated-from-region``, lineage relations ``lora`` / ``quantized`` / ``distill``, and a
``context`` with the region and factors used.

>>> fig = read({"footprint": {"carbon_kgco2eq": {"value": [1.0, 3.0], "quality": "measured"}}}, "README.md", [])
>>> fig.carbon_total.low, fig.carbon_total.value, fig.carbon_total.high
(1.0, 2.0, 3.0)
"""

from __future__ import annotations

from typing import Any

from dia.errors import CardError
from dia.hub.formats._common import (
    CardData,
    Figures,
    check_scope,
    hardware,
    number,
    parent,
    quantity,
    relation,
    rounded,
    scrub,
    unique,
)
from dia.link.relations import plain_method
from dia.record.report import GPU, Factor, Hardware, Location, Parent, Quantity

NAME = "dia-v0.1"
# Top-level front-matter keys this format owns.
KEYS: tuple[str, ...] = ("dia_version", "dia_report")

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
            count = int(count) if isinstance(count, int) and count >= 1 else 1
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
    known = {"scope", "lineage", "compute", "footprint", "context", "tool"}
    unknown = {k: v for k, v in block.items() if k not in known}
    if unknown:
        fig.extra["unknown"] = unknown
    return fig


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
    return {"dia_version": "0.1", "dia_report": report}


__all__ = ["KEYS", "NAME", "read", "read_parents", "write"]
