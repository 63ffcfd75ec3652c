"""The store: run reports, models and lineage edges in SQLite (default) or PostgreSQL.

The embedded default is a SQLite file in the user's data directory, in WAL mode so
readers never block the writer. ``DIA_DATABASE_URL`` or an explicit URL
(``postgresql+psycopg://user:pw@host/db``) selects another database; the same code
serves both.

>>> from dia.record.store import Store
>>> store = Store("sqlite://")          # in memory
>>> store.run_count()
0
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import String, case, delete, event, func, inspect, select, text, type_coerce
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine

from dia import settings
from dia.constants import APP_NAME, DEFAULT_DB_FILENAME, SCHEMA_VERSION, STALE_HEARTBEAT_FACTOR
from dia.errors import DIAError, LineageCycleError, StoreError
from dia.record.report import Interval, RunReport, RunStatus, parse_kind, validation_problems
from dia.record.tables import EdgeRow, ModelRow, RunRow
from dia.redact import describe_error, mask_url, redact_text

_QUALITY_COLUMNS = {"energy_quality", "water_quality"}
_QUANTITY_INDEX = {"energy_kwh": 0, "carbon_kg": 1, "water_l": 2}
_URL_FORMS = "sqlite:///path/to/dia.sqlite or postgresql+psycopg://user:password@host:5432/dbname"


def default_database_url() -> str:
    """``DIA_DATABASE_URL`` if set, else the SQLite file in the user's data directory."""
    env = settings.database_url()
    if env:
        return env
    from platformdirs import user_data_dir

    path = Path(user_data_dir(APP_NAME, appauthor=False)) / DEFAULT_DB_FILENAME
    return f"sqlite:///{path}"


def sqlite_file(url: str | None = None) -> Path | None:
    """The file behind a SQLite URL (default: the default store), else ``None``."""
    try:
        parsed = make_url(_normalise_url(url or default_database_url()))
    except (ArgumentError, ValueError):
        return None
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return None
    return Path(db.removeprefix("file:")).expanduser()


def _normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use psycopg 3, the driver DIA installs."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


@dataclass(frozen=True)
class Edge:
    child_id: str
    parent_id: str
    relation: str
    method: str | None = None
    source: str = "report"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    created_at: datetime | None
    source: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ModelRecord:
    """What one source states about one model, for :meth:`Store.bulk_save`.

    ``parents`` are the model's lineage edges (``child_id`` is this model). With
    ``restate_edges`` the record is the authority on the edges of its ``source``: stored
    edges of that source it no longer states are dropped (a re-ingested card). Runs with
    ids in ``drop_runs`` are deleted (a card that no longer carries figures).

    >>> ModelRecord("org/ft", parents=(Edge("org/ft", "org/base", "finetune"),)).model_id
    'org/ft'
    """

    model_id: str
    parents: tuple[Edge, ...] = ()
    reports: tuple[RunReport, ...] = ()
    created_at: datetime | None = None
    source: str = "report"
    metadata: dict[str, Any] | None = None
    restate_edges: bool = False
    drop_runs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A record :meth:`Store.bulk_save` did not store: its index and the reason."""

    index: int
    reason: str


@dataclass(frozen=True)
class UnreadableRun:
    """A stored run this DIA cannot read as a :class:`RunReport`: its id, its stored JSON
    as is (a backup exports it whole) and one line saying why.

    >>> UnreadableRun("1234abcd-0000", "{}", "run 1234abcd: schema 2.0 is newer than this DIA reads; upgrade DIA").id
    '1234abcd-0000'
    """

    id: str
    report_json: str
    problem: str


class DatedRun(NamedTuple):
    """A production run as the timeline needs it: model, end-else-start date (naive UTC)
    and its central energy, carbon and water (``None``: not disclosed)."""

    model_id: str
    when: datetime | None
    energy_kwh: float | None
    carbon_kg: float | None
    water_l: float | None


@dataclass(frozen=True)
class QualitySum:
    """Runs of one group and their endpoint-wise sums: energy, carbon, water as
    (value, low, high) each, flat, and whether any run disclosed each of the three."""

    model_id: str
    is_use: bool
    quality: str
    runs: int
    sums: tuple[float, ...]
    # Whether any of the runs disclosed energy, carbon, water (a quality other than
    # ``unavailable``): an undisclosed figure is stored as 0, which is not a zero.
    disclosed: tuple[bool, bool, bool] = (True, True, True)


@dataclass(frozen=True)
class ModelTotals:
    """Sum of one model's production runs (use runs excluded), endpoint-wise.

    ``sums`` holds energy (kWh), carbon (kgCO2e) and water (L) as value, low, high each:
    the lineage engine reads it as one matrix row. The :class:`Interval` views are built on
    first use, since a store-wide scan makes one ``ModelTotals`` per model.
    """

    model_id: str
    runs: int
    sums: tuple[float, ...]
    qualities: tuple[str, ...]  # distinct qualities of the runs' carbon totals
    # Whether any run disclosed energy, carbon, water: a sum of figures nobody disclosed
    # is 0 and must be shown "not disclosed" (:meth:`discloses`), never as a zero.
    disclosed: tuple[bool, bool, bool] = (True, True, True)

    def discloses(self, quantity: str) -> bool:
        """Whether any production run disclosed ``quantity`` (``energy_kwh``, ``carbon_kg``, ``water_l``).

        >>> ModelTotals("o/m", 1, (0.0,) * 9, ("reported",), (False, True, False)).discloses("energy_kwh")
        False
        """
        return self.disclosed[_QUANTITY_INDEX[quantity]]

    @cached_property
    def energy_kwh(self) -> Interval:
        return Interval.unchecked(*self.sums[0:3])

    @cached_property
    def carbon_kg(self) -> Interval:
        return Interval.unchecked(*self.sums[3:6])

    @cached_property
    def water_l(self) -> Interval:
        return Interval.unchecked(*self.sums[6:9])


class Store:
    """Run reports, models and lineage edges, behind one SQL database.

    ``url`` defaults to :func:`default_database_url`. ``read_only=True`` opens SQLite
    files read-only and PostgreSQL sessions in read-only transactions.
    """

    def __init__(self, url: str | None = None, *, read_only: bool = False) -> None:
        self.url = _normalise_url(url or default_database_url())
        self.masked_url = mask_url(self.url)
        self.read_only = read_only
        # One line per stored row this DIA could not read (a newer schema, a row edited by
        # hand), met by a read so far: the CLI prints them; the rows are still listed.
        self.read_problems: list[str] = []
        self.engine = self._connect()
        # Writes go through this view of the engine: on SQLite its transactions take the
        # write lock up front (BEGIN IMMEDIATE); reads stay plain so WAL readers never wait.
        self._write_engine = self.engine.execution_options(dia_write=True)

    # -- connection ------------------------------------------------------------------

    def _fail(self, what: str, exc: BaseException | None = None) -> StoreError:
        detail = ""
        if exc is not None:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            detail = ": " + detail.replace(self.url, self.masked_url)
        return StoreError(f"{what} {self.masked_url}{detail}")

    def _connect(self) -> Engine:
        try:
            parsed = make_url(self.url)
        except (ArgumentError, ValueError):
            raise StoreError(f"not a database URL: {self.masked_url} (expected {_URL_FORMS})") from None
        backend = parsed.get_backend_name()
        try:
            if backend == "sqlite":
                engine = self._sqlite_engine(parsed)
            elif backend in ("postgresql", "postgres"):
                engine = create_engine(self.url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
                if self.read_only:
                    @event.listens_for(engine, "connect")
                    def _ro(dbapi_conn: Any, _rec: Any) -> None:
                        cur = dbapi_conn.cursor()
                        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                        cur.close()
                        dbapi_conn.commit()
            else:
                raise StoreError(f"unsupported database {backend!r} in {self.masked_url} (expected {_URL_FORMS})")
        except (NoSuchModuleError, ImportError, ArgumentError) as exc:
            if backend in ("postgresql", "postgres") and isinstance(exc, ImportError):
                raise StoreError(f"cannot use {self.masked_url}: PostgreSQL needs psycopg: pip install 'dia[postgres]'") from None
            raise self._fail("cannot use database URL", exc) from None
        import time

        # Several processes opening a fresh SQLite file at once race on its first write
        # (switching to WAL, creating the tables): SQLite can answer "database is locked"
        # there without waiting on busy_timeout. Opening is idempotent, so retry it.
        deadline = time.monotonic() + (30.0 if backend == "sqlite" else 0.0)
        for attempt in itertools.count():
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                if not self.read_only:
                    self._create_tables(engine.execution_options(dia_write=True), backend)
                else:
                    with engine.connect() as conn:
                        conn.execute(select(func.count()).select_from(RunRow))
                return engine
            except (SQLAlchemyError, OSError) as exc:
                if _is_locked(exc) and time.monotonic() < deadline:
                    engine.dispose()  # a connection whose pragmas failed is not reused
                    time.sleep(min(0.01 * 2 ** attempt, 0.5))
                    continue
                engine.dispose()
                raise self._fail("cannot open store", exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _sqlite_engine(self, parsed: Any) -> Engine:
        db = parsed.database
        in_memory = not db or db == ":memory:"
        as_uri = str(parsed.query.get("uri", "")).lower() in ("true", "1")
        if as_uri:  # sqlite:///file:path?mode=ro&uri=true: SQLite's own URI options
            url = self.url
            in_memory = "mode=memory" in url
        elif not in_memory:
            path = Path(db).expanduser()
            if self.read_only:
                if not path.exists():
                    raise StoreError(f"no store at {self.masked_url}")
                url = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the folder of {self.masked_url}: {exc.strerror}") from None
                url = f"sqlite:///{path}"
        else:
            url = "sqlite://"
        from sqlalchemy.pool import StaticPool

        kw: dict[str, Any] = {"connect_args": {"timeout": 60, "check_same_thread": False}}
        if in_memory:
            kw["poolclass"] = StaticPool
        engine = create_engine(url, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            # Let SQLAlchemy's BEGIN below be the only transaction control.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=60000")
            if not in_memory and not self.read_only:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A write transaction takes the write lock up front (IMMEDIATE), so concurrent
            # writers queue on busy_timeout instead of failing with "database is locked"
            # when a read transaction tries to upgrade.
            write = conn.get_execution_options().get("dia_write") and not self.read_only
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _create_tables(self, engine: Engine, backend: str) -> None:
        tables = [RunRow.__table__, ModelRow.__table__, EdgeRow.__table__]  # type: ignore[attr-defined]
        if backend == "sqlite":
            SQLModel.metadata.create_all(engine, tables=tables)
            with engine.begin() as conn:  # BEGIN IMMEDIATE: one process adds the columns
                _add_quality_columns(conn)
            return
        # Several processes may create the schema at once: serialise on an advisory lock.
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7411)"))
            SQLModel.metadata.create_all(conn, tables=tables)
            _add_quality_columns(conn)

    @cached_property
    def _has_quality_columns(self) -> bool:
        """Whether ``dia_runs`` has the energy/water quality columns (a read-only store
        written by an older DIA may lack them)."""
        with self.engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns(RunRow.__tablename__)} >= _QUALITY_COLUMNS

    def _disclosed_figures(self) -> list[Any]:
        """Per run: energy, carbon and water central values, NULL where not disclosed (never 0)."""
        def figure(value: Any, quality: Any, high: Any) -> Any:
            if quality is None:  # rows written before the quality columns: a positive figure was disclosed
                return case((high > 0, value), else_=None)
            return case((quality == "unavailable", None), (quality.is_not(None), value), (high > 0, value),
                        else_=None)

        known = self._has_quality_columns
        return [figure(col(RunRow.energy_kwh), col(RunRow.energy_quality) if known else None,
                       col(RunRow.energy_kwh_high)),
                case((col(RunRow.quality) == "unavailable", None), else_=col(RunRow.carbon_kg)),
                figure(col(RunRow.water_l), col(RunRow.water_quality) if known else None, col(RunRow.water_l_high))]

    def _disclosed_columns(self, *, carbon: bool = True) -> list[Any]:
        """Per group: whether any run disclosed energy, (carbon,) water: 1 or 0 each.

        Disclosed = a quality other than ``unavailable``. Carbon's quality has always been
        stored (``carbon=False``: a query grouped by it reads the flag from the group);
        energy and water rows written before their quality columns existed (NULL) count as
        disclosed when their figure is above zero, the only trace left of it.
        """
        def flag(quality: Any, high: Any) -> Any:
            # One flat CASE per row: a nested one cost a third more on a 50,000-run scan.
            if quality is None:
                return func.max(case((high > 0, 1), else_=0))
            return func.max(case((quality == "unavailable", 0), (quality.is_not(None), 1), (high > 0, 1), else_=0))

        known = self._has_quality_columns
        out = [flag(col(RunRow.energy_quality) if known else None, col(RunRow.energy_kwh_high))]
        if carbon:
            out.append(func.max(case((col(RunRow.quality) == "unavailable", 0), else_=1)))
        out.append(flag(col(RunRow.water_quality) if known else None, col(RunRow.water_l_high)))
        return out

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        if write:
            self._write_guard()
        try:
            with Session(self._write_engine if write else self.engine, expire_on_commit=False) as session:
                if write and self.backend == "postgresql":
                    # Writers serialise on one advisory lock, taken first: the cycle check
                    # then sees every committed edge, and model rows are never updated by
                    # two transactions in opposite orders (no deadlocks).
                    session.execute(text("SELECT pg_advisory_xact_lock(7412)"))
                yield session
        except (DBAPIError, SQLAlchemyError) as exc:
            raise self._fail("store error at", exc) from None

    def _write_guard(self) -> None:
        if self.read_only:
            raise StoreError(f"store {self.masked_url} is open read-only")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    # -- runs --------------------------------------------------------------------------

    def save_run(self, report: RunReport) -> bool:
        """Insert or update one run (same id: updated, never duplicated); ``False`` when the
        stored run is further along and was kept (see :meth:`save_runs`)."""
        return self.save_runs([report]) == 1

    def save_runs(self, reports: Iterable[RunReport], *, source: str = "report",
                  not_applied: list[str] | None = None) -> int:
        """Insert or update runs in one transaction, with their models and lineage edges.

        Returns how many runs were stored. Updates are monotone: a stored run is never
        moved backwards, so a report older than the stored one is not applied (its id is
        appended to ``not_applied`` when given) and the rest of the batch is stored. Older
        means less energy, or a ``running`` snapshot of a run stored as completed, failed
        or interrupted, unless the snapshot's heartbeat is later than that end (a resumed
        run). A card's run restates the card: it always applies over a card's run.

        A parent edge that would close a cycle raises :class:`LineageCycleError` and the
        whole batch is rolled back: nothing already stored is lost.

        >>> from dia.record.report import RunReport
        >>> store = Store("sqlite://")
        >>> done = RunReport(id="00000000-0000-4000-8000-000000000001", status="completed",
        ...                  energy={"it_kwh": {"value": 2.0, "unit": "kWh", "quality": "measured"}})
        >>> store.save_runs([done])
        1
        >>> earlier = done.model_copy(update={"status": RunStatus.RUNNING})
        >>> skipped: list[str] = []
        >>> store.save_runs([earlier], not_applied=skipped), skipped
        (0, ['00000000-0000-4000-8000-000000000001'])
        >>> store.get_run(done.id).status.value
        'completed'
        """
        self._write_guard()
        reports = list(reports)
        if not reports:
            return 0
        applied = 0
        with self._session(write=True) as session:
            # Only reports with parents add edges: a tracker's plain save reads no lineage.
            lineage = _Lineage.load(session, {m for r in reports if r.model_id and r.parents
                                              for m in (r.model_id, *(p.model_id for p in r.parents))})
            for report in reports:
                if self._upsert_runs(session, [_run_row(report)]):
                    applied += 1
                elif not_applied is not None:
                    not_applied.append(report.id)
                if report.model_id:
                    created = report.ended_at or report.started_at
                    self._ensure_model(session, report.model_id, created, report.source)
                    for parent in report.parents:
                        self._ensure_model(session, parent.model_id, None, report.source)
                        self._add_edge(
                            session,
                            Edge(report.model_id, parent.model_id, parent.relation.value,
                                 parent.method, source),
                            lineage,
                        )
            session.commit()
        return applied

    def get_run(self, run_id: str) -> RunReport | None:
        """The stored report with this id (prefix of at least 8 characters accepted)."""
        with self._session() as session:
            row = session.get(RunRow, run_id)
            if row is None and len(run_id) >= 8:
                stmt = select(RunRow).where(col(RunRow.id).startswith(run_id, autoescape=True)).limit(2)
                rows = session.execute(stmt).scalars().all()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                return None
            read = self._read_row(row.id, row.report_json)
            return self._present(read if isinstance(read, RunReport) else self._stand_in(session, read))

    def list_runs(
        self,
        *,
        model_id: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        country: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        logical: bool = True,
    ) -> list[RunReport]:
        """Runs, newest first. ``logical=True`` shows one run per distributed job: the
        rank-0 report, with the other ranks' energy, carbon and water added to it.

        ``status`` filters on the status as shown: a ``running`` run whose process is gone
        and whose heartbeat is stale counts as ``interrupted``.
        """
        shown_status = RunStatus(status) if status is not None else None
        # A stored "running" run may be shown as interrupted: fetch both, decide below.
        live = shown_status in (RunStatus.RUNNING, RunStatus.INTERRUPTED)
        stmt = self._filtered(select(col(RunRow.id), col(RunRow.report_json)), model_id, None if live else status,
                              kind, country, logical)
        if live:
            stmt = stmt.where(col(RunRow.status).in_([RunStatus.RUNNING.value, RunStatus.INTERRUPTED.value]))
        # NULLS LAST on both backends (PostgreSQL puts them first by default).
        stmt = stmt.order_by(col(RunRow.started_at).desc().nulls_last(), col(RunRow.id))
        if not live:
            stmt = stmt.offset(offset)
            if limit is not None:
                stmt = stmt.limit(limit)
        with self._session() as session:
            rows = session.execute(stmt).all()
            reports = []
            for run_id, js in rows:
                read = self._read_row(run_id, js)
                reports.append(self._present(read if isinstance(read, RunReport) else self._stand_in(session, read)))
            if live:
                reports = [r for r in reports if r.status is shown_status]
                reports = reports[offset:] if limit is None else reports[offset:offset + limit]
            if logical:
                groups = {r.run_group for r in reports if r.run_group is not None}
                members = self._group_members(session, groups) if groups else {}
                reports = [_merge_group(r, members.get(r.run_group, [])) if r.run_group else r for r in reports]
        return reports

    def iter_runs(self, *, batch: int = 1000, logical: bool = False) -> Iterator[RunReport]:
        """Every stored run (all ranks by default) as stored, ordered by id.

        A row this DIA cannot read is left out, its one-line note added to
        :attr:`read_problems` (:meth:`iter_stored` yields it, for a complete export).
        """
        for item in self.iter_stored(batch=batch, logical=logical):
            if isinstance(item, RunReport):
                yield item

    def iter_stored(self, *, batch: int = 1000, logical: bool = False) -> Iterator[RunReport | UnreadableRun]:
        """Every stored run, ordered by id, for a backup: the report, or for a row this DIA
        cannot read (a newer schema, a row edited by hand) an :class:`UnreadableRun` with
        the stored JSON as is (its note also goes to :attr:`read_problems`)."""
        after = ""
        while True:
            # Keyset pagination: stable while other processes write.
            stmt = (select(col(RunRow.id), col(RunRow.report_json)).where(col(RunRow.id) > after)
                    .order_by(col(RunRow.id)).limit(batch))
            if logical:
                stmt = stmt.where(col(RunRow.rank) == 0)
            with self._session() as session:
                rows = session.execute(stmt).all()
            if not rows:
                return
            for run_id, js in rows:
                yield self._read_row(run_id, js)
            after = rows[-1][0]

    def run_count(self, *, model_id: str | None = None, status: str | None = None,
                  kind: str | None = None, country: str | None = None, logical: bool = True) -> int:
        stmt = self._filtered(select(func.count()).select_from(RunRow), model_id, status, kind, country, logical)
        with self._session() as session:
            return int(session.execute(stmt).scalar_one())

    def _filtered(self, stmt: Any, model_id: str | None, status: str | None, kind: str | None,
                  country: str | None, logical: bool) -> Any:
        if model_id is not None:
            stmt = stmt.where(col(RunRow.model_id) == model_id)
        if status is not None:
            stmt = stmt.where(col(RunRow.status) == RunStatus(status).value)
        if kind is not None:
            stmt = stmt.where(col(RunRow.kind) == parse_kind(kind).value)
        if country is not None:
            stmt = stmt.where(col(RunRow.country) == country.upper())
        if logical:
            stmt = stmt.where(col(RunRow.rank) == 0)
        return stmt

    def _group_members(self, session: Session, groups: set[str]) -> dict[str, list[RunReport]]:
        out: dict[str, list[RunReport]] = {}
        stmt = select(col(RunRow.report_json)).where(col(RunRow.run_group).in_(groups), col(RunRow.rank) > 0)
        for js, run_id in session.execute(stmt.add_columns(col(RunRow.id))).all():
            rep = self._read_row(run_id, js)
            if isinstance(rep, RunReport):  # an unreadable rank is left out of the sum, with its note
                out.setdefault(rep.run_group or "", []).append(rep)
        return out

    def _read_row(self, run_id: str, report_json: str) -> RunReport | UnreadableRun:
        """The stored report, or the row as :class:`UnreadableRun` (never an exception:
        one bad row must not break a listing or a backup). Its note goes to
        :attr:`read_problems`."""
        try:
            return RunReport.model_validate_json(report_json)
        except ValidationError as exc:
            # The first problem, without the stored value it quotes: the note may be shown publicly.
            reason = _unreadable_reason(report_json, redact_text(validation_problems(exc)[0].split(" (got ")[0]))
        except (DIAError, ValueError, TypeError, RecursionError) as exc:
            reason = _unreadable_reason(report_json, describe_error(exc))
        problem = f"run {run_id[:8]}: {reason}"
        if problem not in self.read_problems:
            self.read_problems.append(problem)
        return UnreadableRun(run_id, report_json, problem)

    def _stand_in(self, session: Session, unreadable: UnreadableRun) -> RunReport:
        """A run this DIA cannot read, shown from its table columns (id, model, kind,
        status, dates, energy) with the reason as its note: listed, never dropped."""
        names = ["model_id", "kind", "status", "started_at", "ended_at", "heartbeat_at", "run_group", "rank",
                 "energy_kwh", "energy_kwh_low", "energy_kwh_high"]
        if self._has_quality_columns:  # a store written by an older DIA may lack it
            names.append("energy_quality")
        stmt = select(*(getattr(RunRow, n) for n in names)).where(col(RunRow.id) == unreadable.id)
        found = session.connection().execute(stmt).first()
        row = dict(zip(names, found, strict=True)) if found is not None else {}
        energy = {"value": 0.0, "unit": "kWh", "quality": "unavailable"}
        fields: dict[str, Any] = {}
        if row:
            quality = row.get("energy_quality") or ("reported" if (row["energy_kwh_high"] or 0) > 0 else None)
            if quality not in (None, "unavailable"):
                energy = {"value": row["energy_kwh"], "low": row["energy_kwh_low"], "high": row["energy_kwh_high"],
                          "unit": "kWh", "quality": quality}
            fields = {"model_id": row["model_id"], "kind": row["kind"], "status": row["status"],
                      "started_at": _aware_utc(row["started_at"]), "ended_at": _aware_utc(row["ended_at"]),
                      "heartbeat_at": _aware_utc(row["heartbeat_at"]), "run_group": row["run_group"],
                      "rank": row["rank"]}
        # ``extra["unreadable"]`` marks the stand-in: a page may leave it out, a resume must not
        # write over the stored row with it.
        base = {"id": unreadable.id, "notes": [unreadable.problem], "energy": {"it_kwh": energy},
                "extra": {"unreadable": unreadable.problem}}
        # Columns edited by hand may not validate either: fall back to fewer of them.
        for attempt in ({**base, **fields}, {**base, "status": fields.get("status", "completed")},
                        {**base, "energy": {"it_kwh": {"value": 0.0, "unit": "kWh", "quality": "unavailable"}}}):
            try:
                return RunReport.model_validate(attempt)
            except (ValidationError, DIAError, ValueError, TypeError):
                continue
        return RunReport.model_validate({"notes": [unreadable.problem], "extra": {"unreadable": unreadable.problem},
                                         "energy": {"it_kwh": {"value": 0.0, "unit": "kWh",
                                                               "quality": "unavailable"}}})

    def _present(self, report: RunReport) -> RunReport:
        """A running run whose process is gone and whose heartbeat is stale is shown interrupted."""
        if report.status is RunStatus.RUNNING and (why := _is_stale(report)):
            report = report.model_copy(update={"status": RunStatus.INTERRUPTED})
            report.notes = [*report.notes, f"process gone ({why}): shown as interrupted"]
        return report

    def model_totals(self, model_ids: Iterable[str] | None = None) -> dict[str, ModelTotals]:
        """Per model (every model, or only ``model_ids``): the endpoint-wise sum of its
        production runs, in one grouped scan.

        The distinct qualities come along as one aggregated string: a second GROUP BY
        model, quality scan (what :meth:`quality_sums` does) costs as much as the sums.
        """
        distinct_quality = col(RunRow.quality).distinct()
        qualities = (func.string_agg(distinct_quality, text("','")) if self.backend == "postgresql"
                     else func.group_concat(distinct_quality))
        stmt = (select(col(RunRow.model_id), func.count(), *_figure_sums(), qualities,
                       *self._disclosed_columns(carbon=False))
                .where(col(RunRow.model_id).is_not(None), col(RunRow.is_use).is_(False))
                .group_by(col(RunRow.model_id)))
        if model_ids is not None:
            stmt = stmt.where(col(RunRow.model_id).in_(sorted(set(model_ids))))
        out = {}
        for r in self._core_rows(stmt):
            tiers = tuple(sorted(str(r[11]).split(","))) if r[11] else ()
            carbon = any(t != "unavailable" for t in tiers)  # a carbon total of any other quality
            out[r[0]] = ModelTotals(r[0], int(r[1]), tuple(float(x or 0.0) for x in r[2:11]), tiers,
                                    (bool(r[12]), carbon, bool(r[13])))
        return out

    def _core_rows(self, stmt: Any) -> list[Any]:
        """Rows of a read-only column query, without the ORM's per-row loading (3x faster)."""
        with self._session() as session:
            return list(session.connection().execute(stmt).all())

    def edge_tuples(self) -> list[tuple[str, str, str, str | None]]:
        """Every lineage edge as ``(child_id, parent_id, relation, method)``: what the graph
        needs, read as plain columns (no ORM objects)."""
        stmt = select(col(EdgeRow.child_id), col(EdgeRow.parent_id), col(EdgeRow.relation), col(EdgeRow.method)
                      ).order_by(col(EdgeRow.child_id), col(EdgeRow.parent_id))
        return [(c, p, r, m) for c, p, r, m in self._core_rows(stmt)]

    def quality_sums(self, model_ids: set[str] | None = None) -> list[QualitySum]:
        """Runs and endpoint-wise sums per model, production/use and carbon quality: one
        grouped scan (``model_ids``: only those models; ``None``: every model)."""
        cols: list[Any] = [col(RunRow.model_id), col(RunRow.is_use), col(RunRow.quality), func.count(),
                           *_figure_sums(), *self._disclosed_columns(carbon=False)]
        stmt = (select(*cols).where(col(RunRow.model_id).is_not(None))
                .group_by(col(RunRow.model_id), col(RunRow.is_use), col(RunRow.quality)))
        if model_ids is not None and len(model_ids) <= 500:  # small scopes: let the database filter
            stmt = stmt.where(col(RunRow.model_id).in_(sorted(model_ids)))
        out = []
        for r in self._core_rows(stmt):
            if model_ids is not None and r[0] not in model_ids:
                continue
            out.append(QualitySum(r[0], bool(r[1]), str(r[2]), int(r[3]), tuple(float(x or 0.0) for x in r[4:13]),
                                  (bool(r[13]), str(r[2]) != "unavailable", bool(r[14]))))
        return out

    def totals_by_kind(self) -> list[QualitySum]:
        """Like :meth:`quality_sums` over all runs, grouped by use/production, with or
        without a model (``model_id`` is ``"*"`` or ``""``) and quality: one scan."""
        sums = _figure_sums()
        has_model = col(RunRow.model_id).is_not(None)
        stmt = (select(col(RunRow.is_use), has_model, col(RunRow.quality), func.count(), *sums,
                       *self._disclosed_columns(carbon=False))
                .group_by(col(RunRow.is_use), has_model, col(RunRow.quality)))
        return [QualitySum("*" if r[1] else "", bool(r[0]), str(r[2]), int(r[3]),
                           tuple(float(x or 0.0) for x in r[4:13]), (bool(r[13]), str(r[2]) != "unavailable", bool(r[14])))
                for r in self._core_rows(stmt)]

    def by_country(self) -> list[tuple[str | None, int, float | None, float | None, float | None]]:
        """``(country, runs, energy_kwh, carbon_kg, water_l)`` per country, logical runs only;
        a figure is ``None`` where no run of that country disclosed it (not 0)."""
        stmt = (select(col(RunRow.country), func.count(), func.sum(col(RunRow.energy_kwh)),
                       func.sum(col(RunRow.carbon_kg)), func.sum(col(RunRow.water_l)), *self._disclosed_columns())
                .where(col(RunRow.rank) == 0).group_by(col(RunRow.country)))
        return [(r[0], int(r[1]), *(float(x or 0.0) if flag else None for x, flag in zip(r[2:5], r[5:8], strict=True)))
                for r in self._core_rows(stmt)]

    def unlocated_runs(self, *, limit: int = 5000) -> list[RunReport]:
        """Logical runs (rank 0) whose country column is empty, newest first, at most
        ``limit``: a store written before the country came from the factors too, read so a
        page can place them (:func:`dia.convert.location.resolved_location`)."""
        stmt = (select(col(RunRow.id), col(RunRow.report_json))
                .where(col(RunRow.country).is_(None), col(RunRow.rank) == 0)
                .order_by(col(RunRow.started_at).desc().nulls_last(), col(RunRow.id)).limit(limit))
        out = []
        for run_id, js in self._core_rows(stmt):
            read = self._read_row(run_id, js)
            if isinstance(read, RunReport):
                out.append(read)
        return out

    def distinct_values(self, column: str) -> list[str]:
        """Distinct non-null values of a run column (``model_id``, ``kind``, ``status``,
        ``country``), sorted: what filters offer."""
        if column not in ("model_id", "kind", "status", "country", "source", "quality"):
            raise ValueError(f"not a run column to filter on: {column!r}")
        c = col(getattr(RunRow, column))
        return [str(v) for (v,) in self._core_rows(select(c).where(c.is_not(None)).distinct().order_by(c))]

    def tracked_model_ids(self, *, except_source: str = "card") -> set[str]:
        """Models with runs of a source other than ``except_source`` (runs of their own)."""
        stmt = select(col(RunRow.model_id)).where(col(RunRow.source) != except_source,
                                                  col(RunRow.model_id).is_not(None)).distinct()
        return {m for (m,) in self._core_rows(stmt)}

    def stored_run_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are runs in this store (e.g. the runs a DIA card was built from)."""
        wanted = sorted(set(ids))
        found: set[str] = set()
        for i in range(0, len(wanted), 500):  # bounded IN lists
            stmt = select(col(RunRow.id)).where(col(RunRow.id).in_(wanted[i:i + 500]))
            found.update(r for (r,) in self._core_rows(stmt))
        return found

    def dated_runs(self, model_ids: set[str] | None = None) -> list[DatedRun]:
        """Production runs (of ``model_ids``, or all) with their end-else-start date."""
        # COALESCE in SQL: one date per run. Read as the database's own value (SQLite: ISO
        # text), parsed below: sqlmodel's timezone wrapper per row cost more than the query.
        when = type_coerce(func.coalesce(col(RunRow.ended_at), col(RunRow.started_at)), String)
        stmt = select(col(RunRow.model_id), when, *self._disclosed_figures()).where(col(RunRow.is_use).is_(False), col(RunRow.model_id).is_not(None))
        # Up to 500 models: the database filters (IN list); more: one scan filtered here.
        if model_ids is not None and len(model_ids) <= 500:
            stmt = stmt.where(col(RunRow.model_id).in_(sorted(model_ids)))
        return [DatedRun(m, _naive_utc(w), e, c, wt) for m, w, e, c, wt in self._core_rows(stmt)
                if model_ids is None or m in model_ids]

    def model_dates(self, model_ids: set[str] | None = None) -> dict[str, datetime | None]:
        """Each model's stored date (card or first run), naive UTC."""
        stmt = select(col(ModelRow.id), type_coerce(col(ModelRow.created_at), String))
        if model_ids is not None and len(model_ids) <= 500:
            stmt = stmt.where(col(ModelRow.id).in_(sorted(model_ids)))
        return {m: _naive_utc(c) for m, c in self._core_rows(stmt) if model_ids is None or m in model_ids}

    # -- models and edges ---------------------------------------------------------------

    def _upsert(self, session: Session, table: Any, values: dict[str, Any], keys: list[str],
                update: bool = True) -> None:
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(table).values(**values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table).values(**values)
        if update:
            upd = {k: v for k, v in values.items() if k not in keys}
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=upd) if upd else stmt.on_conflict_do_nothing(index_elements=keys)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        session.execute(stmt)

    def _ensure_model(self, session: Session, model_id: str, created_at: datetime | None,
                      source: str, metadata: dict[str, Any] | None = None) -> None:
        row = session.get(ModelRow, model_id)
        if row is None:
            self._upsert(session, ModelRow, {"id": model_id, "created_at": created_at, "source": source,
                                             "metadata_json": json.dumps(metadata) if metadata else None},
                         ["id"], update=False)
            return
        changed = False
        if created_at is not None and (row.created_at is None or _naive(created_at) < _naive(row.created_at)):
            row.created_at = created_at
            changed = True
        if metadata:
            merged = {**json.loads(row.metadata_json or "{}"), **metadata}
            row.metadata_json = json.dumps(merged)
            changed = True
        if changed:
            session.add(row)

    def upsert_model(self, model_id: str, *, created_at: datetime | None = None,
                     source: str = "card", metadata: dict[str, Any] | None = None) -> None:
        """Record a model (from a card or import); metadata is merged into what is stored."""
        with self._session(write=True) as session:
            self._ensure_model(session, model_id, created_at, source, metadata)
            session.commit()

    def get_model(self, model_id: str) -> ModelInfo | None:
        with self._session() as session:
            row = session.get(ModelRow, model_id)
            return None if row is None else _model_info(row)

    def list_models(self) -> list[ModelInfo]:
        with self._session() as session:
            return [_model_info(r) for r in session.execute(select(ModelRow).order_by(col(ModelRow.id))).scalars()]

    def model_ids(self) -> list[str]:
        with self._session() as session:
            return list(session.execute(select(col(ModelRow.id)).order_by(col(ModelRow.id))).scalars())

    def add_edge(self, child_id: str, parent_id: str, relation: str, *, method: str | None = None,
                 source: str = "card") -> None:
        """Add ``child --relation--> parent``; raises :class:`LineageCycleError` on a cycle."""
        with self._session(write=True) as session:
            self._ensure_model(session, child_id, None, source)
            self._ensure_model(session, parent_id, None, source)
            self._add_edge(session, Edge(child_id, parent_id, relation, method, source))
            session.commit()

    def _add_edge(self, session: Session, edge: Edge, lineage: _Lineage | None = None) -> None:
        lineage = lineage or _Lineage.load(session, [edge.parent_id, edge.child_id])
        lineage.check(edge.child_id, edge.parent_id)
        lineage.add(edge.child_id, edge.parent_id, edge.source, replace_source=True)
        self._upsert(session, EdgeRow, {"child_id": edge.child_id, "parent_id": edge.parent_id,
                                        "relation": edge.relation, "method": edge.method,
                                        "source": edge.source}, ["child_id", "parent_id"])

    def bulk_save(self, records: Iterable[ModelRecord], *, skip_cycles: bool = False,
                  not_applied: list[str] | None = None) -> list[Refusal]:
        """Store many models, their runs and lineage edges in one transaction.

        The fast path for card ingest, imports and benchmarks: one multi-row upsert per
        table. The lineage the records touch is read once and every new edge is checked
        against it in memory, in order (the same cycle check as :meth:`save_runs`). A record
        whose edge would close a cycle raises :class:`LineageCycleError` (nothing is stored),
        or with ``skip_cycles`` is left out and returned as a :class:`Refusal`.

        Runs are upserted by id (last one wins), monotone like :meth:`save_runs`: the ids of
        runs older than the stored ones are appended to ``not_applied`` (when given), the
        rest of their record is stored. A model row is inserted if missing; an
        earlier ``created_at`` and ``metadata`` are merged into a stored one. An edge
        already stored by another source stays theirs.

        >>> store = Store("sqlite://")
        >>> store.bulk_save([ModelRecord("o/a", parents=(Edge("o/a", "o/b", "finetune"),)),
        ...                  ModelRecord("o/b", parents=(Edge("o/b", "o/a", "finetune"),))],
        ...                 skip_cycles=True)
        [Refusal(index=1, reason='lineage cycle: o/b -> o/a -> o/b')]
        >>> store.edge_tuples()
        [('o/a', 'o/b', 'finetune', None)]
        """
        self._write_guard()
        records = list(records)
        refused: list[Refusal] = []
        if not records:
            return refused
        with self._session(write=True) as session:
            starts = {e.parent_id for r in records for e in r.parents}
            starts.update(r.model_id for r in records if r.parents or r.restate_edges)
            lineage = _Lineage.load(session, starts)
            accepted: list[ModelRecord] = []
            for index, rec in enumerate(records):
                try:
                    for edge in rec.parents:
                        lineage.check(rec.model_id, edge.parent_id)
                except LineageCycleError as exc:
                    if not skip_cycles:
                        raise
                    refused.append(Refusal(index, str(exc)))
                    continue
                if rec.restate_edges:
                    lineage.restate(rec.model_id, rec.source, {e.parent_id for e in rec.parents})
                for edge in rec.parents:
                    lineage.add(rec.model_id, edge.parent_id, edge.source)
                accepted.append(rec)
            self._write_records(session, accepted, not_applied)
            session.commit()
        return refused

    def _write_records(self, session: Session, records: list[ModelRecord],
                       not_applied: list[str] | None = None) -> None:
        runs: dict[str, dict[str, Any]] = {}  # last one wins (PostgreSQL refuses one upsert touching a row twice)
        plain: dict[str, dict[str, Any]] = {}  # model rows without a date or metadata: insert if missing
        dated: dict[str, ModelRecord] = {}
        edges: dict[tuple[str, str], dict[str, Any]] = {}
        restated: dict[str, set[str]] = {}  # source -> children whose edges of that source are replaced
        drop_runs: list[str] = []
        for rec in records:
            for report in rec.reports:
                runs[report.id] = _run_row(report)
            drop_runs.extend(rec.drop_runs)
            if rec.created_at is not None or rec.metadata:
                dated[rec.model_id] = _merge_record(dated.get(rec.model_id), rec)
            for mid in (rec.model_id, *(e.parent_id for e in rec.parents)):
                plain.setdefault(mid, {"id": mid, "created_at": None, "source": rec.source, "metadata_json": None})
            if rec.restate_edges:
                restated.setdefault(rec.source, set()).add(rec.model_id)
                # A later record of the same model restates its lineage: the earlier one's edges go.
                for key in [k for k in edges if k[0] == rec.model_id and edges[k]["source"] == rec.source]:
                    del edges[key]
            for e in rec.parents:
                edges[(rec.model_id, e.parent_id)] = {"child_id": rec.model_id, "parent_id": e.parent_id,
                                                      "relation": e.relation, "method": e.method, "source": e.source}
        for source, children in restated.items():
            ordered = sorted(children)
            for start in range(0, len(ordered), 500):
                session.execute(delete(EdgeRow).where(col(EdgeRow.source) == source,
                                                      col(EdgeRow.child_id).in_(ordered[start:start + 500])))
        for start in range(0, len(drop_runs), 500):
            session.execute(delete(RunRow).where(col(RunRow.id).in_(drop_runs[start:start + 500])))
        for mid, rec in dated.items():
            plain.pop(mid, None)
            if rec.metadata:  # merged into the stored JSON: row by row
                self._ensure_model(session, mid, rec.created_at, rec.source, rec.metadata)
        self._upsert_many(session, ModelRow, list(plain.values()), ["id"], update=False)
        self._upsert_dates(session, [{"id": m, "created_at": _naive(r.created_at).replace(tzinfo=timezone.utc),
                                      "source": r.source,
                                      "metadata_json": None}
                                     for m, r in dated.items() if not r.metadata and r.created_at is not None])
        if not_applied is None:  # nobody asks which applied: no RETURNING (it costs memory per batch)
            self._upsert_runs(session, list(runs.values()), returning=False)
        else:
            stored = self._upsert_runs(session, list(runs.values()))
            not_applied.extend(run_id for run_id in runs if run_id not in stored)
        self._upsert_many(session, EdgeRow, list(edges.values()), ["child_id", "parent_id"], update=True,
                          own_source=True)

    def _upsert_dates(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert model rows; a stored one keeps the earlier of the two dates (and its source)."""
        if not rows:
            return
        from sqlalchemy import case
        from sqlalchemy.dialects import postgresql, sqlite

        table = ModelRow.__table__  # type: ignore[attr-defined]
        stmt: Any = (postgresql.insert if self.backend == "postgresql" else sqlite.insert)(table)
        stored, new = table.c.created_at, stmt.excluded.created_at
        earlier = case((stored.is_(None), new), (new < stored, new), else_=stored)
        session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"created_at": earlier}), rows)

    def _upsert_runs(self, session: Session, rows: list[dict[str, Any]], *, returning: bool = True) -> set[str]:
        """Upsert run rows (:func:`_run_row`); the ids actually inserted or updated (an empty
        set with ``returning=False``, a plain executemany for bulk writes nobody checks).

        The monotone rule is the upsert's own WHERE, evaluated by the database on the row
        as committed when the conflict is met: it holds under concurrent writers on SQLite
        and PostgreSQL, without reading the row first.
        """
        if not rows:
            return set()
        from sqlalchemy.dialects import postgresql, sqlite

        table = RunRow.__table__  # type: ignore[attr-defined]
        stmt: Any = (postgresql.insert if self.backend == "postgresql" else sqlite.insert)(table)
        stmt = stmt.on_conflict_do_update(index_elements=["id"],
                                          set_={c: stmt.excluded[c] for c in rows[0] if c != "id"},
                                          where=_moves_forward(table.c, stmt.excluded))
        if not returning:
            session.execute(stmt, rows)
            return set()
        stmt = stmt.returning(table.c.id)
        if len(rows) == 1:  # one row: a plain INSERT (the tracker's checkpoint path)
            return {r for (r,) in session.execute(stmt.values(**rows[0])).all()}
        return {r for (r,) in session.execute(stmt, rows).all()}

    def _upsert_many(self, session: Session, table: Any, rows: list[dict[str, Any]], keys: list[str],
                     *, update: bool, own_source: bool = False) -> None:
        """One multi-row INSERT ... ON CONFLICT (executemany) on SQLite or PostgreSQL."""
        if not rows:
            return
        from sqlalchemy.dialects import postgresql, sqlite

        stmt: Any = (postgresql.insert if self.backend == "postgresql" else sqlite.insert)(table.__table__)
        columns = [c for c in rows[0] if c not in keys]
        if update and columns:
            # ``own_source``: a row another source stated stays theirs.
            where = (table.__table__.c.source == stmt.excluded.source) if own_source else None
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in columns},
                                              where=where)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        session.execute(stmt, rows)

    def edges(self) -> list[Edge]:
        with self._session() as session:
            return [Edge(r.child_id, r.parent_id, r.relation, r.method, r.source)
                    for r in session.execute(select(EdgeRow).order_by(col(EdgeRow.child_id), col(EdgeRow.parent_id))).scalars()]

    def delete_edges(self, child_id: str, *, source: str | None = None) -> None:
        """Remove a model's parent edges (e.g. before re-ingesting its card)."""
        with self._session(write=True) as session:
            stmt = delete(EdgeRow).where(col(EdgeRow.child_id) == child_id)
            if source is not None:
                stmt = stmt.where(col(EdgeRow.source) == source)
            session.execute(stmt)
            session.commit()


# -- helpers ---------------------------------------------------------------------------------

def _add_quality_columns(conn: Any) -> None:
    """Add the energy/water quality columns to a ``dia_runs`` made by an older DIA (NULL in
    its rows: :meth:`Store._disclosed_columns` reads those by value)."""
    have = {c["name"] for c in inspect(conn).get_columns(RunRow.__tablename__)}
    for name in sorted(_QUALITY_COLUMNS - have):
        conn.execute(text(f"ALTER TABLE {RunRow.__tablename__} ADD COLUMN {name} VARCHAR(16)"))

def _moves_forward(stored: Any, new: Any) -> Any:
    """SQL condition for an upsert of a stored run to apply: it never moves the run back.

    A card's run is the card's statement and always replaces a card's run. Otherwise the
    energy may not decrease, and a ``running`` snapshot replaces a completed, failed or
    interrupted run only when its heartbeat is later than that run's end (a resumed run);
    an export taken while the run was going is older and is not applied.
    """
    from sqlalchemy import and_, or_

    running = RunStatus.RUNNING.value
    resumed = new.heartbeat_at > func.coalesce(stored.ended_at, stored.heartbeat_at)
    return or_(and_(stored.source == "card", new.source == "card"),
               and_(new.energy_kwh >= stored.energy_kwh,
                    or_(new.status != running, stored.status == running, resumed)))


def _is_locked(exc: BaseException) -> bool:
    """Whether a SQLite error is a busy lock (worth retrying), not a real failure."""
    text_ = str(getattr(exc, "orig", None) or exc).lower()
    return "database is locked" in text_ or "database table is locked" in text_


def _figure_sums() -> list[Any]:
    """SUM() of the headline figures, the one per-run sum every aggregate query uses:
    energy (kWh), carbon (kgCO2e), water (L), each as value, low, high."""
    return [func.sum(getattr(RunRow, name + suffix))
            for name in ("energy_kwh", "carbon_kg", "water_l") for suffix in ("", "_low", "_high")]


class _Lineage:
    """The part of the lineage graph a write can touch, in memory: the one cycle check.

    Loaded once per write transaction: the stored edges of the given models and of all
    their ancestors (one query per generation). A new edge ``child -> parent`` closes a
    cycle exactly when ``child`` is an ancestor of ``parent``, and every ancestor of a
    loaded model is loaded, so the check never needs the database again.
    """

    def __init__(self, up: dict[str, dict[str, str]]) -> None:
        self.up = up  # child -> {parent: edge source}
        self.down: dict[str, set[str]] = {}  # parent -> children, the same edges read downwards
        for child, parents in up.items():
            for parent in parents:
                self.down.setdefault(parent, set()).add(child)

    @classmethod
    def load(cls, session: Session, starts: Iterable[str]) -> _Lineage:
        up: dict[str, dict[str, str]] = {}
        seen = set(starts)
        frontier = sorted(seen)
        while frontier:
            nxt: list[str] = []
            for start in range(0, len(frontier), 500):
                stmt = (select(col(EdgeRow.child_id), col(EdgeRow.parent_id), col(EdgeRow.source))
                        .where(col(EdgeRow.child_id).in_(frontier[start:start + 500])))
                for child, parent, source in session.connection().execute(stmt).all():
                    up.setdefault(child, {})[parent] = source
                    if parent not in seen:
                        seen.add(parent)
                        nxt.append(parent)
            frontier = nxt
        return cls(up)

    def check(self, child: str, parent: str) -> None:
        """Raise :class:`LineageCycleError` if ``child -> parent`` would close a cycle.

        A search from both ends, always widening the side with fewer edges to follow: up
        from ``parent``, down from ``child``. A chain stored top-down or bottom-up costs one step per edge, not
        its depth (a one-sided search made a 100,000-model chain quadratic). Every model on
        a path down from ``child`` to ``parent`` is an ancestor of ``parent``, so loaded.
        """
        if child == parent:
            raise LineageCycleError(f"self-loop: {child} lists itself as a parent")
        if parent in self.up.get(child, ()):
            return  # an edge already stored: restating it changes nothing
        above: dict[str, str | None] = {parent: None}  # reached up from parent: the model below it
        below: dict[str, str | None] = {child: None}  # reached down from child: the model above it
        up_front, down_front = [parent], [child]
        meet = child if child in above else None
        while meet is None and up_front and down_front:
            # Widen the side with fewer edges to follow: a side that has none ends the search.
            if _fan_out(up_front, self.up) <= _fan_out(down_front, self.down):
                up_front, meet = _widen(up_front, self.up, above, below)
            else:
                down_front, meet = _widen(down_front, self.down, below, above)
        if meet is None:
            return
        path = [meet]  # parent ... meet, walking up
        while (step := above[path[-1]]) is not None:
            path.append(step)
        path.reverse()
        node = below[meet]
        while node is not None:  # meet ... child, walking up
            path.append(node)
            node = below[node]
        raise LineageCycleError("lineage cycle: " + " -> ".join([child, *path]))

    def add(self, child: str, parent: str, source: str, *, replace_source: bool = False) -> None:
        self.down.setdefault(parent, set()).add(child)
        ups = self.up.setdefault(child, {})
        if replace_source:
            ups[parent] = source
        else:
            ups.setdefault(parent, source)

    def restate(self, child: str, source: str, parents: set[str]) -> None:
        """Drop ``child``'s edges of ``source`` not in ``parents``."""
        ups = self.up.get(child, {})
        for old in [p for p, s in ups.items() if s == source and p not in parents]:
            del ups[old]
            self.down.get(old, set()).discard(child)


def _fan_out(front: list[str], links: Mapping[str, Sized]) -> int:
    return sum(len(links.get(node, ())) for node in front)


def _widen(front: list[str], links: Mapping[str, Iterable[str]], seen: dict[str, str | None],
           other: dict[str, str | None]) -> tuple[list[str], str | None]:
    """One step of :meth:`_Lineage.check`'s search: the next frontier, and the model where
    it met the other side's search (``None`` if it did not)."""
    nxt: list[str] = []
    for node in front:
        for linked in sorted(links.get(node, ())):  # sorted: the same cycle named every time
            if linked not in seen:
                seen[linked] = node
                if linked in other:
                    return nxt, linked
                nxt.append(linked)
    return nxt, None


def _merge_record(old: ModelRecord | None, new: ModelRecord) -> ModelRecord:
    """Two records of one model in a batch: earliest date, merged metadata, first source."""
    if old is None:
        return new
    dates = [d for d in (old.created_at, new.created_at) if d is not None]
    created = min(dates, key=_naive) if dates else None
    metadata = {**(old.metadata or {}), **(new.metadata or {})} or None
    return ModelRecord(old.model_id, created_at=created, source=old.source, metadata=metadata)


def _naive_utc(value: Any) -> datetime | None:
    """A stored timestamp as a naive UTC datetime (SQLite gives ISO text, PostgreSQL datetimes).

    >>> _naive_utc("2025-01-02 03:04:05.000000")
    datetime.datetime(2025, 1, 2, 3, 4, 5)
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value  # type: ignore[no-any-return]


def _unreadable_reason(report_json: str, detail: str) -> str:
    """Why a stored report cannot be read: a schema from the future, else ``detail``.

    >>> _unreadable_reason('{"schema_version": "2.0"}', "x")
    'schema 2.0 is newer than this DIA reads; upgrade DIA'
    """
    try:
        version = json.loads(report_json).get("schema_version")
    except (ValueError, RecursionError, AttributeError):
        version = None
    if isinstance(version, str):
        try:
            newer = int(version.split(".")[0]) > int(SCHEMA_VERSION.split(".")[0])
        except ValueError:
            newer = False
        if newer:
            return f"schema {version[:20]} is newer than this DIA reads; upgrade DIA"
    return f"stored report cannot be read by this DIA ({detail[:200]})"


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


def _model_info(row: ModelRow) -> ModelInfo:
    created = row.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return ModelInfo(row.id, created, row.source, json.loads(row.metadata_json or "{}"))


def _triple(q: Any) -> tuple[float, float, float]:
    return (q.value, q.low, q.high) if q is not None else (0.0, 0.0, 0.0)


def _country(report: RunReport) -> str | None:
    """The country column: the stated country, else the one the run's grid factor names
    (:func:`dia.convert.location.resolved_location`: a report whose factors say Ontario is
    counted in Canada, not under "unknown")."""
    if report.location.country or not report.factors:
        return report.location.country
    # Imported lazily: the tables are read only for a report that names no country.
    from dia.convert.location import resolved_location

    return resolved_location(report.location, report.factors).country


def _run_row(report: RunReport) -> dict[str, Any]:
    e = _triple(report.energy.it_kwh)
    c = _triple(report.carbon.total_kg if report.carbon else None)
    w = _triple(report.water.total_l if report.water else None)
    quality = report.carbon.total_kg.quality.value if report.carbon else "unavailable"
    water_quality = report.water.total_l.quality.value if report.water else "unavailable"
    return {
        "id": report.id, "model_id": report.model_id, "kind": report.kind.value,
        "status": report.status.value, "started_at": report.started_at, "ended_at": report.ended_at,
        "heartbeat_at": report.heartbeat_at, "country": _country(report),
        "run_group": report.run_group, "rank": report.rank, "host": report.host, "pid": report.pid,
        "source": report.source,
        "energy_kwh": e[0], "energy_kwh_low": e[1], "energy_kwh_high": e[2],
        "carbon_kg": c[0], "carbon_kg_low": c[1], "carbon_kg_high": c[2],
        "water_l": w[0], "water_l_low": w[1], "water_l_high": w[2],
        "quality": quality, "energy_quality": report.energy.it_kwh.quality.value, "water_quality": water_quality,
        "is_use": report.is_use, "report_json": report.model_dump_json(),
    }


def _is_stale(report: RunReport) -> str | None:
    """Why a ``running`` report's writer is gone (``None``: it may still be running).

    On the writer's own host the process table answers at once: a dead pid, or a live pid
    whose process started at another time (the pid was reused), is gone. Elsewhere only the
    heartbeat can tell: the run is gone after ``STALE_HEARTBEAT_FACTOR`` times the
    *writer's* checkpoint interval (the reader's ``DIA_CHECKPOINT_S`` plays no part); a
    report written before that interval was stored falls back to the default interval.
    """
    if report.pid is not None and report.host is not None and report.host == socket.gethostname():
        import psutil

        try:
            started = psutil.Process(report.pid).create_time()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return f"pid {report.pid} no longer runs on its host"
        except (psutil.Error, OSError):  # no permission to look: the heartbeat decides
            started = None
        if started is not None:
            recorded = report.process_started_at
            if recorded is None:
                return None  # an older writer: a live pid is taken for it, as before
            recorded = recorded if recorded.tzinfo else recorded.replace(tzinfo=timezone.utc)
            if abs(recorded.timestamp() - started) > _START_TIME_TOLERANCE_S:
                return f"pid {report.pid} now belongs to another process"
            return None
    beat = report.heartbeat_at or report.started_at
    if beat is None:
        return None
    beat = beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)
    interval = report.checkpoint_s or settings.DEFAULT_CHECKPOINT_S
    limit_s = STALE_HEARTBEAT_FACTOR * max(interval, 1.0)
    if datetime.now(timezone.utc) - beat > timedelta(seconds=limit_s):
        return f"no heartbeat for over {limit_s:g} s ({STALE_HEARTBEAT_FACTOR:g} x the writer's interval)"
    return None


# Process start times read twice (by the writer, later by a reader) differ by clock-tick
# rounding and boot-time jitter; a reused pid starts at least seconds later in practice.
_START_TIME_TOLERANCE_S = 1.0


def _merge_group(primary: RunReport, others: Sequence[RunReport]) -> RunReport:
    """The logical run of a distributed job: rank 0's report plus the other ranks' figures."""
    if not others:
        return primary
    from dia.record.merge import merge_reports

    return merge_reports(primary, list(others))
