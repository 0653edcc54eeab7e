"""The logs tests' DB backends: those of ``tests/core/conftest.py``."""

from __future__ import annotations

from compute_testing import core_fixtures

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database
empty_database = _core.empty_database
