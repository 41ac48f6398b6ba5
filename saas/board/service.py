"""What the cloud board shows for a site right now: the plan section (as in the snapshot), the
alert in force, and the last vehicle from the ledger, through ``saas.compliance.board.view``."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.compliance import board
from saas.compliance.codes import AlertLevel
from saas.models.ledger import Passage
from saas.models.tenancy import Site
from saas.policy import alerts, plans


def last_passage(session: Session, site_id: uuid.UUID) -> dict[str, Any] | None:
    """The site's newest passage (by capture time; amendments are not vehicles) as a feed
    item, with the decision's LED lines from the chained record."""
    row = session.scalars(
        select(Passage)
        .where(Passage.site_id == site_id, Passage.kind == "passage")
        .order_by(Passage.captured_at.desc(), Passage.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    display: list[str] = []
    try:
        decision = json.loads(row.record).get("decision") or {}
        if isinstance(decision.get("display"), list):
            display = [str(line) for line in decision["display"]]
    except (ValueError, AttributeError):
        display = []
    return {
        "plate": row.plate,
        "verdict": row.verdict,
        "emission_stage": row.emission_stage,
        "captured_at": row.captured_at,
        "direction": row.direction,
        "display": display,
    }


def current_view(session: Session, site: Site, *, base_url: str, now: datetime) -> dict[str, Any]:
    """The board of ``site`` at ``now`` (call in the site's tenant context)."""
    section = plans.board_section(session, site, cargo_url=plans.cargo_url(base_url, site))
    effective = alerts.effective_alert(session, site, now)
    level = AlertLevel(effective.level) if effective else AlertLevel.NONE
    since = effective.starts_at if effective else None
    return board.view(section, level, since, last_passage(session, site.id), now)
