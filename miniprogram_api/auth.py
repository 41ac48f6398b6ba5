"""Driver tokens: a short-lived access JWT (HS256, joserfc) and a rotating refresh token.

The access token is a JWT signed with a key derived from ``SECRET_KEY`` (HKDF, its own
``info``, so it can never verify a portal session or anything else signed with the secret).
Claims: ``iss``/``aud`` fixed, ``sub`` the mini-program user's id, ``iat``/``exp``, ``jti``.

The refresh token is opaque (32 random bytes). Redis keeps only its SHA-256 → user id with the
token's lifetime; using it deletes it (``GETDEL``) and issues a new pair, so a refresh token
works once and a stolen copy dies with the first use by either party. Logging out deletes it.

WeChat's ``session_key`` never leaves the server: it is kept in Redis for the user, for the
lifetime configured, and nothing returns it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, g, request
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from saas.db import get_session
from saas.errors import ApiError
from saas.models.miniprogram import MpUser
from saas.settings import MiniProgramSettings

ISSUER = "cleangate"
AUDIENCE = "cleangate-mp"
_REFRESH = "cleangate:mp:refresh:"
_SESSION_KEY = "cleangate:mp:session-key:"
_CLAIMS = jwt.JWTClaimsRegistry(
    iss={"essential": True, "value": ISSUER},
    aud={"essential": True, "value": AUDIENCE},
    sub={"essential": True},
    exp={"essential": True},
)


def signing_key(secret_key: str) -> OctKey:
    raw = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"cleangate mini-program jwt v1"
    ).derive(secret_key.encode())
    return OctKey.import_key(raw)


def _settings() -> MiniProgramSettings:
    return current_app.config["CLEANGATE_SETTINGS"].miniprogram  # type: ignore[no-any-return]


def _key() -> OctKey:
    cached = current_app.extensions.get("cleangate.mp_jwt_key")
    if cached is None:
        cached = signing_key(current_app.config["CLEANGATE_SETTINGS"].secret_key)
        current_app.extensions["cleangate.mp_jwt_key"] = cached
    return cached  # type: ignore[no-any-return]


def _redis() -> redis.Redis:
    return current_app.extensions["cleangate.redis"]  # type: ignore[no-any-return]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_access(user_id: uuid.UUID, *, now: float | None = None) -> tuple[str, int]:
    lifetime = _settings().access_token_seconds
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, _key()), lifetime


def verify_access(token: str) -> uuid.UUID:
    """The user id of a valid access token; 401 naming why otherwise."""
    try:
        decoded = jwt.decode(token, _key(), algorithms=["HS256"])
        _CLAIMS.validate(decoded.claims)
        return uuid.UUID(str(decoded.claims["sub"]))
    except ExpiredTokenError:
        raise ApiError(401, "token_expired", "登录已过期，请用 refresh_token 换取新令牌") from None
    except (JoseError, ValueError, KeyError):
        raise ApiError(401, "token_invalid", "访问令牌无效，请重新登录") from None


def issue_refresh(user_id: uuid.UUID) -> str:
    token = "mpr_" + secrets.token_urlsafe(32)
    ttl = _settings().refresh_token_days * 86400
    _redis().set(_REFRESH + _digest(token), str(user_id), ex=ttl)
    return token


def use_refresh(token: str) -> uuid.UUID:
    """Spend a refresh token (once); 401 if unknown, used or expired."""
    value = _redis().getdel(_REFRESH + _digest(token)) if token.startswith("mpr_") else None
    if value is None:
        raise ApiError(401, "refresh_invalid", "refresh_token 无效或已使用，请重新登录")
    return uuid.UUID(value.decode() if isinstance(value, bytes) else str(value))


def revoke_refresh(token: str) -> None:
    _redis().delete(_REFRESH + _digest(token))


def token_pair(user_id: uuid.UUID) -> dict[str, Any]:
    access, lifetime = issue_access(user_id)
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "refresh_token": issue_refresh(user_id),
    }


def keep_session_key(user_id: uuid.UUID, session_key: str) -> None:
    _redis().set(_SESSION_KEY + str(user_id), session_key, ex=_settings().session_key_seconds)


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "unauthenticated", "需要登录：请求头缺少 Authorization: Bearer <令牌>")
    return header[len("Bearer ") :].strip()


def driver_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate the mini-program user; the view reads ``current_user_id()``. No tenant
    context is set: each view enters the tenant of the site it acts on (``sites.site_scope``)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user_id = verify_access(bearer_token())
        user = get_session().get(MpUser, user_id)
        if user is None or user.disabled:
            raise ApiError(401, "account_disabled", "账号不存在或已停用")
        g.mp_user_id = user_id
        return view(*args, **kwargs)

    return wrapper


def current_user_id() -> uuid.UUID:
    user_id: uuid.UUID | None = g.get("mp_user_id")
    if user_id is None:
        raise ApiError(401, "unauthenticated", "需要登录")
    return user_id
