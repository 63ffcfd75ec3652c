"""The one front-matter splitter of model cards, used by the card reader AND the writer.

A card is ``head + yaml + fence + body``: ``head`` is an optional BOM, blank lines and the
opening ``---`` line; ``yaml`` the text up to the closing ``---`` line (``fence``, with its
line break); ``body`` everything after, kept byte for byte. Both ``\\n`` and ``\\r\\n`` cards
split the same way, so what ``dia ingest`` reads is exactly what ``dia card`` rewrites.

>>> parts = split("---\\r\\nlicense: mit\\r\\n---\\r\\n# Title\\r\\n", "README.md")
>>> parts.yaml, parts.body
('license: mit\\r\\n', '# Title\\r\\n')
>>> load_yaml(parts.yaml, "README.md")
{'license': 'mit'}
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import yaml

from dia.errors import CardError

# Front matter beyond this is refused before YAML sees it (cards are a few KB).
MAX_FRONT_MATTER_BYTES = 1_000_000

_OPEN = re.compile(r"\A\ufeff?\s*---[ \t]*\r?\n")
_CLOSE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)


class FrontMatter(NamedTuple):
    """A card cut in four: ``head + yaml + fence + body == text``."""

    head: str  # optional BOM and blank lines, then the opening '---' line with its line break
    yaml: str  # the YAML text, with its last line break ('' when empty)
    fence: str  # the closing '---' line with its line break (none at the end of the text)
    body: str  # the rest of the card, untouched


def _too_large(where: str) -> CardError:
    return CardError(f"{where}: front matter larger than {MAX_FRONT_MATTER_BYTES // 1_000_000} MB")


def split(text: str, where: str) -> FrontMatter | None:
    """Cut ``text`` at its front matter; ``None`` when the card has none.

    Raises :class:`~dia.errors.CardError` when the front matter is not closed by a ``---``
    line or is larger than :data:`MAX_FRONT_MATTER_BYTES`.
    """
    opened = _OPEN.match(text)
    if opened is None:
        return None
    start = opened.end()
    # Search only as far as the limit allows: a huge card is refused without a full scan.
    closed = _CLOSE.search(text, start, start + MAX_FRONT_MATTER_BYTES + 8)
    if closed is None:
        if len(text) - start > MAX_FRONT_MATTER_BYTES:
            raise _too_large(where)
        raise CardError(f"{where}: front matter is not closed by a '---' line")
    if closed.start() - start > MAX_FRONT_MATTER_BYTES // 4 and \
            len(text[start:closed.start()].encode("utf-8")) > MAX_FRONT_MATTER_BYTES:
        raise _too_large(where)
    end = closed.end()
    if text.startswith("\n", end):  # '$' stops before the line break: the fence owns it
        end += 1
    return FrontMatter(text[:start], text[start:closed.start()], text[closed.start():end], text[end:])


def join(head: str, yaml_text: str, body: str, line_break: str = "\n") -> str:
    """A card from its parts: ``head`` (``''`` for a new ``---`` line), the YAML, the body."""
    return (head or "---" + line_break) + yaml_text + "---" + line_break + body


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors' aliases: no alias bombs ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise CardError(f"YAML alias *{event.anchor} at line {event.start_mark.line + 1} (aliases are refused)")
        return super().compose_node(parent, index)


_FastLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(yaml_text: str, where: str) -> dict[str, Any]:
    """Parse front matter YAML into a dict; refuse aliases, non-mappings and oversize text."""
    if len(yaml_text) > MAX_FRONT_MATTER_BYTES:
        raise _too_large(where)
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


def dump_yaml(data: dict[str, Any], line_break: str = "\n") -> str:
    """``data`` as block YAML in the key order given, ending with ``line_break`` (safe types only)."""
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, line_break=line_break)
    return text if text.endswith(line_break) else text + line_break


def read(text: str, where: str) -> dict[str, Any]:
    """The front matter of a whole card as a dict (``{}`` when it has none)."""
    parts = split(text, where)
    return load_yaml(parts.yaml, where) if parts is not None and parts.yaml else {}


__all__ = ["MAX_FRONT_MATTER_BYTES", "FrontMatter", "dump_yaml", "join", "load_yaml", "read", "split"]
