"""data capture of endpoint configs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_configs") as batch:
        batch.add_column(sa.Column("data_capture_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoint_configs") as batch:
        batch.drop_column("data_capture_config")
