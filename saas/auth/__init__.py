"""Identity: who is asking, resolved once per request, and the tenant context that follows."""

from __future__ import annotations

from flask import Flask, abort, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from saas import tenancy
from saas.auth.principal import Principal
from saas.db import get_session

_ALLOWED_WHILE_CHANGING = {"auth.change_password", "auth.logout", "auth.set_language", "static"}


def _resolve_principal() -> Principal | None:
    from saas.auth import service

    if request.path.startswith("/mp/"):
        return None  # mini-program users are not portal principals (miniprogram_api.auth)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return service.resolve_token(get_session(), header[len("Bearer ") :].strip())
    sid = session.get("sid")
    if not sid:
        return None
    return service.resolve_session(get_session(), sid, session.get("support_grant"))


def init_app(app: Flask) -> None:
    from saas.auth import oidc, views

    app.register_blueprint(views.bp)
    oidc.init_app(app)

    @app.before_request
    def _load_principal() -> None:
        if request.endpoint == "static":
            return
        principal = _resolve_principal()
        g.principal = principal
        ctx = None
        if principal is not None and principal.tenant_id is not None:
            ctx = tenancy.TenantContext(tenant_id=principal.tenant_id)
        g._tenant_token = tenancy.set_context(ctx)

    @app.before_request
    def _force_password_change() -> ResponseReturnValue | None:
        principal = g.get("principal")
        if (
            principal is not None
            and principal.must_change_password
            and principal.via == "session"
            and request.endpoint not in _ALLOWED_WHILE_CHANGING
        ):
            if request.path.startswith(("/api/", "/mp/")):
                abort(403, description=_("请先修改初始密码"))
            return redirect(url_for("auth.change_password"))
        return None

    @app.teardown_request
    def _reset_context(_exc: BaseException | None) -> None:
        token = g.pop("_tenant_token", None)
        if token is not None:
            tenancy.reset_context(token)

    @app.context_processor
    def _inject_principal() -> dict[str, object]:
        return {"principal": g.get("principal")}
