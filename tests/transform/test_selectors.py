"""The JSONPath subset of ``data_processing``'s filters: what parses, what each selector
picks from a JSON record and from a tabular one, and the errors naming the field."""

from __future__ import annotations

import pytest

from shipyard.core.errors import ValidationError
from shipyard.serving.batch.selectors import parse_selector

FIELD = "data_processing.input_filter"
RECORD = {"id": 7, "features": [1.0, 2.0, 3.0], "meta": {"source": "a", "day": 2}}


def select(text: str, record: object) -> object:
    return parse_selector(text, FIELD).select(record)


@pytest.mark.parametrize(
    ("text", "picked"),
    [
        ("$", RECORD),
        ("$.features", [1.0, 2.0, 3.0]),
        ("$['features']", [1.0, 2.0, 3.0]),
        ("$.meta.source", "a"),
        ("$['id','meta']", {"id": 7, "meta": {"source": "a", "day": 2}}),
        ('$["id", "features"]', {"id": 7, "features": [1.0, 2.0, 3.0]}),
        ("$.features[1:]", [2.0, 3.0]),
        ("$.features[0,-1]", [1.0, 3.0]),
        ("$.features[-1]", [3.0]),
        ("$.features[::2]", [1.0, 3.0]),
        ("$.features[*]", [1.0, 2.0, 3.0]),
        ("$.meta['day']", 2),
    ],
)
def test_what_a_selector_picks_from_a_json_record(text, picked):
    assert select(text, RECORD) == picked


def test_indexes_and_slices_pick_columns_by_position():
    assert parse_selector("$[1:]", FIELD).positions(4) == [1, 2, 3]
    assert parse_selector("$[0,2:5]", FIELD).positions(8) == [0, 2, 3, 4]
    assert parse_selector("$[0,-1]", FIELD).positions(31) == [0, 30]
    assert parse_selector("$", FIELD).positions(3) == [0, 1, 2]
    assert parse_selector("$[-2:]", FIELD).columns(["a", "b", "c"]) == [1, 2]


def test_keys_pick_named_columns():
    names = ["id", "a", "b", "prediction"]
    assert parse_selector("$['id','prediction']", FIELD).columns(names) == [0, 3]
    assert parse_selector("$.b", FIELD).columns(names) == [2]
    assert parse_selector("$[0,-1]", FIELD).columns(names) == [0, 3]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("features", "must start with $"),
        ("$[1:x]", "'1:x' is not an index or a slice"),
        ("$[1 2]", "'1 2' is not an index or a slice"),
        ("$[]", "'' is not an index or a slice"),
        ("$[::0]", "a slice's step is not 0"),
        ("$.", "a key after '.' is letters"),
        ("$[1", "a '[' is not closed"),
        ("$['a','b'].c", "a pick of several keys or of indexes comes last"),
        ("$[0].a", "a pick of several keys or of indexes comes last"),
        ("$x", "unexpected 'x'"),
        ("$['a', b]", "'b' is not a quoted key"),
    ],
)
def test_a_filter_that_does_not_parse_names_the_field(text, why):
    with pytest.raises(ValidationError) as raised:
        parse_selector(text, FIELD)
    assert raised.value.message.startswith(f"{FIELD}: ")
    assert why in raised.value.message


@pytest.mark.parametrize(
    ("text", "record", "why"),
    [
        ("$.label", RECORD, "$.label picks 'label'; the record has no such key"),
        ("$.features.x", RECORD, "reads key 'x' of an object; found a list"),
        ("$[0]", RECORD, "picks items of a list; found an object"),
        ("$.features[5]", RECORD, "picks index 5; the record has 3 fields"),
    ],
)
def test_a_record_the_selector_does_not_fit_is_an_error_of_that_record(text, record, why):
    with pytest.raises(ValidationError, match=None) as raised:
        select(text, record)
    assert why in raised.value.message


def test_tabular_records_refuse_what_has_no_columns():
    with pytest.raises(ValidationError, match="these records have no column names"):
        parse_selector("$['a']", FIELD).positions(3)
    with pytest.raises(ValidationError, match="walks into nested objects"):
        parse_selector("$.a.b", FIELD).columns(["a", "b"])
    with pytest.raises(ValidationError, match="'z', which is not a column"):
        parse_selector("$['a','z']", FIELD).columns(["a", "b"])
    with pytest.raises(ValidationError, match="picks none of the record's 3 fields"):
        parse_selector("$[5:]", FIELD).positions(3)
