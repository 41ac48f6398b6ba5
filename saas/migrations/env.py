"""Alembic environment: runs against the connection handed in by ``saas.migrate``."""

from __future__ import annotations

from alembic import context

import saas.models  # noqa: F401  (fills Base.metadata)
from saas.db import Base
from saas.migrate import include_name

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always driven by saas.migrate
    raise RuntimeError("run migrations through `cleangate db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
