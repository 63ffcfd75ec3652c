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


# The tags a card may hold are those plain YAML resolves by itself (strings, numbers,
# booleans, null, dates, lists, mappings). ``!!binary`` (bytes), ``!!set``, ``!!omap``,
# ``!!pairs``, ``!!python/...`` and local ``!tags`` are refused: no reader of a card expects
# them and some crash on them.
_YAML_TAG = "tag:yaml.org,2002:"
_REFUSED_TAGS = ("binary", "set", "omap", "pairs")
_STR_TAG, _MERGE_TAG = _YAML_TAG + "str", _YAML_TAG + "merge"
# No figure a card states needs more digits; Python refuses ints over 4300 digits with a
# ValueError, and a float of a 400-digit int overflows.
MAX_NUMBER_CHARS = 100


def _line(loader: Any, node: Any) -> int:
    return int(node.start_mark.line) + 1 + int(loader.first_line)


def _refuse_tag(loader: Any, node: Any) -> Any:
    tag = str(node.tag).replace(_YAML_TAG, "!!")
    raise CardError(f"YAML tag {tag[:60]} at line {_line(loader, node)} (only plain values are read)")


def _short_number(construct: Any) -> Any:
    def checked(loader: Any, node: Any) -> Any:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise CardError(f"a number of {len(node.value)} characters at line {_line(loader, node)} "
                            f"(more than {MAX_NUMBER_CHARS})")
        return construct(loader, node)
    return checked


class _Checks:
    """What every card loader refuses, checked as the front matter is built (one line each).

    Tags and long numbers are refused by the constructors registered in :func:`_checked`
    (called only for such nodes: the common path costs nothing); duplicate keys here.
    """

    first_line = 0  # lines of the card before its YAML: messages give the card's own line numbers

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # PyYAML keeps the last of two equal keys without a word: refuse the card instead.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = key_node.value if key_node.tag == _STR_TAG else self.construct_object(key_node)  # type: ignore[attr-defined]
            if key in seen:
                shown = key if isinstance(key, str) else repr(key)
                raise CardError(f"duplicate key {shown!r} at line {_line(self, key_node)}")
            seen.add(key)
        return super().construct_mapping(node, deep)  # type: ignore[misc]


def _checked(loader: Any) -> Any:
    """``loader`` with the constructors that refuse what a card may not hold."""
    for name in _REFUSED_TAGS:
        loader.add_constructor(_YAML_TAG + name, _refuse_tag)
    loader.add_constructor(None, _refuse_tag)  # any other tag: !!python/..., !custom
    loader.add_constructor(_YAML_TAG + "int", _short_number(yaml.constructor.SafeConstructor.construct_yaml_int))
    loader.add_constructor(_YAML_TAG + "float", _short_number(yaml.constructor.SafeConstructor.construct_yaml_float))
    return loader


@_checked
class _NoAliasLoader(_Checks, yaml.SafeLoader):
    """SafeLoader that refuses anchors' aliases: no alias bombs ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise CardError(f"YAML alias *{event.anchor} at line {_line(self, event)} (aliases are refused)")
        return super().compose_node(parent, index)


@_checked
class _FastLoader(_Checks, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The C loader with the same checks, for front matter without a ``*`` (hence no alias)."""


def load_yaml(yaml_text: str, where: str, first_line: int = 0) -> dict[str, Any]:
    """Parse front matter YAML into a dict, refusing with one :class:`~dia.errors.CardError` line:
    aliases (no alias bombs), tags other than plain values (``!!binary``, ``!!python/...``),
    duplicate keys, numbers longer than :data:`MAX_NUMBER_CHARS`, non-mappings and oversize text.

    >>> load_yaml("license: mit\\nlicense: apache-2.0\\n", "README.md")
    Traceback (most recent call last):
    ...
    dia.errors.CardError: README.md: duplicate key 'license' at line 2

    ``first_line``: the lines before the YAML in the card (its ``---`` line), so that the
    line numbers in messages are the card's own.
    """
    if len(yaml_text) > MAX_FRONT_MATTER_BYTES:
        raise _too_large(where)
    # Without '*' there can be no alias: the C loader is safe and ten times faster.
    loader = _FastLoader if "*" not in yaml_text else _NoAliasLoader
    parser = loader(yaml_text)  # safe loaders only (the C SafeLoader or _NoAliasLoader, both checked)
    parser.first_line = first_line
    try:
        data = parser.get_single_data()
    except CardError as exc:
        raise CardError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1 + first_line}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise CardError(f"{where}: YAML error{at}: {problem}") from None
    except RecursionError:  # the pure-Python composer recurses (libyaml stops at depth 1000 itself)
        raise CardError(f"{where}: YAML error: nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # a value PyYAML cannot build (an impossible date)
        raise CardError(f"{where}: YAML error: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}") from None
    finally:
        parser.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError(f"{where}: front matter is a {type(data).__name__}, not a mapping")
    return data


def dump_yaml(data: dict[str, Any], line_break: str = "\n") -> str:
    """``data`` as block YAML in the key order given, ending with ``line_break`` (safe types only)."""
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, line_break=line_break)
    return text if text.endswith(line_break) else text + line_break


def decode(data: bytes, where: str, *, cut: bool = False) -> str:
    """A card's bytes as text; not UTF-8: one :class:`~dia.errors.CardError` line with the line
    and the byte offset (from the start of ``data``) of the first bad byte. ``cut``: ``data`` is
    the start of a longer file, so a character cut at its very end is dropped, not refused.

    >>> decode(b"---\\nlicense: caf\\xe9\\n---\\n", "README.md")
    Traceback (most recent call last):
    ...
    dia.errors.CardError: README.md: not UTF-8 text (invalid continuation byte at line 2, byte 16)
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.end == len(data) and exc.reason == "unexpected end of data":
            return data[:exc.start].decode("utf-8")
        line = data.count(b"\n", 0, exc.start) + 1
        raise CardError(f"{where}: not UTF-8 text ({exc.reason} at line {line}, byte {exc.start})") from None


def read(text: str, where: str) -> dict[str, Any]:
    """The front matter of a whole card as a dict (``{}`` when it has none)."""
    parts = split(text, where)
    return load_yaml(parts.yaml, where, parts.head.count("\n")) if parts is not None and parts.yaml else {}


__all__ = ["MAX_FRONT_MATTER_BYTES", "MAX_NUMBER_CHARS", "FrontMatter", "decode", "dump_yaml", "join", "load_yaml", "read", "split"]
