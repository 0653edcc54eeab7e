"""Tables of this part of the monitoring room (to be written)."""

from __future__ import annotations
