"""plans: versioned 一厂一策 plans, production measures checked off during an alert, the
public board token of a site

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from saas.tenancy import rls_statements

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("template", sa.String(length=40), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("city", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=40), nullable=False),
        sa.Column("responsible_name", sa.String(length=100), nullable=False),
        sa.Column("responsible_phone", sa.String(length=30), nullable=False),
        sa.Column("remarks", sa.String(length=200), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["users.id"], name=op.f("fk_site_plans_approved_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_site_plans_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_plans_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_site_plans_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_plans")),
        sa.UniqueConstraint("site_id", "version", name="uq_site_plans_site_version"),
    )
    with op.batch_alter_table("site_plans", schema=None) as batch_op:
        batch_op.create_index("ix_site_plans_site_status", ["site_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_site_plans_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "uq_site_plans_in_force",
            ["site_id"],
            unique=True,
            postgresql_where=sa.text("status = 'approved'"),
            sqlite_where=sa.text("status = 'approved'"),
        )

    op.create_table(
        "measure_checks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("episode_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("measure_index", sa.Integer(), nullable=False),
        sa.Column("measure_text", sa.Text(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.Uuid(), nullable=True),
        sa.Column("checked_by_name", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_by"], ["users.id"], name=op.f("fk_measure_checks_checked_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["site_plans.id"], name=op.f("fk_measure_checks_plan_id_site_plans")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_measure_checks_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_measure_checks_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_checks")),
    )
    with op.batch_alter_table("measure_checks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_measure_checks_site_episode", ["site_id", "episode_start"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_measure_checks_tenant_id"), ["tenant_id"], unique=False
        )

    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("board_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_sites_board_token"), ["board_token"])

    if op.get_bind().dialect.name == "postgresql":
        for table in ("site_plans", "measure_checks"):
            for statement in rls_statements(table):
                op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_sites_board_token"), type_="unique")
        batch_op.drop_column("board_token")

    with op.batch_alter_table("measure_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_measure_checks_tenant_id"))
        batch_op.drop_index("ix_measure_checks_site_episode")

    op.drop_table("measure_checks")
    with op.batch_alter_table("site_plans", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_site_plans_in_force",
            postgresql_where=sa.text("status = 'approved'"),
            sqlite_where=sa.text("status = 'approved'"),
        )
        batch_op.drop_index(batch_op.f("ix_site_plans_tenant_id"))
        batch_op.drop_index("ix_site_plans_site_status")

    op.drop_table("site_plans")
