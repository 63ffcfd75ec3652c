"""Turn a model card's front matter into DIA run reports (tolerant reader of the three formats).

Understands three shapes, best first: DIA's own ``dia:`` block (:mod:`.dia_block`), the
ai-impact-accounting v0.1 ``dia_report`` block (:mod:`.v01`), and the Hub's
``co2_eq_emissions`` (:mod:`.hf`). Lineage comes from ``base_model`` (string or list) and
``base_model_relation`` (any spelling DIA's vocabulary knows), or from the block's own lineage.

A card that cannot be used raises :class:`~dia.errors.CardError` with a one-line reason;
anything merely odd (an unknown quality label, an unusable parent id) becomes a warning.

>>> parsed = parse_card_text("---\\nco2_eq_emissions: 12.3 g\\nbase_model: org/base\\n---\\n",
...                          model_id="org/child", source_ref="org/child/README.md")
>>> parsed.reports[0].carbon.total_kg.value, parsed.parents[0].model_id
(0.0123, 'org/base')
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from dia.errors import CardError, DIAError
from dia.hub.formats import dia_block as dia_block_format
from dia.hub.formats import frontmatter, hf
from dia.hub.formats import v01 as v01_format
from dia.hub.formats._common import Figures, run_kind
from dia.link.relations import validate_model_id
from dia.record.report import Carbon, Energy, Parent, Quality, Quantity, RunReport, Tool, Water

# Fixed namespace: the same model's card always gets the same run id (idempotent re-ingest).
_RUN_NAMESPACE = uuid.UUID("6f3c2a7e-1d4b-5c8a-9e0f-a1b2c3d4e5f6")

_UNAVAILABLE_KWH = Quantity(value=0.0, low=0.0, high=0.0, unit="kWh", quality=Quality.UNAVAILABLE)
_UNAVAILABLE_L = Quantity(value=0.0, low=0.0, high=0.0, unit="L", quality=Quality.UNAVAILABLE)
_UNAVAILABLE_KG = Quantity(value=0.0, low=0.0, high=0.0, unit="kgCO2e", quality=Quality.UNAVAILABLE)


@dataclass
class ParsedCard:
    """What one card says: the model, its parents, its run report(s) and any warnings."""

    model_id: str | None
    parents: list[Parent] = field(default_factory=list)
    reports: list[RunReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source_ref: str | None = None
    format: str | None = None  # "dia", "dia-v0.1", "hf" or None (lineage only)
    # DIA's own card: the ids of the runs its figures came from (the ``dia`` block's ``runs``,
    # or ``dia_report.x_dia.runs``). Empty for a third-party card and for an old DIA card.
    run_ids: list[str] = field(default_factory=list)
    # Written by DIA (a ``dia`` block, a v0.1 block with ``tool: dia``, or a ``co2_eq_emissions``
    # whose source is DIA), run ids or not: an old DIA card without ids is recognised by its model.
    by_dia: bool = False
    # The one-line reason the card's figures were refused (an ambiguous unit, ...) while its
    # lineage was still read: the ingest lists the card as skipped and stores the edges only.
    refused: str | None = None
    # The one-line reason the card cannot be stored at all: it names another model than the one
    # its folder or Hub repo is (``model_id`` is then the one it names). Only DIA's own card of
    # runs already in the store is still recognised (nothing is stored for it either way).
    conflict: str | None = None


def card_run_id(model_id: str) -> str:
    """The deterministic run id of the report read from ``model_id``'s card."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"card:{model_id}"))


def metadata_model_id(meta: dict[str, Any]) -> str | None:
    """The model id a card names for itself (top level, or in DIA's blocks)."""
    v01 = meta.get("dia_report")
    ext = v01.get(v01_format.EXTENSION) if isinstance(v01, dict) else None
    for holder in (meta, meta.get("dia"), v01, ext):
        if isinstance(holder, dict) and isinstance(holder.get("model_id"), str) and holder["model_id"].strip():
            return holder["model_id"].strip()
    return None


def parse_metadata(meta: dict[str, Any], *, model_id: str | None, source_ref: str,
                   files: list[str] | None = None, model_id_from: str | None = None) -> ParsedCard:
    """Turn front matter into a :class:`ParsedCard` (reports carry the card as source).

    ``model_id`` is used when the card does not name its model. With ``model_id_from`` (where
    ``model_id`` comes from: ``"its Hub repo"``, ``"its folder"``) it is the model's id, and a
    card naming another model gets ``conflict`` set: it is not to be stored, since a card in
    ``o/evil`` stating ``model_id: o/victim`` would otherwise replace o/victim's figure. ``files`` (the repo's file
    names, when known) is evidence for a relation the card does not state. Raises
    :class:`CardError`, except when only the Hub's ``co2_eq_emissions`` cannot be read in a
    card that names its parents: then the parents are kept and ``refused`` says why.
    """
    where = source_ref
    warnings: list[str] = []
    mid, conflict = _model_id(meta, model_id, model_id_from, where)
    if mid is not None:
        try:
            mid = validate_model_id(mid)
        except DIAError as exc:
            raise CardError(f"{where}: model_id: {exc}") from None
    if conflict is not None:
        try:
            card = parse_metadata(meta, model_id=mid, source_ref=source_ref, files=files)
        except CardError:  # refused for its model id first: that is the reason to give
            card = ParsedCard(model_id=mid, source_ref=source_ref)
        card.conflict = conflict
        return card
    dia_block = meta.get("dia")
    v01 = meta.get("dia_report")
    fig: Figures | None = None
    fmt: str | None = None
    parents: list[Parent] | None = None
    run_ids: list[str] = []
    by_dia = False
    # Best first: DIA's own block, then ai-impact-accounting v0.1, then the Hub's co2 field.
    if isinstance(dia_block, dict):
        fmt, fig = dia_block_format.NAME, dia_block_format.read(dia_block, where, warnings)
        if isinstance(dia_block.get("parents"), list):
            parents = dia_block_format.read_parents(dia_block["parents"], mid, where, warnings)
        else:
            hint = dia_block.get("relation")
            parents = hf.read_parents(meta, mid, where, warnings, relation_hint=hint if isinstance(hint, str) else None)
        run_ids, by_dia = dia_block_format.read_runs(dia_block), True
    elif dia_block is not None:
        warnings.append(f"{where}: dia is not a mapping (ignored)")
    if fig is None and isinstance(v01, dict):
        fmt, fig = v01_format.NAME, v01_format.read(v01, where, warnings)
        parents = v01_format.read_parents(v01, mid, where, warnings)
        run_ids = v01_format.extension_runs(v01)
        by_dia = bool(run_ids) or str(v01.get("tool", "")).strip().lower() == "dia"
    elif fig is None and v01 is not None:
        raise CardError(f"{where}: dia_report: expected a mapping")
    refused: str | None = None
    if fig is None:
        try:
            hub_fig = hf.read(meta, where, warnings)
        except CardError as exc:
            hub_fig, refused = None, str(exc)
        if hub_fig is not None:
            fmt, fig = hf.NAME, hub_fig
            # DIA's Hub field names DIA as its source: its dia block was removed by hand.
            by_dia = (hub_fig.tool or "").startswith("DIA ")
    if parents is None:
        parents = hf.read_parents(meta, mid, where, warnings, files=files)
    if refused is not None:
        if not parents or mid is None:
            raise CardError(refused)
        return ParsedCard(model_id=mid, parents=parents, warnings=warnings, source_ref=source_ref,
                          run_ids=run_ids, refused=refused)
    if fig is not None and fig.empty:
        warnings.append(f"{where}: {fmt} block has no figures")
        fig = None
    card = ParsedCard(model_id=mid, parents=parents, warnings=warnings, source_ref=source_ref,
                      format=fmt if fig is not None else None, run_ids=run_ids, by_dia=by_dia)
    if fig is None:
        return card
    if mid is None:
        raise CardError(f"{where}: no model id (name it in the front matter, put the card in "
                        "<org>/<name>/README.md below the ingest root, or pass --model-id)")
    card.reports.append(_report(fig, mid, parents, fmt or "hf", source_ref, warnings))
    return card


def _model_id(meta: dict[str, Any], model_id: str | None, model_id_from: str | None,
              where: str) -> tuple[str | None, str | None]:
    """The card's model and, when it names another one than its location says, why it is refused."""
    stated = metadata_model_id(meta)
    if model_id_from is None or model_id is None or stated is None:
        return stated or model_id, None
    if stated.casefold() == model_id.strip().casefold():
        return model_id, None
    shown = stated if len(stated) <= 100 else stated[:100] + "..."
    return stated, (f"{where}: model_id: states {shown!r} but {model_id_from} is {model_id}: refused "
                    "(a card cannot state another model's figures; move it or fix its model_id)")


def _report(fig: Figures, model_id: str, parents: list[Parent], fmt: str, source_ref: str,
            warnings: list[str]) -> RunReport:
    carbon = water = None
    total = fig.carbon_total
    if total is None and fig.carbon_operational is not None:
        total = fig.carbon_operational + fig.carbon_embodied if fig.carbon_embodied else fig.carbon_operational
    if total is not None:
        operational = fig.carbon_operational
        if operational is None:
            # A total beside an embodied part, with no operational part: the operational share
            # was not stated (not the whole total, which would count the embodied part twice).
            operational = _UNAVAILABLE_KG if fig.carbon_embodied is not None else total
        carbon = Carbon(operational_kg=operational, embodied_kg=fig.carbon_embodied, total_kg=total)
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
        kind=run_kind(fig.kind, parents, warnings, source_ref), status="completed",
        hardware=fig.hardware, location=fig.location, tool=Tool(name=fig.tool or "unknown"), meter="card",
        gpu_hours=fig.gpu_hours, source="card", source_ref=source_ref,
        energy=Energy(it_kwh=fig.energy or _UNAVAILABLE_KWH), carbon=carbon, water=water, factors=fig.factors,
        notes=notes, extra=extra,
    )


def parse_card_text(text: str, *, model_id: str | None, source_ref: str,
                    files: list[str] | None = None, model_id_from: str | None = None) -> ParsedCard:
    """Parse a whole README.md (front matter + body); ``files`` and ``model_id_from``: see
    :func:`parse_metadata`.

    >>> parse_card_text("---\\nmodel_id: o/victim\\nco2_eq_emissions: 5\\n---\\n", model_id="o/evil",
    ...                 source_ref="o/evil/README.md", model_id_from="its folder").conflict
    "o/evil/README.md: model_id: states 'o/victim' but its folder is o/evil: refused (a card cannot state another model's figures; move it or fix its model_id)"
    """
    return parse_metadata(frontmatter.read(text, source_ref), model_id=model_id, source_ref=source_ref,
                          files=files, model_id_from=model_id_from)


__all__ = ["ParsedCard", "card_run_id", "metadata_model_id", "parse_card_text", "parse_metadata"]
