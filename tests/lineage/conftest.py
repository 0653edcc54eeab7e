"""Fixtures of the lineage tests: the DB backends and artifact stores of tests/core, and a
hash cache emptied around each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from compute_testing import core_fixtures

from shipyard.lineage import service

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database
moto_endpoint = _core.moto_endpoint
s3_bucket = _core.s3_bucket
store = _core.store


@pytest.fixture(autouse=True)
def empty_hash_cache() -> Iterator[None]:
    service.HASHES.clear()
    yield
    service.HASHES.clear()
