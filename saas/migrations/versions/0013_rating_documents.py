"""rating services: versioned rectification-plan and emergency-measures documents per site

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from saas.tenancy import rls_statements

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('rectification_plan', 'emergency_measures')",
            name=op.f("ck_rating_documents_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'with_customer', 'submitted')",
            name=op.f("ck_rating_documents_status_known"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_rating_documents_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_rating_documents_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_rating_documents_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_rating_documents_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_documents")),
        sa.UniqueConstraint(
            "site_id",
            "kind",
            "version",
            name=op.f("uq_rating_documents_site_id_kind_version"),
        ),
    )
    with op.batch_alter_table("rating_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rating_documents_tenant_id"), ["tenant_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for statement in rls_statements("rating_documents"):
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("rating_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rating_documents_tenant_id"))

    op.drop_table("rating_documents")
