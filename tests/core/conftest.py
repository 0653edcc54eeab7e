"""Backends every contract test runs against: the metadata DB and the artifact store.

``database`` is a migrated, empty DB on SQLite and on PostgreSQL; ``empty_database`` one
that no migration has touched. PostgreSQL runs when ``SHIPYARD_TEST_POSTGRES_URL`` names a
server: each pytest process gets its own ``shipyard_test_<hex>`` databases, dropped at the
end, so ``-n`` workers never share one. ``store`` is an artifact store in a directory and
in a bucket of a moto S3 server on 127.0.0.1.

The compute tests load this module too (see ``tests/compute/conftest.py``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shipyard.core.artifacts import BaseArtifactStore, open_store
from shipyard.core.db import Base, Database
from shipyard.core.tables import import_all_tables

POSTGRES_URL_VARIABLE = "SHIPYARD_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]
STORES = ["local", "s3"]

import_all_tables()


# ---- the metadata DB -----------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases (their URLs), all dropped at the end."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set; PostgreSQL backend tests need a server")
    import psycopg

    admin_url = make_url(server_url).set(drivername="postgresql")
    admin_dsn = admin_url.render_as_string(hide_password=False)
    created: list[str] = []

    def create() -> str:
        name = f"shipyard_test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        for name in created:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_databases: Callable[[], str]) -> str:
    """One migrated PostgreSQL database per pytest process; tests empty it between them."""
    url = postgres_databases()
    db = Database(url)
    db.migrate()
    db.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated DB with no rows, on each backend."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
        db.migrate()
    else:
        db = Database(request.getfixturevalue("migrated_postgres_url"))
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db
    db.dispose()


@pytest.fixture
def empty_database(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Database]:
    """A DB no migration has run on, on each backend."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    else:
        db = Database(request.getfixturevalue("postgres_databases")())
    yield db
    db.dispose()


# ---- the artifact store --------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server in this pytest process, on 127.0.0.1 and a port the OS picks."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server, with the fake credentials s3fs and boto3 read."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"shipyard-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BaseArtifactStore:
    """An empty artifact store: a directory, or a prefix in a fresh S3 bucket."""
    if request.param == "local":
        return open_store(str(tmp_path / "artifacts"))
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/artifacts", request.getfixturevalue("moto_endpoint"))
