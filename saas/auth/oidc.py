"""OpenID Connect login for provider staff (authlib Flask client; issuer from OIDC_ISSUER).

Only existing provider-staff users may log in this way: the ID token's e-mail must match an
active provider user, who is then bound to the issuer's subject on first login. Roles are never
taken from the identity provider.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from saas.auth import audit
from saas.db import get_session
from saas.models.identity import PROVIDER_ROLES, User
from saas.tenancy import system_context

bp = Blueprint("oidc", __name__, url_prefix="/auth/oidc")


def _client() -> object:
    """This app's OIDC client (one OAuth registry per app: no module-level clients)."""
    return current_app.extensions["cleangate.oauth"].staff


def init_app(app: Flask) -> None:
    settings = app.config["CLEANGATE_SETTINGS"]
    if not settings.oidc_issuer:
        return
    if settings.oidc_allow_insecure:
        # authlib reads this process-wide switch; it allows an http:// issuer for development
        # and tests. Settings refuse OIDC_ALLOW_INSECURE in production.
        import os

        os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuth(app)
    app.extensions["cleangate.oauth"] = oauth
    oauth.register(
        name="staff",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile"},
    )
    app.register_blueprint(bp)


@bp.get("/start")
def start() -> BaseResponse:
    client = _client()
    return client.authorize_redirect(url_for("oidc.callback", _external=True))  # type: ignore[attr-defined,no-any-return]


def _refuse(session: object, reason: str, label: str, issuer: str) -> None:
    """403 with an audit row; nothing else about the user is changed."""
    audit.record(
        session,
        "login.failure",
        tenant_id=None,  # type: ignore[arg-type]
        actor_label=label,
        details={"reason": reason, "issuer": issuer},
    )
    session.commit()  # type: ignore[attr-defined]
    current_app.logger.warning("OIDC login refused (%s) for %s", reason, label)
    abort(403, description=_("该账号未开通服务商权限"))


@bp.get("/callback")
def callback() -> BaseResponse:
    from saas.auth.views import complete_login

    session = get_session()
    try:
        token = _client().authorize_access_token()  # type: ignore[attr-defined]
    except Exception as exc:  # any failure of the exchange or the ID token
        # Bad state, provider error (?error=access_denied), bad signature, expired token …
        with system_context("oidc login failure"):
            _refuse(session, f"oidc_token_invalid:{type(exc).__name__}", "oidc", "")
        raise AssertionError("unreachable") from None
    claims = token.get("userinfo") or {}
    issuer = str(claims.get("iss", ""))
    subject = str(claims.get("sub", ""))
    email = str(claims.get("email", "")).strip().lower()
    verified = claims.get("email_verified") is True  # a string "false" is not verified
    with system_context("oidc login"):
        user = session.scalars(
            select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
        ).one_or_none()
        if user is None and email and verified:
            candidates = session.scalars(
                select(User).where(
                    func.lower(User.email) == email,
                    User.role.in_(PROVIDER_ROLES),
                    User.oidc_subject.is_(None),
                    User.is_active.is_(True),
                )
            ).all()
            if len(candidates) > 1:
                _refuse(session, "oidc_ambiguous_email", email, issuer)
            if candidates:
                user = candidates[0]
                user.oidc_issuer, user.oidc_subject = issuer, subject
        if user is None or not user.is_active or user.tenant_id is not None:
            session.rollback()  # never keep a binding made for a refused login
            _refuse(session, "oidc_unknown_staff", email or subject, issuer)
        session.commit()
    assert user is not None
    return complete_login(user, method="oidc")
