"""``cleangate billing …`` (issue 9; docs/billing.md)."""

from __future__ import annotations

import click
from flask.cli import AppGroup


@click.group("billing", help="Billing: plans, invoices, payments, dunning.", cls=AppGroup)
def billing_group() -> None:
    pass
