"""DIA's lineage vocabulary: relations between a model and its parents.

DIA's vocabulary is a superset of the Hugging Face Hub's four ``base_model_relation``
values (finetune, adapter, quantized, merge). Aliases used by the Hub and by the
ai-impact-accounting v0.1 card format normalise onto it, and :func:`to_hub_relation`
maps it back down when a card is written (``None`` when no faithful mapping exists).

>>> parse_relation("lora")
(<Relation.ADAPTER: 'adapter'>, 'lora')
>>> to_hub_relation(Relation.INSTRUCTION_TUNING)
'finetune'

A card that names its bases but no relation gets one inferred as the Hub does
(:func:`infer_relation`); the edge's ``method`` then says so and from what:

>>> infer_relation(1, tags=["gguf", "llama"])
(<Relation.QUANTIZATION: 'quantization'>, 'inferred:tag:gguf')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


# -- inferring a relation the card does not state ---------------------------------------------

# ``method`` of an inferred edge: ``inferred:<source>:<evidence>``, at most this long (the
# store's column). Sources: hub-tag, file, library, tag, name, bases, mergekit-1-base, default.
INFERRED_PREFIX = "inferred:"
MAX_METHOD_CHARS = 32

# A quantization's evidence in a tag, a library name or a model name, as a whole token.
_QUANT = re.compile(r"(?<![a-z0-9])(gguf|ggml|gptq|awq|exl2|exllamav2|bnb|bitsandbytes|int4|int8|fp8|nf4|"
                    r"[48][-_ ]?bits?)(?![a-z0-9])")
_QUANT_METHOD = {"ggml": "gguf", "exllamav2": "exl2", "bitsandbytes": "bnb", "8bit": "int8"}
_QUANT_FORMATS = ("gguf", "gptq", "awq", "exl2", "fp8")
_QUANT_RANK = ("gguf", "gptq", "awq", "exl2", "fp8", "bnb", "nf4", "int4", "int8", "4bit")
_ADAPTER_TAGS = ("lora", "qlora", "adapter", "peft")
_MERGE_TAGS = ("mergekit", "merge")
# The Hub's own result, exposed as a tag: ``base_model:<relation>:<id>``.
_HUB_TAG = re.compile(r"^base_model:(adapter|merge|quantized|finetune):.+$")


def _quant_token(texts: Iterable[str]) -> str | None:
    """The most specific quantization named in ``texts``: a format (gguf, gptq, ...) before bnb, before a bit width."""
    found = []
    for text in texts:
        for m in _QUANT.finditer(text.lower()):
            raw = m.group(1)
            token = re.sub(r"[-_ ]|s$", "", raw) if raw.endswith(("bit", "bits")) else raw
            found.append(_QUANT_METHOD.get(token, token))
    return min(found, key=_QUANT_RANK.index) if found else None


def _method(source: str, evidence: str) -> str:
    return f"{INFERRED_PREFIX}{source}:{evidence}"[:MAX_METHOD_CHARS]


def infer_relation(n_bases: int, *, tags: Iterable[str] = (), library_name: str | None = None,
                   model_id: str | None = None, files: Iterable[str] | None = None) -> tuple[Relation, str]:
    """The relation of a model to its ``n_bases`` base(s) when its card states none, as the Hub infers it.

    Returns ``(relation, method)``; ``method`` records that the relation was inferred and from
    what (``inferred:<source>:<evidence>``, at most 32 characters). Evidence, strongest first:

    1. the Hub's own tag ``base_model:<relation>:<id>`` -> that relation (``inferred:hub-tag:quantized``);
    2. the repo's files (``files``, from ``--hub``): ``adapter_config.json`` -> adapter
       (``inferred:file:adapter_config``), ``*.gguf`` -> quantization (``inferred:file:gguf``);
    3. ``library_name: peft`` -> adapter (``inferred:library:peft``);
    4. a weight format (GGUF, GPTQ, AWQ, EXL2, FP8) in a tag, ``library_name`` or the model name ->
       quantization (``inferred:tag:gptq``, ``inferred:library:gguf``, ``inferred:name:awq``);
    5. a ``lora``/``qlora``/``adapter``/``peft`` tag -> adapter (``inferred:tag:lora``);
    5b. bnb/bitsandbytes, 4-bit, 8-bit, int4/int8/nf4 (tag, library, name) -> quantization
       (``inferred:tag:bnb``, ``inferred:name:4bit``, ``inferred:name:int8``): after the adapter tags,
       because a QLoRA adapter is tagged 4-bit too;
    6. several bases -> merge (``inferred:bases:2``);
    7. one base with a ``mergekit``/``merge`` tag -> finetune, as the Hub (only several bases
       make a merge there): ``inferred:mergekit-1-base``;
    8. else finetune (``inferred:default``).

    An adapter tagged ``lora``/``qlora`` gets ``inferred:tag:lora`` / ``inferred:tag:qlora`` whatever
    else marked it an adapter, so :func:`plain_method` finds its sub-type.

    >>> infer_relation(1, library_name="peft", tags=["lora"])
    (<Relation.ADAPTER: 'adapter'>, 'inferred:tag:lora')
    >>> infer_relation(1, model_id="someone/Llama-3-8B-Instruct-GPTQ")
    (<Relation.QUANTIZATION: 'quantization'>, 'inferred:name:gptq')
    >>> infer_relation(2, tags=["mergekit"])
    (<Relation.MERGE: 'merge'>, 'inferred:bases:2')
    >>> infer_relation(1)
    (<Relation.FINETUNE: 'finetune'>, 'inferred:default')
    """
    tag_list = [t.strip().lower() for t in tags if isinstance(t, str) and t.strip()]
    library = library_name.strip().lower() if isinstance(library_name, str) else ""
    name = (model_id or "").rpartition("/")[2]
    file_names = [f.rpartition("/")[2].lower() for f in (files or ()) if isinstance(f, str)]
    lora_tag = next((t for t in tag_list if t in ("lora", "qlora")), None)

    def adapter(source: str, evidence: str) -> tuple[Relation, str]:
        return Relation.ADAPTER, _method("tag", lora_tag) if lora_tag else _method(source, evidence)

    hub = {m.group(1) for t in tag_list if (m := _HUB_TAG.match(t))}
    if len(hub) == 1:
        found = hub.pop()
        return parse_relation(found)[0], _method("hub-tag", found)
    if "adapter_config.json" in file_names:
        return adapter("file", "adapter_config")
    if any(f.endswith(".gguf") for f in file_names):
        return Relation.QUANTIZATION, _method("file", "gguf")
    if library == "peft":
        return adapter("library", "peft")
    # The most specific quantization wherever it is named (a GPTQ repo tagged only "4-bit" is gptq).
    found = [(_QUANT_RANK.index(token), i, source, token)
             for i, (source, texts) in enumerate((("tag", tag_list), ("library", [library]), ("name", [name])))
             if (token := _quant_token(texts)) is not None]
    quant = min(found)[2:] if found else None
    # A weight format (gguf, gptq, ...) is a quantization whatever the tags; a bare bit width or
    # bitsandbytes beside a lora tag is a QLoRA adapter's training setup, not its product.
    if quant is not None and quant[1] in _QUANT_FORMATS:
        return Relation.QUANTIZATION, _method(*quant)
    if any(t in _ADAPTER_TAGS for t in tag_list):
        return adapter("tag", next(t for t in tag_list if t in _ADAPTER_TAGS))
    if quant is not None:
        return Relation.QUANTIZATION, _method(*quant)
    if n_bases > 1:
        return Relation.MERGE, _method("bases", str(n_bases))
    if any(t in _MERGE_TAGS for t in tag_list):
        return Relation.FINETUNE, f"{INFERRED_PREFIX}mergekit-1-base"
    return Relation.FINETUNE, f"{INFERRED_PREFIX}default"


def is_inferred(method: str | None) -> bool:
    """Whether an edge's relation was inferred (see :func:`infer_relation`) rather than stated."""
    return isinstance(method, str) and method.startswith(INFERRED_PREFIX)


def plain_method(method: str | None) -> str | None:
    """The sub-type of an edge's method (``lora``, ``gguf``, ...), without the inference record.

    >>> plain_method("inferred:tag:qlora"), plain_method("lora"), plain_method("inferred:library:peft")
    ('qlora', 'lora', None)
    """
    if not is_inferred(method):
        return method
    evidence = str(method).rpartition(":")[2]
    return evidence if evidence in ADAPTER_METHODS[:-1] + QUANTIZATION_METHODS[:-1] + ("exl2", "int4", "nf4", "4bit") else None
