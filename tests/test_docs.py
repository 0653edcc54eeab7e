"""The README documents every setting, and the public API is what `__all__` says."""

from __future__ import annotations

from pathlib import Path

import shipyard
from shipyard.core.config import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`SHIPYARD_{name.upper()}`" not in README]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_public_api_is_sorted_and_importable() -> None:
    assert shipyard.__all__ == sorted(shipyard.__all__)
    for name in shipyard.__all__:
        assert getattr(shipyard, name) is not None
