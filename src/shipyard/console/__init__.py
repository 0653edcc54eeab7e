"""The web console: server-rendered pages over the rooms' services."""
