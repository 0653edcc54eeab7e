"""Tables of this room (to be written)."""

from __future__ import annotations
