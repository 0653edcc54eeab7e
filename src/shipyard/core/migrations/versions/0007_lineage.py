"""lineage: entities and the edges between them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_entities",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_entities")),
    )
    with op.batch_alter_table("lineage_entities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lineage_entities_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_lineage_entities_name"), ["name"], unique=False)
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["lineage_entities.id"],
            name=op.f("fk_lineage_edges_source_id_lineage_entities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["lineage_entities.id"],
            name=op.f("fk_lineage_edges_target_id_lineage_entities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_edges")),
        sa.UniqueConstraint("source_id", "target_id", name=op.f("uq_lineage_edges_source_id")),
    )
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lineage_edges_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lineage_edges_target_id"), ["target_id"], unique=False)


def downgrade() -> None:
    op.drop_table("lineage_edges")
    op.drop_table("lineage_entities")
