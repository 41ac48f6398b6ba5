"""ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from saas.tenancy import rls_statements

TENANT_TABLES = (
    "carriers",
    "transport_vehicles",
    "inplant_vehicles",
    "nonroad_machinery",
    "vehicle_lists",
    "registry_changes",
    "edge_devices",
    "passages",
    "ledger_events",
    "ledger_heads",
    "ledger_checkpoints",
)

# Ledger rows are never updated or deleted by the application (no grant, and this trigger);
# only the retention job, as the owner and with cleangate.retention = 'on', removes old rows.
APPEND_ONLY = ("registry_changes", "passages", "ledger_events", "ledger_checkpoints")
GUARDED_FUNCTION = """
CREATE OR REPLACE FUNCTION cleangate_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('cleangate.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "carriers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("contact_name", sa.String(length=100), nullable=True),
        sa.Column("contact_phone", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_carriers_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_carriers_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_carriers")),
        sa.UniqueConstraint("site_id", "name", name=op.f("uq_carriers_site_id_name")),
    )
    with op.batch_alter_table("carriers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_carriers_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_carriers_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "edge_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_edge_devices_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_edge_devices_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_devices")),
    )
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edge_devices_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_edge_devices_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "inplant_vehicles",
        sa.Column("env_reg_code", sa.String(length=40), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("registration_date", sa.Date(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("engine_model", sa.String(length=100), nullable=True),
        sa.Column("engine_manufacturer", sa.String(length=200), nullable=True),
        sa.Column("engine_no", sa.String(length=50), nullable=True),
        sa.Column("fuel_type", sa.String(length=20), nullable=True),
        sa.Column("emission_stage", sa.String(length=10), nullable=False),
        sa.Column("stage_inferred", sa.Boolean(), nullable=False),
        sa.Column("stage_basis", sa.String(length=300), nullable=True),
        sa.Column("network_status", sa.String(length=20), nullable=False),
        sa.Column("list_image_key", sa.String(length=300), nullable=True),
        sa.Column("license_image_key", sa.String(length=300), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("verification", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("owner_phone", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_inplant_vehicles_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inplant_vehicles_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inplant_vehicles")),
        sa.UniqueConstraint(
            "site_id", "env_reg_code", name=op.f("uq_inplant_vehicles_site_id_env_reg_code")
        ),
    )
    with op.batch_alter_table("inplant_vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inplant_vehicles_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inplant_vehicles_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_ledger_checkpoints_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ledger_checkpoints_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
        sa.UniqueConstraint("site_id", "seq", name=op.f("uq_ledger_checkpoints_site_id_seq")),
    )
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_checkpoints_site_id"), ["site_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ledger_checkpoints_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "ledger_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("payload_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_ledger_events_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ledger_events_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("event_id", "tenant_id", name="pk_ledger_events"),
    )
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_events_captured_at"), ["captured_at"], unique=False
        )

    op.create_table(
        "ledger_heads",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head", sa.LargeBinary(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_ledger_heads_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ledger_heads_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_ledger_heads")),
    )
    with op.batch_alter_table("ledger_heads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_heads_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "nonroad_machinery",
        sa.Column("env_reg_code", sa.String(length=40), nullable=False),
        sa.Column("pin", sa.String(length=40), nullable=True),
        sa.Column("machine_type", sa.String(length=40), nullable=False),
        sa.Column("production_date", sa.Date(), nullable=True),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("nonroad_stage", sa.String(length=10), nullable=False),
        sa.Column("stage_inferred", sa.Boolean(), nullable=False),
        sa.Column("fuel_type", sa.String(length=20), nullable=True),
        sa.Column("machine_model", sa.String(length=100), nullable=True),
        sa.Column("engine_model", sa.String(length=100), nullable=True),
        sa.Column("engine_manufacturer", sa.String(length=200), nullable=True),
        sa.Column("engine_no", sa.String(length=50), nullable=True),
        sa.Column("engine_power_kw", sa.Numeric(precision=8, scale=1), nullable=True),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("local_code", sa.String(length=40), nullable=True),
        sa.Column("nameplate_image_key", sa.String(length=300), nullable=True),
        sa.Column("engine_nameplate_image_key", sa.String(length=300), nullable=True),
        sa.Column("env_label_image_key", sa.String(length=300), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("verification", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("owner_phone", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_nonroad_machinery_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_nonroad_machinery_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nonroad_machinery")),
        sa.UniqueConstraint(
            "site_id", "env_reg_code", name=op.f("uq_nonroad_machinery_site_id_env_reg_code")
        ),
    )
    with op.batch_alter_table("nonroad_machinery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nonroad_machinery_pin"), ["pin"], unique=False)
        batch_op.create_index(batch_op.f("ix_nonroad_machinery_site_id"), ["site_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nonroad_machinery_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "passages",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amends_event_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("gate_code", sa.String(length=20), nullable=True),
        sa.Column("lane_code", sa.String(length=2), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=True),
        sa.Column("plate", sa.String(length=32), nullable=True),
        sa.Column("plate_color", sa.String(length=16), nullable=True),
        sa.Column("verdict", sa.String(length=10), nullable=True),
        sa.Column("emission_stage", sa.String(length=10), nullable=True),
        sa.Column("fuel_type", sa.String(length=20), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_passages_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_passages_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("site_id", "seq", "captured_at", name="pk_passages"),
        postgresql_partition_by="RANGE (captured_at)",
    )
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_passages_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_passages_tenant_plate_time", ["tenant_id", "plate", "captured_at"], unique=False
        )
        batch_op.create_index(
            "ix_passages_tenant_site_time", ["tenant_id", "site_id", "captured_at"], unique=False
        )

    op.create_table(
        "registry_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_registry_changes_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_registry_changes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_changes")),
    )
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.create_index("ix_registry_changes_entity", ["entity", "entity_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_registry_changes_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "vehicle_lists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("list_kind", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("exemption", sa.String(length=30), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_vehicle_lists_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_vehicle_lists_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_vehicle_lists_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_lists")),
    )
    with op.batch_alter_table("vehicle_lists", schema=None) as batch_op:
        batch_op.create_index("ix_vehicle_lists_site_plate", ["site_id", "plate"], unique=False)
        batch_op.create_index(batch_op.f("ix_vehicle_lists_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "transport_vehicles",
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("plate_color", sa.String(length=16), nullable=False),
        sa.Column("vehicle_type", sa.String(length=8), nullable=True),
        sa.Column("vin", sa.String(length=17), nullable=True),
        sa.Column("registration_date", sa.Date(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("engine_model", sa.String(length=100), nullable=True),
        sa.Column("engine_manufacturer", sa.String(length=200), nullable=True),
        sa.Column("engine_no", sa.String(length=50), nullable=True),
        sa.Column("fuel_type", sa.String(length=20), nullable=True),
        sa.Column("emission_stage", sa.String(length=10), nullable=False),
        sa.Column("stage_inferred", sa.Boolean(), nullable=False),
        sa.Column("stage_basis", sa.String(length=300), nullable=True),
        sa.Column("use_nature", sa.String(length=4), nullable=True),
        sa.Column("network_status", sa.String(length=20), nullable=False),
        sa.Column("list_image_key", sa.String(length=300), nullable=True),
        sa.Column("license_image_key", sa.String(length=300), nullable=True),
        sa.Column("carrier_id", sa.Uuid(), nullable=True),
        sa.Column("rated_load_kg", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("verification", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("owner_phone", sa.String(length=30), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"], ["carriers.id"], name=op.f("fk_transport_vehicles_carrier_id_carriers")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_transport_vehicles_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_transport_vehicles_tenant_id_tenants"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transport_vehicles")),
        sa.UniqueConstraint(
            "site_id",
            "plate",
            "plate_color",
            name=op.f("uq_transport_vehicles_site_id_plate_plate_color"),
        ),
    )
    with op.batch_alter_table("transport_vehicles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transport_vehicles_site_id"), ["site_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transport_vehicles_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transport_vehicles_vin"), ["vin"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            for statement in rls_statements(table):
                op.execute(statement)
        op.execute(GUARDED_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION cleangate_ledger_append_only()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS cleangate_ledger_append_only()")
        op.execute("DROP TABLE IF EXISTS passages_default")
        for name in (
            op.get_bind()
            .execute(
                sa.text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'passages'"
                )
            )
            .scalars()
        ):
            op.execute(f"DROP TABLE IF EXISTS {name}")

    with op.batch_alter_table("transport_vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transport_vehicles_vin"))
        batch_op.drop_index(batch_op.f("ix_transport_vehicles_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_transport_vehicles_site_id"))

    op.drop_table("transport_vehicles")
    with op.batch_alter_table("vehicle_lists", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_lists_tenant_id"))
        batch_op.drop_index("ix_vehicle_lists_site_plate")

    op.drop_table("vehicle_lists")
    with op.batch_alter_table("registry_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_changes_tenant_id"))
        batch_op.drop_index("ix_registry_changes_entity")

    op.drop_table("registry_changes")
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.drop_index("ix_passages_tenant_site_time")
        batch_op.drop_index("ix_passages_tenant_plate_time")
        batch_op.drop_index(batch_op.f("ix_passages_tenant_id"))

    op.drop_table("passages")
    with op.batch_alter_table("nonroad_machinery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nonroad_machinery_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_nonroad_machinery_site_id"))
        batch_op.drop_index(batch_op.f("ix_nonroad_machinery_pin"))

    op.drop_table("nonroad_machinery")
    with op.batch_alter_table("ledger_heads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_heads_tenant_id"))

    op.drop_table("ledger_heads")
    with op.batch_alter_table("ledger_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_events_captured_at"))

    op.drop_table("ledger_events")
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_checkpoints_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_checkpoints_site_id"))

    op.drop_table("ledger_checkpoints")
    with op.batch_alter_table("inplant_vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inplant_vehicles_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_inplant_vehicles_site_id"))

    op.drop_table("inplant_vehicles")
    with op.batch_alter_table("edge_devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edge_devices_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_edge_devices_site_id"))

    op.drop_table("edge_devices")
    with op.batch_alter_table("carriers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carriers_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_carriers_site_id"))

    op.drop_table("carriers")
