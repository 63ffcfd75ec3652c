"""The Streamlit dashboard (installed as ``dia.dashboard``): ``dia dashboard`` serves it.

``serve`` is imported lazily so ``import dia.dashboard`` does not load Streamlit.

>>> import dia.dashboard
>>> callable(dia.dashboard.serve)
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["serve"]


def __getattr__(name: str) -> Any:
    if name == "serve":
        from dia.cli.dashboard import serve

        return serve
    raise AttributeError(f"module 'dia.dashboard' has no attribute {name!r}")
