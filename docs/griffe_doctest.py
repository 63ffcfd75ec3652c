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

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj):`~?([^`]+)`")


def _fence_doctests(text: str) -> str:
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not in_block:
            out.append("```pycon")
            in_block = True
        elif in_block and not line.strip():
            out.append("```")
            in_block = False
        out.append(line)
    if in_block:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _fence_doctests(_ROLE.sub(r"``\1``", obj.docstring.value))
