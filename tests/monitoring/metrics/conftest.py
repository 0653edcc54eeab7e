"""The metrics tests' headless Chromium (their backends are ``tests/monitoring/conftest.py``'s)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
