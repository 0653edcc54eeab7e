"""Log groups, streams and events: reading, filtering, retention."""
