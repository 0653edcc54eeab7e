"""Jobs: the durable queue in the DB, the worker that claims them, and the executors."""
