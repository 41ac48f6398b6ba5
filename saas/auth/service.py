"""Authentication services: password login with lockout, server-side login sessions, API
tokens and provider support access. Routes and CLI commands call these; they stay thin.

Look-ups by username, session id or token hash happen before any tenant is known, so they run
in ``system_context``; everything they return is then bound to the principal's own tenant.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.auth.passwords import hash_password, needs_rehash, verify_password
from saas.auth.permissions import TOKEN_SCOPES, permissions_for
from saas.auth.principal import Principal
from saas.db import utcnow
from saas.models.identity import ApiToken, LoginSession, SupportGrant, User
from saas.tenancy import system_context

SESSION_LIFETIME = timedelta(hours=8)
TOKEN_PREFIX = "cg_"  # noqa: S105 (a public prefix)
MAX_SUPPORT_MINUTES = 8 * 60


class LoginOutcome(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None
    locked_until: datetime | None = None


def normalize_username(username: str) -> str:
    return username.strip().lower()


def authenticate(
    session: Session, username: str, password: str, *, max_failures: int, lockout_seconds: int
) -> LoginResult:
    """Check a password login, counting failures and locking the account after too many.
    Commits its own audit rows and counters."""
    name = normalize_username(username)
    now = utcnow()
    with system_context("authenticate"):
        user = session.scalars(select(User).where(User.username == name)).one_or_none()
        if user is None:
            verify_password(None, password)  # same cost as a real check
            audit.record(
                session,
                "login.failure",
                tenant_id=None,
                actor_label=name,
                details={"reason": "unknown_user"},
            )
            session.commit()
            return LoginResult(LoginOutcome.BAD_CREDENTIALS)
        if user.locked_until is not None and user.locked_until > now:
            audit.record(
                session,
                "login.locked",
                tenant_id=user.tenant_id,
                actor_user_id=user.id,
                actor_label=name,
            )
            session.commit()
            return LoginResult(LoginOutcome.LOCKED, locked_until=user.locked_until)
        if not verify_password(user.password_hash, password):
            user.failed_logins += 1
            details: dict[str, object] = {"reason": "bad_password", "failures": user.failed_logins}
            event = "login.failure"
            if user.failed_logins >= max_failures:
                user.locked_until = now + timedelta(seconds=lockout_seconds)
                user.failed_logins = 0
                details["locked_until"] = user.locked_until.isoformat()
                event = "login.lockout"
            audit.record(
                session,
                event,
                tenant_id=user.tenant_id,
                actor_user_id=user.id,
                actor_label=name,
                details=details,
            )
            session.commit()
            if event == "login.lockout":
                return LoginResult(LoginOutcome.LOCKED, locked_until=user.locked_until)
            return LoginResult(LoginOutcome.BAD_CREDENTIALS)
        if not user.is_active:
            audit.record(
                session,
                "login.failure",
                tenant_id=user.tenant_id,
                actor_user_id=user.id,
                actor_label=name,
                details={"reason": "inactive"},
            )
            session.commit()
            return LoginResult(LoginOutcome.INACTIVE)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        session.commit()
        return LoginResult(LoginOutcome.OK, user=user)


def start_login_session(session: Session, user: User, *, method: str, ip: str | None) -> str:
    """Create the server-side session behind a cookie; audited as a successful login."""
    sid = secrets.token_urlsafe(32)
    with system_context("login session"):
        session.add(
            LoginSession(
                id=sid,
                user_id=user.id,
                tenant_id=user.tenant_id,
                expires_at=utcnow() + SESSION_LIFETIME,
                ip=ip,
            )
        )
        audit.record(
            session,
            "login.success",
            tenant_id=user.tenant_id,
            actor_user_id=user.id,
            actor_label=user.username,
            details={"method": method},
        )
        session.commit()
    return sid


def end_login_session(session: Session, sid: str) -> None:
    with system_context("logout"):
        row = session.get(LoginSession, sid)
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(session, "logout", tenant_id=row.tenant_id, actor_user_id=row.user_id)
        session.commit()


def revoke_user_sessions(session: Session, user_id: uuid.UUID) -> None:
    """Used on role change, deactivation and password change."""
    with system_context("revoke sessions"):
        session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def principal_for_user(
    user: User, *, via: str, session_id: str | None = None, scopes: list[str] | None = None
) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        tenant_id=user.tenant_id,
        via=via,
        permissions=permissions_for(user.role, scopes=scopes),
        session_id=session_id,
        must_change_password=user.must_change_password,
    )


def resolve_session(session: Session, sid: str, support_grant_id: str | None) -> Principal | None:
    now = utcnow()
    with system_context("resolve session"):
        row = session.get(LoginSession, sid)
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        principal = principal_for_user(user, via="session", session_id=sid)
        if support_grant_id and user.tenant_id is None:
            grant = _active_grant(session, support_grant_id, user.id, now)
            if grant is not None:
                principal = replace(
                    principal,
                    tenant_id=grant.tenant_id,
                    support_grant_id=grant.id,
                    permissions=permissions_for(user.role, support=True),
                )
        return principal


def _active_grant(
    session: Session, grant_id: str, staff_id: uuid.UUID, now: datetime
) -> SupportGrant | None:
    try:
        gid = uuid.UUID(grant_id)
    except ValueError:
        return None
    grant = session.get(SupportGrant, gid)
    if (
        grant is None
        or grant.staff_user_id != staff_id
        or grant.ended_at is not None
        or grant.expires_at <= now
    ):
        return None
    return grant


# --- API tokens ---------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(
    session: Session, user: Principal, *, name: str, scopes: list[str], expires_at: datetime | None
) -> IssuedToken:
    bad = [s for s in scopes if s not in TOKEN_SCOPES]
    if not scopes or bad:
        raise ValueError(f"scopes must be a non-empty subset of {list(TOKEN_SCOPES)}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        tenant_id=user.tenant_id,
        user_id=user.user_id,
        name=name,
        prefix=secret[:10],
        token_hash=_token_hash(secret),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    session.add(row)
    audit.record(
        session,
        "token.create",
        tenant_id=user.tenant_id,
        actor_user_id=user.user_id,
        actor_label=user.username,
        details={"name": name, "scopes": row.scopes, "prefix": row.prefix},
    )
    return IssuedToken(row, secret)


def resolve_token(session: Session, secret: str) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    with system_context("resolve token"):
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == _token_hash(secret))
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.is_active:
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
            row.last_used_at = now
            session.commit()
        return principal_for_user(user, via="token", scopes=list(row.scopes))


# --- support access -----------------------------------------------------------------------


def start_support(
    session: Session, staff: Principal, tenant_id: uuid.UUID, reason: str, minutes: int
) -> SupportGrant:
    """A provider staff member enters one tenant's data: reasoned, time-limited, audited and
    visible to the tenant (its audit log and grant list)."""
    if not reason.strip():
        raise ValueError("reason")
    if not 1 <= minutes <= MAX_SUPPORT_MINUTES:
        raise ValueError("minutes")
    with system_context("support access"):
        grant = SupportGrant(
            tenant_id=tenant_id,
            staff_user_id=staff.user_id,
            reason=reason.strip(),
            expires_at=utcnow() + timedelta(minutes=minutes),
        )
        session.add(grant)
        session.flush()
        audit.record(
            session,
            "support.start",
            tenant_id=tenant_id,
            actor_user_id=staff.user_id,
            actor_label=staff.username,
            details={
                "grant_id": str(grant.id),
                "reason": grant.reason,
                "expires_at": grant.expires_at.isoformat(),
            },
        )
        session.commit()
    return grant


def end_support(session: Session, staff: Principal, grant_id: uuid.UUID) -> bool:
    with system_context("support access end"):
        grant = session.get(SupportGrant, grant_id)
        if grant is None or grant.staff_user_id != staff.user_id or grant.ended_at is not None:
            return False
        grant.ended_at = utcnow()
        audit.record(
            session,
            "support.end",
            tenant_id=grant.tenant_id,
            actor_user_id=staff.user_id,
            actor_label=staff.username,
            details={"grant_id": str(grant.id)},
        )
        session.commit()
    return True


def change_password(session: Session, principal: Principal, current: str, new: str) -> str | None:
    """Returns an error code, or None on success. Other sessions of the user are revoked."""
    with system_context("change password"):
        user = session.get(User, principal.user_id)
        if user is None or not verify_password(user.password_hash, current):
            return "bad_current_password"
        if new == current:
            return "same_password"
        try:
            user.password_hash = hash_password(new)
        except ValueError:
            return "too_short"
        user.must_change_password = False
        session.execute(
            update(LoginSession)
            .where(
                LoginSession.user_id == user.id,
                LoginSession.revoked_at.is_(None),
                LoginSession.id != principal.session_id,
            )
            .values(revoked_at=utcnow())
        )
        audit.record(
            session,
            "password.change",
            tenant_id=user.tenant_id,
            actor_user_id=user.id,
            actor_label=user.username,
        )
        session.commit()
    return None
