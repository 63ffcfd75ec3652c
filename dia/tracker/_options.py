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

import math
import os
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
    (default: derived from the launcher). ``sync_cuda``: when torch CUDA is in use, wait for
    the current device's queued work at the edges of the run and of every phase, so a
    window holds the energy of the kernels launched inside it (``False``: never wait).
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
    sync_cuda: bool = True

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
    if not _positive_number(sample_interval_s):
        raise InvalidArgumentError(f"sample_interval_s must be positive (a number of seconds; got {sample_interval_s!r})")
    checked["sample_interval_s"] = float(sample_interval_s)
    if not isinstance(options.sync_cuda, bool):
        raise InvalidArgumentError(f"sync_cuda must be True or False (got {options.sync_cuda!r})")
    if options.checkpoint_s is not None and not _positive_number(options.checkpoint_s):
        raise InvalidArgumentError(f"checkpoint_s must be positive (a number of seconds; got {options.checkpoint_s!r})")
    if options.store is not None and options.store is not False and not _is_store_spec(options.store):
        raise InvalidArgumentError(f"store must be None, False, a database URL or a dia.Store "
                                   f"(got a {type(options.store).__name__})")
    _check_factors(options)
    _check_identity(checked, options)
    return checked


def _positive_number(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0 and not isinstance(value, bool)


def _is_store_spec(store: Any) -> bool:
    from dia.record.store import Store

    return isinstance(store, (str, os.PathLike, Store))


def _check_factors(options: RunOptions) -> None:
    """Given factors are checked as the conversion at the end will check them (same bounds)."""
    if options.pue is None and options.wue is None and options.carbon_intensity is None:
        return  # the common case stays cheap: no factor table is read at start
    try:
        from dia.convert.factors import resolve_factors
    except ImportError:  # pragma: no cover - conversion not installed: energy only
        return
    resolve_factors(pue=options.pue, wue=options.wue, carbon_intensity=options.carbon_intensity,
                    on_unknown="world", use_configured=False)


def _check_identity(checked: dict[str, Any], options: RunOptions) -> None:
    """Build the report's identity now: what the report would refuse at the end is refused here.

    After the user's code has run, a refusal could only become a warning and a degraded
    report; before it, it is a usage error the user can fix.
    """
    from pydantic import ValidationError

    from dia.measure.distributed import MAX_RUN_GROUP_CHARS
    from dia.record.report import Energy, Quantity, RunReport, validation_problems

    if options.run_group is not None and len(str(options.run_group)) > MAX_RUN_GROUP_CHARS:
        raise InvalidArgumentError(f"run_group is longer than the store's {MAX_RUN_GROUP_CHARS} characters "
                                   f"({len(str(options.run_group))})")
    identity: dict[str, Any] = {"model_id": checked["model_id"], "parents": list(checked["parents"]),
                                "kind": checked["kind"], "run_group": options.run_group,
                                "energy": Energy(it_kwh=Quantity.zero("kWh", "unavailable"))}
    if options.run_id is not None:
        identity["id"] = options.run_id
    try:
        RunReport(**identity)
    except ValidationError as exc:
        problems = validation_problems(exc)
        field = problems[0].split(":", 1)[0] if problems else "report"
        raise InvalidArgumentError(f"{'run_id' if field == 'id' else field}: "
                                   f"{problems[0].split(': ', 1)[-1] if problems else exc}") from None


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
