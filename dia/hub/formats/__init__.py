"""Model-card formats: one module per format, each reading AND writing it, over one splitter.

- :mod:`.frontmatter`: the one front-matter splitter/joiner and safe YAML load/dump, used by
  the card reader (:mod:`dia.hub.reader`) and the writer (:mod:`dia.hub.card`) alike;
- :mod:`.hf`: the Hub's ``co2_eq_emissions`` and ``base_model`` / ``base_model_relation``;
- :mod:`.dia_block`: DIA's own ``dia:`` block (schema 1.x);
- :mod:`.v01`: the ai-impact-accounting v0.1 ``dia_version`` / ``dia_report`` block;
- :mod:`.parsed`: front matter to run reports, trying the formats best first.

Each format module has ``NAME``, ``KEYS`` (the front-matter keys it owns), ``read`` (its
block to figures), ``read_parents`` and ``write`` (the store's data to its keys).

>>> from dia.hub.formats import frontmatter, hf
>>> meta = frontmatter.read("---\\nco2_eq_emissions: 1200\\n---\\n", "README.md")
>>> hf.read(meta, "README.md", []).carbon_total.value
1.2
"""

from __future__ import annotations

from dia.hub.formats._common import CardData
from dia.hub.formats.parsed import (
    ParsedCard,
    card_run_id,
    metadata_model_id,
    parse_card_text,
    parse_metadata,
)

__all__ = ["CardData", "ParsedCard", "card_run_id", "metadata_model_id", "parse_card_text", "parse_metadata"]
