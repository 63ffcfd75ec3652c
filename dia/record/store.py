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

import json
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine

from dia import settings
from dia.constants import APP_NAME, DEFAULT_DB_FILENAME, STALE_HEARTBEAT_FACTOR
from dia.errors import InvalidSettingError, LineageCycleError, StoreError
from dia.record.report import RunReport, RunStatus, parse_kind
from dia.record.tables import EdgeRow, ModelRow, RunRow

_URL_FORMS = "sqlite:///path/to/dia.sqlite or postgresql+psycopg://user:password@host:5432/dbname"


def default_database_url() -> str:
    """``DIA_DATABASE_URL`` if set, else the SQLite file in the user's data directory."""
    env = settings.database_url()
    if env:
        return env
    from platformdirs import user_data_dir

    path = Path(user_data_dir(APP_NAME, appauthor=False)) / DEFAULT_DB_FILENAME
    return f"sqlite:///{path}"


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    try:
        parsed = make_url(url)
        # Re-rendering escapes characters (``file:`` -> ``file%3A``): only when needed.
        return url if parsed.password is None else parsed.render_as_string(hide_password=True)
    except Exception:  # not even parseable: show it without anything after '@' credentials
        _credentials, sep, tail = url.rpartition("@")
        return ("***@" + tail) if sep else url


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
class ModelTotals:
    """Sum of one model's production runs (use runs excluded), endpoint-wise."""

    model_id: str
    runs: int
    energy_kwh: tuple[float, float, float]  # value, low, high
    carbon_kg: tuple[float, float, float]
    water_l: tuple[float, float, float]
    qualities: tuple[str, ...]  # distinct qualities of the runs' carbon totals


class Store:
    """Run reports, models and lineage edges, behind one SQL database.

    ``url`` defaults to :func:`default_database_url`. ``read_only=True`` opens SQLite
    files read-only and PostgreSQL sessions in read-only transactions.
    """

    def __init__(self, url: str | None = None, *, read_only: bool = False) -> None:
        self.url = _normalise_url(url or default_database_url())
        self.masked_url = mask_url(self.url)
        self.read_only = read_only
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
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            if not self.read_only:
                self._create_tables(engine.execution_options(dia_write=True), backend)
            else:
                with engine.connect() as conn:
                    conn.execute(select(func.count()).select_from(RunRow))
        except (SQLAlchemyError, OSError) as exc:
            engine.dispose()
            raise self._fail("cannot open store", exc) from None
        return engine

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
            return
        # Several processes may create the schema at once: serialise on an advisory lock.
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7411)"))
            SQLModel.metadata.create_all(conn, tables=tables)

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

    def save_run(self, report: RunReport) -> None:
        """Insert or update one run (same id: updated, never duplicated)."""
        self.save_runs([report])

    def save_runs(self, reports: Iterable[RunReport], *, source: str = "report") -> int:
        """Insert or update runs in one transaction, with their models and lineage edges.

        A parent edge that would close a cycle raises :class:`LineageCycleError` and the
        whole batch is rolled back: nothing already stored is lost.
        """
        self._write_guard()
        reports = list(reports)
        if not reports:
            return 0
        with self._session(write=True) as session:
            for report in reports:
                self._upsert(session, RunRow, _run_row(report), ["id"])
                if report.model_id:
                    created = report.ended_at or report.started_at
                    self._ensure_model(session, report.model_id, created, report.source)
                    for parent in report.parents:
                        self._ensure_model(session, parent.model_id, None, report.source)
                        self._add_edge(
                            session,
                            Edge(report.model_id, parent.model_id, parent.relation.value,
                                 parent.method, source),
                        )
            session.commit()
        return len(reports)

    def get_run(self, run_id: str) -> RunReport | None:
        """The stored report with this id (prefix of at least 8 characters accepted)."""
        with self._session() as session:
            row = session.get(RunRow, run_id)
            if row is None and len(run_id) >= 8:
                stmt = select(RunRow).where(col(RunRow.id).startswith(run_id, autoescape=True)).limit(2)
                rows = session.execute(stmt).scalars().all()
                row = rows[0] if len(rows) == 1 else None
            return None if row is None else self._present(RunReport.model_validate_json(row.report_json))

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
        stmt = self._filtered(select(col(RunRow.report_json)), model_id, None if live else status,
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
            reports = [self._present(RunReport.model_validate_json(r[0])) for r in rows]
            if live:
                reports = [r for r in reports if r.status is shown_status]
                reports = reports[offset:] if limit is None else reports[offset:offset + limit]
            if logical:
                groups = {r.run_group for r in reports if r.run_group is not None}
                members = self._group_members(session, groups) if groups else {}
                reports = [_merge_group(r, members.get(r.run_group, [])) if r.run_group else r for r in reports]
        return reports

    def iter_runs(self, *, batch: int = 1000, logical: bool = False) -> Iterator[RunReport]:
        """Every stored run (all ranks by default) as stored, ordered by id, for export."""
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
            for _run_id, js in rows:
                yield RunReport.model_validate_json(js)
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
        for (js,) in session.execute(stmt).all():
            rep = RunReport.model_validate_json(js)
            out.setdefault(rep.run_group or "", []).append(rep)
        return out

    def _present(self, report: RunReport) -> RunReport:
        """A running run whose process is gone and whose heartbeat is stale is shown interrupted."""
        if report.status is RunStatus.RUNNING and _is_stale(report):
            report = report.model_copy(update={"status": RunStatus.INTERRUPTED})
            report.notes = [*report.notes, "process gone and heartbeat stale: shown as interrupted"]
        return report

    def model_totals(self, model_ids: Iterable[str] | None = None) -> dict[str, ModelTotals]:
        """Per model (every model, or only ``model_ids``): the endpoint-wise sum of its
        production runs (SQL aggregation).

        One grouped scan: the distinct qualities come along as one aggregated string
        (a second GROUP BY model, quality scan cost as much as the sums themselves).
        """
        cols: list[Any] = [col(RunRow.model_id), func.count()]
        for name in ("energy_kwh", "carbon_kg", "water_l"):
            for suffix in ("", "_low", "_high"):
                cols.append(func.sum(getattr(RunRow, name + suffix)))
        if self.backend == "postgresql":
            cols.append(func.string_agg(col(RunRow.quality).distinct(), text("','")))
        else:
            cols.append(func.group_concat(col(RunRow.quality).distinct()))
        stmt = (select(*cols).where(col(RunRow.model_id).is_not(None), col(RunRow.is_use).is_(False))
                .group_by(col(RunRow.model_id)))
        if model_ids is not None:
            stmt = stmt.where(col(RunRow.model_id).in_(sorted(set(model_ids))))
        out = {}
        for r in self._core_rows(stmt):
            v = [float(x or 0.0) for x in r[2:11]]
            qualities = tuple(sorted(str(r[11]).split(","))) if r[11] else ()
            out[r[0]] = ModelTotals(r[0], int(r[1]), (v[0], v[1], v[2]), (v[3], v[4], v[5]),
                                    (v[6], v[7], v[8]), qualities)
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

    def _add_edge(self, session: Session, edge: Edge) -> None:
        if edge.child_id == edge.parent_id:
            raise LineageCycleError(f"self-loop: {edge.child_id} lists itself as a parent")
        existing = session.get(EdgeRow, (edge.child_id, edge.parent_id))
        if existing is None:
            path = self._path_up(session, edge.parent_id, edge.child_id)
            if path is not None:
                cycle = " -> ".join([edge.child_id, *path])
                raise LineageCycleError(f"lineage cycle: {cycle}")
        self._upsert(session, EdgeRow, {"child_id": edge.child_id, "parent_id": edge.parent_id,
                                        "relation": edge.relation, "method": edge.method,
                                        "source": edge.source}, ["child_id", "parent_id"])

    def _path_up(self, session: Session, start: str, target: str) -> list[str] | None:
        """Ancestor path from ``start`` up to ``target`` (inclusive), or None."""
        came_from: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier:
            if target in came_from:
                break
            stmt = select(col(EdgeRow.child_id), col(EdgeRow.parent_id)).where(col(EdgeRow.child_id).in_(frontier))
            nxt = []
            for child, parent in session.execute(stmt).all():
                if parent not in came_from:
                    came_from[parent] = child
                    nxt.append(parent)
            frontier = nxt
        if target not in came_from:
            return None
        path = [target]
        step = came_from[target]
        while step is not None:
            path.append(step)
            step = came_from[step]
        return list(reversed(path))

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

def _naive(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc).replace(tzinfo=None) if dt.tzinfo else dt


def _model_info(row: ModelRow) -> ModelInfo:
    created = row.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return ModelInfo(row.id, created, row.source, json.loads(row.metadata_json or "{}"))


def _triple(q: Any) -> tuple[float, float, float]:
    return (q.value, q.low, q.high) if q is not None else (0.0, 0.0, 0.0)


def _run_row(report: RunReport) -> dict[str, Any]:
    e = _triple(report.energy.it_kwh)
    c = _triple(report.carbon.total_kg if report.carbon else None)
    w = _triple(report.water.total_l if report.water else None)
    quality = report.carbon.total_kg.quality.value if report.carbon else "unavailable"
    return {
        "id": report.id, "model_id": report.model_id, "kind": report.kind.value,
        "status": report.status.value, "started_at": report.started_at, "ended_at": report.ended_at,
        "heartbeat_at": report.heartbeat_at, "country": report.location.country,
        "run_group": report.run_group, "rank": report.rank, "host": report.host, "pid": report.pid,
        "source": report.source,
        "energy_kwh": e[0], "energy_kwh_low": e[1], "energy_kwh_high": e[2],
        "carbon_kg": c[0], "carbon_kg_low": c[1], "carbon_kg_high": c[2],
        "water_l": w[0], "water_l_low": w[1], "water_l_high": w[2],
        "quality": quality, "is_use": report.is_use, "report_json": report.model_dump_json(),
    }


def _is_stale(report: RunReport) -> bool:
    try:
        interval = settings.checkpoint_s()
    except InvalidSettingError:  # a reader with a bad setting still lists runs
        interval = settings.DEFAULT_CHECKPOINT_S
    beat = report.heartbeat_at or report.started_at
    if beat is None:
        return False
    stale = datetime.now(timezone.utc) - beat > timedelta(seconds=STALE_HEARTBEAT_FACTOR * max(interval, 1.0))
    if not stale:
        return False
    if report.pid is not None and report.host == socket.gethostname():
        import psutil

        return not psutil.pid_exists(report.pid)
    return True


def _merge_group(primary: RunReport, others: Sequence[RunReport]) -> RunReport:
    """The logical run of a distributed job: rank 0's report plus the other ranks' figures."""
    if not others:
        return primary
    from dia.record.merge import merge_reports

    return merge_reports(primary, list(others))
