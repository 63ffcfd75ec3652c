"""The run report: a versioned record of ONE run's own (incremental) footprint.

Every footprint figure is a :class:`Quantity` (central value, low-high interval, unit
and quality tier); every conversion factor used is a :class:`Factor` with its source, so
anyone can recompute the figures. The JSON Schema of :class:`RunReport` is published in
``schemas/dia-run-report-1.0.schema.json``.

>>> from dia.record.report import Energy, Quantity, RunReport
>>> r = RunReport(model_id="org/tiny", kind="finetuning", status="completed",
...               energy=Energy(it_kwh=Quantity.of(0.5, "kWh", "measured")))
>>> r.energy.it_kwh.value
0.5
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from dia.constants import (
    SCHEMA_VERSION,
    TOOL_NAME,
    UNIT_CARBON,
    UNIT_ENERGY,
    UNIT_J_PER_TOKEN,
    UNIT_WATER,
    UNIT_WH_PER_1000_INFERENCES,
)
from dia.link.relations import Relation, parse_parent_spec, parse_relation, validate_model_id
from dia.record import limits


class Quality(str, Enum):
    """How a figure was obtained, best first."""

    MEASURED = "measured"
    SAMPLED = "sampled"
    REPORTED = "reported"
    ESTIMATED = "estimated"
    IMPUTED = "imputed"
    UNAVAILABLE = "unavailable"


QUALITY_ORDER: tuple[Quality, ...] = tuple(Quality)
# What each tier means, in the words every view shows (tooltips, legends, docs).
QUALITY_MEANING: dict[Quality, str] = {
    Quality.MEASURED: "read from hardware energy counters (NVML, RAPL) during the run",
    Quality.SAMPLED: "power polled during the run and integrated over time",
    Quality.REPORTED: "copied from a third party's statement (a paper, a model card)",
    Quality.ESTIMATED: "modelled by DIA (rated power x utilisation, default factors), not measured",
    Quality.IMPUTED: "a prior for a model that disclosed nothing; never added to disclosed totals",
    Quality.UNAVAILABLE: "not disclosed and not estimated: unknown, not zero",
}


def worst_quality(*qualities: Quality | str) -> Quality:
    """The least trustworthy of several tiers (a sum is only as good as its weakest term)."""
    qs = [Quality(q) for q in qualities]
    if not qs:
        return Quality.UNAVAILABLE
    return max(qs, key=QUALITY_ORDER.index)


# --- Schema versions -------------------------------------------------------------------
# A report states the schema it follows as "MAJOR.MINOR" (dia.constants.SCHEMA_VERSION is
# the one this DIA writes). A newer minor version only adds optional fields: it is read,
# its unknown fields kept, everything known used. A newer major version may change the
# meaning of fields DIA knows: it is refused with UnsupportedSchemaError, never guessed at.
_SCHEMA_VERSION_RE = re.compile(r"^(\d{1,6})\.(\d{1,6})$")
_SCHEMA_MAJOR, _SCHEMA_MINOR = (int(part) for part in SCHEMA_VERSION.split("."))

# True while a report of a newer minor version is validated: its models then keep the
# fields they do not know instead of refusing them.
_NEWER_MINOR: ContextVar[bool] = ContextVar("dia_report_newer_minor", default=False)


def schema_version_problem(version: Any) -> str | None:
    """Why this DIA cannot read a report of schema ``version`` (``None``: it can).

    >>> [schema_version_problem(v) is None for v in ("1.0", "1.7")]
    [True, True]
    >>> schema_version_problem("2.0")
    "schema_version '2.0' is newer than this DIA reads (1.x): upgrade DIA to read it"
    """
    match = _SCHEMA_VERSION_RE.match(version) if isinstance(version, str) else None
    if match is None:
        shown = repr(version) if isinstance(version, (str, float, int)) and len(str(version)) <= 20 else "a value"
        return f"schema_version must be 'MAJOR.MINOR' such as '{SCHEMA_VERSION}' (got {shown})"
    major = int(match.group(1))
    if major > _SCHEMA_MAJOR:
        return (f"schema_version {version!r} is newer than this DIA reads ({_SCHEMA_MAJOR}.x): "
                "upgrade DIA to read it")
    if major < _SCHEMA_MAJOR:
        return f"schema_version {version!r} is older than any DIA wrote; this DIA reads {_SCHEMA_MAJOR}.x"
    return None


def _is_newer_major(version: Any) -> bool:
    match = _SCHEMA_VERSION_RE.match(version) if isinstance(version, str) else None
    return match is not None and int(match.group(1)) > _SCHEMA_MAJOR


def _is_newer_minor(version: Any) -> bool:
    match = _SCHEMA_VERSION_RE.match(version) if isinstance(version, str) else None
    return match is not None and int(match.group(1)) == _SCHEMA_MAJOR and int(match.group(2)) > _SCHEMA_MINOR


@contextmanager
def _reading_newer_minor(on: bool) -> Iterator[None]:
    token = _NEWER_MINOR.set(on)
    try:
        yield
    finally:
        _NEWER_MINOR.reset(token)


def _unknown_field(value: Any) -> Any:
    if not _NEWER_MINOR.get():
        raise PydanticCustomError("extra_forbidden", "Extra inputs are not permitted")
    return value


class _ReportModel(BaseModel):
    """Base of every part of a report: unknown fields are refused, except in a report of
    a newer minor schema version, where they are kept (and written back by ``model_dump``).

    The published JSON Schema describes this version's reports: no other fields.
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Annotated[Any, AfterValidator(_unknown_field)]] = Field(init=False)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(core_schema))
        json_schema["additionalProperties"] = False
        return json_schema


# --- Numbers ---------------------------------------------------------------------------
def _not_bool(value: Any) -> Any:
    # JSON true is not 1: a boolean where a number belongs is a mistake in the source.
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not a boolean (got {str(value).lower()})")
    return value


def _shown(value: float) -> str:
    if isinstance(value, int) and value.bit_length() > 100:
        return "a larger number"  # str() of a 5,000-digit int is slow or refused
    return f"{value:g}" if isinstance(value, float) else str(value)


_NotBool = BeforeValidator(_not_bool)


# Non-boolean numbers from 0 (or 1) to their bound in dia.record.limits; floats are finite.
Count = Annotated[int, Field(ge=0, le=limits.COUNT_MAX), _NotBool]
"""A non-boolean integer from 0 to int64 (workload counters, cores, years)."""
_PositiveCount = Annotated[int, Field(ge=1, le=limits.COUNT_MAX), _NotBool]
_Rank = Annotated[int, Field(ge=0, le=limits.RANK_MAX), _NotBool]
_WorldSize = Annotated[int, Field(ge=1, le=limits.RANK_MAX), _NotBool]
_Pid = Annotated[int, Field(ge=0, le=limits.PID_MAX), _NotBool]
_FactorValue = Annotated[float, Field(ge=0, le=limits.MAX_FACTOR, allow_inf_nan=False), _NotBool]
_Seconds = Annotated[float, Field(ge=0, le=limits.MAX_DURATION_S, allow_inf_nan=False), _NotBool]
_GpuHours = Annotated[float, Field(ge=0, le=limits.MAX_GPU_HOURS, allow_inf_nan=False), _NotBool]
_Watts = Annotated[float, Field(ge=0, le=limits.MAX_POWER_W, allow_inf_nan=False), _NotBool]
_Gigabytes = Annotated[float, Field(ge=0, le=limits.MAX_RAM_GB, allow_inf_nan=False), _NotBool]


class Interval(_ReportModel):
    """A non-negative central value with its low-high range; intervals add endpoint-wise.

    ``low`` and ``high`` default to ``value``. Validation rejects negative values, NaN or
    infinity, and ``low > value`` or ``value > high``. :class:`Quantity` is an interval
    with a unit and a quality tier.

    >>> Interval(value=2.0, low=1.5, high=3.0) + Interval.from_triple((1.0, 1.0, 1.0))
    Interval(value=3.0, low=2.5, high=4.0)
    """

    model_config = ConfigDict(frozen=True)

    value: Annotated[float, _NotBool]
    low: Annotated[float, _NotBool]
    high: Annotated[float, _NotBool]

    @model_validator(mode="before")
    @classmethod
    def _default_interval(cls, data: Any) -> Any:
        if isinstance(data, dict) and "value" in data:
            data = dict(data)
            value = data["value"]
            # A bad value is reported once, on ``value``: copying it into the missing
            # ends would repeat the same complaint for ``low`` and ``high``.
            fallback = value if _is_valid_figure(value) else 0.0
            data.setdefault("low", fallback)
            data.setdefault("high", fallback)
        return data

    @field_validator("value", "low", "high")
    @classmethod
    def _finite_non_negative(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number (got NaN or infinity)")
        if v < 0:
            raise ValueError(f"must not be negative (got {v})")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        # A relative tolerance absorbs float rounding from endpoint arithmetic.
        tol = 1e-9 * max(1.0, abs(self.value))
        if self.low > self.value + tol:
            raise ValueError(f"low ({self.low}) is greater than value ({self.value})")
        if self.value > self.high + tol:
            raise ValueError(f"value ({self.value}) is greater than high ({self.high})")
        return self

    @classmethod
    def from_triple(cls, triple: Iterable[float]) -> Interval:
        """``(value, low, high)`` as an interval."""
        value, low, high = (float(x) for x in triple)
        return Interval(value=value, low=low, high=high)

    @classmethod
    def unchecked(cls, value: float, low: float, high: float) -> Interval:
        """An interval of already-checked sums, without validation (hot paths)."""
        return Interval.model_construct(value=value, low=low, high=high)

    def __add__(self, other: Interval) -> Interval:
        if not isinstance(other, Interval):
            return NotImplemented
        return Interval(value=self.value + other.value, low=self.low + other.low, high=self.high + other.high)

    def triple(self) -> tuple[float, float, float]:
        return (self.value, self.low, self.high)


class Quantity(Interval):
    """A non-negative figure with an interval, a unit and a quality tier.

    ``low`` and ``high`` default to ``value``. Validation rejects negative values,
    NaN or infinity, and ``low > value`` or ``value > high``.

    >>> Quantity.of(2.0, "kWh", "estimated", low=1.5, high=3.0) + Quantity.of(1.0, "kWh", "measured")
    Quantity(value=3.0, low=2.5, high=4.0, unit='kWh', quality=<Quality.ESTIMATED: 'estimated'>)
    """

    unit: str
    quality: Quality

    @classmethod
    def of(
        cls,
        value: float,
        unit: str,
        quality: Quality | str,
        *,
        low: float | None = None,
        high: float | None = None,
    ) -> Quantity:
        """Build a quantity; ``low``/``high`` default to ``value``."""
        return cls(
            value=value,
            low=value if low is None else low,
            high=value if high is None else high,
            unit=unit,
            quality=Quality(quality),
        )

    @classmethod
    def zero(cls, unit: str, quality: Quality | str = Quality.MEASURED) -> Quantity:
        return cls.of(0.0, unit, quality)

    def __add__(self, other: Interval) -> Quantity:
        """Endpoint-wise sum; the quality is the worse of the two."""
        if not isinstance(other, Quantity):
            return NotImplemented
        if other.unit != self.unit:
            raise ValueError(f"cannot add {other.unit} to {self.unit}")
        return Quantity(
            value=self.value + other.value,
            low=self.low + other.low,
            high=self.high + other.high,
            unit=self.unit,
            quality=worst_quality(self.quality, other.quality),
        )

    def times(
        self,
        value: float,
        low: float | None = None,
        high: float | None = None,
        *,
        unit: str,
        quality: Quality | str | None = None,
    ) -> Quantity:
        """Multiply endpoint-wise by a non-negative factor ``value [low, high]``."""
        lo = value if low is None else low
        hi = value if high is None else high
        return Quantity(
            value=self.value * value,
            low=self.low * lo,
            high=self.high * hi,
            unit=unit,
            quality=Quality(quality) if quality is not None else self.quality,
        )

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "unit": self.unit,
                "quality": self.quality.value}


def _is_valid_figure(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number >= 0


def _check_unit(q: Quantity | None, expected: str, aliases: frozenset[str],
                upper: float = limits.MAX_INTENSITY) -> Quantity | None:
    """Accept the canonical unit or a spelling of it; reject another unit (Wh for kWh).

    The figure must also be at most ``upper`` (the bound for its kind, per run)."""
    if q is None:
        return q
    if q.unit != expected:
        if q.unit.strip().lower().replace(" ", "") not in aliases:
            raise ValueError(f"unit must be {expected} (got {q.unit!r})")
        q = q.model_copy(update={"unit": expected})
    if q.high > upper:
        # ``high`` is the largest end: one line for the figure, not one per end.
        end = "value" if q.value > upper else "high"
        raise ValueError(f"{end} must be at most {upper:g} {expected} per run (got {_shown(getattr(q, end))})")
    return q


_ENERGY_UNITS = frozenset({"kwh"})
_CARBON_UNITS = frozenset({"kgco2e", "kgco2eq", "kgco2", "kg"})
_WATER_UNITS = frozenset({"l", "litre", "litres", "liter", "liters"})


def sum_quantities(items: list[Quantity], unit: str) -> Quantity | None:
    """Endpoint-wise sum of quantities (``None`` for an empty list)."""
    total: Quantity | None = None
    for q in items:
        total = q if total is None else total + q
    if total is not None and total.unit != unit:
        raise ValueError(f"expected {unit}, got {total.unit}")
    return total


Granularity = Literal[
    "explicit", "site", "operator", "cloud_region", "subnational", "country", "world", "hardware",
    "default",
]


class Factor(_ReportModel):
    """A conversion factor as used for one report, with where it came from."""

    name: str = Field(description="carbon_intensity, pue, wue, ewif, embodied_per_gpu_hour, ...")
    value: _FactorValue
    low: _FactorValue
    high: _FactorValue
    unit: str
    source: str
    year: Count | None = None
    granularity: Granularity
    key: str | None = Field(default=None, description="the location or hardware it applies to")
    licence: str | None = None
    note: str | None = None
    convention: str | None = Field(
        default=None,
        description="the accounting convention of `value`: for carbon_intensity `lifecycle` (DIA's default) or"
        " `direct_combustion`; for ewif `with_hydro_evaporation` (DIA's default) or `without_hydro_evaporation`",
    )
    alternative: _FactorValue | None = Field(
        default=None,
        description="the same factor under the other convention, in `unit` (kgCO2e/kWh for carbon_intensity,"
        " L/kWh for ewif); inside low-high unless the user pinned a convention",
    )

    @field_validator("value", "low", "high")
    @classmethod
    def _finite_non_negative(cls, v: float) -> float:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"must be a finite, non-negative number (got {v})")
        return v

    @field_validator("alternative")
    @classmethod
    def _alternative_finite(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v < 0):
            raise ValueError(f"must be a finite, non-negative number (got {v})")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Factor:
        if not (self.low <= self.value <= self.high):
            raise ValueError(f"expected low <= value <= high, got {self.low}, {self.value}, {self.high}")
        return self


class RunKind(str, Enum):
    PRETRAINING = "pretraining"
    FINETUNING = "finetuning"
    ADAPTER = "adapter"
    QUANTIZATION = "quantization"
    MERGE = "merge"
    DISTILLATION = "distillation"
    CONVERSION = "conversion"
    EVALUATION = "evaluation"
    INFERENCE = "inference"
    OTHER = "other"


# Runs of these kinds are the *use* of a model, not part of the cost to produce it.
USE_KINDS: frozenset[RunKind] = frozenset({RunKind.EVALUATION, RunKind.INFERENCE})

_KIND_ALIASES = {
    "pretrain": "pretraining", "pre-training": "pretraining", "finetune": "finetuning",
    "fine-tuning": "finetuning", "fine-tune": "finetuning", "training": "finetuning",
    "lora": "adapter", "qlora": "adapter", "quantized": "quantization", "quantize": "quantization",
    "distill": "distillation", "eval": "evaluation", "evaluate": "evaluation",
    "serving": "inference", "predict": "inference", "convert": "conversion",
}


def parse_kind(text: str | RunKind) -> RunKind:
    """Normalise a run kind (``finetune`` -> ``finetuning``, ``eval`` -> ``evaluation``)."""
    from dia.errors import UnknownRelationError, did_you_mean

    if isinstance(text, RunKind):
        return text
    key = str(text).strip().lower().replace("_", "-")
    key = _KIND_ALIASES.get(key, key)
    try:
        return RunKind(key)
    except ValueError:
        names = [k.value for k in RunKind]
        raise UnknownRelationError(
            f"unknown run kind {text!r}{did_you_mean(key, names)}; expected one of {', '.join(names)}"
        ) from None


class RunStatus(str, Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


class Parent(_ReportModel):
    """A lineage edge from this run's model to one parent."""

    model_id: str
    relation: Relation = Relation.FINETUNE
    method: str | None = Field(default=None, max_length=limits.METHOD_LENGTH,
                               description="sub-type: lora, qlora, gguf, int8, ...")
    revision: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, dict) and "relation" in data and data["relation"] is not None:
            data = dict(data)
            rel, method = parse_relation(data["relation"])
            data["relation"] = rel
            if method and not data.get("method"):
                data["method"] = method
        return data

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, v: str) -> str:
        return validate_model_id(v)


class GPU(_ReportModel):
    name: str
    count: _PositiveCount = 1


class Hardware(_ReportModel):
    gpus: list[GPU] = Field(default_factory=list)
    cpu_model: str | None = None
    cpu_cores: Count | None = None
    ram_gb: _Gigabytes | None = None

    @property
    def gpu_count(self) -> int:
        return sum(g.count for g in self.gpus)

    def describe(self) -> str:
        """``"4 x NVIDIA A100-SXM4-40GB"``, else the CPU model, else ``"unknown"``."""
        if self.gpus:
            return ", ".join(f"{g.count} x {g.name}" for g in self.gpus)
        return self.cpu_model or "unknown"


ResolutionLevel = Literal["explicit", "cloud_region", "subnational", "country", "world"]


class Location(_ReportModel):
    country: str | None = Field(default=None, max_length=limits.COUNTRY_LENGTH, description="ISO 3166-1 alpha-3")
    region: str | None = Field(default=None, description="sub-national grid: US state, Canadian province, Nordic zone")
    cloud_provider: str | None = None
    cloud_region: str | None = None
    resolved_level: ResolutionLevel | None = Field(
        default=None, description="which level of the resolution order supplied the grid factors"
    )

    def describe(self) -> str:
        parts = [p for p in (self.cloud_provider, self.cloud_region, self.region, self.country) if p]
        return ", ".join(parts) if parts else "unknown"


class Energy(_ReportModel):
    """Energy in kWh. ``it_kwh`` = GPU + CPU + RAM; ``facility_kwh`` = IT x PUE."""

    gpu_kwh: Quantity | None = None
    cpu_kwh: Quantity | None = None
    ram_kwh: Quantity | None = None
    it_kwh: Quantity
    facility_kwh: Quantity | None = None

    @field_validator("gpu_kwh", "cpu_kwh", "ram_kwh", "it_kwh")
    @classmethod
    def _kwh(cls, q: Quantity | None) -> Quantity | None:
        return _check_unit(q, UNIT_ENERGY, _ENERGY_UNITS, limits.MAX_ENERGY_KWH)

    @field_validator("facility_kwh")
    @classmethod
    def _facility_kwh(cls, q: Quantity | None) -> Quantity | None:
        return _check_unit(q, UNIT_ENERGY, _ENERGY_UNITS, limits.MAX_FACILITY_KWH)


class Carbon(_ReportModel):
    """Carbon in kg CO2e (location-based)."""

    operational_kg: Quantity
    embodied_kg: Quantity | None = None
    total_kg: Quantity

    @field_validator("operational_kg", "embodied_kg", "total_kg")
    @classmethod
    def _kg(cls, q: Quantity | None) -> Quantity | None:
        return _check_unit(q, UNIT_CARBON, _CARBON_UNITS, limits.MAX_CARBON_KG)


class Water(_ReportModel):
    """Water consumption in litres: on-site (cooling) and off-site (electricity generation)."""

    onsite_l: Quantity
    offsite_l: Quantity
    total_l: Quantity

    @field_validator("onsite_l", "offsite_l", "total_l")
    @classmethod
    def _litres(cls, q: Quantity | None) -> Quantity | None:
        return _check_unit(q, UNIT_WATER, _WATER_UNITS, limits.MAX_WATER_L)


class Workload(_ReportModel):
    steps: Count | None = None
    samples: Count | None = None
    tokens: Count | None = None
    inferences: Count | None = None


class Intensities(_ReportModel):
    """Derived from energy and counters: the units the leaderboards use."""

    wh_per_1000_inferences: Quantity | None = None
    j_per_token: Quantity | None = None

    @field_validator("wh_per_1000_inferences", "j_per_token")
    @classmethod
    def _bounded(cls, q: Quantity | None) -> Quantity | None:
        if q is not None and q.high > limits.MAX_INTENSITY:
            raise ValueError(f"must be at most {limits.MAX_INTENSITY:g} {q.unit} (got {_shown(q.high)})")
        return q


class Phase(_ReportModel):
    """A named sub-window of a run (``run.phase("eval")``); ``name`` is a path for nesting."""

    name: str
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: _Seconds | None = None
    energy_kwh: Quantity | None = None

    @field_validator("energy_kwh")
    @classmethod
    def _kwh(cls, q: Quantity | None) -> Quantity | None:
        if q is not None and q.high > limits.MAX_ENERGY_KWH:
            raise ValueError(f"must be at most {limits.MAX_ENERGY_KWH:g} kWh per run (got {_shown(q.high)})")
        return q


class PowerSample(_ReportModel):
    """One point of the power trace: seconds since the start, total watts."""

    t_s: _Seconds
    power_w: _Watts


class Tool(_ReportModel):
    name: str = TOOL_NAME
    version: str | None = None


def _parent_dict(item: Any) -> Any:
    if isinstance(item, (str, tuple)):
        model_id, relation, method = parse_parent_spec(item)
        return {"model_id": model_id, "relation": relation, "method": method}
    return item


def _new_id() -> str:
    return str(uuid.uuid4())


def _utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError("must be timezone-aware (UTC)")
    return v.astimezone(timezone.utc)


class RunReport(_ReportModel):
    """One run's own footprint (incremental: never including ancestors)."""

    model_config = ConfigDict(json_schema_extra={"$id": "https://dia.dev/schemas/dia-run-report-1.0.schema.json"})

    # identity
    id: str = Field(default_factory=_new_id, description="UUID of the run")
    # This DIA writes SCHEMA_VERSION and reads any minor version of its major (see
    # schema_version_problem); the published schema describes this version's reports.
    schema_version: str = Field(default=SCHEMA_VERSION, json_schema_extra={"const": SCHEMA_VERSION})
    model_id: str | None = None
    parents: list[Parent] = Field(default_factory=list)
    kind: RunKind = RunKind.OTHER
    status: RunStatus = RunStatus.COMPLETED
    scope: Literal["incremental"] = "incremental"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: _Seconds | None = None
    heartbeat_at: datetime | None = Field(default=None, description="last checkpoint of a running run")
    checkpoint_s: _Seconds | None = Field(default=None, gt=0,
                                          description="the writer's checkpoint interval: staleness is judged by it")
    process_started_at: datetime | None = Field(
        default=None, description="start time of the writing process: a reused pid is not taken for it")

    # distributed jobs: reports of one job share run_group; rank 0 is the logical run
    run_group: str | None = Field(default=None, max_length=limits.RUN_GROUP_LENGTH)
    rank: _Rank = 0
    world_size: _WorldSize = 1

    # context
    hardware: Hardware = Field(default_factory=Hardware)
    location: Location = Field(default_factory=Location)
    tool: Tool = Field(default_factory=Tool)
    meter: str = Field(default="none", description="what measured the energy: nvml, rapl, estimate, codecarbon, card, ...")
    gpu_hours: _GpuHours | None = None
    host: str | None = Field(default=None, max_length=limits.HOST_LENGTH,
                             description="host name; never written to cards or shown in public mode")
    pid: _Pid | None = None
    source: str = Field(default="tracker", max_length=limits.SOURCE_LENGTH, description="tracker, card, import, cli")
    source_ref: str | None = Field(default=None, description="the card or file a reported run came from")

    # footprint
    energy: Energy
    carbon: Carbon | None = None
    water: Water | None = None
    factors: list[Factor] = Field(default_factory=list)

    # workload
    workload: Workload = Field(default_factory=Workload)
    intensities: Intensities = Field(default_factory=Intensities)
    phases: list[Phase] = Field(default_factory=list)
    power_samples: list[PowerSample] = Field(default_factory=list)

    notes: list[str] = Field(default_factory=list, description="warnings: degraded meters, estimates, fallbacks")
    extra: dict[str, Any] = Field(default_factory=dict, description="unknown fields kept from a source")

    @model_validator(mode="wrap")
    @classmethod
    def _schema_version(cls, data: Any, handler: Callable[[Any], RunReport]) -> RunReport:
        # Decided before any field is read: a newer major version is refused as a whole
        # (its fields may mean something else), a newer minor one keeps unknown fields.
        from dia.errors import UnsupportedSchemaError

        version = data.get("schema_version") if isinstance(data, dict) else None
        if _is_newer_major(version):
            raise UnsupportedSchemaError(schema_version_problem(version) or "")
        with _reading_newer_minor(_is_newer_minor(version)):
            return handler(data)

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        problem = schema_version_problem(v)
        if problem is not None:
            raise ValueError(problem.removeprefix("schema_version "))
        return v

    @field_validator("id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        try:
            return str(uuid.UUID(str(v)))
        except ValueError:
            raise ValueError(f"not a UUID: {v!r}") from None

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, v: str | None) -> str | None:
        return None if v is None else validate_model_id(v)

    @field_validator("parents", mode="before")
    @classmethod
    def _parent_specs(cls, v: Any) -> Any:
        # Parents may be given as "org/name", "org/name:relation", (id, relation) or dicts.
        if isinstance(v, (str, tuple)):
            v = [v]
        if not isinstance(v, list):
            return v
        return [_parent_dict(item) for item in v]

    @field_validator("parents")
    @classmethod
    def _unique_parents(cls, parents: list[Parent]) -> list[Parent]:
        # The same parent listed twice is one edge: keep the first (it carries the relation).
        seen: set[str] = set()
        out = []
        for p in parents:
            if p.model_id not in seen:
                seen.add(p.model_id)
                out.append(p)
        return out

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        return parse_kind(v) if isinstance(v, str) else v

    @field_validator("started_at", "ended_at", "heartbeat_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return _utc(v)

    @model_validator(mode="after")
    def _consistent(self) -> RunReport:
        if self.started_at and self.ended_at and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        if self.model_id and any(p.model_id == self.model_id for p in self.parents):
            raise ValueError(f"model {self.model_id!r} lists itself as a parent (self-loop)")
        if self.intensities.wh_per_1000_inferences is None and self.intensities.j_per_token is None:
            self.intensities = compute_intensities(self.energy.it_kwh, self.workload)
        return self

    # convenience
    @property
    def is_use(self) -> bool:
        """True for inference and evaluation runs (use, not the cost to produce)."""
        return self.kind in USE_KINDS

    def to_json(self, **kw: Any) -> str:
        return self.model_dump_json(exclude_none=False, **kw)

    def consistency_problems(self) -> list[str]:
        """What :func:`check_consistency` finds wrong in this report (``[]``: consistent)."""
        return check_consistency(self)


# Totals and their parts are compared endpoint by endpoint within this relative tolerance:
# sums of floats written to JSON and read back differ in the last digits, never more.
CONSISTENCY_RTOL = 1e-6


def _disclosed(q: Quantity | None) -> bool:
    # A part with quality ``unavailable`` was not disclosed (a card that states only a
    # total): it is neither summed nor compared.
    return q is not None and q.quality is not Quality.UNAVAILABLE


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= CONSISTENCY_RTOL * max(abs(a), abs(b)) + 1e-12


def _at_least(a: float, b: float) -> bool:
    return a >= b - CONSISTENCY_RTOL * max(abs(a), abs(b)) - 1e-12


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _sum_problems(path: str, total: Quantity | None, parts: dict[str, Quantity | None], *,
                  complete: bool) -> list[str]:
    """``total`` against its disclosed ``parts``: equal when every part is disclosed
    (``complete``), else at least their sum; quality no better than the worst part."""
    if not _disclosed(total):
        return []
    assert total is not None
    shown = {name: q for name, q in parts.items() if _disclosed(q)}
    if not shown:
        return []
    names = " + ".join(shown)
    problems: list[str] = []
    for end in ("value", "low", "high"):
        stated = getattr(total, end)
        summed = sum(getattr(q, end) for q in shown.values())
        field = path if end == "value" else f"{path}.{end}"
        # One line per total: the first endpoint that is off (usually the value).
        if complete and not _close(stated, summed):
            problems.append(f"{field}: {_fmt(stated)} is not {names} ({_fmt(summed)})")
            break
        if not complete and not _at_least(stated, summed):
            problems.append(f"{field}: {_fmt(stated)} is less than {names} ({_fmt(summed)})")
            break
    worst = worst_quality(*(q.quality for q in shown.values() if q is not None))
    if QUALITY_ORDER.index(total.quality) < QUALITY_ORDER.index(worst):
        problems.append(f"{path}.quality: {total.quality.value} is better than its parts ({worst.value})")
    return problems


def check_consistency(report: RunReport) -> list[str]:
    """Every way ``report`` contradicts itself, one ``field: reason`` line each.

    What must hold in a report (``CONSISTENCY_RTOL`` relative, endpoint by endpoint):

    * carbon ``total_kg`` = ``operational_kg`` + ``embodied_kg`` (no embodied: none counted);
    * water ``total_l`` = ``onsite_l`` + ``offsite_l``;
    * energy ``it_kwh`` = GPU + CPU + RAM when all three are given, else at least the ones
      given (a report may break out only the GPU);
    * ``facility_kwh`` >= ``it_kwh`` (facility = IT x PUE, and a PUE is at least 1);
    * a total's quality is no better than its worst part;
    * ``low <= value <= high`` for every figure (checked when the report is built).

    A part whose quality is ``unavailable`` was not disclosed: the total is then only
    checked to be at least the disclosed parts. Reports DIA builds pass this check; the
    readers (``dia import``, ``dia validate``, ``dia ingest`` of report files) refuse a
    report that fails it. :class:`~dia.record.store.Store` does not check: see
    ``docs/store.md``.

    >>> kg = dict(unit="kgCO2e", quality="estimated")
    >>> r = RunReport(energy={"it_kwh": {"value": 1.0, "unit": "kWh", "quality": "measured"}},
    ...               carbon={"operational_kg": {"value": 1.0, **kg}, "embodied_kg": {"value": 0.5, **kg},
    ...                       "total_kg": {"value": 5.0, "unit": "kgCO2e", "quality": "measured"}})
    >>> check_consistency(r)  # doctest: +NORMALIZE_WHITESPACE
    ['carbon.total_kg: 5 is not operational_kg + embodied_kg (1.5)',
     'carbon.total_kg.quality: measured is better than its parts (estimated)']
    """
    problems: list[str] = []
    e = report.energy
    components = {"gpu_kwh": e.gpu_kwh, "cpu_kwh": e.cpu_kwh, "ram_kwh": e.ram_kwh}
    complete = all(_disclosed(q) for q in components.values())
    problems += _sum_problems("energy.it_kwh", e.it_kwh, components, complete=complete)
    if _disclosed(e.facility_kwh) and _disclosed(e.it_kwh):
        assert e.facility_kwh is not None
        for end in ("value", "low", "high"):
            facility, it = getattr(e.facility_kwh, end), getattr(e.it_kwh, end)
            if not _at_least(facility, it):
                field = "energy.facility_kwh" if end == "value" else f"energy.facility_kwh.{end}"
                problems.append(f"{field}: {_fmt(facility)} is less than it_kwh ({_fmt(it)}): "
                                "facility energy is IT energy x PUE, and a PUE is at least 1")
                break
    if report.carbon is not None:
        c = report.carbon
        parts = {"operational_kg": c.operational_kg}
        if c.embodied_kg is not None:
            parts["embodied_kg"] = c.embodied_kg
        problems += _sum_problems("carbon.total_kg", c.total_kg, dict(parts),
                                  complete=all(_disclosed(q) for q in parts.values()))
    if report.water is not None:
        w = report.water
        parts_l = {"onsite_l": w.onsite_l, "offsite_l": w.offsite_l}
        problems += _sum_problems("water.total_l", w.total_l, dict(parts_l),
                                  complete=all(_disclosed(q) for q in parts_l.values()))
    return problems


def compute_intensities(energy_kwh: Quantity, workload: Workload) -> Intensities:
    """Wh per 1,000 inferences and J per token from IT energy and counters."""
    out = Intensities()
    if workload.inferences:
        per = 1000.0 * 1000.0 / workload.inferences  # kWh -> Wh, per 1,000
        out.wh_per_1000_inferences = energy_kwh.times(per, unit=UNIT_WH_PER_1000_INFERENCES)
    if workload.tokens:
        per = 3.6e6 / workload.tokens  # kWh -> J, per token
        out.j_per_token = energy_kwh.times(per, unit=UNIT_J_PER_TOKEN)
    return out


def validation_problems(exc: ValidationError) -> list[str]:
    """One ``field.path: reason`` line per problem in a pydantic error.

    >>> try:
    ...     Quantity(value=-1.0, unit="kWh", quality="measured")
    ... except ValidationError as e:
    ...     validation_problems(e)
    ['value: must not be negative (got -1.0)']
    """
    lines = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "report"
        message = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        given = err.get("input")
        if err["type"] not in ("value_error", "missing") and "(got " not in message and _is_scalar(given):
            message += f" (got {given!r})"
        lines.append(f"{path}: {message}")
    return lines


def _is_scalar(value: Any) -> bool:
    if isinstance(value, int) and value.bit_length() > 100:
        return False  # repr() of a 5,000-digit int is refused by Python
    if isinstance(value, str) and len(value) > 60:
        return False
    return isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 60


def parse_report(data: dict[str, Any] | str | bytes, *, where: str = "") -> RunReport:
    """Validate a report given as a dict or JSON text; raise :class:`InvalidReportError`.

    The report must also be consistent (:func:`check_consistency`).

    The message is one line naming ``where`` (e.g. ``"runs.jsonl: record 3"``), the field
    path and the reason; further problems are counted, not listed.

    >>> parse_report({"energy": {"it_kwh": {"value": -1, "unit": "kWh", "quality": "measured"}}},
    ...              where="runs.jsonl: record 3")
    Traceback (most recent call last):
    dia.errors.InvalidReportError: runs.jsonl: record 3: energy.it_kwh.value: must not be negative (got -1.0)
    """
    from dia.errors import DIAError, InvalidReportError, UnsupportedSchemaError

    head = f"{where}: " if where else ""
    try:
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise InvalidReportError(f"{head}expected a JSON object, got {type(data).__name__}")
        report = RunReport.model_validate(data)
    except json.JSONDecodeError as exc:
        raise InvalidReportError(f"{head}not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValidationError as exc:
        problems = validation_problems(exc)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidReportError(f"{head}{problems[0]}{more}") from None
    except UnsupportedSchemaError as exc:
        raise UnsupportedSchemaError(f"{head}{exc}") from None
    except DIAError:
        raise
    except (ValueError, RecursionError) as exc:  # JSON with a 5,000-digit integer, 100k-deep nesting
        what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise InvalidReportError(f"{head}not valid JSON: {what}") from None
    inconsistent = check_consistency(report)
    if inconsistent:
        more = f" (and {len(inconsistent) - 1} more)" if len(inconsistent) > 1 else ""
        raise InvalidReportError(f"{head}{inconsistent[0]}{more}")
    return report


def schema_json() -> dict[str, Any]:
    """The JSON Schema of :class:`RunReport` as published in ``schemas/``."""
    schema = RunReport.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"DIA run report {SCHEMA_VERSION}"
    return schema


__all__ = [
    "CONSISTENCY_RTOL", "GPU", "QUALITY_ORDER", "UNIT_CARBON", "UNIT_ENERGY", "UNIT_WATER", "USE_KINDS", "Carbon",
    "Energy", "Factor", "Hardware", "Intensities", "Location", "Parent", "Phase", "PowerSample",
    "Quality", "Quantity", "RunKind", "RunReport", "RunStatus", "Tool", "Water", "Workload",
    "check_consistency", "compute_intensities", "parse_kind", "parse_report",
    "schema_json", "sum_quantities", "validation_problems", "worst_quality",
]
