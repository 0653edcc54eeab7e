"""Alembic environment: runs on the connection :meth:`Database.migrate` hands over."""

from alembic import context

from shipyard.core.db import Base
from shipyard.core.tables import import_all_tables

import_all_tables()
target_metadata = Base.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
