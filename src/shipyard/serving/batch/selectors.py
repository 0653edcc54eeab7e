"""The filters of a transform job's ``data_processing``: the subset of JSONPath that
SageMaker's ``InputFilter`` and ``OutputFilter`` are written in.

A selector is ``$`` (the whole record), then keys, then at most one pick, last:

- keys: ``$.features``, ``$['my key']``, ``$.a.b`` walk into JSON objects;
- a pick of several keys, ``$['id','SageMakerOutput']``: the object of those keys;
- a pick of indexes and slices, ``$[1:]``, ``$[0,2:5,-1]``: the list of those items
  (a list even of one item: a record's fields stay a row).

On a tabular record (a CSV row, a parquet row) the same selector picks columns: by
position, or by name where the columns have names (a CSV header, parquet columns).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import ValidationError

MAX_LENGTH = 512
_KEY = re.compile(r"\.([A-Za-z_][A-Za-z0-9_\-]*)")
_QUOTED = re.compile(r"\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*")
_INDEX = re.compile(r"\s*(-?\d+)?\s*(:)?\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?")

Item = int | slice


@dataclass(frozen=True)
class Selector:
    """A parsed filter: ``path`` keys walked first, then ``keys`` or ``items`` picked."""

    text: str
    path: tuple[str, ...] = ()
    keys: tuple[str, ...] | None = None
    items: tuple[Item, ...] | None = None

    @property
    def is_whole(self) -> bool:
        return not self.path and self.keys is None and self.items is None

    @property
    def names(self) -> tuple[str, ...] | None:
        """The column names a tabular pick by name takes (``$.a`` or ``$['a','b']``)."""
        if self.items is not None:
            return None
        if self.keys is not None:
            return None if self.path else self.keys
        return self.path if len(self.path) == 1 else None

    # ---- JSON records -------------------------------------------------------------
    def select(self, record: Any) -> Any:
        """The part of a JSON record the selector names; ValidationError when it has none."""
        value = record
        for key in self.path:
            value = _member(value, key, self.text)
        if self.keys is not None:
            return {key: _member(value, key, self.text) for key in self.keys}
        if self.items is not None:
            if not isinstance(value, list):
                raise ValidationError(f"{self.text} picks items of a list; found {_kind(value)}")
            return [value[i] for i in _resolve(self.text, self.items, len(value))]
        return value

    # ---- tabular records ----------------------------------------------------------
    def positions(self, width: int) -> list[int]:
        """The columns picked by position from a record of ``width`` columns."""
        if self.is_whole:
            return list(range(width))
        if self.items is None and self.names is not None:
            raise ValidationError(
                f"{self.text} picks by name; these records have no column names: pick their "
                "fields by index, like $[1:]"
            )
        if self.items is None or self.path:
            raise ValidationError(
                f"{self.text} walks into nested objects; a tabular record's columns are "
                "picked by name ($['a','b']) or by index ($[1:])"
            )
        return _resolve(self.text, self.items, width)

    def columns(self, names: Sequence[str]) -> list[int]:
        """The columns picked, by position or by name, from columns called ``names``."""
        wanted = self.names
        if wanted is None:
            return self.positions(len(names))
        index = {name: i for i, name in reversed(list(enumerate(names)))}
        missing = [name for name in wanted if name not in index]
        if missing:
            raise ValidationError(f"{self.text} picks {missing[0]!r}, which is not a column")
        return [index[name] for name in wanted]


def _resolve(text: str, items: tuple[Item, ...], width: int) -> list[int]:
    """The positions ``items`` pick of ``width`` fields."""
    picked: list[int] = []
    for item in items:
        if isinstance(item, slice):
            picked.extend(range(width)[item])
        elif -width <= item < width:
            picked.append(item % width)
        else:
            raise ValidationError(f"{text} picks index {item}; the record has {width} fields")
    if not picked:
        raise ValidationError(f"{text} picks none of the record's {width} fields")
    return picked


def parse_selector(text: str, field: str) -> Selector:
    """The selector ``text`` writes; ValidationError naming ``field`` when it is none."""
    if len(text) > MAX_LENGTH:
        raise ValidationError(f"is longer than {MAX_LENGTH} characters", field)
    source = text.strip()
    if not source.startswith("$"):
        raise ValidationError(
            f"{text!r} must start with $ (JSONPath), like $[1:] or $.features", field
        )
    path: list[str] = []
    at = 1
    while at < len(source):
        if source.startswith(".", at):
            match = _KEY.match(source, at)
            if match is None:
                raise _invalid(text, "a key after '.' is letters, digits, '_' or '-'", field)
            path.append(match.group(1))
            at = match.end()
            continue
        if not source.startswith("[", at):
            raise _invalid(text, f"unexpected {source[at]!r} at {at}", field)
        end = _closing(source, at)
        if end < 0:
            raise _invalid(text, "a '[' is not closed", field)
        inside = source[at + 1 : end]
        at = end + 1
        if _QUOTED.match(inside):
            keys = _keys(inside, text, field)
            if len(keys) == 1 and at < len(source):
                path.extend(keys)
                continue
            if len(keys) == 1:
                path.extend(keys)
                break
            return _last(Selector(text, tuple(path), keys=keys), source, at, field)
        items = _items(inside, text, field)
        return _last(Selector(text, tuple(path), items=items), source, at, field)
    return Selector(text, tuple(path))


def _last(selector: Selector, source: str, at: int, field: str) -> Selector:
    if at < len(source):
        raise _invalid(selector.text, "a pick of several keys or of indexes comes last", field)
    return selector


def _closing(source: str, at: int) -> int:
    quote = ""
    index = at + 1
    while index < len(source):
        char = source[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "]":
            return index
        index += 1
    return -1


def _keys(inside: str, text: str, field: str) -> tuple[str, ...]:
    keys: list[str] = []
    for part in _split(inside):
        match = _QUOTED.fullmatch(part)
        if match is None:
            raise _invalid(text, f"{part.strip()!r} is not a quoted key", field)
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        keys.append(re.sub(r"\\(.)", r"\1", raw))
    return tuple(keys)


def _items(inside: str, text: str, field: str) -> tuple[Item, ...]:
    if inside.strip() == "*":
        return (slice(None),)
    items: list[Item] = []
    for part in inside.split(","):
        match = _INDEX.fullmatch(part)
        start, colon, stop, step = match.groups() if match else (None, None, None, None)
        if match is None or (colon is None and (start is None or stop is not None)):
            raise _invalid(text, f"{part.strip()!r} is not an index or a slice (a:b)", field)
        if colon is None:
            items.append(int(start or 0))
            continue
        if step is not None and int(step) == 0:
            raise _invalid(text, "a slice's step is not 0", field)
        items.append(slice(*(None if v is None else int(v) for v in (start, stop, step))))
    return tuple(items)


def _split(inside: str) -> list[str]:
    """``inside`` split at the commas outside quotes."""
    parts: list[str] = []
    current: list[str] = []
    quote, escaped = "", False
    for char in inside:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _member(value: Any, key: str, text: str) -> Any:
    if not isinstance(value, dict):
        raise ValidationError(f"{text} reads key {key!r} of an object; found {_kind(value)}")
    if key not in value:
        raise ValidationError(f"{text} picks {key!r}; the record has no such key")
    return value[key]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"a {type(value).__name__}"


def _invalid(text: str, why: str, field: str) -> ValidationError:
    return ValidationError(f"{text!r} is not a filter Shipyard reads: {why}", field)
