"""Shared column helpers for models."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from saas.db import utcnow
from saas.tenancy import TenantOwned as TenantScoped

__all__ = ["TenantScoped", "created_at", "uuid_pk"]


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4)


def created_at() -> Mapped[datetime]:
    return mapped_column(default=utcnow)
