"""Billing: plans, subscriptions, metering, invoices, payments, dunning (issue 9; docs/billing.md).

Billing never gates the gate: ingest, the edge hub, the regulator relay and the board read
nothing from here. An overdue tenant loses only convenience features (``billing.dunning``).
``saas`` reaches this package only through ``init_app``, called from ``saas.app.create_app``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from billing import cli, console, dunning, payments_web, portal

    app.register_blueprint(console.bp)  # /console/billing: plans, subscriptions, invoices
    app.register_blueprint(payments_web.bp)  # /console/billing/payments, WeChat Pay notify
    app.register_blueprint(portal.bp)  # /portal/billing: the tenant's invoices, pay by WeChat
    app.cli.add_command(cli.billing_group)
    dunning.install(app)  # overdue past grace → convenience features refused (saas.entitlements)
