"""Fill a model card (README.md) with a model's footprint from the store.

The card gets Hub-native fields describing THIS model's own production runs
(``co2_eq_emissions`` in grams, ``base_model``, ``base_model_relation``), DIA's own
``dia:`` block (incremental figures with intervals and quality, factors, relation, and
an optional clearly labelled ``upstream_cumulative`` block) and a short "Environmental
impact" table in the body between markers. Everything else in the card is kept
byte-for-byte, and writing twice changes nothing the second time.

>>> from dia.record.store import Store
>>> from dia.record.report import Energy, Quantity, RunReport
>>> store = Store("sqlite://")
>>> store.save_run(RunReport(model_id="org/tiny", kind="finetuning",
...                          energy=Energy(it_kwh=Quantity.of(0.5, "kWh", "measured"))))
>>> card_metadata("org/tiny", store)["dia"]["energy_kwh"]["value"]
0.5
"""

from __future__ import annotations

import getpass
import math
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dia.constants import SCHEMA_VERSION

if TYPE_CHECKING:
    from dia.record.report import Quantity, RunReport
    from dia.record.store import Store

CardFormat = Literal["hf", "dia-v0.1", "both"]
FORMATS: tuple[str, ...] = ("hf", "dia-v0.1", "both")

SECTION_START = "<!-- dia:environmental-impact:start -->"
SECTION_END = "<!-- dia:environmental-impact:end -->"

# Top-level front-matter keys DIA owns, per format (everything else is left untouched).
_HF_KEYS = ("base_model", "base_model_relation", "co2_eq_emissions", "dia")
_V01_KEYS = ("dia_version", "dia_report")

# ai-impact-accounting v0.1 lineage vocabulary, from DIA's relations.
_V01_RELATION = {
    "finetune": "finetune", "continued-pretraining": "finetune", "instruction-tuning": "finetune",
    "preference-tuning": "finetune", "adapter-merged": "finetune", "adapter": "adapter",
    "quantization": "quantized", "merge": "merge", "distillation": "distill", "duplicate": "fork",
}


# -- figures --------------------------------------------------------------------------------

def _num(x: float) -> float:
    """Six significant digits: stable YAML across runs, far below measurement error."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.6g}")


def _qdict(q: Quantity | None) -> dict[str, Any] | None:
    if q is None:
        return None
    return {"value": _num(q.value), "low": _num(q.low), "high": _num(q.high), "unit": q.unit,
            "quality": q.quality.value}


def _sum(items: Iterable[Quantity | None], unit: str) -> Quantity | None:
    from dia.record.report import sum_quantities

    present = [q for q in items if q is not None]
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


def _scrub(text: str | None) -> str | None:
    """``None`` for a free-text value that would leak a token, host, user or local path."""
    if text is None:
        return None
    if _TOKEN.search(text) or _PATH.search(text):
        return None
    lowered = text.lower()
    if any(word.lower() in lowered for word in _private_words()):
        return None
    return text


# -- reading the store ------------------------------------------------------------------------

def _open(store: Store | str | None) -> tuple[Store, bool]:
    from dia.record.store import Store

    if isinstance(store, Store):
        return store, False
    return Store(store, read_only=True), True


def _production_runs(store: Store, model_id: str) -> list[RunReport]:
    """This model's own finished production runs (use runs and live runs excluded)."""
    runs = store.list_runs(model_id=model_id)
    return sorted((r for r in runs if not r.is_use and r.status.value != "running"), key=lambda r: r.id)


def _parents(store: Store, model_id: str, runs: list[RunReport]) -> list[dict[str, Any]]:
    """Parent edges (store first, then runs), in a stable order."""
    found: dict[str, dict[str, Any]] = {}
    for edge in store.edges():
        if edge.child_id == model_id:
            found.setdefault(edge.parent_id, {"model_id": edge.parent_id, "relation": edge.relation,
                                              "method": edge.method})
    for run in runs:
        for p in run.parents:
            found.setdefault(p.model_id, {"model_id": p.model_id, "relation": p.relation.value,
                                          "method": p.method})
    return [found[k] for k in sorted(found)]


def _hub_lineage(parents: list[dict[str, Any]]) -> dict[str, Any]:
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


def _factors(runs: list[RunReport]) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for run in runs:
        for f in run.factors:
            d: dict[str, Any] = {"name": f.name, "value": _num(f.value), "low": _num(f.low),
                                 "high": _num(f.high), "unit": f.unit, "source": _scrub(f.source),
                                 "year": f.year, "granularity": f.granularity, "key": _scrub(f.key),
                                 "licence": _scrub(f.licence)}
            d = {k: v for k, v in d.items() if v is not None}
            d.setdefault("source", "withheld (local or private)")
            seen.setdefault(tuple(sorted(d.items())), d)
    return [seen[k] for k in sorted(seen, key=lambda t: (dict(t)["name"], str(dict(t).get("key")), t))]


def _distinct(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = _scrub(v)
        if v and v != "unknown" and v not in out:
            out.append(v)
    return out


def _training_type(runs: list[RunReport]) -> str | None:
    kinds = {r.kind.value for r in runs}
    if "pretraining" in kinds:
        return "pre-training"
    if kinds & {"finetuning", "adapter", "distillation"}:
        return "fine-tuning"
    return None


class _Own:
    """A model's own footprint: endpoint-wise sums of its production runs."""

    def __init__(self, runs: list[RunReport]) -> None:
        self.runs = runs
        self.energy = _sum((r.energy.it_kwh for r in runs), "kWh")
        self.operational = _sum((r.carbon.operational_kg for r in runs if r.carbon), "kgCO2e")
        self.embodied = _sum((r.carbon.embodied_kg for r in runs if r.carbon), "kgCO2e")
        self.carbon = _sum((r.carbon.total_kg for r in runs if r.carbon), "kgCO2e")
        self.onsite = _sum((r.water.onsite_l for r in runs if r.water), "L")
        self.offsite = _sum((r.water.offsite_l for r in runs if r.water), "L")
        self.water = _sum((r.water.total_l for r in runs if r.water), "L")


def _co2_eq_emissions(own: _Own) -> dict[str, Any] | None:
    """The Hub's field: grams of CO2e for THIS model's own runs (never cumulative)."""
    from dia._version import __version__

    if own.carbon is None:
        return None
    meters = sorted({r.meter for r in own.runs if r.meter and r.meter != "none"})
    source = f"DIA {__version__}" + (f" ({', '.join(meters)})" if meters else "")
    scope = "operational + embodied" if own.embodied is not None else "operational"
    source += f"; {own.carbon.quality.value}; {scope}, location-based"
    out: dict[str, Any] = {"emissions": _num(own.carbon.value * 1000.0), "source": source}
    if (training := _training_type(own.runs)) is not None:
        out["training_type"] = training
    if places := _distinct(r.location.describe() for r in own.runs):
        out["geographical_location"] = "; ".join(places)
    if hardware := _distinct(r.hardware.describe() for r in own.runs):
        out["hardware_used"] = "; ".join(hardware)
    if own.energy is not None:
        out["energy_consumed"] = _num(own.energy.value)
    return out


def _upstream(model_id: str, store: Store) -> dict[str, Any]:
    from dia.aggregate.rollup import rollup

    r = rollup(model_id, scope="upstream", store=store)

    def iv(x: Any) -> dict[str, float]:
        return {"value": _num(x.value), "low": _num(x.low), "high": _num(x.high)}

    return {
        "cumulative": True,
        "scope": "upstream",
        "note": "CUMULATIVE: this model plus its unique ancestors; not this model's own runs",
        "members": r.members, "with_report": r.with_report, "coverage": _num(r.coverage),
        "energy_kwh": iv(r.energy_kwh), "carbon_kg": iv(r.carbon_kg), "water_l": iv(r.water_l),
    }


def _dia_block(model_id: str, own: _Own, parents: list[dict[str, Any]]) -> dict[str, Any]:
    block: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "model_id": model_id,
                             "scope": "incremental"}
    if parents:
        rels = sorted({p["relation"] for p in parents})
        block["relation"] = rels[0] if len(rels) == 1 else rels
        block["parents"] = [{k: v for k, v in p.items() if v is not None} for p in parents]
    if own.energy is not None:
        block["energy_kwh"] = _qdict(own.energy)
    if own.carbon is not None:
        carbon = {"operational": _qdict(own.operational), "embodied": _qdict(own.embodied),
                  "total": _qdict(own.carbon)}
        block["carbon_kg"] = {k: v for k, v in carbon.items() if v is not None}
    if own.water is not None:
        water = {"onsite": _qdict(own.onsite), "offsite": _qdict(own.offsite), "total": _qdict(own.water)}
        block["water_l"] = {k: v for k, v in water.items() if v is not None}
    if factors := _factors(own.runs):
        block["factors"] = factors
    block["runs"] = len(own.runs)
    return block


def _load(model_id: str, store: Store) -> tuple[_Own, list[dict[str, Any]]]:
    from dia.errors import UnknownModelError, did_you_mean

    runs = _production_runs(store, model_id)
    parents = _parents(store, model_id, runs)
    if not runs and not parents and store.get_model(model_id) is None:
        hint = did_you_mean(model_id, store.model_ids())
        raise UnknownModelError(f"unknown model {model_id!r}{hint}")
    return _Own(runs), parents


def card_metadata(model_id: str, store: Store | str | None = None, *, upstream: bool = False) -> dict[str, Any]:
    """The front-matter fields DIA fills for ``model_id`` (Hub fields plus the ``dia`` block).

    Raises :class:`~dia.errors.UnknownModelError` when the store knows nothing of the model.
    """
    opened, close = _open(store)
    try:
        own, parents = _load(model_id, opened)
        meta: dict[str, Any] = {}
        if (co2 := _co2_eq_emissions(own)) is not None:
            meta["co2_eq_emissions"] = co2
        meta.update(_hub_lineage(parents))
        meta["dia"] = _dia_block(model_id, own, parents)
        if upstream and parents:
            meta["dia"]["upstream_cumulative"] = _upstream(model_id, opened)
        return meta
    finally:
        if close:
            opened.close()


# -- ai-impact-accounting v0.1 ---------------------------------------------------------------

_V01_QUALITY = {"measured": "measured", "sampled": "measured", "imputed": "imputed",
                "unavailable": "unavailable"}


def _v01_figure(q: Quantity | None, estimated_label: str) -> dict[str, Any] | None:
    if q is None:
        return None
    value: Any = _num(q.value) if q.low == q.high else [_num(q.low), _num(q.high)]
    return {"value": value, "quality": _V01_QUALITY.get(q.quality.value, estimated_label)}


def v01_metadata(model_id: str, store: Store | str | None = None) -> dict[str, Any]:
    """The ai-impact-accounting v0.1 ``dia_version`` / ``dia_report`` front-matter keys."""
    opened, close = _open(store)
    try:
        own, parents = _load(model_id, opened)
    finally:
        if close:
            opened.close()
    report: dict[str, Any] = {"scope": "incremental"}
    lineage = []
    for p in parents:
        rel = _V01_RELATION.get(p["relation"])
        if rel == "adapter" and p.get("method") in ("lora", "qlora"):
            rel = p["method"]
        if rel is not None:
            lineage.append({"model": p["model_id"], "relation": rel})
    if lineage:
        report["lineage"] = lineage
    gpus = [g for r in own.runs for g in r.hardware.gpus]
    compute: dict[str, Any] = {}
    if gpus:
        compute["hardware"] = {"gpu": _scrub(gpus[0].name) or "unknown", "count": max(g.count for g in gpus)}
    gpu_hours = [r.gpu_hours for r in own.runs if r.gpu_hours is not None]
    if gpu_hours:
        compute["duration_gpu_hours"] = _num(sum(gpu_hours))
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
            context["carbon_intensity"] = _num(f.value)
        if f.name == "wue" and "wue_l_per_kwh" not in context:
            context["wue_l_per_kwh"] = _num(f.value) if f.low == f.high else [_num(f.low), _num(f.high)]
    if context:
        report["context"] = context
    report["tool"] = "dia"
    return {"dia_version": "0.1", "dia_report": report}


# -- the card text ------------------------------------------------------------------------------

def _fmt(q: dict[str, Any] | None, unit: str) -> tuple[str, str, str]:
    if q is None:
        return "n/a", "", "unavailable"
    span = "" if q["low"] == q["high"] else f"{q['low']:.4g} to {q['high']:.4g}"
    return f"{q['value']:.4g} {unit}", span, str(q["quality"])


def body_section(meta: dict[str, Any], *, line_break: str = "\n") -> str:
    """The "Environmental impact" section (with its markers) for a card body."""
    block = meta.get("dia", {})
    carbon = block.get("carbon_kg", {})
    water = block.get("water_l", {})
    rows = [("Energy (IT)", _fmt(block.get("energy_kwh"), "kWh")),
            ("Carbon, operational", _fmt(carbon.get("operational"), "kg CO2e"))]
    if "embodied" in carbon:
        rows.append(("Carbon, embodied", _fmt(carbon.get("embodied"), "kg CO2e")))
    rows += [("Carbon, total", _fmt(carbon.get("total"), "kg CO2e")),
             ("Water, on-site", _fmt(water.get("onsite"), "L")),
             ("Water, off-site", _fmt(water.get("offsite"), "L"))]
    runs = block.get("runs", 0)
    lines = [SECTION_START, "## Environmental impact", "",
             f"Footprint of the {runs} run{'s' if runs != 1 else ''} that produced this model "
             "(its own, incremental share; ancestors not included), recorded by DIA.", "",
             "| Quantity | Value | Range | Quality |", "|---|---|---|---|"]
    lines += [f"| {name} | {v} | {span} | {q} |" for name, (v, span, q) in rows]
    up = block.get("upstream_cumulative")
    if up:
        c = up["carbon_kg"]
        lines += ["", f"Cumulative with its ancestors ({up['with_report']} of {up['members']} models "
                      f"disclosed): {c['value']:.4g} kg CO2e ({c['low']:.4g} to {c['high']:.4g})."]
    lines.append(SECTION_END)
    return line_break.join(lines)


def _yaml_block(data: dict[str, Any], line_break: str) -> str:
    from huggingface_hub.utils import yaml_dump

    text: str = yaml_dump(data, sort_keys=False, line_break=line_break)
    return text if text.endswith(line_break) else text + line_break


_TOP_KEY = re.compile(r"^([A-Za-z_][^:\s#]*|\"[^\"]+\"|'[^']+')\s*:")


def _drop_keys(yaml_text: str, keys: Iterable[str]) -> str:
    """Remove top-level ``keys`` (with their nested lines) from YAML text, keeping the rest verbatim."""
    wanted = set(keys)
    out: list[str] = []
    dropping = False
    for line in yaml_text.splitlines(keepends=True):
        m = _TOP_KEY.match(line)
        if m:
            dropping = m.group(1).strip("\"'") in wanted
        elif line[:1] not in (" ", "\t", "-", "#", "\r", "\n", ""):
            dropping = False  # something else at column 0 ends a block
        if not dropping:
            out.append(line)
    return "".join(out)


def merge_card(text: str, meta: dict[str, Any], *, owned: Iterable[str] = _HF_KEYS + _V01_KEYS,
               section: bool = True) -> str:
    """Put ``meta`` into the front matter of card ``text`` and the section into its body.

    Other front-matter keys keep their exact text; the body is kept byte-for-byte except
    for the section between DIA's markers (appended at the end the first time).
    """
    import yaml
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    from dia.errors import CardError

    line_break = "\r\n" if "\r\n" in text else "\n"
    match = REGEX_YAML_BLOCK.search(text)
    if match:
        head, yaml_text, body = match.group(1), match.group(2), text[match.end():]
        try:
            old = yaml.safe_load(yaml_text) or {}
        except yaml.YAMLError as exc:
            raise CardError(f"README.md: front matter is not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(old, dict):
            raise CardError("README.md: front matter is not a mapping")
        kept = _drop_keys(yaml_text + line_break, owned)
        expected = {k: v for k, v in old.items() if k not in set(owned)}
        try:
            ok = (yaml.safe_load(kept) or {}) == expected
        except yaml.YAMLError:
            ok = False
        if not ok:  # unusual layout: fall back to re-dumping the other keys
            kept = _yaml_block(expected, line_break) if expected else ""
        front = head + kept + _yaml_block(meta, line_break) + "---" + line_break
    else:
        front, body = "---" + line_break + _yaml_block(meta, line_break) + "---" + line_break, text
    if section:
        body = _with_section(body, body_section(meta, line_break=line_break), line_break)
    return front + body


def _with_section(body: str, section: str, line_break: str) -> str:
    start, end = body.find(SECTION_START), body.find(SECTION_END)
    if start != -1 and end > start:
        return body[:start] + section + body[end + len(SECTION_END):]
    if not body.strip():
        return line_break + section + line_break
    sep = "" if body.endswith(line_break * 2) else (line_break if body.endswith(line_break) else line_break * 2)
    return body + sep + section + line_break


def card_fields(model_id: str, store: Store | str | None = None, *, format: CardFormat = "hf",
                upstream: bool = False) -> dict[str, Any]:
    """The front-matter keys to write for ``format`` (``hf``, ``dia-v0.1`` or ``both``)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    opened, close = _open(store)
    try:
        meta: dict[str, Any] = {}
        if format in ("hf", "both"):
            meta.update(card_metadata(model_id, opened, upstream=upstream))
        if format in ("dia-v0.1", "both"):
            meta.update(v01_metadata(model_id, opened))
        return meta
    finally:
        if close:
            opened.close()


def render_card(model_id: str, existing: str | None = None, *, store: Store | str | None = None,
                format: CardFormat = "hf", upstream: bool = False) -> str:
    """The card text: ``existing`` (or a new minimal card) with DIA's fields filled in."""
    from huggingface_hub import ModelCard

    meta = card_fields(model_id, store, format=format, upstream=upstream)
    owned = (_HF_KEYS if format in ("hf", "both") else ()) + (_V01_KEYS if format in ("dia-v0.1", "both") else ())
    text = existing if existing is not None else f"# {model_id}{chr(10)}"
    # The dia-v0.1 format carries no body table: its users' tools render their own.
    out = merge_card(text, meta, owned=owned, section=format != "dia-v0.1")
    ModelCard(out)  # huggingface_hub must read back what we wrote (raises on bad YAML)
    return out


def write_card(model_id: str, path: str | Path, *, store: Store | str | None = None,
               format: CardFormat = "hf", upstream: bool = False) -> Path:
    """Fill (or create) the card at ``path`` (a README.md, or a folder holding one).

    >>> write_card("org/tiny", "out/README.md", store=store)  # doctest: +SKIP
    PosixPath('out/README.md')
    """
    target = Path(path)
    if target.is_dir() or (not target.suffix and not target.exists()):
        target = target / "README.md"
    existing = None
    if target.exists():
        with open(target, encoding="utf-8", newline="") as fh:
            existing = fh.read()
    text = render_card(model_id, existing, store=store, format=format, upstream=upstream)
    if text != existing:  # leave the file (and its mtime) alone when nothing changed
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return target


__all__ = ["FORMATS", "SECTION_END", "SECTION_START", "body_section", "card_fields", "card_metadata",
           "merge_card", "render_card", "v01_metadata", "write_card"]
