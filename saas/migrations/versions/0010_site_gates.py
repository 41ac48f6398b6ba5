"""site gates: gates and lanes with coordinates, the source of the regulator gate registration

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from saas.tenancy import rls_statements

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_gates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("gate_code", sa.String(length=20), nullable=False),
        sa.Column("lane_code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("latitude", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("manager_name", sa.String(length=50), nullable=True),
        sa.Column("manager_phone", sa.String(length=20), nullable=True),
        sa.Column("maintainer", sa.String(length=100), nullable=True),
        sa.Column("maintainer_contact", sa.String(length=50), nullable=True),
        sa.Column("maintainer_phone", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_gates_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_site_gates_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_gates")),
        sa.UniqueConstraint(
            "site_id", "gate_code", "lane_code", name="uq_site_gates_site_gate_lane"
        ),
    )
    with op.batch_alter_table("site_gates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_gates_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_site_gates_tenant_id"), ["tenant_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in rls_statements("site_gates"):
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("site_gates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_gates_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_site_gates_site_id"))

    op.drop_table("site_gates")
