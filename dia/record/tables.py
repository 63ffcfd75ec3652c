"""Database tables (sqlmodel). The full report is kept as JSON; the columns beside it are
the ones lists, filters and SQL aggregations need, so nothing has to load every report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


class RunRow(SQLModel, table=True):
    __tablename__ = "dia_runs"
    __table_args__ = (Index("ix_dia_runs_group_rank", "run_group", "rank"),)

    id: str = Field(primary_key=True, max_length=36)
    model_id: str | None = Field(default=None, index=True, max_length=200)
    kind: str = Field(index=True, max_length=32)
    status: str = Field(index=True, max_length=16)
    started_at: datetime | None = Field(default=None, index=True)
    ended_at: datetime | None = Field(default=None, index=True)
    heartbeat_at: datetime | None = None
    country: str | None = Field(default=None, index=True, max_length=8)
    run_group: str | None = Field(default=None, max_length=64)
    rank: int = 0
    host: str | None = Field(default=None, max_length=255)
    pid: int | None = None
    source: str = Field(default="tracker", max_length=32)
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
    quality: str = Field(default="unavailable", max_length=16, description="quality of total carbon")
    # Whether energy and water were disclosed (a quality other than ``unavailable``): a
    # figure nobody disclosed is stored as 0 and must read back as "not disclosed". NULL
    # in rows written before these columns existed (the store then falls back to > 0).
    energy_quality: str | None = Field(default=None, max_length=16, description="quality of IT energy")
    water_quality: str | None = Field(default=None, max_length=16, description="quality of total water")
    is_use: bool = Field(default=False, description="inference or evaluation run")
    report_json: str = Field(sa_column=Column(Text, nullable=False))


class ModelRow(SQLModel, table=True):
    __tablename__ = "dia_models"

    id: str = Field(primary_key=True, max_length=200)
    created_at: datetime | None = Field(default=None, index=True, description="card or first-run date")
    source: str = Field(default="report", max_length=32, description="report, card, import")
    metadata_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EdgeRow(SQLModel, table=True):
    """child --relation--> parent."""

    __tablename__ = "dia_edges"

    child_id: str = Field(primary_key=True, max_length=200)
    parent_id: str = Field(primary_key=True, max_length=200, index=True)
    relation: str = Field(max_length=32)
    method: str | None = Field(default=None, max_length=32)
    source: str = Field(default="report", max_length=32)
