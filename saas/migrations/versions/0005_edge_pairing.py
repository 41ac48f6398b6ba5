"""edge pairing: one-time pairing codes (SHA-256 only), pairing time, bridge software version

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # edge_devices keeps its row-level security from 0002 (PostgreSQL alters in place).
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pairing_code_hash", sa.LargeBinary(32), nullable=True))
        batch_op.add_column(
            sa.Column("pairing_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("paired_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("software_version", sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_edge_devices_pairing_code_hash"), ["pairing_code_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_edge_devices_pairing_code_hash"), type_="unique")
        batch_op.drop_column("software_version")
        batch_op.drop_column("paired_at")
        batch_op.drop_column("pairing_expires_at")
        batch_op.drop_column("pairing_code_hash")
