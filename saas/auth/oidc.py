"""OpenID Connect login for provider staff (authlib Flask client; issuer from OIDC_ISSUER).

Only existing provider-staff users may log in this way: the ID token's e-mail must match an
active provider user, who is then bound to the issuer's subject on first login. Roles are never
taken from the identity provider.
"""

from __future__ import annotations

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, url_for
from sqlalchemy import select
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


@bp.get("/callback")
def callback() -> BaseResponse:
    from saas.auth.views import complete_login

    token = _client().authorize_access_token()  # type: ignore[attr-defined]
    claims = token.get("userinfo") or {}
    issuer = str(claims.get("iss", ""))
    subject = str(claims.get("sub", ""))
    email = str(claims.get("email", "")).lower()
    session = get_session()
    with system_context("oidc login"):
        user = session.scalars(
            select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
        ).one_or_none()
        if user is None and email and claims.get("email_verified", False):
            user = session.scalars(
                select(User).where(
                    User.email == email, User.role.in_(PROVIDER_ROLES), User.oidc_subject.is_(None)
                )
            ).one_or_none()
            if user is not None:
                user.oidc_issuer, user.oidc_subject = issuer, subject
        if user is None or not user.is_active or user.tenant_id is not None:
            audit.record(
                session,
                "login.failure",
                tenant_id=None,
                actor_label=email or subject,
                details={"reason": "oidc_unknown_staff", "issuer": issuer},
            )
            session.commit()
            current_app.logger.warning("OIDC login refused for subject %s", subject)
            abort(403, description="该账号未开通服务商权限")
        session.commit()
    return complete_login(user, method="oidc")
