"""model registry: package groups, versioned packages, approvals, model cards; models from packages

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_package_groups",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_model_package_groups")),
    )
    op.create_table(
        "model_packages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("approval_status", sa.String(length=32), nullable=False),
        sa.Column("model_data_uri", sa.String(length=512), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("model_format", sa.String(length=32), nullable=False),
        sa.Column("trust_pickle", sa.Boolean(), nullable=False),
        sa.Column("inference_spec", sa.JSON(), nullable=False),
        sa.Column("model_metrics", sa.JSON(), nullable=False),
        sa.Column("evaluation_report", sa.JSON(), nullable=True),
        sa.Column("evaluation_report_uri", sa.String(length=1024), nullable=True),
        sa.Column("training_job_name", sa.String(length=64), nullable=True),
        sa.Column("tuning_job_name", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("customer_metadata", sa.JSON(), nullable=False),
        sa.Column("model_card", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_name"],
            ["model_package_groups.name"],
            name=op.f("fk_model_packages_group_name_model_package_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_packages")),
        sa.UniqueConstraint("group_name", "version", name=op.f("uq_model_packages_group_name")),
    )
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_packages_approval_status"), ["approval_status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_packages_group_name"), ["group_name"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_model_packages_training_job_name"), ["training_job_name"], unique=False
        )
    op.create_table(
        "model_package_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("approval_status", sa.String(length=32), nullable=False),
        sa.Column("previous_status", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(length=128), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["model_packages.id"],
            name=op.f("fk_model_package_approvals_package_id_model_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_package_approvals")),
    )
    with op.batch_alter_table("model_package_approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_package_approvals_package_id"), ["package_id"], unique=False
        )

    # serving: a model made from a package, and what a load must find
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_package_name", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("model_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("trust_pickle", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_models_model_package_name"), ["model_package_name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_model_package_name"))
        batch_op.drop_column("trust_pickle")
        batch_op.drop_column("model_sha256")
        batch_op.drop_column("model_package_name")
    with op.batch_alter_table("model_package_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_package_approvals_package_id"))
    op.drop_table("model_package_approvals")
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_packages_training_job_name"))
        batch_op.drop_index(batch_op.f("ix_model_packages_group_name"))
        batch_op.drop_index(batch_op.f("ix_model_packages_approval_status"))
    op.drop_table("model_packages")
    op.drop_table("model_package_groups")
