"""DIA: Data and Impact Accounting for AI models.

Measure runs, convert energy to carbon and water, record versioned reports, link models
in a lineage DAG and aggregate footprints over whole model families.

>>> import dia
>>> with dia.track(model_id="me/tiny-model", kind="finetuning", store=False) as run:  # doctest: +SKIP
...     train()
>>> run.report.carbon.total_kg  # doctest: +SKIP

Names are imported lazily so that ``import dia`` (and the tracker's start) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dia._version import __version__

_LAZY: dict[str, str] = {
    # record
    "RunReport": "dia.record.report",
    "Quantity": "dia.record.report",
    "Interval": "dia.record.report",
    "Quality": "dia.record.report",
    "Factor": "dia.record.report",
    "Parent": "dia.record.report",
    "RunKind": "dia.record.report",
    "RunStatus": "dia.record.report",
    "Store": "dia.record.store",
    # link
    "Relation": "dia.link.relations",
    "lineage": "dia.link.graph",
    # measure
    "track": "dia.tracker",
    "Run": "dia.tracker",
    # convert
    "footprint": "dia.convert",
    # aggregate
    "rollup": "dia.aggregate.rollup",
    "Rollup": "dia.aggregate.rollup",
}

# Spelled out (not built from _LAZY) so linters and type checkers see the public names.
__all__ = [
    "Factor",
    "Interval",
    "Parent",
    "Quality",
    "Quantity",
    "Relation",
    "Rollup",
    "Run",
    "RunKind",
    "RunReport",
    "RunStatus",
    "Store",
    "__version__",
    "errors",
    "footprint",
    "hub",
    "lineage",
    "rollup",
    "track",
]

if TYPE_CHECKING:  # pragma: no cover
    from dia import errors, hub
    from dia.aggregate.rollup import Rollup, rollup
    from dia.convert.footprint import footprint
    from dia.link.graph import lineage
    from dia.link.relations import Relation
    from dia.record.report import (
        Factor,
        Interval,
        Parent,
        Quality,
        Quantity,
        RunKind,
        RunReport,
        RunStatus,
    )
    from dia.record.store import Store
    from dia.tracker import Run, track


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in ("errors", "hub"):
        import importlib

        return importlib.import_module(f"dia.{name}")
    raise AttributeError(f"module 'dia' has no attribute {name!r}")


def _autofill_from_environment() -> None:
    # DIA_HUB_AUTOFILL=1 must work without the user importing dia.hub: install the hook
    # that enables autofill when huggingface_hub is imported (nothing heavy is loaded here).
    from dia.settings import ENV_HUB_AUTOFILL, is_set

    if is_set(ENV_HUB_AUTOFILL):  # install_env_hook parses the value
        from dia.hub.autofill import install_env_hook

        install_env_hook()


_autofill_from_environment()
