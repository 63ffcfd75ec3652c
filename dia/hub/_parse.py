"""Former home of the card reader, kept so existing imports keep working.

The reader now lives in :mod:`dia.hub.formats` (one module per card format over one
front-matter splitter); import from there in new code.
"""

from __future__ import annotations

from dia.hub.formats import frontmatter
from dia.hub.formats._common import parse_parents, parse_quality
from dia.hub.formats.frontmatter import MAX_FRONT_MATTER_BYTES
from dia.hub.formats.frontmatter import load_yaml as load_front_matter
from dia.hub.formats.hf import parse_emissions_g
from dia.hub.formats.parsed import (
    ParsedCard,
    card_run_id,
    metadata_model_id,
    parse_card_text,
    parse_metadata,
)


def split_front_matter(text: str, where: str) -> str | None:
    """The YAML between the leading ``---`` lines, or ``None`` when there is none."""
    parts = frontmatter.split(text, where)
    return None if parts is None else parts.yaml


__all__ = [
    "MAX_FRONT_MATTER_BYTES", "ParsedCard", "card_run_id", "load_front_matter", "metadata_model_id",
    "parse_card_text", "parse_emissions_g", "parse_metadata", "parse_parents", "parse_quality",
    "split_front_matter",
]
