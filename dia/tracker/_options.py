"""What a run is asked to do, checked once: :class:`RunOptions`.

Every argument of :func:`dia.track` is a field here, written once; ``track``, ``Run``
and the decorator path take their signature from this class. Bad input raises from
``RunOptions(...)``, before the user's code runs.

>>> opts = RunOptions("me/tiny", parents="org/base:lora", kind="finetuning", store=False)
>>> (opts.model_id, opts.parents[0].relation.value, opts.kind.value)
('me/tiny', 'adapter', 'finetuning')
>>> RunOptions(meter="bogus")
Traceback (most recent call last):
...
dia.errors.InvalidArgumentError: unknown meter 'bogus'; expected one of auto, nvml, rapl, estimate, codecarbon
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import KW_ONLY, dataclass
from typing import Any

from dia import settings
from dia.constants import DEFAULT_SAMPLE_INTERVAL_S
from dia.errors import InvalidArgumentError
from dia.record.report import RunKind, parse_kind
from dia.tracker._inputs import parse_parents

_MIN_CHECKPOINT_S = 0.05


@dataclass(frozen=True)
class RunOptions:
    """The arguments of :func:`dia.track`, validated and normalised.

    ``model_id``: the model the run trains or serves (``"org/name"``). ``parents``: its
    parents as ``"org/name"``, ``"org/name:relation"``, ``(id, relation)``, dicts or
    :class:`~dia.record.report.Parent` (kept as a tuple of ``Parent``). ``kind``: a :class:`RunKind` or its value.
    ``store``: ``None`` for the default store, a URL, a :class:`~dia.record.store.Store`,
    or ``False`` not to save. ``run_id``: resume that stored run. ``country``, ``region``,
    ``cloud_provider``, ``cloud_region`` (default: the ``DIA_*`` variables), ``pue``,
    ``wue``, ``carbon_intensity``: conversion inputs. ``meter``: ``auto`` or a meter name.
    ``sample_interval_s``: power sampling period. ``checkpoint_s``: save period of a running
    run (default ``DIA_CHECKPOINT_S``). ``run_group``: the group of a distributed job
    (default: derived from the launcher).
    """

    model_id: str | None = None
    _: KW_ONLY  # model_id alone is positional, as in dia.track()
    parents: Iterable[Any] | str | None = ()
    kind: str | RunKind = "other"
    store: Any = None
    run_id: str | None = None
    country: str | None = None
    region: str | None = None
    cloud_provider: str | None = None
    cloud_region: str | None = None
    pue: float | None = None
    wue: float | None = None
    carbon_intensity: float | None = None
    meter: str = "auto"
    sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S
    checkpoint_s: float | None = None
    run_group: str | None = None

    def __post_init__(self) -> None:
        for name, value in validate_options(self).items():
            object.__setattr__(self, name, value)


def validate_options(options: RunOptions) -> dict[str, Any]:
    """The checked and normalised fields of ``options``; raises ``ValueError`` subclasses."""
    from dia.link.relations import validate_model_id
    from dia.measure import METER_NAMES

    model_id = options.model_id
    meter = options.meter
    sample_interval_s = options.sample_interval_s
    checked: dict[str, Any] = {
        "model_id": validate_model_id(model_id) if model_id is not None else None,
        "parents": tuple(parse_parents(options.parents)),
        "kind": parse_kind(options.kind),
    }
    own_id = checked["model_id"]
    if own_id is not None and any(parent.model_id == own_id for parent in checked["parents"]):
        # Refused here: the report's own validation would only catch it when the run ends.
        raise InvalidArgumentError(f"model {own_id!r} lists itself as a parent (self-loop)")
    if meter not in METER_NAMES:
        raise InvalidArgumentError(f"unknown meter {meter!r}; expected one of {', '.join(METER_NAMES)}")
    if not sample_interval_s > 0:
        raise InvalidArgumentError(f"sample_interval_s must be positive (got {sample_interval_s})")
    checked["sample_interval_s"] = float(sample_interval_s)
    return checked


def checkpoint_interval_s(checkpoint_s: float | None) -> float:
    """The given period, else ``DIA_CHECKPOINT_S``, else the default (at least 50 ms)."""
    if checkpoint_s is not None:
        return max(_MIN_CHECKPOINT_S, float(checkpoint_s))
    return max(_MIN_CHECKPOINT_S, settings.checkpoint_s())


def location_inputs(options: RunOptions) -> dict[str, Any]:
    """Conversion inputs: the location arguments, else the location ``DIA_*`` variables.

    Sources are not mixed (as in :func:`dia.convert.location.resolve_place`): a cloud region
    given as an argument is not paired with a ``DIA_COUNTRY`` from the shell, which would
    read as a contradiction. Read at start, so the run keeps the place it started with.
    """
    given = {"country": options.country, "region": options.region, "cloud_provider": options.cloud_provider,
             "cloud_region": options.cloud_region}
    place = given if any(given.values()) else settings.location()
    return {**place, "pue": options.pue, "wue": options.wue, "carbon_intensity": options.carbon_intensity}
