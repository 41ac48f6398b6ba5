"""Tenant lifecycle: provisioning, plan limits, export and deletion of a tenant's data; the
provider console's tenant pages and onboarding wizard (``tenants.console``).

The isolation mechanism itself (context, ORM scoping, RLS) is ``saas.tenancy`` because every
part of the platform depends on it; see docs/architecture.md. ``saas`` reaches this package
only through ``init_app``, called from ``saas.app.create_app``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from tenants import api, cli, console  # noqa: F401  (importing api adds its routes to /api/v1)

    app.cli.add_command(cli.tenant_group)
    app.register_blueprint(console.bp)  # /console/tenants
