"""processing jobs: scripts and SQL over datasets, outputs registered as datasets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
