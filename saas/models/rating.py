"""Rating services (绩效分级服务): the documents the provider's experts write for a site's
performance rating — the rectification plan (整改方案) and the emergency emission-reduction
measures (应急减排措施) — kept as versioned attachments with a status (docs/console.md).

Each upload is a new version of its kind for the site (1, 2, …); a version's file never changes
(content-addressed in object storage); only its status moves: draft → with the customer →
submitted (saas/console/rating.py says which moves are allowed).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

DOCUMENT_KINDS = ("rectification_plan", "emergency_measures")
DOCUMENT_STATUSES = ("draft", "with_customer", "submitted")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class RatingDocument(TenantScoped, Base):
    """One version of one rating document of a site."""

    __tablename__ = "rating_documents"
    __table_args__ = (
        UniqueConstraint("site_id", "kind", "version"),
        CheckConstraint(_one_of("kind", DOCUMENT_KINDS), name="kind_known"),
        CheckConstraint(_one_of("status", DOCUMENT_STATUSES), name="status_known"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(30))  # DOCUMENT_KINDS
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, … per (site, kind)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # DOCUMENT_STATUSES
    title: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(300))  # t/<tenant>/s/<site>/rating/<sha>.<ext>
    filename: Mapped[str] = mapped_column(String(200))  # as uploaded (shown, download name)
    content_type: Mapped[str] = mapped_column(String(100))  # from the file's magic bytes
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
