"""The Hub's own fields: ``co2_eq_emissions`` (grams of CO2e) and ``base_model`` / ``base_model_relation``.

Reading accepts every real-world form of ``co2_eq_emissions`` (a bare number of grams,
``{emissions: ...}``, the full dict with extra keys, a string with a unit such as
``"0.5 kg"``, a ``unit``/``units`` key beside ``emissions``, ``energy_consumed`` in kWh or as
``"3100 Wh"``); an ambiguous unit (``Mt``, ``tons``, ``lbs``) is refused, never guessed.
Without ``base_model_relation`` the relation is inferred as the Hub does
(:func:`dia.link.relations.infer_relation`). Writing emits the full dict for THIS model's
own runs (never cumulative).

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
    bounded,
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
              "energy_consumed", "quality", "unit", "units"}


# -- reading ------------------------------------------------------------------------------------

_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$", re.DOTALL)
# "kgCO2e", "kg CO2eq", "g of CO2-eq", "t_co2e": the gas named after the unit.
_CO2_SUFFIX = re.compile(r"[\s_-]*(?:of\s+)?(?:co2|co₂)(?:[\s_-]?e(?:q(?:uivalent)?)?)?\.?$", re.IGNORECASE)
_GRAMS_PER = {"mg": 1e-3, "g": 1.0, "gr": 1.0, "gram": 1.0, "grams": 1.0, "kg": 1e3, "kgs": 1e3, "kilo": 1e3,
              "kilos": 1e3, "kilogram": 1e3, "kilograms": 1e3, "t": 1e6, "tonne": 1e6, "tonnes": 1e6,
              "metric ton": 1e6, "metric tons": 1e6, "metric tonne": 1e6, "metric tonnes": 1e6}
# Read as one thing by some and another by others: never guessed (Mt: megatonne or metric ton?
# ton: short, long or metric? lb: not a unit anyone reports carbon in without meaning it).
_AMBIGUOUS_MASS = {"mt", "ton", "tons", "lb", "lbs", "pound", "pounds", "short ton", "short tons", "long ton",
                   "long tons", "st"}
_KWH_PER = {"kwh": 1.0, "wh": 1e-3, "mwh": 1e3}
_UNIT_HELP = "write g, kg or t"
_ENERGY_HELP = "write kWh, Wh or MWh"


def _unit_key(text: str) -> str:
    return re.sub(r"\s+", " ", _CO2_SUFFIX.sub("", text.strip())).strip().lower()


def _grams_per(unit: str, where: str) -> float:
    """Grams in one ``unit`` (``"kg"``, ``"tCO2e"``, ...); an ambiguous or unknown unit is refused."""
    key = _unit_key(unit)
    if key in _GRAMS_PER:
        return _GRAMS_PER[key]
    what = "ambiguous" if key in _AMBIGUOUS_MASS else "unknown"
    raise CardError(f"{where}: {what} unit {unit.strip()!r} ({_UNIT_HELP}): figures not read")


def _split(value: str, where: str, expected: str) -> tuple[str, str]:
    m = _NUMBER_UNIT.match(value.replace(",", ""))
    if m is None:
        raise CardError(f"{where}: cannot read {value!r} (expected {expected})")
    return m.group(1), m.group(2)


def parse_emissions_g(value: Any, where: str, unit: Any = None, unit_where: str | None = None) -> float:
    """Grams of CO2e from a number (grams, the Hub's unit, unless ``unit`` says otherwise) or a string with a unit.

    ``unit`` is the card's ``unit``/``units`` key beside ``emissions``; a string naming another unit
    conflicts with it. Ambiguous (``Mt``, ``tons``, ``lbs``) and unknown units raise
    :class:`~dia.errors.CardError`: a unit is never guessed.

    >>> parse_emissions_g("0.5 kg", "x"), parse_emissions_g(12.3, "x"), parse_emissions_g("3 tCO2e", "x")
    (500.0, 12.3, 3000000.0)
    >>> parse_emissions_g(500, "x", unit="kg")
    500000.0
    """
    unit_where = unit_where or where
    key_factor = None
    if unit is not None:
        if not isinstance(unit, str) or not unit.strip():
            raise CardError(f"{unit_where}: expected a unit such as 'kg' (got {unit!r}): figures not read")
        key_factor = _grams_per(unit, unit_where)
    if isinstance(value, str):
        try:
            text, written = _split(value, where, "a number of grams or e.g. '0.5 kg'")
        except CardError:
            raise CardError(f"{where}: cannot read emissions {value!r} "
                            "(expected a number of grams or e.g. '0.5 kg')") from None
        if written and _unit_key(written):
            factor = _grams_per(written, where)
            if key_factor is not None and factor != key_factor:
                raise CardError(f"{where}: unit {written.strip()!r} conflicts with unit {unit!r}: figures not read")
        else:
            factor = 1.0 if key_factor is None else key_factor
        return bounded(number(text, where) * factor, where)
    return bounded(number(value, where) * (1.0 if key_factor is None else key_factor), where)


def parse_energy_kwh(value: Any, where: str) -> float:
    """kWh from a number (kWh, as sentence-transformers writes it) or ``"3.1 kWh"`` / ``"3100 Wh"`` / ``"0.1 MWh"``.

    >>> parse_energy_kwh("3100 Wh", "x"), parse_energy_kwh(3, "x")
    (3.1, 3.0)
    """
    if not isinstance(value, str):
        return number(value, where)
    text, written = _split(value, where, "a number of kWh or e.g. '3.1 kWh'")
    key = written.strip().lower()
    if not key:
        return number(text, where)
    if key not in _KWH_PER:
        raise CardError(f"{where}: unknown unit {written.strip()!r} ({_ENERGY_HELP}): figures not read")
    return bounded(number(text, where) * _KWH_PER[key], where)


def read(meta: dict[str, Any], where: str, warnings: list[str]) -> Figures | None:
    """The figures of ``co2_eq_emissions``; ``None`` when the card has none.

    Raises :class:`~dia.errors.CardError` for figures that cannot be read (an ambiguous unit among them).
    """
    co2 = meta.get("co2_eq_emissions")
    if co2 is None:
        return None
    w = f"{where}: co2_eq_emissions"
    if isinstance(co2, list):
        raise CardError(f"{w}: expected a number or a mapping (got a list)")
    data = co2 if isinstance(co2, dict) else {"emissions": co2}
    if data.get("emissions") is None:
        raise CardError(f"{w}.emissions: missing")
    check_scope(data, w)
    units = [k for k in ("unit", "units") if data.get(k) is not None]
    if len(units) == 2 and _unit_key(str(data["unit"])) != _unit_key(str(data["units"])):
        raise CardError(f"{w}.units: {data['units']!r} conflicts with unit {data['unit']!r}: figures not read")
    unit_key = units[0] if units else None
    grams = parse_emissions_g(data["emissions"], f"{w}.emissions", data[unit_key] if unit_key else None,
                              f"{w}.{unit_key}" if unit_key else None)
    quality = parse_quality(data.get("quality"), f"{w}.quality", warnings) if "quality" in data else Quality.REPORTED
    fig = Figures(kind=data.get("training_type"))
    fig.carbon_total = Quantity(value=grams / 1000.0, low=grams / 1000.0, high=grams / 1000.0, unit="kgCO2e",
                                quality=quality)
    fig.carbon_operational = fig.carbon_total
    if data.get("energy_consumed") is not None:
        kwh = parse_energy_kwh(data["energy_consumed"], f"{w}.energy_consumed")
        fig.energy = Quantity(value=kwh, low=kwh, high=kwh, unit="kWh", quality=quality)
    fig.hardware = hardware(data.get("hardware_used"))
    if isinstance(data.get("source"), str):
        fig.tool = data["source"].strip()[:100] or None
    kept = {k: v for k, v in data.items() if k not in _CO2_KNOWN or k in ("geographical_location", "source")}
    if kept:
        fig.extra["co2_eq_emissions"] = kept
    return fig


def read_parents(meta: dict[str, Any], child: str | None, where: str, warnings: list[str],
                 relation_hint: Any = None, files: list[str] | None = None) -> list[Parent]:
    """Parents from ``base_model`` (string or list) and ``base_model_relation`` (else inferred, see
    :func:`~dia.hub.formats._common.parse_parents`)."""
    return parse_parents(meta, child, where, warnings, relation_hint=relation_hint, files=files)


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


__all__ = ["KEYS", "NAME", "parse_emissions_g", "parse_energy_kwh", "read", "read_parents", "write"]
