"""The Hub's own fields: ``co2_eq_emissions`` (grams of CO2e) and ``base_model`` / ``base_model_relation``.

Reading accepts every real-world form of ``co2_eq_emissions`` (a bare number of grams,
``{emissions: ...}``, the full dict with extra keys, a string with a unit such as
``"0.5 kg"``); writing emits the full dict for THIS model's own runs (never cumulative).

>>> fig = read({"co2_eq_emissions": "0.5 kg"}, "README.md", [])
>>> fig.carbon_total.value
0.5
"""

from __future__ import annotations

import re
from typing import Any

from dia.errors import CardError
from dia.hub.formats._common import (
    CardData,
    Figures,
    check_scope,
    distinct,
    hardware,
    number,
    parse_parents,
    parse_quality,
    rounded,
)
from dia.record.report import Parent, Quality, Quantity, RunReport

NAME = "hf"
# Top-level front-matter keys this format owns (everything else in a card is left alone).
KEYS: tuple[str, ...] = ("base_model", "base_model_relation", "co2_eq_emissions")

_CO2_KNOWN = {"emissions", "source", "training_type", "geographical_location", "hardware_used",
              "energy_consumed", "quality"}


# -- reading ------------------------------------------------------------------------------------

_MASS = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
    r"(mg|g|grams?|kg|kilo(?:gram)?s?|t|tonnes?|tons?|metric\s+tons?|mt)?"
    r"\s*(?:of\s+)?(?:co2(?:[\s_-]?e(?:q(?:uivalent)?)?)?|co₂e?q?)?\s*$",
    re.IGNORECASE,
)
_GRAMS_PER = {"mg": 1e-3, "g": 1.0, "gram": 1.0, "grams": 1.0, "kg": 1e3, "kilo": 1e3, "kilos": 1e3,
              "kilogram": 1e3, "kilograms": 1e3, "t": 1e6, "tonne": 1e6, "tonnes": 1e6, "ton": 1e6,
              "tons": 1e6, "mt": 1e6}


def parse_emissions_g(value: Any, where: str) -> float:
    """Grams of CO2e from a number (grams, the Hub's unit) or a string with a unit.

    >>> parse_emissions_g("0.5 kg", "x"), parse_emissions_g(12.3, "x"), parse_emissions_g("3 tCO2e", "x")
    (500.0, 12.3, 3000000.0)
    """
    if isinstance(value, str):
        m = _MASS.match(value.replace(",", ""))
        if m is None:
            raise CardError(f"{where}: cannot read emissions {value!r} (expected a number of grams or e.g. '0.5 kg')")
        unit = re.sub(r"\s+", " ", (m.group(2) or "g").lower())
        unit = "t" if unit.startswith("metric") else unit
        return number(m.group(1), where) * _GRAMS_PER[unit]
    return number(value, where)


def read(meta: dict[str, Any], where: str, warnings: list[str]) -> Figures | None:
    """The figures of ``co2_eq_emissions``; ``None`` when the card has none."""
    co2 = meta.get("co2_eq_emissions")
    if co2 is None:
        return None
    w = f"{where}: co2_eq_emissions"
    data = co2 if isinstance(co2, dict) else {"emissions": co2}
    if data.get("emissions") is None:
        raise CardError(f"{w}.emissions: missing")
    check_scope(data, w)
    grams = parse_emissions_g(data["emissions"], f"{w}.emissions")
    quality = parse_quality(data.get("quality"), f"{w}.quality", warnings) if "quality" in data else Quality.REPORTED
    fig = Figures(kind=data.get("training_type"))
    fig.carbon_total = Quantity(value=grams / 1000.0, low=grams / 1000.0, high=grams / 1000.0, unit="kgCO2e",
                                quality=quality)
    fig.carbon_operational = fig.carbon_total
    if data.get("energy_consumed") is not None:
        kwh = number(data["energy_consumed"], f"{w}.energy_consumed")
        fig.energy = Quantity(value=kwh, low=kwh, high=kwh, unit="kWh", quality=quality)
    fig.hardware = hardware(data.get("hardware_used"))
    if isinstance(data.get("source"), str):
        fig.tool = data["source"].strip()[:100] or None
    kept = {k: v for k, v in data.items() if k not in _CO2_KNOWN or k in ("geographical_location", "source")}
    if kept:
        fig.extra["co2_eq_emissions"] = kept
    return fig


def read_parents(meta: dict[str, Any], child: str | None, where: str, warnings: list[str],
                 relation_hint: Any = None) -> list[Parent]:
    """Parents from ``base_model`` (string or list) and ``base_model_relation``."""
    return parse_parents(meta, child, where, warnings, relation_hint=relation_hint)


# -- writing ------------------------------------------------------------------------------------

def _training_type(runs: list[RunReport]) -> str | None:
    kinds = {r.kind.value for r in runs}
    if "pretraining" in kinds:
        return "pre-training"
    if kinds & {"finetuning", "adapter", "distillation"}:
        return "fine-tuning"
    return None


def _co2_eq_emissions(data: CardData) -> dict[str, Any] | None:
    """The Hub's field: grams of CO2e for THIS model's own runs (never cumulative)."""
    from dia._version import __version__

    own = data.own
    if own.carbon is None:
        return None
    meters = sorted({r.meter for r in own.runs if r.meter and r.meter != "none"})
    source = f"DIA {__version__}" + (f" ({', '.join(meters)})" if meters else "")
    scope = "operational + embodied" if own.embodied is not None else "operational"
    source += f"; {own.carbon.quality.value}; {scope}, location-based"
    out: dict[str, Any] = {"emissions": rounded(own.carbon.value * 1000.0), "source": source}
    if (training := _training_type(own.runs)) is not None:
        out["training_type"] = training
    if places := distinct(r.location.describe() for r in own.runs):
        out["geographical_location"] = "; ".join(places)
    if hardware_used := distinct(r.hardware.describe() for r in own.runs):
        out["hardware_used"] = "; ".join(hardware_used)
    if own.energy is not None:
        out["energy_consumed"] = rounded(own.energy.value)
    return out


def _lineage(parents: list[dict[str, Any]]) -> dict[str, Any]:
    """``base_model`` (list when several) and ``base_model_relation`` when faithful."""
    from dia.link.relations import to_hub_relation

    if not parents:
        return {}
    ids = [p["model_id"] for p in parents]
    out: dict[str, Any] = {"base_model": ids[0] if len(ids) == 1 else ids}
    hub = {to_hub_relation(p["relation"]) for p in parents}
    if len(hub) == 1 and None not in hub:
        relation = hub.pop()
        # Several bases of one model are only faithfully a "merge" on the Hub.
        if len(ids) == 1 or relation == "merge":
            out["base_model_relation"] = relation
    return out


def write(data: CardData) -> dict[str, Any]:
    """The Hub fields for ``data``: ``co2_eq_emissions`` (when there is carbon) then the lineage."""
    meta: dict[str, Any] = {}
    if (co2 := _co2_eq_emissions(data)) is not None:
        meta["co2_eq_emissions"] = co2
    meta.update(_lineage(data.parents))
    return meta


__all__ = ["KEYS", "NAME", "parse_emissions_g", "read", "read_parents", "write"]
