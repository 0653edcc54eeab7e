"""Resource names: 1-63 letters, digits and hyphens; refused with the field named."""

from __future__ import annotations

import pytest

from shipyard.core.errors import ValidationError
from shipyard.core.names import srn, validate_name

ACCEPTED = [
    "a",
    "7",
    "fraud-model",
    "Fraud-Model-2",
    "a--b",
    "x" * 63,
    "a" + "-b" * 31,  # 63 characters
]
REFUSED = [
    "",
    "x" * 64,
    "x" * 200,
    "a" + "-b" * 40,  # every repeat of the pattern is legal, but 81 characters
    "-leading",
    "trailing-",
    "../etc",
    "a/b",
    "a_b",
    "a.b",
    "a b",
    "caf\u00e9",
    "name\n",
    None,
    42,
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_valid_names_are_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize("name", REFUSED, ids=repr)
def test_invalid_names_are_refused_with_the_field_named(name: object) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_name(name, "endpoint_name")
    error = raised.value
    assert error.field == "endpoint_name"
    assert error.message.startswith("endpoint_name: ")
    assert "1-63 letters, digits and hyphens" in error.message
    assert (error.status_code, error.code) == (400, "ValidationError")
    assert len(error.message) < 250  # a 200-character name is shown shortened


def test_srn() -> None:
    assert srn("endpoint", "fraud") == "srn:shipyard:endpoint/fraud"
