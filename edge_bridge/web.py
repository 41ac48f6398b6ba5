"""The edge box's own pages: the guard console (login) and the public "一厂一策" board.

They run on the daemon's event loop with the project's small HTTP server
(``edge_bridge.drivers.http``), so they keep working when the plant's internet is down; they read
the daemon's :class:`~edge_bridge.state.BridgeState` (and, for the board, its site snapshot) and
act only through :class:`~edge_bridge.state.GuardActions`. The board is the cloud's own page
(``saas/board/page/``, read as files of the installed ``saas`` package: nothing of ``saas`` but
``saas.compliance`` is imported). Pages, login and refresh: docs/edge-local-ui.md, docs/board.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import segno

from edge_bridge import __version__
from edge_bridge.drivers.http import HttpRequest, HttpResponse, HttpServer, form_fields
from edge_bridge.state import BridgeState, GuardActions, LaneState, PassageView
from edge_bridge.web_i18n import DEFAULT_LANGUAGE, LANGUAGES, has_message, translator
from saas.compliance import (
    PLATE_PROVINCES,
    AlertLevel,
    EmissionStage,
    PlateColor,
    normalize_plate,
    parse_plate,
)
from saas.compliance import board as public_board
from saas.compliance import snapshot as snap

log = logging.getLogger(__name__)


def _china_time() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:  # a box without tzdata: China has had no DST since 1991
        return timezone(timedelta(hours=8), "CST")


SHANGHAI = _china_time()

# ---------------------------------------------------------------- passwords (scrypt)

# OWASP Password Storage Cheat Sheet lists N=2^15, r=8, p=3 as equivalent to N=2^17, r=8, p=1:
# the same work with a quarter of the memory (32 MiB), which suits small edge boxes.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 3
_SALT_BYTES = 16
_KEY_BYTES = 32
# Bounds on what a configured hash may ask for, so a typo cannot exhaust the box's memory.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + 2**20  # OpenSSL needs B (128·r·p) plus V (128·r·(N+2))
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem
    )


def _check_params(n: int, r: int, p: int) -> None:
    if n < 2 or n & (n - 1) or n > _MAX_N:
        raise ValueError(f"scrypt n must be a power of two in 2..{_MAX_N}, got {n}")
    if not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        raise ValueError(f"scrypt r must be 1..{_MAX_R} and p 1..{_MAX_P}, got r={r} p={p}")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` for ``[web.users]`` (``cleangate-edge
    hash-password``). The parameters travel with the hash, so they can be raised later."""
    if not isinstance(password, str) or not password:
        raise ValueError("the password must not be empty")
    _check_params(n, r, p)
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password, salt, n, r, p, _KEY_BYTES)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(key).decode()}"


def _parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = encoded.split("$") if isinstance(encoded, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        _check_params(n, r, p)
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    if not salt or not 16 <= len(key) <= 64:
        return None
    return n, r, p, salt, key


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``; a malformed hash never matches."""
    parsed = _parse_hash(encoded)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    actual = _scrypt(password, salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def is_password_hash(encoded: str) -> bool:
    """Whether ``encoded`` is a well-formed hash (the daemon may check its config with it)."""
    return _parse_hash(encoded) is not None


# ---------------------------------------------------------------- masking for the public board


def mask_plate(text: str | None) -> str | None:
    """The plate as the public board shows it; None when nothing was read.

    A plate that starts with a province character and has 7–9 characters keeps its province,
    the issuing-authority letter and the first two serial characters: ``冀A12345`` → ``冀A·12***``,
    ``冀AD12345`` → ``冀A·D1****``. Anything else (embassy plates, misreads, junk) is shown as
    ``******`` so a public screen never spells out a full identifier.
    """
    normalized = normalize_plate(text or "")
    if parse_plate(normalized).unreadable:
        return None
    if normalized[:1] in PLATE_PROVINCES and 7 <= len(normalized) <= 9:
        return f"{normalized[:2]}·{normalized[2:4]}{'*' * (len(normalized) - 4)}"
    return "******"


# ---------------------------------------------------------------- signed tokens, sessions


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Signer:
    """HMAC-SHA256 over a JSON payload, one derived key per purpose (session, flash…)."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        label = f"cleangate-edge-web/{purpose}".encode()
        self._key = hmac.new(secret, label, hashlib.sha256).digest()

    def mac(self, data: str) -> str:
        return _b64url(hmac.new(self._key, data.encode("utf-8"), hashlib.sha256).digest())

    def sign(self, payload: dict[str, Any]) -> str:
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self.mac(body)}"

    def unsign(self, token: str | None) -> dict[str, Any] | None:
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self.mac(body)):
            return None
        try:
            payload = json.loads(_unb64url(body))
        except (ValueError, binascii.Error):
            return None
        return payload if isinstance(payload, dict) else None


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    sid: str
    expires: float
    csrf: str


class LoginLimiter:
    """Failed logins per client address in a sliding window; memory stays bounded."""

    def __init__(
        self, attempts: int, window: float, clock: Callable[[], float], max_clients: int = 4096
    ) -> None:
        self.attempts, self.window, self._clock = attempts, window, clock
        self._max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        now = self._clock()
        times = self._failures.get(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again, 0 if it may now."""
        times = self._recent(client)
        if len(times) < self.attempts:
            return 0
        return max(1, math.ceil(times[-self.attempts] + self.window - self._clock()))

    def failed(self, client: str) -> None:
        times = self._recent(client)
        times.append(self._clock())
        self._failures.pop(client, None)
        if len(self._failures) >= self._max_clients:  # drop the oldest client (insertion order)
            self._failures.pop(next(iter(self._failures)))
        self._failures[client] = times

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


# ---------------------------------------------------------------- view helpers

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_LANE_ROUTE = re.compile(r"^/lanes/([^/]+)/([^/]+)/(release|plate)$")
_IMAGE_ROUTE = re.compile(r"^/images/([^/]*)$")
_VERDICTS = {"allow", "deny", "review"}
_ALERTS = ("none", "yellow", "orange", "red")
# The colours a guard can pick, in the order of the select (saas.compliance.PlateColor values).
TYPED_COLORS: tuple[PlateColor, ...] = (
    PlateColor.BLUE,
    PlateColor.YELLOW,
    PlateColor.GREEN,
    PlateColor.YELLOW_GREEN,
    PlateColor.WHITE,
    PlateColor.BLACK,
)
MAX_REASON = 500
MAX_PLATE = 16
CONSOLE_RECENT = 50
BOARD_POLL_MS = 1000  # the board polls /board.json every second: a passage shows within ~1 s
SESSION_SECONDS = 12 * 3600

SESSION_COOKIE = "cg_session"
LOGIN_COOKIE = "cg_login"
FLASH_COOKIE = "cg_flash"
LANG_COOKIE = "cg_lang"

_STATIC_TYPES = {
    "edge.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
# The public board is the cloud's page (saas/board/page/): one template, its stylesheet, its script.
_BOARD_ASSETS = {
    "board.css": "text/css; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
}


def _level(value: str | None) -> AlertLevel:
    try:
        return AlertLevel((value or "none").lower())
    except ValueError:
        return AlertLevel.NONE


def _board_page_file(name: str) -> bytes:
    """A file of the shared board page, from the installed ``saas`` package's data (the
    ``saas`` package itself imports nothing; ``saas.board`` is never imported here)."""
    return resources.files("saas").joinpath("board", "page", name).read_bytes()


@lru_cache(maxsize=8)
def _qr_svg(url: str) -> str:
    """The cargo-registration QR code as inline SVG (segno's markup: paths, no text)."""
    if not url:
        return ""
    code = segno.make(url, error="m", micro=False)
    return str(code.svg_inline(scale=1, border=2, omitsize=True, dark="#000", light="#fff"))


class SnapshotSource(Protocol):
    """What the board reads of the daemon's snapshot store (``edge_bridge.sync``)."""

    site: snap.Site  # the snapshot in force (the strict fallback until the first sync)


_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "" if moment is None else _as_utc(moment).astimezone(SHANGHAI).strftime(fmt)


def _sniff_image(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return "application/octet-stream"


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _parse_cookies(header: str | None) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for piece in (header or "").split(";"):
        name, sep, value = piece.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def _cookie(name: str, value: str, *, max_age: int, path: str = "/", strict: bool = True) -> str:
    same_site = "Strict" if strict else "Lax"
    return f"{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}"


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no ``//host``, no scheme) may follow a login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path in ("/login", "/logout"):
        return "/"
    return target


@dataclass
class _Ctx:
    request: HttpRequest
    lang: str
    t: Callable[..., str]
    cookies: dict[str, str]
    set_cookies: list[str] = field(default_factory=list)
    session: Session | None = None


class _NotFound(Exception):
    pass


# ---------------------------------------------------------------- the server


class LocalWeb:
    """Guard console and public board on ``host:port`` (``port=0`` picks one; ``url`` tells).

    ``users`` maps guard names to :func:`hash_password` hashes. ``secret`` signs session
    cookies; give a persistent one to keep guards logged in across daemon restarts (a random
    one is made per process otherwise). ``clock`` (unix seconds) is for tests.
    """

    def __init__(
        self,
        state: BridgeState,
        actions: GuardActions,
        host: str,
        port: int,
        users: dict[str, str],
        secret: bytes | None = None,
        *,
        clock: Callable[[], float] = time.time,
        login_attempts: int = 5,
        login_window: float = 60.0,
        snapshot: SnapshotSource | None = None,
    ) -> None:
        self.state = state
        self.actions = actions
        # The board prints the snapshot's plan section; the daemon (our GuardActions) holds the
        # store as ``.snapshot`` when none is passed.
        self.snapshot: SnapshotSource | None = (
            snapshot if snapshot is not None else getattr(actions, "snapshot", None)
        )
        self.users = dict(users)
        for name, encoded in self.users.items():
            if not is_password_hash(encoded):
                log.warning("web user %r: not a scrypt$… hash, this user cannot log in", name)
        self._clock = clock
        secret = secret or secrets.token_bytes(32)
        self._sessions = _Signer(secret, "session")
        self._csrf = _Signer(secret, "csrf")
        self._flash = _Signer(secret, "flash")
        self._revoked: dict[str, float] = {}  # logged-out session ids until they would expire
        self._limiter = LoginLimiter(login_attempts, login_window, clock)
        self._dummy_hash: str | None = None  # verified for unknown names: same time as known ones
        self._verify_slots = asyncio.Semaphore(2)  # scrypt is 32 MiB and ~0.1 s each
        self._changes = 0
        self._fingerprint = ""
        self._static: dict[str, tuple[bytes, str]] = {}
        for name in _STATIC_TYPES:
            data = resources.files("edge_bridge").joinpath("static", name).read_bytes()
            self._static[name] = (data, hashlib.sha256(data).hexdigest()[:12])
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("edge_bridge", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["segment"] = _segment
        self._env.globals["static_url"] = self._static_url
        self._board_assets = {name: _board_page_file(name) for name in _BOARD_ASSETS}
        digest = hashlib.sha256(b"".join(self._board_assets[n] for n in sorted(_BOARD_ASSETS)))
        self._board_assets_url = f"/static/board/{digest.hexdigest()[:12]}"
        self._board_env = jinja2.Environment(
            loader=jinja2.DictLoader(
                {"board.html": _board_page_file("board.html").decode("utf-8")}
            ),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._server = HttpServer(
            self._handle, host, port, max_body=64 * 1024, idle_timeout=30.0, name="edge-web"
        )

    @property
    def url(self) -> str:
        return self._server.url

    async def start(self) -> None:
        if not self.users:
            log.warning("no [web.users] configured: nobody can log in to the guard console")
        await self._server.start()
        log.info("guard console at %s/ and gate board at %s/board", self.url, self.url)

    async def stop(self) -> None:
        await self._server.stop()

    # ------------------------------------------------------------ plumbing

    def _static_url(self, name: str) -> str:
        return f"/static/{name}?v={self._static[name][1]}"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        cookies = _parse_cookies(request.headers.get("Cookie"))
        ctx = _Ctx(request, DEFAULT_LANGUAGE, translator(DEFAULT_LANGUAGE), cookies)
        wanted = (request.query.get("lang") or [""])[0]
        if wanted in LANGUAGES:
            ctx.lang = wanted
            ctx.set_cookies.append(_cookie(LANG_COOKIE, wanted, max_age=365 * 86400, strict=False))
        elif cookies.get(LANG_COOKIE) in LANGUAGES:
            ctx.lang = cookies[LANG_COOKIE]
        ctx.t = translator(ctx.lang)
        ctx.session = self._session_from(cookies.get(SESSION_COOKIE))
        try:
            response = await self._route(ctx)
        except _NotFound:
            response = self._error(ctx, 404, "not_found")
        headers = list(response.headers) + [("Set-Cookie", c) for c in ctx.set_cookies]
        names = {k.lower() for k, _ in headers}
        headers += [(k, v) for k, v in _SECURITY_HEADERS if k.lower() not in names]
        if "cache-control" not in names:
            headers.append(("Cache-Control", "no-store"))
        return HttpResponse(response.status, response.body, response.content_type, tuple(headers))

    async def _route(self, ctx: _Ctx) -> HttpResponse:
        method, path = ctx.request.method, ctx.request.path
        if path == "/healthz":
            return HttpResponse.text(200, "ok")
        if path.startswith("/static/board/"):
            return self._board_asset(path.removeprefix("/static/board/"))
        if path.startswith("/static/"):
            return self._static_file(path.removeprefix("/static/"))
        gets: dict[str, Callable[[_Ctx], HttpResponse]] = {
            "/board": self._board_page,
            "/board.json": self._board_json,
            "/login": self._login_page,
            "/logout": self._logout_page,
            "/": self._console_page,
            "/state.json": self._state_json,
        }
        posts = {"/login": self._login, "/logout": self._logout}
        if path in gets or path in posts:
            if method == "GET" and path in gets:
                return gets[path](ctx)
            if method == "POST" and path in posts:
                return await posts[path](ctx)
            allowed = ", ".join(m for m, table in (("GET", gets), ("POST", posts)) if path in table)
            return self._error(ctx, 405, "method_not_allowed", headers=(("Allow", allowed),))
        if match := _IMAGE_ROUTE.match(path):
            if method != "GET":
                return self._error(ctx, 405, "method_not_allowed", headers=(("Allow", "GET"),))
            return self._image(ctx, match.group(1))
        if match := _LANE_ROUTE.match(path):
            if method != "POST":
                return self._error(ctx, 405, "method_not_allowed", headers=(("Allow", "POST"),))
            return await self._lane_action(ctx, unquote(match[1]), unquote(match[2]), match[3])
        raise _NotFound

    def _render(
        self,
        ctx: _Ctx,
        template: str,
        http_status: int = 200,
        headers: Iterable[tuple[str, str]] = (),
        **values: Any,
    ) -> HttpResponse:
        here = ctx.request.path if ctx.request.method == "GET" else "/"
        other = "en" if ctx.lang == "zh" else "zh"
        page = self._env.get_template(template).render(
            t=ctx.t,
            lang=ctx.lang,
            html_lang="zh-CN" if ctx.lang == "zh" else "en",
            other_lang_url=f"{here}?{urlencode({'lang': other})}",
            site_name=self.state.site_name,
            user=ctx.session.user if ctx.session else None,
            csrf=ctx.session.csrf if ctx.session else "",
            **values,
        )
        return HttpResponse(http_status, page.encode(), "text/html; charset=utf-8", tuple(headers))

    def _error(
        self, ctx: _Ctx, status: int, message: str, headers: Iterable[tuple[str, str]] = ()
    ) -> HttpResponse:
        return self._render(
            ctx, "error.html", status, headers, status=status, message=ctx.t(message)
        )

    @staticmethod
    def _json(data: dict[str, Any], status: int = 200) -> HttpResponse:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return HttpResponse(status, body, "application/json; charset=utf-8")

    @staticmethod
    def _redirect(location: str) -> HttpResponse:
        return HttpResponse(303, b"", "text/plain; charset=utf-8", (("Location", location),))

    def _static_file(self, name: str) -> HttpResponse:
        if name not in self._static:
            raise _NotFound
        data, _ = self._static[name]
        cache = (("Cache-Control", "public, max-age=86400"),)
        return HttpResponse(200, data, _STATIC_TYPES[name], cache)

    # ------------------------------------------------------------ sessions and CSRF

    def _password_tag(self, user: str) -> str:
        """Binds a session to the user's current hash: a changed password ends old sessions."""
        return self._csrf.mac("pw:" + self.users.get(user, ""))[:16]

    def _session_from(self, token: str | None) -> Session | None:
        payload = self._sessions.unsign(token)
        if payload is None:
            return None
        user, sid, expires = payload.get("u"), payload.get("sid"), payload.get("exp")
        if not isinstance(user, str) or not isinstance(sid, str):
            return None
        if not isinstance(expires, int | float) or expires <= self._clock():
            return None
        if user not in self.users or sid in self._revoked:
            return None
        if payload.get("pw") != self._password_tag(user):
            return None
        return Session(user, sid, float(expires), self._csrf.mac("session:" + sid))

    def _new_session(self, user: str) -> str:
        expires = int(self._clock()) + SESSION_SECONDS
        payload = {
            "u": user,
            "sid": secrets.token_urlsafe(18),
            "exp": expires,
            "pw": self._password_tag(user),
        }
        return _cookie(SESSION_COOKIE, self._sessions.sign(payload), max_age=SESSION_SECONDS)

    def _csrf_ok(self, ctx: _Ctx, fields: dict[str, str]) -> bool:
        sent = fields.get("csrf", "")
        return ctx.session is not None and hmac.compare_digest(
            sent.encode(), ctx.session.csrf.encode()
        )

    def _login_token(self, nonce: str) -> str:
        return self._csrf.mac("login:" + nonce)

    def _revoke(self, session: Session) -> None:
        now = self._clock()
        for sid in [s for s, until in self._revoked.items() if until <= now]:
            del self._revoked[sid]
        self._revoked[session.sid] = session.expires

    def _require_page_login(self, ctx: _Ctx) -> HttpResponse | None:
        if ctx.session is not None:
            return None
        target = ctx.request.target if ctx.request.method == "GET" else "/"
        return self._redirect("/login?" + urlencode({"next": target}))

    # ------------------------------------------------------------ login / logout

    def _login_form(
        self, ctx: _Ctx, status: int = 200, error: str | None = None, username: str = ""
    ) -> HttpResponse:
        nonce = ctx.cookies.get(LOGIN_COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{22,64}", nonce):
            nonce = secrets.token_urlsafe(24)
            ctx.set_cookies.append(_cookie(LOGIN_COOKIE, nonce, max_age=3600, path="/login"))
        next_target = _safe_next((ctx.request.query.get("next") or [""])[0])
        if ctx.request.method == "POST":
            next_target = _safe_next(form_fields(ctx.request).get("next"))
        notice = ctx.t("logged_out") if ctx.request.query.get("out") else None
        return self._render(
            ctx,
            "login.html",
            status,
            login_csrf=self._login_token(nonce),
            next_target=next_target,
            error=error,
            notice=notice,
            username=username,
        )

    def _login_page(self, ctx: _Ctx) -> HttpResponse:
        if ctx.session is not None:
            return self._redirect(_safe_next((ctx.request.query.get("next") or [""])[0]))
        return self._login_form(ctx)

    async def _login(self, ctx: _Ctx) -> HttpResponse:
        peer = ctx.request.peer
        wait = self._limiter.retry_after(peer)
        if wait:
            log.warning("login from %s refused: too many failures", peer)
            message = ctx.t("login_rate_limited", seconds=wait)
            return self._render(
                ctx, "error.html", 429, (("Retry-After", str(wait)),), status=429, message=message
            )
        fields = form_fields(ctx.request)
        nonce = ctx.cookies.get(LOGIN_COOKIE, "")
        sent = fields.get("csrf", "")
        if not nonce or not hmac.compare_digest(sent.encode(), self._login_token(nonce).encode()):
            return self._error(ctx, 403, "forbidden_csrf")
        username = fields.get("username", "").strip()[:64]
        password = fields.get("password", "")
        if await self._check_password(username, password):
            self._limiter.succeeded(peer)
            log.info("guard %r logged in from %s", username, peer)
            ctx.set_cookies.append(self._new_session(username))
            ctx.set_cookies.append(_cookie(LOGIN_COOKIE, "", max_age=0, path="/login"))
            return self._redirect(_safe_next(fields.get("next")))
        self._limiter.failed(peer)
        log.warning("failed login for %r from %s", username, peer)
        return self._login_form(ctx, 401, ctx.t("login_failed"), username)

    async def _check_password(self, username: str, password: str) -> bool:
        encoded = self.users.get(username)
        async with self._verify_slots:
            if encoded is None or not is_password_hash(encoded):
                if self._dummy_hash is None:
                    self._dummy_hash = await asyncio.to_thread(hash_password, "not a password")
                await asyncio.to_thread(verify_password, password, self._dummy_hash)
                return False
            # scrypt takes a tenth of a second: off the loop that is deciding gate passages
            return await asyncio.to_thread(verify_password, password, encoded)

    def _logout_page(self, ctx: _Ctx) -> HttpResponse:
        if (redirect := self._require_page_login(ctx)) is not None:
            return redirect
        return self._render(ctx, "logout.html")

    async def _logout(self, ctx: _Ctx) -> HttpResponse:
        if ctx.session is None:
            return self._redirect("/login")
        if not self._csrf_ok(ctx, form_fields(ctx.request)):
            return self._error(ctx, 403, "forbidden_csrf")
        self._revoke(ctx.session)
        log.info("guard %r logged out", ctx.session.user)
        ctx.set_cookies.append(_cookie(SESSION_COOKIE, "", max_age=0))
        return self._redirect("/login?out=1")

    # ------------------------------------------------------------ values for the pages

    def _verdict(self, t: Callable[..., str], verdict: str) -> tuple[str, str]:
        key = (verdict or "").lower()
        if key in _VERDICTS:
            return t(f"verdict_{key}"), key
        return verdict or t("unknown"), "unknown"

    def _alert(self, t: Callable[..., str]) -> tuple[str, str]:
        level = (self.state.alert_level or "none").lower()
        if level in _ALERTS:
            return t(f"alert_{level}"), level
        return self.state.alert_level, "unknown"

    @staticmethod
    def _stage(t: Callable[..., str], lang: str, stage: str | None) -> str:
        if not stage:
            return "—"
        try:
            known = EmissionStage(stage.lower())
        except ValueError:
            return stage
        return known.label_zh if lang == "zh" else known.label_en

    @staticmethod
    def _color(t: Callable[..., str], color: str | None) -> tuple[str, str]:
        if not color:
            return "—", "none"
        try:
            known = PlateColor(color.lower())
        except ValueError:
            return color, "other"
        return t(f"color_{known.value}"), known.value

    @staticmethod
    def _direction(t: Callable[..., str], direction: str) -> str:
        return {"in": t("dir_in"), "out": t("dir_out")}.get(direction, direction)

    @staticmethod
    def _reason(t: Callable[..., str], code: str) -> str:
        return t(f"reason_{code}") if has_message(f"reason_{code}") else code

    def _passage(self, ctx: _Ctx, p: PassageView) -> dict[str, Any]:
        t = ctx.t
        verdict, verdict_class = self._verdict(t, p.verdict)
        color, color_class = self._color(t, p.plate_color)
        manual = {"release": t("manual_release"), "typed": t("manual_typed")}.get(p.manual or "")
        return {
            "event_id": p.event_id,
            "time": _local(p.captured_at),
            "lane": f"{p.gate}/{p.lane}",
            "direction": self._direction(t, p.direction),
            "plate": p.plate_text or t("plate_unreadable"),
            "color": color,
            "color_class": color_class,
            "verdict": verdict,
            "verdict_class": verdict_class,
            "reasons": [self._reason(t, r) for r in p.reasons],
            "display": list(p.display),
            "stage": self._stage(t, ctx.lang, p.emission_stage),
            "barrier": None
            if p.barrier_opened is None
            else t("barrier_opened" if p.barrier_opened else "barrier_closed"),
            "manual": manual or (p.manual or None),
            "operator": p.operator,
            "reason": p.reason,
            "images": [sha.lower() for sha in p.images if _HEX64.match(sha)],
        }

    def _ago(self, t: Callable[..., str], moment: datetime | None) -> str:
        if moment is None:
            return t("never")
        seconds = max(0, int((self._now() - _as_utc(moment)).total_seconds()))
        if seconds < 60:
            return t("ago_seconds", n=seconds)
        if seconds < 3600:
            return t("ago_minutes", n=seconds // 60)
        if seconds < 86400:
            return t("ago_hours", n=seconds // 3600)
        return t("ago_days", n=seconds // 86400)

    def _lane(
        self,
        ctx: _Ctx,
        lane: LaneState,
        errors: dict[str, str],
        values: dict[str, str],
    ) -> dict[str, Any]:
        t = ctx.t
        devices = []
        for kind, unique_id in (
            ("device_camera", lane.camera),
            ("device_barrier", lane.barrier),
            ("device_display", lane.display),
        ):
            if unique_id:
                state = self.state.devices.get(unique_id) or t("unknown")
                devices.append({"kind": t(kind), "id": unique_id, "state": state})
        return {
            "key": lane.key,
            "gate": lane.gate,
            "lane": lane.lane,
            "direction": self._direction(t, lane.direction),
            "devices": devices,
            "last": self._passage(ctx, lane.last) if lane.last else None,
            "errors": errors,
            "form": values,
        }

    def _console_fingerprint(self) -> str:
        """Everything the console shows except the outbox depth (updated in place) and ages."""
        s = self.state
        parts = [
            s.site_name,
            s.online,
            sorted(s.alarms.items()),
            s.clock_skew_ms,
            s.snapshot_version,
            s.alert_level,
            sorted(s.devices.items()),
            [(k, lane.last.event_id if lane.last else None) for k, lane in s.lanes.items()],
            s.recent[0].event_id if s.recent else None,
            len(s.recent),
            s.today_in,
            s.today_out,
            str(s.last_connected_at),
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def _observe(self) -> int:
        """The change counter the console polls: bumped whenever the fingerprint moves."""
        fingerprint = self._console_fingerprint()
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            self._changes += 1
        return self._changes

    # ------------------------------------------------------------ console

    def _console_page(self, ctx: _Ctx) -> HttpResponse:
        if (redirect := self._require_page_login(ctx)) is not None:
            return redirect
        flash = self._flash.unsign(ctx.cookies.get(FLASH_COOKIE))
        if FLASH_COOKIE in ctx.cookies:
            ctx.set_cookies.append(_cookie(FLASH_COOKIE, "", max_age=0))
        return self._console(ctx, flash=flash)

    def _console(
        self,
        ctx: _Ctx,
        status: int = 200,
        flash: dict[str, Any] | None = None,
        lane_errors: dict[str, dict[str, str]] | None = None,
        lane_values: dict[str, dict[str, str]] | None = None,
    ) -> HttpResponse:
        t, s = ctx.t, self.state
        lane_errors, lane_values = lane_errors or {}, lane_values or {}
        alert_label, alert_class = self._alert(t)
        skew = s.clock_skew_ms
        return self._render(
            ctx,
            "console.html",
            status,
            changes=self._observe(),
            hold=bool(lane_errors),
            online=s.online,
            last_connected=self._ago(t, s.last_connected_at),
            alarms=sorted(s.alarms.items()),
            alert_label=alert_label,
            alert_class=alert_class,
            outbox_depth=s.outbox_depth,
            snapshot_version=None if s.snapshot_version is None else str(s.snapshot_version),
            snapshot_age=self._ago(t, s.snapshot_at) if s.snapshot_at else None,
            clock_skew=None if skew is None else f"{skew / 1000:+.1f} s",
            clock_warn="clock_skew" in s.alarms,
            disk_free=None if s.disk_free_bytes is None else _human_bytes(s.disk_free_bytes),
            disk_warn="disk_full" in s.alarms,
            software_version=s.software_version or __version__,
            today_in=s.today_in,
            today_out=s.today_out,
            flash=flash if flash and isinstance(flash.get("t"), str) else None,
            lanes=[
                self._lane(ctx, lane, lane_errors.get(key, {}), lane_values.get(key, {}))
                for key, lane in s.lanes.items()
            ],
            colors=[(c.value, t(f"color_{c.value}")) for c in TYPED_COLORS],
            recent=[self._passage(ctx, p) for p in list(s.recent)[:CONSOLE_RECENT]],
        )

    def _state_json(self, ctx: _Ctx) -> HttpResponse:
        if ctx.session is None:
            return self._json({"error": "login_required"}, 401)
        s = self.state
        return self._json(
            {
                "changes": self._observe(),
                "online": s.online,
                "alarms": dict(s.alarms),
                "outbox_depth": s.outbox_depth,
                "alert_level": s.alert_level,
                "snapshot_version": s.snapshot_version,
                "lanes": {
                    key: lane.last.event_id if lane.last else None for key, lane in s.lanes.items()
                },
                "latest": s.recent[0].event_id if s.recent else None,
                "today_in": s.today_in,
                "today_out": s.today_out,
            }
        )

    def _image(self, ctx: _Ctx, sha: str) -> HttpResponse:
        if ctx.session is None:
            return HttpResponse.text(401, "login required")
        if not _HEX64.match(sha):
            raise _NotFound
        data = self.actions.image(sha.lower())
        if data is None:
            raise _NotFound
        cache = (("Cache-Control", "private, max-age=86400, immutable"),)
        return HttpResponse(200, data, _sniff_image(data), cache)

    async def _lane_action(self, ctx: _Ctx, gate: str, lane_no: str, action: str) -> HttpResponse:
        if ctx.session is None:
            return self._redirect("/login")
        fields = form_fields(ctx.request)
        if not self._csrf_ok(ctx, fields):
            log.warning("lane %s/%s %s: missing or wrong CSRF token", gate, lane_no, action)
            return self._error(ctx, 403, "forbidden_csrf")
        lane = self.state.lanes.get(f"{gate}/{lane_no}")
        if lane is None:
            raise _NotFound
        t, operator = ctx.t, ctx.session.user
        if action == "release":
            reason = fields.get("reason", "").strip()
            error = None
            if not reason:
                error = t("release_reason_required")
            elif len(reason) > MAX_REASON:
                error = t("text_too_long", field=t("release_reason"), n=MAX_REASON)
            if error:
                return self._console(
                    ctx,
                    400,
                    lane_errors={lane.key: {"release": error}},
                    lane_values={lane.key: {"reason": reason}},
                )
            try:
                view = await self.actions.manual_release(
                    lane.gate, lane.lane, reason, operator=operator
                )
            except Exception as exc:
                return self._action_failed(ctx, lane, exc)
            verdict, _ = self._verdict(t, view.verdict)
            text = t("released_flash", lane=lane.key, verdict=verdict)
            log.info("guard %r released %s: %s", operator, lane.key, reason)
        else:
            plate = fields.get("plate", "").strip()
            color_value = fields.get("color", "").strip()
            values = {"plate": plate, "color": color_value}
            error = None
            if not plate:
                error = t("plate_required")
            elif len(plate) > MAX_PLATE:
                error = t("text_too_long", field=t("plate"), n=MAX_PLATE)
            elif color_value and color_value not in {c.value for c in TYPED_COLORS}:
                error = t("color_invalid")
            if error:
                return self._console(
                    ctx,
                    400,
                    lane_errors={lane.key: {"plate": error}},
                    lane_values={lane.key: values},
                )
            try:
                view = await self.actions.manual_plate(
                    lane.gate, lane.lane, plate, color_value or None, operator=operator
                )
            except Exception as exc:
                return self._action_failed(ctx, lane, exc)
            verdict, _ = self._verdict(t, view.verdict)
            text = t("typed_flash", lane=lane.key, plate=view.plate_text or plate, verdict=verdict)
            log.info("guard %r typed %r at %s", operator, plate, lane.key)
        self._set_flash(ctx, "ok", text)
        return self._redirect(f"/#lane-{_segment(lane.key)}")

    def _action_failed(self, ctx: _Ctx, lane: LaneState, exc: Exception) -> HttpResponse:
        log.exception("guard action on %s failed", lane.key)
        message = ctx.t("action_failed", lane=lane.key, error=str(exc)[:200] or type(exc).__name__)
        self._set_flash(ctx, "error", message)
        return self._redirect(f"/#lane-{_segment(lane.key)}")

    def _set_flash(self, ctx: _Ctx, kind: str, text: str) -> None:
        token = self._flash.sign({"k": kind, "t": text})
        ctx.set_cookies.append(_cookie(FLASH_COOKIE, token, max_age=60))

    # ------------------------------------------------------------ public board

    def _board_data(self, ctx: _Ctx) -> dict[str, Any]:
        """The board as the cloud shows it (``saas.compliance.board.view``), from this box:
        the snapshot's plan section, the alert its windows put in force now, and the box's own
        last decision — so the gate's screen is right while the plant is offline."""
        now = self._now()
        site = self.snapshot.site if self.snapshot is not None else None
        section = dict((site.body.get("plan") or {}) if site is not None else {})
        if not section.get("enterprise"):
            section["enterprise"] = self.state.site_name  # never synced: at least the name
        if site is not None:
            level, since = public_board.alert_in_force(site, now)
        else:
            level, since = _level(self.state.alert_level), None
        last = self.state.recent[0] if self.state.recent else None
        item = None
        if last is not None:
            item = {
                "plate": last.plate_text,
                "verdict": last.verdict,
                "emission_stage": last.emission_stage,
                "captured_at": _as_utc(last.captured_at),
                "direction": last.direction,
                "display": list(last.display),
            }
        return public_board.view(section, level, since, item, now, offline=not self.state.online)

    def _board_page(self, ctx: _Ctx) -> HttpResponse:
        board = self._board_data(ctx)
        page = self._board_env.get_template("board.html").render(
            board=board,
            feed={"mode": "poll", "json": "/board.json", "interval_ms": BOARD_POLL_MS},
            assets=self._board_assets_url,
            qr_svg=_qr_svg(board["cargo_url"]),
        )
        return HttpResponse(200, page.encode(), "text/html; charset=utf-8")

    def _board_asset(self, rest: str) -> HttpResponse:
        """``/static/board/<version>/<name>``: the version only busts caches."""
        _, _, name = rest.partition("/")
        if name not in self._board_assets:
            raise _NotFound
        cache = (("Cache-Control", "public, max-age=86400"),)
        return HttpResponse(200, self._board_assets[name], _BOARD_ASSETS[name], cache)

    def _board_json(self, ctx: _Ctx) -> HttpResponse:
        return self._json(self._board_data(ctx))
