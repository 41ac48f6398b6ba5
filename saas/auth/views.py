"""Login, logout and the language switch (server-rendered)."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response as BaseResponse

from saas.auth import service, throttle
from saas.auth.audit import client_ip
from saas.auth.principal import current_principal
from saas.db import get_session
from saas.i18n import LANGUAGES

bp = Blueprint("auth", __name__)


def home_for(role: str) -> str:
    return url_for("console.home") if role.startswith("provider_") else url_for("portal.home")


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths (no open redirects)."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/")
def index() -> BaseResponse:
    principal = current_principal()
    if principal is None:
        return redirect(url_for("auth.login"))
    return redirect(home_for(principal.role))


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    settings = current_app.config["CLEANGATE_SETTINGS"]
    if request.method == "GET":
        return render_template("login.html", oidc=bool(settings.oidc_issuer))
    ip = client_ip() or "unknown"
    if not throttle.hit(
        current_app.extensions["cleangate.redis"], f"login:{ip}", settings.login_ip_limit_per_minute
    ):
        return render_template(
            "login.html", error=_("尝试次数过多，请稍后再试"), oidc=bool(settings.oidc_issuer)
        ), 429
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    if not username or not password:
        return render_template(
            "login.html", error=_("请输入用户名和密码"), oidc=bool(settings.oidc_issuer)
        ), 400
    db = get_session()
    result = service.authenticate(
        db,
        username,
        password,
        max_failures=settings.login_max_failures,
        lockout_seconds=settings.login_lockout_seconds,
    )
    if result.outcome is service.LoginOutcome.LOCKED:
        return render_template(
            "login.html", error=_("账户已被临时锁定，请稍后再试"), oidc=bool(settings.oidc_issuer)
        ), 423
    if result.outcome is not service.LoginOutcome.OK or result.user is None:
        return render_template(
            "login.html", error=_("用户名或密码错误"), oidc=bool(settings.oidc_issuer)
        ), 401
    return complete_login(result.user, method="password")


def complete_login(user: object, *, method: str) -> BaseResponse:
    """Start a fresh session (new cookie: no session fixation) and go home."""
    from saas.models.identity import User

    assert isinstance(user, User)
    sid = service.start_login_session(get_session(), user, method=method, ip=client_ip())
    target = _safe_next(request.args.get("next"))
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["sid"] = sid
    if lang:
        session["lang"] = lang
    return redirect(target or home_for(user.role))


@bp.post("/logout")
def logout() -> BaseResponse:
    sid = session.get("sid")
    if sid:
        service.end_login_session(get_session(), sid)
    session.clear()
    flash(_("已退出登录"))
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code: str) -> Response | BaseResponse:
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(_safe_next(request.args.get("next")) or url_for("auth.index"))


_PASSWORD_ERRORS = {
    "bad_current_password": lazy_gettext("当前密码不正确"),
    "same_password": lazy_gettext("新密码不能与当前密码相同"),
    "too_short": lazy_gettext("新密码至少需要 10 个字符"),
    "mismatch": lazy_gettext("两次输入的新密码不一致"),
}


@bp.route("/account/password", methods=["GET", "POST"])
def change_password() -> BaseResponse | str | tuple[str, int]:
    principal = current_principal()
    if principal is None or principal.via != "session":
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return render_template("password.html")
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        error: str | None = "mismatch"
    else:
        error = service.change_password(
            get_session(), principal, request.form.get("current_password", ""), new
        )
    if error:
        return render_template("password.html", error=str(_PASSWORD_ERRORS[error])), 400
    flash(_("密码已修改"))
    return redirect(home_for(principal.role))
