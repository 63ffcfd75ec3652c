"""Database tables (sqlmodel). The full report is kept as JSON; the columns beside it are
the ones lists, filters and SQL aggregations need, so nothing has to load every report.

Column lengths come from :mod:`dia.record.limits`, which the report's validators use too:
a report that validates fits its row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, Text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from dia.record.limits import (
    COUNTRY_LENGTH,
    HOST_LENGTH,
    INT32_MAX,
    KIND_LENGTH,
    METHOD_LENGTH,
    MODEL_ID_LENGTH,
    QUALITY_LENGTH,
    RELATION_LENGTH,
    RUN_GROUP_LENGTH,
    RUN_ID_LENGTH,
    SOURCE_LENGTH,
    STATUS_LENGTH,
)


class _PidColumn(TypeDecorator[int]):
    """An INTEGER column that stores a pid beyond int32 as NULL.

    A report's pid may be up to int64 (some systems have larger pids than Linux); the
    column is only a copy for people reading the table (the report JSON beside it keeps
    the pid, and staleness checks read it from there). Keeping the column INTEGER means
    stores created by earlier versions need no migration and are written the same way.
    """

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        if value is None or not -INT32_MAX - 1 <= value <= INT32_MAX:
            return None
        return int(value)


class RunRow(SQLModel, table=True):
    __tablename__ = "dia_runs"
    __table_args__ = (Index("ix_dia_runs_group_rank", "run_group", "rank"),)

    id: str = Field(primary_key=True, max_length=RUN_ID_LENGTH)
    model_id: str | None = Field(default=None, index=True, max_length=MODEL_ID_LENGTH)
    kind: str = Field(index=True, max_length=KIND_LENGTH)
    status: str = Field(index=True, max_length=STATUS_LENGTH)
    started_at: datetime | None = Field(default=None, index=True)
    ended_at: datetime | None = Field(default=None, index=True)
    heartbeat_at: datetime | None = None
    country: str | None = Field(default=None, index=True, max_length=COUNTRY_LENGTH)
    run_group: str | None = Field(default=None, max_length=RUN_GROUP_LENGTH)
    rank: int = 0
    host: str | None = Field(default=None, max_length=HOST_LENGTH)
    pid: int | None = Field(default=None, sa_column=Column(_PidColumn(), nullable=True))
    source: str = Field(default="tracker", max_length=SOURCE_LENGTH)
    # Central values and interval ends of the headline figures, for SQL aggregation.
    energy_kwh: float = 0.0
    energy_kwh_low: float = 0.0
    energy_kwh_high: float = 0.0
    carbon_kg: float = 0.0
    carbon_kg_low: float = 0.0
    carbon_kg_high: float = 0.0
    water_l: float = 0.0
    water_l_low: float = 0.0
    water_l_high: float = 0.0
    quality: str = Field(default="unavailable", max_length=QUALITY_LENGTH, description="quality of total carbon")
    # Whether energy and water were disclosed (a quality other than ``unavailable``): a
    # figure nobody disclosed is stored as 0 and must read back as "not disclosed". NULL
    # in rows written before these columns existed (the store then falls back to > 0).
    energy_quality: str | None = Field(default=None, max_length=QUALITY_LENGTH, description="quality of IT energy")
    water_quality: str | None = Field(default=None, max_length=QUALITY_LENGTH, description="quality of total water")
    is_use: bool = Field(default=False, description="inference or evaluation run")
    report_json: str = Field(sa_column=Column(Text, nullable=False))


class ModelRow(SQLModel, table=True):
    __tablename__ = "dia_models"

    id: str = Field(primary_key=True, max_length=MODEL_ID_LENGTH)
    created_at: datetime | None = Field(default=None, index=True, description="card or first-run date")
    source: str = Field(default="report", max_length=SOURCE_LENGTH, description="report, card, import")
    metadata_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EdgeRow(SQLModel, table=True):
    """child --relation--> parent."""

    __tablename__ = "dia_edges"

    child_id: str = Field(primary_key=True, max_length=MODEL_ID_LENGTH)
    parent_id: str = Field(primary_key=True, max_length=MODEL_ID_LENGTH, index=True)
    relation: str = Field(max_length=RELATION_LENGTH)
    method: str | None = Field(default=None, max_length=METHOD_LENGTH)
    source: str = Field(default="report", max_length=SOURCE_LENGTH)
