"""Fixtures of the logger tests: databases (SQLite files, a PostgreSQL schema per test).

PostgreSQL tests run against the server named by ``PYCTI_TEST_POSTGRES_DSN`` (CI sets it);
each test gets its own schema, dropped afterwards. Without the variable they are skipped.
Tests that only read what a module logged once share ``module_db_url`` instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .support import POSTGRES_ENV, TcpProxy, postgres_dsn, requires_postgres


def _with_schema(dsn: str, schema: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"


@contextmanager
def _fresh_schema() -> Iterator[str]:
    dsn = postgres_dsn()
    if dsn is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    import psycopg

    schema = f"pycti_test_{uuid.uuid4().hex[:12]}"
    try:
        yield _with_schema(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a fresh schema of its own (dropped at the end)."""
    with _fresh_schema() as url:
        yield url


@pytest.fixture
def pg_relay(pg_url: str) -> Iterator[TcpProxy]:
    """A TCP relay to the PostgreSQL server of ``pg_url``, listening (``cut()`` it for an
    outage); ``pg_relay.route(pg_url)`` is the URL through it."""
    parts = urlsplit(pg_url)
    relay = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=requires_postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL: an SQLite file, and (when configured) a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lab.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=requires_postgres)]
)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like ``db_url``, but one database per module: for tests that only read what a
    module-scoped fixture logged into it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'lab.db'}"
    else:
        with _fresh_schema() as url:
            yield url
