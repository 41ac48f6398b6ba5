"""ledger retention: per-tenant months (never below the legal 24) and chain start

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_heads") as batch_op:
        batch_op.add_column(
            sa.Column("retained_from_seq", sa.BigInteger(), server_default="1", nullable=False)
        )
        batch_op.add_column(sa.Column("retained_prev_hash", sa.LargeBinary(32), nullable=True))
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(sa.Column("ledger_retention_months", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            "retention_at_least_24_months", "ledger_retention_months >= 24"
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_heads") as batch_op:
        batch_op.drop_column("retained_prev_hash")
        batch_op.drop_column("retained_from_seq")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_constraint("retention_at_least_24_months", type_="check")
        batch_op.drop_column("ledger_retention_months")
