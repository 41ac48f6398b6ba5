"""Response headers, CSRF and session-cookie hardening for every page and API."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def init_app(app: Flask, *, production: bool) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="cg_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in before_request, exempting bearer tokens
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session instead
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
    )
    csrf.init_app(app)

    @app.before_request
    def _csrf() -> None:
        if request.method in {"GET", "HEAD", "OPTIONS", "TRACE"}:
            return
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return  # token-authenticated integrations carry no cookies to forge
        view = app.view_functions.get(request.endpoint or "")
        if getattr(view, "device_authenticated", False):
            return  # signed by the device's key; cookies are never consulted
        if getattr(view, "csrf_exempt", False):
            return  # the credential is in the body (edge pairing code); cookies are not used
        if request.endpoint in app.config.get("CSRF_EXEMPT_ENDPOINTS", set()):
            return
        csrf.protect()

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if production:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
