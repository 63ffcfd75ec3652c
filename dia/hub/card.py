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

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dia.errors import CardError
from dia.hub.formats import CardData, dia_block, frontmatter, hf, v01

if TYPE_CHECKING:
    from dia.record.report import RunReport
    from dia.record.store import Store

CardFormat = Literal["hf", "dia-v0.1", "both"]
FORMATS: tuple[str, ...] = ("hf", "dia-v0.1", "both")

SECTION_START = "<!-- dia:environmental-impact:start -->"
SECTION_END = "<!-- dia:environmental-impact:end -->"

# Top-level front-matter keys DIA owns, per format (everything else is left untouched).
_HF_KEYS = hf.KEYS + dia_block.KEYS
_V01_KEYS = v01.KEYS


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


def _load(model_id: str, store: Store) -> CardData:
    from dia.errors import UnknownModelError, did_you_mean

    runs = _production_runs(store, model_id)
    parents = _parents(store, model_id, runs)
    if not runs and not parents and store.get_model(model_id) is None:
        hint = did_you_mean(model_id, store.model_ids())
        raise UnknownModelError(f"unknown model {model_id!r}{hint}")
    return CardData(model_id, runs, parents)


def card_metadata(model_id: str, store: Store | str | None = None, *, upstream: bool = False) -> dict[str, Any]:
    """The front-matter fields DIA fills for ``model_id`` (Hub fields plus the ``dia`` block).

    Raises :class:`~dia.errors.UnknownModelError` when the store knows nothing of the model.
    """
    opened, close = _open(store)
    try:
        data = _load(model_id, opened)
        rolled = None
        if upstream and data.parents:
            from dia.aggregate.rollup import rollup

            rolled = rollup(model_id, scope="upstream", store=opened)
        return {**hf.write(data), **dia_block.write(data, upstream=rolled)}
    finally:
        if close:
            opened.close()


def v01_metadata(model_id: str, store: Store | str | None = None) -> dict[str, Any]:
    """The ai-impact-accounting v0.1 ``dia_version`` / ``dia_report`` front-matter keys."""
    opened, close = _open(store)
    try:
        data = _load(model_id, opened)
    finally:
        if close:
            opened.close()
    return v01.write(data)


# -- the card text ------------------------------------------------------------------------------

def _fmt(q: dict[str, Any] | None, unit: str) -> tuple[str, str, str]:
    if q is None:
        return "not disclosed", "", ""
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
    runs = len(runs) if isinstance(runs, list) else runs  # the ids (an old card: a count)
    lines = [SECTION_START, "## Environmental impact", "",
             f"Footprint of the {runs} run{'s' if runs != 1 else ''} that produced this model "
             "(its own, incremental share; ancestors not included), recorded by DIA.", "",
             "| Quantity | Value | Range | Quality |", "|---|---|---|---|"]
    lines += [f"| {name} | {v} | {span} | {q} |" for name, (v, span, q) in rows]
    up = block.get("upstream_cumulative")
    if up:
        c = up["carbon_kg"]
        figure = (f"{c['value']:.4g} kg CO2e ({c['low']:.4g} to {c['high']:.4g})" if c is not None
                  else "carbon not disclosed")  # null: no model disclosed carbon, not a zero
        lines += ["", f"Cumulative with its ancestors ({up['with_report']} of {up['members']} models "
                      f"disclosed): {figure}."]
    lines.append(SECTION_END)
    return line_break.join(lines)


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

    line_break = "\r\n" if "\r\n" in text else "\n"
    # The reader's own splitter: the writer replaces exactly what `dia ingest` reads.
    parts = frontmatter.split(text, "README.md")
    if parts is not None:
        try:
            old = frontmatter.load_yaml(parts.yaml, "README.md")
        except CardError as exc:
            detail = str(exc).removeprefix("README.md: ")
            if detail.endswith("not a mapping"):
                raise CardError("README.md: front matter is not a mapping") from None
            raise CardError(f"README.md: front matter is not valid YAML ({detail})") from None
        # Trailing blank lines before the closing '---' are not kept (nor were they before).
        yaml_text = parts.yaml.rstrip("\r\n")
        kept = _drop_keys(yaml_text + line_break, owned) if yaml_text else ""
        expected = {k: v for k, v in old.items() if k not in set(owned)}
        try:
            ok = (yaml.safe_load(kept) or {}) == expected
        except yaml.YAMLError:
            ok = False
        if not ok:  # unusual layout: fall back to re-dumping the other keys
            kept = frontmatter.dump_yaml(expected, line_break) if expected else ""
        head, body = parts.head, parts.body
    else:
        head, kept, body = "", "", text
    front = frontmatter.join(head, kept + frontmatter.dump_yaml(meta, line_break), "", line_break)
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
