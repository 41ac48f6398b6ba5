"""Billing: plans, subscriptions, metering, invoices, payments (issue 9)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Registration point called by saas.app.create_app; nothing to register yet."""
