"""Turn a model card's front matter into DIA run reports (tolerant reader).

Understands three shapes, best first: DIA's own ``dia:`` block (schema 1.x), the
ai-impact-accounting v0.1 ``dia_report`` block, and the Hub's ``co2_eq_emissions`` in every
real-world form (bare number of grams, ``{emissions: ...}``, the full dict with extra keys, a
string with a unit such as ``"0.5 kg"``). Lineage comes from ``base_model`` (string or list)
and ``base_model_relation`` (any spelling DIA's vocabulary knows), or from the block's own
lineage.

A card that cannot be used raises :class:`~dia.errors.CardError` with a one-line reason;
anything merely odd (an unknown quality label, an unusable parent id) becomes a warning.

>>> meta = load_front_matter("co2_eq_emissions: 12.3 g\\nbase_model: org/base\\n", "README.md")
>>> parsed = parse_metadata(meta, model_id="org/child", source_ref="org/child/README.md")
>>> parsed.reports[0].carbon.total_kg.value, parsed.parents[0].model_id
(0.0123, 'org/base')
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import yaml

from dia.errors import CardError, DIAError
from dia.link.relations import Relation, parse_relation, validate_model_id
from dia.record.report import (
    GPU,
    Carbon,
    Energy,
    Factor,
    Hardware,
    Location,
    Parent,
    Quality,
    Quantity,
    RunKind,
    RunReport,
    Tool,
    Water,
)

# Front matter beyond this is refused before YAML sees it (cards are a few KB).
MAX_FRONT_MATTER_BYTES = 1_000_000

# Fixed namespace: the same model's card always gets the same run id (idempotent re-ingest).
_RUN_NAMESPACE = uuid.UUID("6f3c2a7e-1d4b-5c8a-9e0f-a1b2c3d4e5f6")

_UNAVAILABLE_KWH = Quantity(value=0.0, low=0.0, high=0.0, unit="kWh", quality=Quality.UNAVAILABLE)
_UNAVAILABLE_L = Quantity(value=0.0, low=0.0, high=0.0, unit="L", quality=Quality.UNAVAILABLE)


@dataclass
class ParsedCard:
    """What one card says: the model, its parents, its run report(s) and any warnings."""

    model_id: str | None
    parents: list[Parent] = field(default_factory=list)
    reports: list[RunReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source_ref: str | None = None
    format: str | None = None  # "dia", "dia-v0.1", "hf" or None (lineage only)
    run_ids: list[str] = field(default_factory=list)  # DIA cards: the runs the figures came from


def card_run_id(model_id: str) -> str:
    """The deterministic run id of the report read from ``model_id``'s card."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"card:{model_id}"))


# -- front matter ---------------------------------------------------------------------------

_OPEN = re.compile(r"\A\ufeff?\s*---[ \t]*\r?\n")
_CLOSE = re.compile(r"^---[ \t]*$", re.MULTILINE)


def split_front_matter(text: str, where: str) -> str | None:
    """The YAML between the leading ``---`` lines, or ``None`` when there is none."""
    opened = _OPEN.match(text)
    if opened is None:
        return None
    # Search only as far as the limit allows: a huge card is refused without a full scan.
    window = text[opened.end():opened.end() + MAX_FRONT_MATTER_BYTES + 8]
    if window.startswith("---"):
        return ""
    closed = _CLOSE.search(window)
    if closed is None:
        if len(window) > MAX_FRONT_MATTER_BYTES:
            raise CardError(f"{where}: front matter larger than {MAX_FRONT_MATTER_BYTES // 1_000_000} MB")
        raise CardError(f"{where}: front matter is not closed by a '---' line")
    if len(window[:closed.start()].encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise CardError(f"{where}: front matter larger than {MAX_FRONT_MATTER_BYTES // 1_000_000} MB")
    return window[:closed.start()]


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors' aliases: no alias bombs ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise CardError(f"YAML alias *{event.anchor} at line {event.start_mark.line + 1} (aliases are refused)")
        return super().compose_node(parent, index)


_FastLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_front_matter(yaml_text: str, where: str) -> dict[str, Any]:
    """Parse front matter YAML into a dict; refuse aliases, non-mappings and oversize text."""
    if len(yaml_text) > MAX_FRONT_MATTER_BYTES:
        raise CardError(f"{where}: front matter larger than {MAX_FRONT_MATTER_BYTES // 1_000_000} MB")
    # Without '*' there can be no alias: the C loader is safe and ten times faster.
    loader = _FastLoader if "*" not in yaml_text else _NoAliasLoader
    try:
        data = yaml.load(yaml_text, Loader=loader)  # safe loaders only (C SafeLoader or _NoAliasLoader)
    except CardError as exc:
        raise CardError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise CardError(f"{where}: YAML error{at}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError(f"{where}: front matter is a {type(data).__name__}, not a mapping")
    return data


# -- small normalisers ----------------------------------------------------------------------

_QUALITY_WORDS: tuple[tuple[str, Quality], ...] = (
    ("unavail", Quality.UNAVAILABLE), ("unknown", Quality.UNAVAILABLE), ("n/a", Quality.UNAVAILABLE),
    ("imput", Quality.IMPUTED), ("prior", Quality.IMPUTED),
    ("measur", Quality.MEASURED), ("meter", Quality.MEASURED), ("nvml", Quality.MEASURED),
    ("rapl", Quality.MEASURED),
    ("sampl", Quality.SAMPLED), ("poll", Quality.SAMPLED),
    ("estim", Quality.ESTIMATED), ("model", Quality.ESTIMATED), ("tdp", Quality.ESTIMATED),
    ("report", Quality.REPORTED), ("disclos", Quality.REPORTED), ("publish", Quality.REPORTED),
)


def parse_quality(label: Any, where: str, warnings: list[str]) -> Quality:
    """A quality tier from any label; unknown labels map to the nearest tier with a warning.

    ``estimated-from-region`` (ai-impact-accounting v0.1) is ``estimated`` silently.
    """
    if label is None:
        return Quality.REPORTED
    text = str(label).strip().lower()
    try:
        return Quality(text)
    except ValueError:
        pass
    if text.startswith("estimated-from-"):
        return Quality.ESTIMATED
    for word, tier in _QUALITY_WORDS:
        if word in text:
            warnings.append(f"{where}: quality {label!r} read as {tier.value!r}")
            return tier
    import difflib

    close = difflib.get_close_matches(text, [q.value for q in Quality], n=1, cutoff=0.6)
    tier = Quality(close[0]) if close else Quality.REPORTED
    warnings.append(f"{where}: unknown quality {label!r} read as {tier.value!r}")
    return tier


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CardError(f"{where}: expected a number (got {type(value).__name__})")
    try:
        number = float(value)
    except ValueError:
        raise CardError(f"{where}: not a number (got {value!r})") from None
    if not math.isfinite(number):
        raise CardError(f"{where}: must be a finite number (got {value!r})")
    if number < 0:
        raise CardError(f"{where}: must not be negative (got {value!r})")
    return number


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
        return _number(m.group(1), where) * _GRAMS_PER[unit]
    return _number(value, where)


def _quantity(data: Any, unit: str, where: str, warnings: list[str],
              default_quality: Quality = Quality.REPORTED) -> Quantity:
    """A Quantity from a number, a ``[low, high]`` pair or a ``{value, low, high, quality}`` dict."""
    quality = default_quality
    low = high = None
    if isinstance(data, dict):
        quality = parse_quality(data.get("quality"), f"{where}.quality", warnings) if "quality" in data else quality
        if "value" not in data:
            raise CardError(f"{where}: no value")
        low = data.get("low")
        high = data.get("high")
        data = data["value"]
    if isinstance(data, (list, tuple)):
        if len(data) != 2:
            raise CardError(f"{where}: a range must be [low, high] (got {len(data)} numbers)")
        lo, hi = _number(data[0], f"{where}.low"), _number(data[1], f"{where}.high")
        if lo > hi:
            raise CardError(f"{where}: low ({lo}) is greater than high ({hi})")
        return Quantity(value=(lo + hi) / 2, low=lo, high=hi, unit=unit, quality=quality)
    value = _number(data, f"{where}.value" if low is not None or high is not None else where)
    lo = value if low is None else _number(low, f"{where}.low")
    hi = value if high is None else _number(high, f"{where}.high")
    if lo > value or value > hi:
        raise CardError(f"{where}: expected low <= value <= high (got {lo}, {value}, {hi})")
    return Quantity(value=value, low=lo, high=hi, unit=unit, quality=quality)


_GPU_WORDS = re.compile(r"nvidia|geforce|tesla|quadro|rtx|gtx|gpu|tpu|\b[ahvlt]\d{1,3}\b|mi\d{2,3}|radeon|gaudi",
                        re.IGNORECASE)
_COUNT_X = re.compile(r"^\s*(\d+)\s*(?:x|×|\*)\s*(.+?)\s*$", re.IGNORECASE)


def _hardware(text: Any) -> Hardware:
    """``"4 x NVIDIA A100-SXM4-40GB"`` -> 4 GPUs; a CPU name -> ``cpu_model``."""
    if not isinstance(text, str) or not text.strip():
        return Hardware()
    m = _COUNT_X.match(text)
    if m and int(m.group(1)) >= 1:
        return Hardware(gpus=[GPU(name=m.group(2)[:200], count=int(m.group(1)))])
    if _GPU_WORDS.search(text):
        return Hardware(gpus=[GPU(name=text.strip()[:200])])
    return Hardware(cpu_model=text.strip()[:200])


_TRAINING_TYPES = {"pre-training": RunKind.PRETRAINING, "pretraining": RunKind.PRETRAINING,
                   "fine-tuning": RunKind.FINETUNING, "finetuning": RunKind.FINETUNING,
                   "fine-tune": RunKind.FINETUNING, "finetune": RunKind.FINETUNING}
_KIND_OF_RELATION = {Relation.ADAPTER: RunKind.ADAPTER, Relation.QUANTIZATION: RunKind.QUANTIZATION,
                     Relation.MERGE: RunKind.MERGE, Relation.DISTILLATION: RunKind.DISTILLATION,
                     Relation.CONVERSION: RunKind.CONVERSION, Relation.PRETRAINING: RunKind.PRETRAINING}


def _kind(training_type: Any, parents: list[Parent], warnings: list[str], where: str) -> RunKind:
    if isinstance(training_type, str) and training_type.strip():
        key = training_type.strip().lower().replace("_", "-").replace(" ", "-")
        if key in _TRAINING_TYPES:
            return _TRAINING_TYPES[key]
        try:
            from dia.record.report import parse_kind

            return parse_kind(key)
        except DIAError:
            warnings.append(f"{where}: unknown training_type {training_type!r}")
    if not parents:
        return RunKind.PRETRAINING if training_type else RunKind.OTHER
    return _KIND_OF_RELATION.get(parents[0].relation, RunKind.FINETUNING)


# -- lineage ----------------------------------------------------------------------------------

def _relation(text: Any, where: str, warnings: list[str]) -> tuple[Relation, str | None] | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return parse_relation(str(text))
    except DIAError:
        warnings.append(f"{where}: unknown relation {text!r} (lineage kept, relation guessed)")
        return None


def _parent(model_id: Any, rel: tuple[Relation, str | None] | None, child: str | None, where: str,
            warnings: list[str]) -> Parent | None:
    if isinstance(model_id, dict):  # some cards write {name: org/x} or {model: org/x}
        model_id = model_id.get("model_id") or model_id.get("model") or model_id.get("name")
    if not isinstance(model_id, str) or not model_id.strip():
        warnings.append(f"{where}: parent {model_id!r} is not a model id (ignored)")
        return None
    try:
        mid = validate_model_id(model_id)
    except DIAError:
        # Local paths ("./checkpoints/x", "/home/...") are not lineage anyone can follow.
        warnings.append(f"{where}: parent {model_id.strip()[:80]!r} is not a model id (ignored)")
        return None
    if child is not None and mid == child:
        warnings.append(f"{where}: the card lists its own model as base_model (ignored)")
        return None
    relation, method = rel if rel is not None else (Relation.FINETUNE, None)
    return Parent(model_id=mid, relation=relation, method=method)


def parse_parents(meta: dict[str, Any], child: str | None, where: str, warnings: list[str],
                  relation_hint: Any = None) -> list[Parent]:
    """Parents from ``base_model`` (+ ``base_model_relation``, or DIA's own relation)."""
    bases = meta.get("base_model")
    if bases is None:
        return []
    if not isinstance(bases, list):
        bases = [bases]
    rel = _relation(relation_hint, f"{where}: dia.relation", warnings) if relation_hint is not None else None
    if rel is None:
        rel = _relation(meta.get("base_model_relation"), f"{where}: base_model_relation", warnings)
    if rel is None and len(bases) > 1:
        rel = (Relation.MERGE, None)  # the Hub's own reading of several bases
    out = [p for b in bases if (p := _parent(b, rel, child, f"{where}: base_model", warnings)) is not None]
    return _unique(out)


def _dia_parents(items: list[Any], child: str | None, where: str, warnings: list[str]) -> list[Parent]:
    """``dia.parents``: ``[{model_id, relation, method}]`` in DIA's own vocabulary."""
    out = []
    for i, item in enumerate(items):
        w = f"{where}: dia.parents[{i}]"
        rel = _relation(item.get("relation"), w, warnings) if isinstance(item, dict) else None
        if rel is not None and isinstance(item, dict) and isinstance(item.get("method"), str):
            rel = (rel[0], item["method"])
        if (p := _parent(item, rel, child, w, warnings)) is not None:
            out.append(p)
    return _unique(out)


def _unique(parents: list[Parent]) -> list[Parent]:
    seen: set[str] = set()
    return [p for p in parents if not (p.model_id in seen or seen.add(p.model_id))]  # type: ignore[func-returns-value]


# -- the three card formats ---------------------------------------------------------------------

@dataclass
class _Figures:
    energy: Quantity | None = None
    carbon_operational: Quantity | None = None
    carbon_embodied: Quantity | None = None
    carbon_total: Quantity | None = None
    water_onsite: Quantity | None = None
    water_offsite: Quantity | None = None
    water_total: Quantity | None = None
    factors: list[Factor] = field(default_factory=list)
    hardware: Hardware = field(default_factory=Hardware)
    location: Location = field(default_factory=Location)
    gpu_hours: float | None = None
    kind: Any = None
    tool: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.energy is None and self.carbon_total is None and self.water_total is None


def _check_scope(block: dict[str, Any], where: str) -> None:
    scope = block.get("scope")
    if scope is not None and str(scope).strip().lower() != "incremental":
        raise CardError(f"{where}.scope: only incremental figures can be ingested (got {scope!r})")


_V1_KNOWN = {"schema_version", "model_id", "relation", "energy_kwh", "carbon_kg", "water_l", "factors",
             "runs", "upstream_cumulative", "scope", "parents", "kind", "tool", "gpu_hours", "hardware",
             "location"}


def _dia_v1(block: dict[str, Any], where: str, warnings: list[str]) -> _Figures:
    w = f"{where}: dia"
    _check_scope(block, w)
    fig = _Figures(kind=block.get("kind"), tool="dia")
    if block.get("energy_kwh") is not None:
        fig.energy = _quantity(block["energy_kwh"], "kWh", f"{w}.energy_kwh", warnings)
    for key, prefix, unit, parts in (("carbon_kg", "carbon", "kgCO2e", ("operational", "embodied", "total")),
                                     ("water_l", "water", "L", ("onsite", "offsite", "total"))):
        value = block.get(key)
        if isinstance(value, dict) and "value" not in value:  # split into parts
            for part in parts:
                if value.get(part) is not None:
                    setattr(fig, f"{prefix}_{part}", _quantity(value[part], unit, f"{w}.{key}.{part}", warnings))
        elif value is not None:  # one figure: the total
            setattr(fig, f"{prefix}_total", _quantity(value, unit, f"{w}.{key}", warnings))
    for i, f in enumerate(block.get("factors") or []):
        try:
            fig.factors.append(Factor.model_validate(f))
        except Exception:  # a factor we cannot read does not drop the footprint
            warnings.append(f"{w}.factors[{i}]: unreadable factor (ignored)")
    if block.get("gpu_hours") is not None:
        fig.gpu_hours = _number(block["gpu_hours"], f"{w}.gpu_hours")
    if isinstance(block.get("hardware"), str):
        fig.hardware = _hardware(block["hardware"])
    if block.get("upstream_cumulative") is not None:
        # Cumulative figures would double count ancestors: kept for reference, never summed.
        fig.extra["upstream_cumulative"] = block["upstream_cumulative"]
    unknown = {k: v for k, v in block.items() if k not in _V1_KNOWN}
    if unknown:
        fig.extra["unknown"] = unknown
    return fig


def _dia_v01(block: dict[str, Any], where: str, warnings: list[str]) -> _Figures:
    w = f"{where}: dia_report"
    _check_scope(block, w)
    fig = _Figures(tool=str(block["tool"])[:100] if block.get("tool") else None)
    fp = block.get("footprint") or {}
    if not isinstance(fp, dict):
        raise CardError(f"{w}.footprint: expected a mapping")
    if fp.get("energy_kwh") is not None:
        fig.energy = _quantity(fp["energy_kwh"], "kWh", f"{w}.footprint.energy_kwh", warnings)
    if fp.get("carbon_kgco2eq") is not None:
        fig.carbon_total = _quantity(fp["carbon_kgco2eq"], "kgCO2e", f"{w}.footprint.carbon_kgco2eq", warnings)
    if fp.get("water_liters") is not None:
        fig.water_total = _quantity(fp["water_liters"], "L", f"{w}.footprint.water_liters", warnings)
    compute = block.get("compute") or {}
    if isinstance(compute, dict):
        hw = compute.get("hardware")
        if isinstance(hw, dict) and hw.get("gpu"):
            count = hw.get("count", 1)
            count = int(count) if isinstance(count, int) and count >= 1 else 1
            fig.hardware = Hardware(gpus=[GPU(name=str(hw["gpu"])[:200], count=count)])
        elif isinstance(hw, str):
            fig.hardware = _hardware(hw)
        if compute.get("duration_gpu_hours") is not None:
            fig.gpu_hours = _number(compute["duration_gpu_hours"], f"{w}.compute.duration_gpu_hours")
    context = block.get("context") or {}
    if isinstance(context, dict):
        region = context.get("region")
        if isinstance(region, str) and region.strip():
            fig.location = Location(region=region.strip()[:64])
        key = region if isinstance(region, str) else None
        for name, unit, fkey in (("carbon_intensity", "kgCO2e/kWh", "carbon_intensity"),
                                 ("wue", "L/kWh", "wue_l_per_kwh"), ("pue", "", "pue")):
            if context.get(fkey) is not None:
                q = _quantity(context[fkey], unit or "1", f"{w}.context.{fkey}", warnings)
                fig.factors.append(Factor(name=name, value=q.value, low=q.low, high=q.high, unit=unit or "1",
                                          source="model card (ai-impact-accounting v0.1)", granularity="explicit",
                                          key=key))
    known = {"scope", "lineage", "compute", "footprint", "context", "tool"}
    unknown = {k: v for k, v in block.items() if k not in known}
    if unknown:
        fig.extra["unknown"] = unknown
    return fig


def _v01_parents(block: dict[str, Any], child: str | None, where: str, warnings: list[str]) -> list[Parent] | None:
    lineage = block.get("lineage")
    if lineage is None:
        return None
    if not isinstance(lineage, list):
        lineage = [lineage]
    out = []
    for i, item in enumerate(lineage):
        w = f"{where}: dia_report.lineage[{i}]"
        if isinstance(item, dict):
            rel = _relation(item.get("relation"), w, warnings)
            p = _parent(item.get("model"), rel, child, w, warnings)
        else:
            p = _parent(item, None, child, w, warnings)
        if p is not None:
            out.append(p)
    return _unique(out)


_CO2_KNOWN = {"emissions", "source", "training_type", "geographical_location", "hardware_used",
              "energy_consumed", "quality"}


def _hub_co2(co2: Any, where: str, warnings: list[str]) -> _Figures:
    w = f"{where}: co2_eq_emissions"
    data = co2 if isinstance(co2, dict) else {"emissions": co2}
    if data.get("emissions") is None:
        raise CardError(f"{w}.emissions: missing")
    _check_scope(data, w)
    grams = parse_emissions_g(data["emissions"], f"{w}.emissions")
    quality = parse_quality(data.get("quality"), f"{w}.quality", warnings) if "quality" in data else Quality.REPORTED
    fig = _Figures(kind=data.get("training_type"))
    fig.carbon_total = Quantity(value=grams / 1000.0, low=grams / 1000.0, high=grams / 1000.0, unit="kgCO2e",
                                quality=quality)
    fig.carbon_operational = fig.carbon_total
    if data.get("energy_consumed") is not None:
        kwh = _number(data["energy_consumed"], f"{w}.energy_consumed")
        fig.energy = Quantity(value=kwh, low=kwh, high=kwh, unit="kWh", quality=quality)
    fig.hardware = _hardware(data.get("hardware_used"))
    if isinstance(data.get("source"), str):
        fig.tool = data["source"].strip()[:100] or None
    kept = {k: v for k, v in data.items() if k not in _CO2_KNOWN or k in ("geographical_location", "source")}
    if kept:
        fig.extra["co2_eq_emissions"] = kept
    return fig


# -- putting it together -----------------------------------------------------------------------

def metadata_model_id(meta: dict[str, Any]) -> str | None:
    """The model id a card names for itself (top level, or in DIA's blocks)."""
    for holder in (meta, meta.get("dia"), meta.get("dia_report")):
        if isinstance(holder, dict) and isinstance(holder.get("model_id"), str) and holder["model_id"].strip():
            return holder["model_id"].strip()
    return None


def parse_metadata(meta: dict[str, Any], *, model_id: str | None, source_ref: str) -> ParsedCard:
    """Turn front matter into a :class:`ParsedCard` (reports carry the card as source).

    ``model_id`` is used when the card does not name its model. Raises :class:`CardError`.
    """
    where = source_ref
    warnings: list[str] = []
    mid = metadata_model_id(meta) or model_id
    if mid is not None:
        try:
            mid = validate_model_id(mid)
        except DIAError as exc:
            raise CardError(f"{where}: model_id: {exc}") from None
    dia_block = meta.get("dia")
    v01 = meta.get("dia_report")
    fig: _Figures | None = None
    fmt: str | None = None
    parents: list[Parent] | None = None
    run_ids: list[str] = []
    if isinstance(dia_block, dict):
        fmt, fig = "dia", _dia_v1(dia_block, where, warnings)
        if isinstance(dia_block.get("parents"), list):
            parents = _dia_parents(dia_block["parents"], mid, where, warnings)
        else:
            hint = dia_block.get("relation")
            parents = parse_parents(meta, mid, where, warnings, relation_hint=hint if isinstance(hint, str) else None)
        runs = dia_block.get("runs")
        if isinstance(runs, list):
            run_ids = [str(r) for r in runs if isinstance(r, str)]
    elif dia_block is not None:
        warnings.append(f"{where}: dia is not a mapping (ignored)")
    if fig is None and isinstance(v01, dict):
        fmt, fig = "dia-v0.1", _dia_v01(v01, where, warnings)
        parents = _v01_parents(v01, mid, where, warnings)
    elif fig is None and v01 is not None:
        raise CardError(f"{where}: dia_report: expected a mapping")
    if fig is None and meta.get("co2_eq_emissions") is not None:
        fmt, fig = "hf", _hub_co2(meta["co2_eq_emissions"], where, warnings)
    if parents is None:
        parents = parse_parents(meta, mid, where, warnings)
    if fig is not None and fig.empty:
        warnings.append(f"{where}: {fmt} block has no figures")
        fig = None
    card = ParsedCard(model_id=mid, parents=parents, warnings=warnings, source_ref=source_ref,
                      format=fmt if fig is not None else None, run_ids=run_ids)
    if fig is None:
        return card
    if mid is None:
        raise CardError(f"{where}: no model id (name it in the front matter, put the card in "
                        "<org>/<name>/README.md below the ingest root, or pass --model-id)")
    card.reports.append(_report(fig, mid, parents, fmt or "hf", source_ref, warnings))
    return card


def _report(fig: _Figures, model_id: str, parents: list[Parent], fmt: str, source_ref: str,
            warnings: list[str]) -> RunReport:
    carbon = water = None
    total = fig.carbon_total
    if total is None and fig.carbon_operational is not None:
        total = fig.carbon_operational + fig.carbon_embodied if fig.carbon_embodied else fig.carbon_operational
    if total is not None:
        carbon = Carbon(operational_kg=fig.carbon_operational or total, embodied_kg=fig.carbon_embodied,
                        total_kg=total)
    wtotal = fig.water_total
    if wtotal is None and fig.water_onsite is not None and fig.water_offsite is not None:
        wtotal = fig.water_onsite + fig.water_offsite
    if wtotal is not None:
        water = Water(onsite_l=fig.water_onsite or _UNAVAILABLE_L, offsite_l=fig.water_offsite or _UNAVAILABLE_L,
                      total_l=wtotal)
    notes = [f"imported from a model card ({fmt})"]
    if fig.energy is None:
        notes.append("the card states no energy: energy is unavailable (0 kWh)")
    extra: dict[str, Any] = {"card_format": fmt, **fig.extra}
    return RunReport(
        id=card_run_id(model_id), model_id=model_id, parents=parents,
        kind=_kind(fig.kind, parents, warnings, source_ref), status="completed",
        hardware=fig.hardware, location=fig.location, tool=Tool(name=fig.tool or "unknown"), meter="card",
        gpu_hours=fig.gpu_hours, source="card", source_ref=source_ref,
        energy=Energy(it_kwh=fig.energy or _UNAVAILABLE_KWH), carbon=carbon, water=water, factors=fig.factors,
        notes=notes, extra=extra,
    )


def parse_card_text(text: str, *, model_id: str | None, source_ref: str) -> ParsedCard:
    """Parse a whole README.md (front matter + body)."""
    yaml_text = split_front_matter(text, source_ref)
    meta = load_front_matter(yaml_text, source_ref) if yaml_text else {}
    return parse_metadata(meta, model_id=model_id, source_ref=source_ref)


__all__ = [
    "MAX_FRONT_MATTER_BYTES", "ParsedCard", "card_run_id", "load_front_matter", "metadata_model_id",
    "parse_card_text", "parse_emissions_g", "parse_metadata", "parse_parents", "parse_quality",
    "split_front_matter",
]
