"""The Streamlit dashboard (installed as ``dia.dashboard``): ``dia dashboard`` serves it.

``serve`` (and ``start``, ``free_port``, ``app_path``) are imported lazily, so
``import dia.dashboard`` loads neither Streamlit nor the store. They raise
:class:`~dia.errors.DashboardError` when the dashboard cannot be served.

>>> import dia.dashboard
>>> callable(dia.dashboard.serve)
True
"""

from __future__ import annotations

from typing import Any

__all__ = ["app_path", "free_port", "serve", "start"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dia.dashboard import _serve

        return getattr(_serve, name)
    raise AttributeError(f"module 'dia.dashboard' has no attribute {name!r}")
