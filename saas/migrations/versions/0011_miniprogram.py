"""mini-program: drivers, their vehicles, cargo registrations and visitor bookings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from saas.tenancy import rls_statements

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mp_users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("phone_bound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("display_name", sa.String(length=50), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_users")),
        sa.UniqueConstraint("openid", name=op.f("uq_mp_users_openid")),
    )
    with op.batch_alter_table("mp_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mp_users_unionid"), ["unionid"], unique=False)

    op.create_table(
        "mp_vehicles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("plate_color", sa.String(length=16), nullable=False),
        sa.Column("vehicle_type", sa.String(length=8), nullable=True),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("registration_date", sa.Date(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("fuel_type", sa.String(length=20), nullable=True),
        sa.Column("emission_stage", sa.String(length=10), nullable=True),
        sa.Column("use_nature", sa.String(length=4), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("license_image_key", sa.String(length=300), nullable=True),
        sa.Column("list_image_key", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["mp_users.id"], name=op.f("fk_mp_vehicles_user_id_mp_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_vehicles")),
        sa.UniqueConstraint(
            "user_id", "plate", "plate_color", name=op.f("uq_mp_vehicles_user_id_plate_plate_color")
        ),
    )
    with op.batch_alter_table("mp_vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mp_vehicles_user_id"), ["user_id"], unique=False)

    op.create_table(
        "cargo_registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("gate_code", sa.String(length=20), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("plate_color", sa.String(length=16), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("carrier", sa.String(length=200), nullable=True),
        sa.Column("origin", sa.String(length=200), nullable=True),
        sa.Column("destination", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passage_event_id", sa.Uuid(), nullable=True),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_cargo_registrations_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_cargo_registrations_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["mp_users.id"], name=op.f("fk_cargo_registrations_user_id_mp_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cargo_registrations")),
    )
    with op.batch_alter_table("cargo_registrations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cargo_registrations_site_plate", ["site_id", "plate", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cargo_registrations_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cargo_registrations_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "visitor_bookings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_name", sa.String(length=50), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("plate_color", sa.String(length=16), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=50), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_visitor_bookings_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_visitor_bookings_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_visitor_bookings_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["mp_users.id"], name=op.f("fk_visitor_bookings_user_id_mp_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_bookings")),
    )
    with op.batch_alter_table("visitor_bookings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visitor_bookings_site_status", ["site_id", "status", "starts_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visitor_bookings_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_visitor_bookings_user_id"), ["user_id"], unique=False)

    op.create_table(
        "mp_vehicle_sites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vehicle_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("registry_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registry_id"],
            ["transport_vehicles.id"],
            name=op.f("fk_mp_vehicle_sites_registry_id_transport_vehicles"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_mp_vehicle_sites_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["mp_vehicles.id"],
            name=op.f("fk_mp_vehicle_sites_vehicle_id_mp_vehicles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_vehicle_sites")),
        sa.UniqueConstraint(
            "vehicle_id", "site_id", name=op.f("uq_mp_vehicle_sites_vehicle_id_site_id")
        ),
    )
    with op.batch_alter_table("mp_vehicle_sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mp_vehicle_sites_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mp_vehicle_sites_vehicle_id"), ["vehicle_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in ("cargo_registrations", "visitor_bookings"):
            for statement in rls_statements(table):
                op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table("mp_vehicle_sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mp_vehicle_sites_vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_mp_vehicle_sites_site_id"))

    op.drop_table("mp_vehicle_sites")
    with op.batch_alter_table("visitor_bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_bookings_user_id"))
        batch_op.drop_index(batch_op.f("ix_visitor_bookings_tenant_id"))
        batch_op.drop_index("ix_visitor_bookings_site_status")

    op.drop_table("visitor_bookings")
    with op.batch_alter_table("cargo_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cargo_registrations_user_id"))
        batch_op.drop_index(batch_op.f("ix_cargo_registrations_tenant_id"))
        batch_op.drop_index("ix_cargo_registrations_site_plate")

    op.drop_table("cargo_registrations")
    with op.batch_alter_table("mp_vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mp_vehicles_user_id"))

    op.drop_table("mp_vehicles")
    with op.batch_alter_table("mp_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mp_users_unionid"))

    op.drop_table("mp_users")
