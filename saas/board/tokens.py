"""The board's public address ``/board/<token>`` (docs/board.md).

The token is the capability: 32 random bytes (``secrets.token_urlsafe``), unguessable, stored on
the site (``sites.board_token``, unique). It is minted on first use and can be rotated: the old
address answers 404 at once (the board page then says its address changed). Only the look-up by
token steps past tenant scoping — nothing else is known about the caller at that point.
"""

from __future__ import annotations

import re
import secrets
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.models.tenancy import Site
from saas.tenancy import system_context

TOKEN_BYTES = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32): 43 characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def well_formed(token: str) -> bool:
    return isinstance(token, str) and bool(_TOKEN.fullmatch(token))


def site_for_token(session: Session, token: str) -> Site | None:
    """The site whose board ``token`` opens, or None (malformed tokens never reach the
    database, and answer the same)."""
    if not well_formed(token):
        return None
    with system_context("public board: the token is the credential"):
        return session.scalars(select(Site).where(Site.board_token == token)).one_or_none()


def site_by_id(session: Session, site_id: uuid.UUID) -> Site | None:
    """Any tenant's site by id, for the operator CLI (``cleangate board url --site ID``)."""
    with system_context("operator CLI: board address of a site"):
        return session.get(Site, site_id)


def board_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/board/{token}"


def ensure_token(
    session: Session, site: Site, *, actor_id: uuid.UUID | None = None, actor_label: str = ""
) -> str:
    """The site's token, minted on first use (in the current tenant context; flushes, the
    caller commits). Two first uses at once agree on one token: only a NULL is replaced."""
    if site.board_token:
        return site.board_token
    token = new_token()
    session.execute(
        update(Site)
        .where(Site.id == site.id, Site.board_token.is_(None))
        .values(board_token=token)
        .execution_options(synchronize_session=False)
    )
    session.refresh(site, ["board_token"])
    if site.board_token == token:
        _audit(session, "board.token_create", site, actor_id, actor_label)
        session.flush()
    assert site.board_token is not None
    return site.board_token


def rotate(
    session: Session, site: Site, *, actor_id: uuid.UUID | None = None, actor_label: str = ""
) -> str:
    """A new token; the old address stops working with the COMMIT (the caller commits). The
    change notice that follows tells open boards to refetch, and they learn they are stale."""
    previous = site.board_token
    site.board_token = new_token()
    session.flush()
    _audit(session, "board.token_rotate", site, actor_id, actor_label, had_token=bool(previous))
    session.flush()
    return site.board_token


def _audit(
    session: Session,
    event: str,
    site: Site,
    actor_id: uuid.UUID | None,
    actor_label: str,
    **extra: object,
) -> None:
    # Never the token itself: the audit log is readable by every tenant admin.
    audit.record(
        session,
        event,
        tenant_id=site.tenant_id,
        actor_user_id=actor_id,
        actor_label=actor_label,
        details={"site_id": str(site.id), **extra},
    )
