"""regulator upload: a site's platform configurations (secrets envelope-encrypted) and the
upload outbox with each record's platform verdict

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from saas.tenancy import rls_statements

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regulator_configs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("adapter", sa.String(length=40), nullable=False),
        sa.Column("endpoint", sa.String(length=300), nullable=False),
        sa.Column("signer", sa.String(length=20), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("enterprise_code", sa.String(length=64), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("permit_no", sa.String(length=40), nullable=True),
        sa.Column("secret_box", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_test_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_test_ok", sa.Boolean(), nullable=True),
        sa.Column("last_test_message", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_regulator_configs_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_regulator_configs_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_regulator_configs_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regulator_configs")),
        sa.UniqueConstraint("site_id", "name", name="uq_regulator_configs_site_name"),
    )
    with op.batch_alter_table("regulator_configs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_regulator_configs_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_regulator_configs_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "regulator_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("config_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.String(length=80), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("gate_code", sa.String(length=20), nullable=True),
        sa.Column("lane_code", sa.String(length=2), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("platform_code", sa.String(length=40), nullable=True),
        sa.Column("platform_message", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["regulator_configs.id"],
            name=op.f("fk_regulator_uploads_config_id_regulator_configs"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_regulator_uploads_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_regulator_uploads_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regulator_uploads")),
        sa.UniqueConstraint("config_id", "key", name="uq_regulator_uploads_config_key"),
    )
    with op.batch_alter_table("regulator_uploads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_regulator_uploads_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_regulator_uploads_config_due",
            ["config_id", "status", "next_attempt_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_regulator_uploads_site_time", ["site_id", "kind", "captured_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_regulator_uploads_tenant_id"), ["tenant_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in ("regulator_configs", "regulator_uploads"):
            for statement in rls_statements(table):
                op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("regulator_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regulator_uploads_tenant_id"))
        batch_op.drop_index("ix_regulator_uploads_site_time")
        batch_op.drop_index("ix_regulator_uploads_due")
        batch_op.drop_index("ix_regulator_uploads_config_due")

    op.drop_table("regulator_uploads")
    with op.batch_alter_table("regulator_configs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_regulator_configs_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_regulator_configs_site_id"))

    op.drop_table("regulator_configs")
