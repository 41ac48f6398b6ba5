"""Convenience features a tenant can lose, as a hook (docs/billing.md, "Dunning").

``saas`` never imports ``billing``: billing registers a check per feature on the app
(``register_check``) and the two call sites ask ``check`` before doing the work. A check
answers the refusal text (Chinese, naming the overdue invoice) or None. Without a registered
check every feature is allowed.

Only convenience features are ever asked about: an export whose time window is longer than
30 days and inviting a new user. Gate control, ingest, the ledger, the regulator upload and the
board never call this module — billing never stops them (ARCHITECTURE.md, "Invariants").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from saas.errors import ApiError

LONG_EXPORT = "export.long_range"  # an export whose time window is longer than 30 days
USER_INVITE = "user.invite"  # a new user in the tenant
FEATURES = (LONG_EXPORT, USER_INVITE)
LONG_EXPORT_DAYS = 30

Check = Callable[[Session, uuid.UUID], str | None]
_KEY = "cleangate.entitlements"


def register_check(app: Flask, name: str, check_fn: Check) -> None:
    """One check per feature and app; registering again replaces it."""
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}")
    app.extensions.setdefault(_KEY, {})[name] = check_fn


def refusal(session: Session, name: str, tenant_id: uuid.UUID) -> str | None:
    """Why ``tenant_id`` may not use the feature now, or None."""
    if not has_app_context():
        return None
    check_fn: Check | None = current_app.extensions.get(_KEY, {}).get(name)
    return check_fn(session, tenant_id) if check_fn is not None else None


def check(session: Session, name: str, tenant_id: uuid.UUID) -> None:
    """Raise 402 with the check's message when the feature is refused."""
    message = refusal(session, name, tenant_id)
    if message:
        raise ApiError(402, "payment_overdue", message, {"feature": name})


def check_export_window(
    session: Session, tenant_id: uuid.UUID, since: datetime, until: datetime
) -> None:
    """Exports of up to 30 days stay available whatever the billing state."""
    if until - since > timedelta(days=LONG_EXPORT_DAYS):
        check(session, LONG_EXPORT, tenant_id)
