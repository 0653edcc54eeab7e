"""Models, endpoint configs, endpoints and the in-memory host that answers invocations."""
