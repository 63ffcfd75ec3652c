"""A griffe extension for the API pages: DIA's docstrings are reST-flavoured prose.

Doctest examples (``>>>`` lines and their output) are fenced as ``pycon`` code, so that
Markdown does not read ``x["a"]["b"]`` as a link, and Sphinx roles such as
``:class:`Store``` are shown as code. The docstrings themselves stay untouched: they are
also run as doctests.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# Doctest directives are for the test runner, not the reader (as griffe's trim_doctest_flags).
_DIRECTIVE = re.compile(r"\s*#\s*doctest:\s*[+-]\w+(?:,\s*[+-]\w+)*\s*$")
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj):`~?([^`]+)`")
# A Google-style "Examples:" section is already rendered as code by griffe itself.
_EXAMPLES_SECTION = re.compile(r"^\s*Examples?:\s*$", re.M)


def _fence_doctests(text: str) -> str:
    if _EXAMPLES_SECTION.search(text):
        return text
    out: list[str] = []
    indent: str | None = None  # the fence's indentation while inside a doctest block
    for line in text.splitlines():
        if indent is None and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
        elif indent is not None and not line.strip():
            out.append(f"{indent}```")
            indent = None
        out.append(_DIRECTIVE.sub("", line) if indent is not None else line)
    if indent is not None:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _fence_doctests(_ROLE.sub(r"``\1``", obj.docstring.value))
