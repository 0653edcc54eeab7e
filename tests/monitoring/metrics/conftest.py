"""The metrics tests' DB backends: those of ``tests/core/conftest.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from compute_testing import core_fixtures

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database

# the console tests' headless Chromium (tests/browser/conftest.py), for the explorer page
_spec = importlib.util.spec_from_file_location(
    "metrics_browser_fixtures", Path(__file__).parents[2] / "browser" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_browser = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_browser)
browser = _browser.browser
open_page = _browser.open_page
signed_in = _browser.signed_in
