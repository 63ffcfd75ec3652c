"""Meter a PyTorch model's inferences: each forward call counts its batch size.

>>> from dia.integrations.torch import meter
>>> net = torch.nn.Linear(4, 2)  # doctest: +SKIP
>>> with meter(net, model_id="me/tiny") as metered:  # doctest: +SKIP
...     metered(torch.randn(8, 4))  # 8 inferences
>>> metered.report.intensities.wh_per_1000_inferences  # doctest: +SKIP

Counts go to the active DIA run (``with dia.track(...)``) when there is one, else to an
inference run the meter starts on the first call and stores on ``close()``, at the end
of a ``with`` block or at exit. Only the wrapped module's own forward is counted, not
its sub-modules', so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from dia.integrations._common import InferenceMeter


def batch_size(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """The leading dimension of the first tensor among the inputs (1 for an unbatched call)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return int(value.shape[0]) if value.dim() > 0 else 1
        if isinstance(value, Mapping):  # a tokenizer's BatchEncoding passed as one argument
            return batch_size((), value)
    return 1


class Meter(InferenceMeter):
    """A metered module: call it like the module; ``.module`` is the module itself."""

    def __init__(self, module: torch.nn.Module, model_id: str | None = None, **track_kwargs: Any) -> None:
        super().__init__(model_id or _model_id_of(module), **track_kwargs)
        self.module = module
        self._handle = module.register_forward_hook(self._after_forward, with_kwargs=True)

    def _after_forward(self, _module: torch.nn.Module, args: tuple[Any, ...],
                       kwargs: dict[str, Any], _output: Any) -> None:
        self.count(inferences=batch_size(args, kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def close(self) -> Any:
        """Stop counting and store the meter's own run (if it started one)."""
        self._handle.remove()
        return super().close()

    def __enter__(self) -> Meter:
        return self


def _model_id_of(module: torch.nn.Module) -> str | None:
    from dia.errors import InvalidModelIdError
    from dia.link.relations import validate_model_id

    name = getattr(getattr(module, "config", None), "_name_or_path", None) or getattr(module, "name_or_path", None)
    if not name:
        return None
    try:
        return validate_model_id(str(name))
    except InvalidModelIdError:
        return None  # a local path is no model id


def meter(model: torch.nn.Module, model_id: str | None = None, **track_kwargs: Any) -> Meter:
    """Count every forward call of ``model`` as ``batch size`` inferences.

    ``track_kwargs`` go to :func:`dia.track` for the automatic run (``store=``,
    ``country=``, ``sample_interval_s=``...). The model id defaults to a Hugging Face
    model's ``config._name_or_path`` when that is a model id.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"meter() expects a torch.nn.Module, got {type(model).__name__}")
    return Meter(model, model_id, **track_kwargs)


__all__ = ["Meter", "batch_size", "meter"]
