"""Shared fixtures.

- Nothing reaches the internet: any connection or name lookup outside the loopback
  range fails the test that made it.
- Every test gets its own embedded store (``DIA_DATABASE_URL`` points into tmp_path), so
  no test touches the user's real store.
- ``store_url`` runs a test against SQLite and, when ``make test`` started one, a real
  PostgreSQL server (a fresh database per test).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "", None}


def _is_loopback(host: object) -> bool:
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkAccessError(AssertionError):
    """Raised when a test tries to reach a non-loopback address."""


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guard_address(sock: socket.socket, address: object) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6)
    if inet and isinstance(address, tuple) and not _is_loopback(address[0]):
        raise NetworkAccessError(f"test tried to open a network connection to {address!r}")


def _connect(self: socket.socket, address: object) -> None:
    _guard_address(self, address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def _connect_ex(self: socket.socket, address: object) -> int:
    _guard_address(self, address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


def _getaddrinfo(host: object, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
    if not _is_loopback(host) and host != socket.gethostname():
        raise NetworkAccessError(f"test tried to resolve host name {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _getaddrinfo)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_DATABASE_URL", f"sqlite:///{tmp_path}/default-store.sqlite")
    for var in ("DIA_COUNTRY", "DIA_REGION", "DIA_CLOUD_PROVIDER", "DIA_CLOUD_REGION",
                "DIA_CONFIG", "DIA_HUB_AUTOFILL",
                # a suite run under `dia run` (or any outer run) must not make the tests' runs windows
                "DIA_OUTER_RUN", "DIA_WINDOWS_DIR"):
        monkeypatch.delenv(var, raising=False)


def postgres_admin_url() -> str | None:
    return os.environ.get("DIA_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the loopback server; dropped afterwards."""
    admin = postgres_admin_url()
    if not admin:
        pytest.skip("no PostgreSQL server: run the suite with `make test`, which starts one")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin)
    name = f"dia_test_{uuid.uuid4().hex[:12]}"
    dsn = dict(host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database)
    with psycopg.connect(**dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """Run the test on a SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.sqlite"
    return request.getfixturevalue("postgres_url")
