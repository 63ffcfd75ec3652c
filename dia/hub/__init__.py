"""Model cards and the Hugging Face Hub: write footprints into cards, read them back.

- :func:`write_card` / :func:`card_metadata` fill a README.md from the store;
- :func:`read_card` / :func:`ingest` read cards (DIA blocks, the ai-impact-accounting
  v0.1 format, the Hub's ``co2_eq_emissions``) into the store;
- :func:`enable_autofill` makes every model upload through huggingface_hub carry the
  filled card in the same commit (also switched on by ``DIA_HUB_AUTOFILL=1``); nothing
  in huggingface_hub is patched until then;
- :mod:`dia.hub.formats` holds one module per card format, each reading and writing it.

>>> from dia.hub import write_card
>>> write_card("org/tiny", "out/README.md")  # doctest: +SKIP

Names are imported lazily: ``import dia.hub`` does not import huggingface_hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "write_card": "dia.hub.card",
    "card_metadata": "dia.hub.card",
    "render_card": "dia.hub.card",
    "read_card": "dia.hub.reader",
    "ingest": "dia.hub.reader",
    "enable_autofill": "dia.hub.autofill",
    "disable_autofill": "dia.hub.autofill",
}

__all__ = ["card_metadata", "disable_autofill", "enable_autofill", "ingest", "read_card", "render_card",
           "write_card"]

if TYPE_CHECKING:  # pragma: no cover
    from dia.hub.autofill import disable_autofill, enable_autofill
    from dia.hub.card import card_metadata, render_card, write_card
    from dia.hub.reader import ingest, read_card


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'dia.hub' has no attribute {name!r}")

