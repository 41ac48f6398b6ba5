"""Just enough HTTP/1.1 for device protocols, on asyncio streams and the standard library.

The edge installs without aiohttp or requests (docs/architecture.md), and cameras speak a small,
well-known subset: a push server that answers quickly (one request at a time per connection,
keep-alive, Content-Length or chunked bodies, ``Expect: 100-continue``), a one-shot client, HTTP
Digest auth (RFC 7616, MD5/SHA-256, ``qop=auth``) and ``multipart/form-data``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_LINE = 8192
# Cameras push from the plant LAN to the edge box, so receivers listen on every interface.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
MAX_HEADERS = 100


class HttpError(Exception):
    """Transport-level failure: refused, reset, timed out or a malformed message."""


class Headers:
    """Ordered, case-insensitive, with repeats (``WWW-Authenticate`` often comes twice)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self.items = list(items)

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self.items:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.items if k.lower() == lname]


def header_param(value: str, param: str) -> str | None:
    """A parameter of a structured header (``boundary`` of Content-Type, ``name`` of a part)."""
    msg = Message()
    msg["x"] = value
    got = msg.get_param(param, header="x")
    if isinstance(got, tuple):  # RFC 2231 encoded
        got = str(got[2])
    return None if got is None else str(got)


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


async def _read_headers(reader: asyncio.StreamReader) -> Headers:
    headers = Headers()
    while True:
        line = await reader.readuntil(b"\n")
        if line in (b"\r\n", b"\n"):
            return headers
        if len(headers.items) >= MAX_HEADERS:
            raise HttpError("too many headers")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name.strip():
            raise HttpError(f"bad header line {line[:60]!r}")
        headers.items.append((name.strip(), value.strip()))


async def _read_body(
    reader: asyncio.StreamReader, headers: Headers, max_body: int, until_eof: bool = False
) -> bytes:
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise HttpError("bad chunk size") from exc
            if size == 0:
                await _read_headers(reader)  # trailers
                return b"".join(chunks)
            total += size
            if total > max_body:
                raise HttpError("body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readuntil(b"\n")
    length_text = headers.get("Content-Length")
    if length_text is None:
        return await reader.read(max_body + 1) if until_eof else b""
    try:
        length = int(length_text)
    except ValueError as exc:
        raise HttpError("bad Content-Length") from exc
    if length < 0 or length > max_body:
        raise HttpError("body too large")
    return await reader.readexactly(length)


# ---------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str
    headers: Headers
    body: bytes
    peer: str

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode())


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def _serialize(resp: HttpResponse, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {resp.status} {reason}", f"Content-Length: {len(resp.body)}"]
    if resp.body or resp.content_type:
        lines.append(f"Content-Type: {resp.content_type}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines += [f"{k}: {v}" for k, v in resp.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + resp.body


class HttpServer:
    """A push receiver. ``port=0`` picks a free port (tests); ``url`` tells where it listens."""

    def __init__(
        self,
        handler: Handler,
        host: str = ALL_INTERFACES,
        port: int = 0,
        *,
        max_body: int = 16 * 1024 * 1024,
        idle_timeout: float = 60.0,
        name: str = "http",
    ) -> None:
        self._handler = handler
        self.host, self.port = host, port
        self.max_body = max_body
        self.idle_timeout = idle_timeout
        self.name = name
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in (ALL_INTERFACES, "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=MAX_LINE * 8
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        peer_ip = peer[0] if isinstance(peer, tuple) else str(peer)
        try:
            while True:
                try:
                    keep = await asyncio.wait_for(
                        self._one(reader, writer, peer_ip), self.idle_timeout
                    )
                except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                    return
                except (HttpError, asyncio.LimitOverrunError, ValueError) as exc:
                    log.warning("%s: bad request from %s: %s", self.name, peer_ip, exc)
                    writer.write(_serialize(HttpResponse.text(400, "bad request"), False))
                    with contextlib.suppress(Exception):
                        await writer.drain()
                    return
                if not keep:
                    return
        except Exception:
            log.exception("%s: connection from %s failed", self.name, peer_ip)
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> bool:
        line = await reader.readuntil(b"\n")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(f"bad request line {line[:60]!r}")
        method, target, version = parts
        headers = await _read_headers(reader)
        if (headers.get("Expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(reader, headers, self.max_body)
        conn = (headers.get("Connection") or "").lower()
        keep = conn != "close" and (version == "HTTP/1.1" or conn == "keep-alive")
        request = HttpRequest(method.upper(), target, headers, body, peer)
        try:
            response = await self._handler(request)
        except Exception:
            log.exception("%s: handler failed for %s %s", self.name, method, target)
            response = HttpResponse.text(500, "internal error")
        writer.write(_serialize(response, keep))
        await writer.drain()
        return keep


# ---------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class ClientResponse:
    status: int
    headers: Headers
    body: bytes


async def http_request(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    timeout: float = 5.0,
    max_body: int = 16 * 1024 * 1024,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientResponse:
    """One request on a fresh connection (``Connection: close``): devices drop idle sockets."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"unsupported URL {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rsplit("@", 1)[-1]
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host_header}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body

    async def exchange() -> ClientResponse:
        context = (ssl_context or ssl.create_default_context()) if tls else None
        reader, writer = await asyncio.open_connection(
            parts.hostname, port, ssl=context, limit=MAX_LINE * 8
        )
        try:
            writer.write(raw)
            await writer.drain()
            while True:
                status_line = await reader.readuntil(b"\n")
                fields = status_line.decode("latin-1").split(None, 2)
                if len(fields) < 2 or not fields[0].startswith("HTTP/"):
                    raise HttpError(f"bad status line {status_line[:60]!r}")
                status = int(fields[1])
                resp_headers = await _read_headers(reader)
                if status != 100:
                    break
            data = (
                b""
                if method == "HEAD"
                else await _read_body(reader, resp_headers, max_body, until_eof=True)
            )
            return ClientResponse(status, resp_headers, data)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except TimeoutError as exc:
        raise HttpError(f"timeout after {timeout}s: {method} {url}") from exc
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------- digest auth (RFC 7616)

_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)')
_HASHES = {"MD5": "md5", "SHA-256": "sha256"}


def parse_challenge(values: Iterable[str]) -> dict[str, str] | None:
    """The Digest challenge among ``WWW-Authenticate`` values (cameras also offer Basic)."""
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            continue
        params: dict[str, str] = {}
        for match in _PARAM.finditer(rest):
            raw = match.group(3) if match.group(3) is not None else match.group(2)
            params[match.group(1).lower()] = raw.replace('\\"', '"')
        if "nonce" in params:
            return params
    return None


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8"), usedforsecurity=False).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str | None,
) -> str:
    """RFC 7616 §3.4.1 ``response``; ``-sess`` variants hash the nonces into HA1."""
    base = algorithm.upper().removesuffix("-SESS")
    ha1 = _h(base, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _h(base, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(base, f"{method}:{uri}")
    if qop:
        return _h(base, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(base, f"{ha1}:{nonce}:{ha2}")


@dataclass
class DigestAuth:
    """Client-side Digest state: the last challenge and the nonce count (reused, saving 401s)."""

    username: str
    password: str
    challenge: dict[str, str] | None = None
    nc: int = 0

    def learn(self, challenge: dict[str, str]) -> None:
        if self.challenge is None or challenge.get("nonce") != self.challenge.get("nonce"):
            self.nc = 0
        self.challenge = challenge

    def header(self, method: str, uri: str) -> str | None:
        ch = self.challenge
        if ch is None:
            return None
        algorithm = ch.get("algorithm", "MD5")
        if algorithm.upper().removesuffix("-SESS") not in _HASHES:
            raise HttpError(f"unsupported digest algorithm {algorithm}")
        qops = [q.strip() for q in ch.get("qop", "").split(",") if q.strip()]
        if qops and "auth" not in qops:
            raise HttpError(f"unsupported qop {ch.get('qop')}")
        qop = "auth" if qops else None
        self.nc += 1
        nc = f"{self.nc:08x}"
        cnonce = secrets.token_hex(8)
        response = digest_response(
            algorithm=algorithm,
            username=self.username,
            realm=ch.get("realm", ""),
            password=self.password,
            method=method,
            uri=uri,
            nonce=ch["nonce"],
            nc=nc,
            cnonce=cnonce,
            qop=qop,
        )
        fields = [
            f'username="{self.username}"',
            f'realm="{ch.get("realm", "")}"',
            f'nonce="{ch["nonce"]}"',
            f'uri="{uri}"',
            f"algorithm={algorithm}",
            f'response="{response}"',
        ]
        if qop:
            fields += [f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"']
        if "opaque" in ch:
            fields.append(f'opaque="{ch["opaque"]}"')
        return "Digest " + ", ".join(fields)


class AuthFailed(HttpError):
    """The device refused our credentials."""


class AuthBackoff(HttpError):
    """Credentials were refused recently; we are not trying again yet (lockout protection)."""


@dataclass
class DigestClient:
    """Requests to one device with Digest auth and hard backoff after a refused login.

    Hikvision locks the account (or the client IP) after a few illegal logins (software.md
    §5.1), so after one refusal we stop for ``backoff`` seconds, doubling up to
    ``max_backoff``; commands fail fast meanwhile instead of feeding the lockout counter.
    """

    base_url: str
    username: str
    password: str
    timeout: float = 5.0
    backoff: float = 300.0
    max_backoff: float = 3600.0
    _auth: DigestAuth = field(init=False)
    _blocked_until: float = 0.0
    _next_backoff: float = 0.0

    def __post_init__(self) -> None:
        self._auth = DigestAuth(self.username, self.password)
        self._next_backoff = self.backoff

    @property
    def in_backoff(self) -> bool:
        return time.monotonic() < self._blocked_until

    async def request(
        self, method: str, path: str, *, body: bytes = b"", content_type: str | None = None
    ) -> ClientResponse:
        if self.in_backoff:
            left = self._blocked_until - time.monotonic()
            raise AuthBackoff(f"credentials refused recently; next try in {left:.0f}s")
        headers = [("Content-Type", content_type)] if content_type else []
        sent_credentials = False
        for _ in range(2):
            auth = self._auth.header(method, path)
            sent_credentials = auth is not None
            extra = [("Authorization", auth)] if auth else []
            resp = await http_request(
                method,
                self.base_url + path,
                body=body,
                headers=headers + extra,
                timeout=self.timeout,
            )
            if resp.status != 401:
                self._next_backoff = self.backoff
                return resp
            challenge = parse_challenge(resp.headers.get_all("WWW-Authenticate"))
            if challenge is None:
                break
            stale = challenge.get("stale", "").lower() == "true"
            self._auth.learn(challenge)
            if sent_credentials and not stale:
                break
        if sent_credentials:
            self._blocked_until = time.monotonic() + self._next_backoff
            self._next_backoff = min(self.max_backoff, self._next_backoff * 2)
            self._auth.challenge = None
            raise AuthFailed(f"{self.base_url}: credentials refused (401)")
        raise HttpError(f"{self.base_url}: 401 without a usable Digest challenge")


# ---------------------------------------------------------------- multipart


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """Split a ``multipart/*`` body; raises ``ValueError`` when it isn't one."""
    if not media_type(content_type).startswith("multipart/"):
        raise ValueError(f"not multipart: {content_type!r}")
    boundary = header_param(content_type, "boundary")
    if not boundary:
        raise ValueError("multipart without boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise ValueError("boundary not found in body")
    parts: list[Part] = []
    pos = start + len(delimiter)
    while True:
        if body[pos : pos + 2] == b"--":
            return parts
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ValueError("truncated multipart")
        pos = eol + 1
        end = body.find(b"\r\n" + delimiter, pos)
        if end < 0:
            raise ValueError("unterminated multipart part")
        head, sep, data = body[pos:end].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        msg = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                msg[name.strip()] = value.strip()
        disposition = msg.get("Content-Disposition", "")
        parts.append(
            Part(
                name=header_param(disposition, "name") or "" if disposition else "",
                filename=header_param(disposition, "filename") if disposition else None,
                content_type=media_type(msg.get("Content-Type", "application/octet-stream")),
                data=data,
            )
        )
        pos = end + 2 + len(delimiter)


def build_multipart(parts: Iterable[Part], boundary: str) -> bytes:
    out = bytearray()
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename:
            disposition += f'; filename="{part.filename}"'
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {part.content_type}\r\n"
            f"Content-Length: {len(part.data)}\r\n\r\n"
        ).encode()
        out += part.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def form_fields(request: HttpRequest) -> dict[str, str]:
    """Fields of an urlencoded or multipart form (Vzenith heartbeats use either)."""
    ctype = request.headers.get("Content-Type") or ""
    if media_type(ctype).startswith("multipart/"):
        return {
            p.name: p.data.decode("utf-8", "replace")
            for p in parse_multipart(request.body, ctype)
            if p.filename is None
        }
    parsed = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}
