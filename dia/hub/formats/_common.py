"""What the three card formats share: tolerant readers of numbers, ranges, quality labels,
hardware and parents, the figures a card states, and the writers' rounding and privacy rules.

Private to :mod:`dia.hub.formats`: each format module reads and writes its own block with these.

>>> quantity([1.0, 3.0], "kWh", "x", []).value
2.0
"""

from __future__ import annotations

import getpass
import math
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dia.errors import CardError, DIAError
from dia.link.relations import Relation, infer_relation, parse_relation, validate_model_id
from dia.record.report import (
    GPU,
    Factor,
    Hardware,
    Location,
    Parent,
    Quality,
    Quantity,
    RunKind,
    RunReport,
    sum_quantities,
)

# -- reading: small normalisers ---------------------------------------------------------------

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


# No figure of one model comes near this (a quadrillion kWh, litres or grams): a card stating
# more is a typo or an attack, and sums of such figures would overflow to infinity.
MAX_CARD_NUMBER = 1e15
# GPUs in one run: more is not a count (and would not fit the store's integer column).
MAX_GPU_COUNT = 1_000_000


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def number(value: Any, where: str) -> float:
    """A finite, non-negative number of at most :data:`MAX_CARD_NUMBER` (booleans are not numbers).

    >>> number("12.5", "x"), number(3, "x")
    (12.5, 3.0)
    >>> number(True, "README.md: co2_eq_emissions")
    Traceback (most recent call last):
    ...
    dia.errors.CardError: README.md: co2_eq_emissions: expected a number (got bool)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CardError(f"{where}: expected a number (got {type(value).__name__})")
    try:
        number = float(value)
    except ValueError:
        raise CardError(f"{where}: not a number (got {_shown(value)})") from None
    except OverflowError:  # an int too large for a float
        raise CardError(f"{where}: too large (more than {MAX_CARD_NUMBER:g})") from None
    if not math.isfinite(number):
        raise CardError(f"{where}: must be a finite number (got {_shown(value)})")
    if number < 0:
        raise CardError(f"{where}: must not be negative (got {_shown(value)})")
    return bounded(number, where)


def bounded(number: float, where: str) -> float:
    """``number`` unless it is over :data:`MAX_CARD_NUMBER` (also after a unit's factor)."""
    if number > MAX_CARD_NUMBER:
        raise CardError(f"{where}: too large ({number:.3g}, more than {MAX_CARD_NUMBER:g})")
    return number


def quantity(data: Any, unit: str, where: str, warnings: list[str],
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
        lo, hi = number(data[0], f"{where}.low"), number(data[1], f"{where}.high")
        if lo > hi:
            raise CardError(f"{where}: low ({lo}) is greater than high ({hi})")
        return Quantity(value=(lo + hi) / 2, low=lo, high=hi, unit=unit, quality=quality)
    value = number(data, f"{where}.value" if low is not None or high is not None else where)
    lo = value if low is None else number(low, f"{where}.low")
    hi = value if high is None else number(high, f"{where}.high")
    if lo > value or value > hi:
        raise CardError(f"{where}: expected low <= value <= high (got {lo}, {value}, {hi})")
    return Quantity(value=value, low=lo, high=hi, unit=unit, quality=quality)


_GPU_WORDS = re.compile(r"nvidia|geforce|tesla|quadro|rtx|gtx|gpu|tpu|\b[ahvlt]\d{1,3}\b|mi\d{2,3}|radeon|gaudi",
                        re.IGNORECASE)
_COUNT_X = re.compile(r"^\s*(\d+)\s*(?:x|×|\*)\s*(.+?)\s*$", re.IGNORECASE)


def hardware(text: Any) -> Hardware:
    """``"4 x NVIDIA A100-SXM4-40GB"`` -> 4 GPUs; a CPU name -> ``cpu_model``."""
    if not isinstance(text, str) or not text.strip():
        return Hardware()
    m = _COUNT_X.match(text)
    if m and len(m.group(1)) <= 7 and 1 <= int(m.group(1)) <= MAX_GPU_COUNT:
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


def run_kind(training_type: Any, parents: list[Parent], warnings: list[str], where: str) -> RunKind:
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


# -- reading: lineage ---------------------------------------------------------------------------

def relation(text: Any, where: str, warnings: list[str]) -> tuple[Relation, str | None] | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        return parse_relation(str(text))
    except DIAError:
        warnings.append(f"{where}: unknown relation {text!r} (lineage kept, relation inferred)")
        return None


def parent(model_id: Any, rel: tuple[Relation, str | None] | None, child: str | None, where: str,
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


def card_tags(meta: dict[str, Any]) -> list[str]:
    """The card's ``tags`` as strings (a single string is one tag; anything else is ignored)."""
    tags = meta.get("tags")
    if isinstance(tags, str):
        tags = [tags]
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def parse_parents(meta: dict[str, Any], child: str | None, where: str, warnings: list[str],
                  relation_hint: Any = None, files: list[str] | None = None) -> list[Parent]:
    """Parents from ``base_model`` (+ ``base_model_relation``, or DIA's own relation).

    Without a stated relation it is inferred as the Hub does (:func:`~dia.link.relations.infer_relation`)
    from the card's ``tags``, ``library_name``, model id and, with ``--hub``, the repo's ``files``;
    the edge's ``method`` records the inference (``inferred:tag:gguf``, ``inferred:default``, ...).

    >>> [(p.relation.value, p.method) for p in parse_parents(
    ...     {"base_model": "org/base", "library_name": "peft"}, "org/x", "README.md", [])]
    [('adapter', 'inferred:library:peft')]
    """
    bases = meta.get("base_model")
    if bases is None:
        return []
    if not isinstance(bases, list):
        bases = [bases]
    rel = relation(relation_hint, f"{where}: dia.relation", warnings) if relation_hint is not None else None
    if rel is None:
        rel = relation(meta.get("base_model_relation"), f"{where}: base_model_relation", warnings)
    out = unique([p for b in bases if (p := parent(b, rel, child, f"{where}: base_model", warnings)) is not None])
    if rel is None and out:
        # Counted after dropping local paths, the card itself and repeats: only real bases make a merge.
        inferred, method = infer_relation(len(out), tags=card_tags(meta), library_name=meta.get("library_name"),
                                          model_id=child, files=files)
        out = [Parent(model_id=p.model_id, relation=inferred, method=method) for p in out]
    return out


def unique(parents: list[Parent]) -> list[Parent]:
    seen: set[str] = set()
    return [p for p in parents if not (p.model_id in seen or seen.add(p.model_id))]  # type: ignore[func-returns-value]


# -- reading: what a block states ----------------------------------------------------------------

@dataclass
class Figures:
    """The figures one block states, before they become a run report."""

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


def check_scope(block: dict[str, Any], where: str) -> None:
    """Only a model's own (incremental) figures can be stored: cumulative ones would double count."""
    scope = block.get("scope")
    if scope is not None and str(scope).strip().lower() != "incremental":
        raise CardError(f"{where}.scope: only incremental figures can be ingested (got {scope!r})")


# -- writing: rounding, privacy and the store's figures -----------------------------------------

def rounded(x: float) -> float:
    """Nine significant digits: stable YAML across runs (float noise gone), and a card read
    back gives the stored figure within 1e-6 relative (six digits can be 5e-6 off).

    A non-finite figure (a sum past float range) is refused: written as 0 it would be a
    silent wrong number."""
    if not math.isfinite(x):
        raise CardError(f"cannot write a figure that is not finite ({x}): a sum past float range")
    if x == 0:
        return 0.0
    return float(f"{x:.9g}")


def qdict(q: Quantity | None) -> dict[str, Any] | None:
    """``{value, low, high, unit, quality}`` of a quantity, rounded (``None`` stays ``None``)."""
    if q is None:
        return None
    return {"value": rounded(q.value), "low": rounded(q.low), "high": rounded(q.high), "unit": q.unit,
            "quality": q.quality.value}


def sum_present(items: Iterable[Quantity | None], unit: str) -> Quantity | None:
    """The sum of the disclosed figures; ``None`` when none was (never a stated 0)."""
    present = [q for q in items if q is not None and q.quality is not Quality.UNAVAILABLE]
    return sum_quantities(present, unit) if present else None


# -- privacy: never write tokens, host names, user names or local paths ----------------------

_TOKEN = re.compile(r"\b(hf_[A-Za-z0-9]{10,}|gh[pousr]_[A-Za-z0-9]{10,}|sk-[A-Za-z0-9]{10,})\b")
_PATH = re.compile(r"(^|[\s(\"'=])(~|/(home|Users|root|tmp|var|mnt|data|scratch|work)\b|[A-Za-z]:\\)")


def _private_words() -> list[str]:
    words = []
    for get in (socket.gethostname, getpass.getuser):
        try:
            value = get()
        except Exception:  # no user name in some containers: nothing to hide
            continue
        if value and len(value) >= 3 and value.lower() not in ("root", "user", "localhost"):
            words.append(value)
    return words


def scrub(text: str | None) -> str | None:
    """``None`` for a free-text value that would leak a token, host, user or local path."""
    if text is None:
        return None
    if _TOKEN.search(text) or _PATH.search(text):
        return None
    lowered = text.lower()
    if any(word.lower() in lowered for word in _private_words()):
        return None
    return text


def distinct(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = scrub(v)
        if v and v != "unknown" and v not in out:
            out.append(v)
    return out


@dataclass
class CardData:
    """What the store says about one model, as the format writers need it.

    ``runs`` are the model's own finished production runs; ``parents`` its parent edges
    as ``{model_id, relation, method}`` dicts in a stable order.
    """

    model_id: str
    runs: list[RunReport]
    parents: list[dict[str, Any]]
    own: Own = field(init=False)

    def __post_init__(self) -> None:
        self.own = Own(self.runs)


class Own:
    """A model's own footprint: endpoint-wise sums of its production runs."""

    def __init__(self, runs: list[RunReport]) -> None:
        self.runs = runs
        self.energy = sum_present((r.energy.it_kwh for r in runs), "kWh")
        self.operational = sum_present((r.carbon.operational_kg for r in runs if r.carbon), "kgCO2e")
        self.embodied = sum_present((r.carbon.embodied_kg for r in runs if r.carbon), "kgCO2e")
        self.carbon = sum_present((r.carbon.total_kg for r in runs if r.carbon), "kgCO2e")
        self.onsite = sum_present((r.water.onsite_l for r in runs if r.water), "L")
        self.offsite = sum_present((r.water.offsite_l for r in runs if r.water), "L")
        self.water = sum_present((r.water.total_l for r in runs if r.water), "L")


