"""DIA's lineage vocabulary: relations between a model and its parents.

DIA's vocabulary is a superset of the Hugging Face Hub's four ``base_model_relation``
values (finetune, adapter, quantized, merge). Aliases used by the Hub and by the
ai-impact-accounting v0.1 card format normalise onto it, and :func:`to_hub_relation`
maps it back down when a card is written (``None`` when no faithful mapping exists).

>>> parse_relation("lora")
(<Relation.ADAPTER: 'adapter'>, 'lora')
>>> to_hub_relation(Relation.INSTRUCTION_TUNING)
'finetune'
"""

from __future__ import annotations

import re
from enum import Enum

from dia.errors import InvalidModelIdError, UnknownRelationError, did_you_mean


class Relation(str, Enum):
    """How a model was derived from a parent."""

    PRETRAINING = "pretraining"
    FINETUNE = "finetune"
    CONTINUED_PRETRAINING = "continued-pretraining"
    INSTRUCTION_TUNING = "instruction-tuning"
    PREFERENCE_TUNING = "preference-tuning"
    ADAPTER = "adapter"
    ADAPTER_MERGED = "adapter-merged"
    QUANTIZATION = "quantization"
    MERGE = "merge"
    DISTILLATION = "distillation"
    PRUNING = "pruning"
    CONVERSION = "conversion"
    UPSCALING = "upscaling"
    CONTRASTIVE_ALIGNMENT = "contrastive-alignment"
    DUPLICATE = "duplicate"
    NEW_VERSION = "new-version"
    CHECKPOINT = "checkpoint"


# Sub-types recorded beside the relation (``method``).
ADAPTER_METHODS = ("lora", "qlora", "other")
QUANTIZATION_METHODS = ("gguf", "gptq", "awq", "bnb", "fp8", "int8", "other")

# alias -> (relation, method)
_ALIASES: dict[str, tuple[Relation, str | None]] = {
    "pretrain": (Relation.PRETRAINING, None),
    "pre-training": (Relation.PRETRAINING, None),
    "pretrained": (Relation.PRETRAINING, None),
    "root": (Relation.PRETRAINING, None),
    "fine-tune": (Relation.FINETUNE, None),
    "fine-tuning": (Relation.FINETUNE, None),
    "finetuning": (Relation.FINETUNE, None),
    "finetuned": (Relation.FINETUNE, None),
    "sft": (Relation.INSTRUCTION_TUNING, None),
    "instruct": (Relation.INSTRUCTION_TUNING, None),
    "dpo": (Relation.PREFERENCE_TUNING, None),
    "rlhf": (Relation.PREFERENCE_TUNING, None),
    "continued-pre-training": (Relation.CONTINUED_PRETRAINING, None),
    "lora": (Relation.ADAPTER, "lora"),
    "qlora": (Relation.ADAPTER, "qlora"),
    "peft": (Relation.ADAPTER, None),
    "merged-adapter": (Relation.ADAPTER_MERGED, None),
    "quantized": (Relation.QUANTIZATION, None),
    "quantize": (Relation.QUANTIZATION, None),
    "quant": (Relation.QUANTIZATION, None),
    "distill": (Relation.DISTILLATION, None),
    "distilled": (Relation.DISTILLATION, None),
    "fork": (Relation.DUPLICATE, None),
    "mirror": (Relation.DUPLICATE, None),
    "copy": (Relation.DUPLICATE, None),
    "prune": (Relation.PRUNING, None),
    "pruned": (Relation.PRUNING, None),
    "convert": (Relation.CONVERSION, None),
    "converted": (Relation.CONVERSION, None),
    "format-conversion": (Relation.CONVERSION, None),
    "upcycling": (Relation.UPSCALING, None),
    "contrastive": (Relation.CONTRASTIVE_ALIGNMENT, None),
    "alignment": (Relation.CONTRASTIVE_ALIGNMENT, None),
    "version": (Relation.NEW_VERSION, None),
}
for _m in QUANTIZATION_METHODS[:-1]:
    _ALIASES[_m] = (Relation.QUANTIZATION, _m)

_HUB: dict[Relation, str] = {
    Relation.FINETUNE: "finetune",
    Relation.CONTINUED_PRETRAINING: "finetune",
    Relation.INSTRUCTION_TUNING: "finetune",
    Relation.PREFERENCE_TUNING: "finetune",
    Relation.ADAPTER_MERGED: "finetune",
    Relation.ADAPTER: "adapter",
    Relation.QUANTIZATION: "quantized",
    Relation.MERGE: "merge",
}

# Relations whose runs are part of the cost to produce a model (all of them; the
# run *kind* decides use vs. production, see dia.record.report.USE_KINDS).
RELATION_NAMES: tuple[str, ...] = tuple(r.value for r in Relation)


def parse_relation(text: str | Relation) -> tuple[Relation, str | None]:
    """Normalise a relation name or alias to ``(Relation, method)``.

    Accepts DIA's names, the Hub's four values and the ai-impact-accounting aliases,
    case-insensitively, with ``_`` or spaces for ``-``. ``adapter:lora`` and
    ``quantization:gguf`` carry a method. Raises :class:`UnknownRelationError`.
    """
    if isinstance(text, Relation):
        return text, None
    raw = str(text).strip()
    key = raw.lower().replace("_", "-").replace(" ", "-")
    method: str | None = None
    if ":" in key:
        key, method = key.split(":", 1)
    try:
        rel = Relation(key)
    except ValueError:
        if key not in _ALIASES:
            names = list(RELATION_NAMES) + list(_ALIASES)
            raise UnknownRelationError(
                f"unknown relation {raw!r}{did_you_mean(key, names)}"
            ) from None
        rel, alias_method = _ALIASES[key]
        method = method or alias_method
    return rel, method


def to_hub_relation(relation: Relation | str) -> str | None:
    """The Hub's ``base_model_relation`` for a DIA relation, or ``None`` if none is faithful."""
    rel = parse_relation(relation)[0]
    return _HUB.get(rel)


# Hub model ids: "name" or "org/name"; letters, digits, '-', '_', '.'; at most 96 chars
# per part (the Hub's limit).
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9._-]{1,96})?$")


def validate_model_id(model_id: str) -> str:
    """Return ``model_id`` stripped, or raise :class:`InvalidModelIdError`."""
    mid = str(model_id).strip()
    if not _MODEL_ID.match(mid) or ".." in mid:
        raise InvalidModelIdError(
            f"{model_id!r} is not a model id (expected 'org/name' or 'name': letters, digits, '-', '_', '.')"
        )
    return mid


def parse_parent_spec(spec: str | tuple[str, str] | list[str]) -> tuple[str, Relation, str | None]:
    """Parse a parent given as ``"org/name"``, ``"org/name:relation"`` or ``(id, relation)``.

    The same form is accepted everywhere a parent is given (``dia.track(parents=...)``,
    the callbacks, ``dia run --parent``). The default relation is ``finetune``.

    >>> parse_parent_spec("bert-base-uncased:lora")
    ('bert-base-uncased', <Relation.ADAPTER: 'adapter'>, 'lora')
    """
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise InvalidModelIdError(f"parent {spec!r} must be (model_id, relation)")
        mid, rel_text = str(spec[0]), str(spec[1])
    else:
        text = str(spec).strip()
        mid, sep, rel_text = text.partition(":")
        if not sep:
            rel_text = Relation.FINETUNE.value
    rel, method = parse_relation(rel_text)
    return validate_model_id(mid), rel, method
