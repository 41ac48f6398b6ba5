"""A fake Hikvision ANPR camera: a real HTTP server on loopback plus an event pusher.

What it imitates (software.md §5.1, §5.5): Digest auth (MD5, ``qop=auth``) on every ISAPI path,
an illegal-login lockout after ``max_bad_logins`` refused attempts, ``deviceInfo``,
``barrierGate`` PUT answered with ``ResponseStatus`` XML, ``notSupport`` for anything else, a
snapshot JPEG, and ANPR pushes as ``multipart/form-data`` (``anpr.xml`` + JPEG parts).
Exact status codes and lockout behaviour differ by firmware; see docs/drivers/hikvision.md.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

from edge_bridge.drivers.hikvision import isapi
from edge_bridge.drivers.http import (
    HttpRequest,
    HttpResponse,
    HttpServer,
    Part,
    build_multipart,
    digest_response,
    http_request,
    parse_challenge,
)
from edge_bridge.drivers.simulator.jpeg import tiny_jpeg

XML = "application/xml; charset=UTF-8"
CST = timezone(timedelta(hours=8))


def response_status(url: str, code: int, string: str, sub: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ResponseStatus version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">\n'
        f"<requestURL>{escape(url)}</requestURL>\n<statusCode>{code}</statusCode>\n"
        f"<statusString>{string}</statusString>\n<subStatusCode>{sub}</subStatusCode>\n"
        "</ResponseStatus>\n"
    ).encode()


def anpr_xml(
    plate: str,
    *,
    channel: int = 1,
    color: str = "yellow",
    confidence: int = 95,
    when: datetime | None = None,
    event_uuid: str | None = None,
    direction: str = "forward",
    namespace: str = isapi.NAMESPACES[0],
    body_ip: str = "10.0.0.99",
) -> bytes:
    when = when or datetime.now(CST)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<EventNotificationAlert version="2.0" xmlns="{namespace}">\n'
        f"<ipAddress>{body_ip}</ipAddress>\n<portNo>80</portNo>\n<protocol>HTTP</protocol>\n"
        f"<channelID>{channel}</channelID>\n<dateTime>{when.isoformat()}</dateTime>\n"
        "<activePostCount>1</activePostCount>\n<eventType>ANPR</eventType>\n"
        "<eventState>active</eventState>\n<eventDescription>ANPR</eventDescription>\n"
        f"<UUID>{event_uuid or uuid.uuid4()}</UUID>\n<ANPR>\n"
        f"<licensePlate>{escape(plate)}</licensePlate>\n<line>1</line>\n"
        f"<direction>{direction}</direction>\n<confidenceLevel>{confidence}</confidenceLevel>\n"
        f"<plateType>92TypeCivil</plateType>\n<plateColor>{color}</plateColor>\n"
        "<vehicleType>truck</vehicleType>\n</ANPR>\n</EventNotificationAlert>\n"
    ).encode()


def anpr_multipart(xml: bytes, boundary: str = "MIME_boundary", images: bool = True) -> bytes:
    parts = [Part("anpr.xml", "anpr.xml", "text/xml", xml)]
    if images:
        parts += [
            Part(
                "licensePlatePicture.jpg", "licensePlatePicture.jpg", "image/jpeg", tiny_jpeg(16, 8)
            ),
            Part("detectionPicture.jpg", "detectionPicture.jpg", "image/jpeg", tiny_jpeg()),
        ]
    return build_multipart(parts, boundary)


@dataclass
class FakeHikvisionCamera:
    username: str = "admin"
    password: str = "Cam-Pass-2024"  # noqa: S105 - a simulator's made-up password
    serial: str = "DS-TCG405-E20231015AACHJ1234567"
    realm: str = "DS-TCG405-E"
    max_bad_logins: int = 5
    channels: frozenset[int] = frozenset({1})
    bad_logins: int = 0
    locked: bool = False
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    barrier_commands: list[tuple[int, str]] = field(default_factory=list)
    server: HttpServer | None = None
    _nonces: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def start(self) -> None:
        self.server = HttpServer(self._handle, "127.0.0.1", 0, name="fake-hikvision")
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    # ------------------------------------------------------------ digest, server side

    def _challenge(self) -> HttpResponse:
        nonce = secrets.token_hex(16)
        self._nonces.add(nonce)
        header = (
            f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", '
            f'opaque="{secrets.token_hex(8)}", algorithm=MD5, stale=FALSE'
        )
        return HttpResponse(
            401,
            response_status("/", 4, "Invalid Operation", "notAuthor"),
            XML,
            (("WWW-Authenticate", header),),
        )

    def _authorized(self, request: HttpRequest) -> bool | None:
        """True: good credentials; False: bad ones (counted); None: none sent."""
        params = parse_challenge(request.headers.get_all("Authorization"))
        if params is None:
            return None
        expected = digest_response(
            algorithm=params.get("algorithm", "MD5"),
            username=self.username,
            realm=self.realm,
            password=self.password,
            method=request.method,
            uri=params.get("uri", ""),
            nonce=params["nonce"],
            nc=params.get("nc", ""),
            cnonce=params.get("cnonce", ""),
            qop=params.get("qop"),
        )
        return (
            params.get("username") == self.username
            and params["nonce"] in self._nonces
            and params.get("uri") == request.target
            and params.get("qop") == "auth"
            and hmac.compare_digest(expected, params.get("response", ""))
        )

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        verdict = self._authorized(request)
        self.requests.append((request.method, request.path, bool(verdict)))
        if self.locked:
            return self._challenge()
        if verdict is None:
            return self._challenge()
        if verdict is False:
            self.bad_logins += 1
            if self.bad_logins >= self.max_bad_logins:
                self.locked = True  # real devices lock the user/IP for ~30 min
            return self._challenge()
        return self._route(request)

    def _route(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if request.method == "GET" and path == "/ISAPI/System/deviceInfo":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<DeviceInfo version="2.0" xmlns="{isapi.NAMESPACES[0]}">\n'
                "<deviceName>Entrance 1</deviceName>\n<model>DS-TCG405-E</model>\n"
                f"<serialNumber>{self.serial}</serialNumber>\n"
                "<firmwareVersion>V5.4.0</firmwareVersion>\n</DeviceInfo>\n"
            ).encode()
            return HttpResponse(200, body, XML)
        if request.method == "GET" and path == "/ISAPI/Streaming/channels/101/picture":
            return HttpResponse(200, tiny_jpeg(64, 48), "image/jpeg")
        prefix, suffix = "/ISAPI/Parking/channels/", "/barrierGate"
        if request.method == "PUT" and path.startswith(prefix) and path.endswith(suffix):
            channel_text = path[len(prefix) : -len(suffix)]
            if not channel_text.isdigit() or int(channel_text) not in self.channels:
                return HttpResponse(
                    403, response_status(path, 4, "Invalid Operation", "notSupport"), XML
                )
            try:
                root = isapi.safe_fromstring(request.body)
                mode = (root.findtext("ctrlMode") or "").strip()
            except isapi.IsapiXmlError:
                return HttpResponse(
                    400, response_status(path, 5, "Invalid XML Format", "badXmlFormat"), XML
                )
            if mode not in ("open", "close"):
                return HttpResponse(
                    400, response_status(path, 6, "Invalid XML Content", "badXmlContent"), XML
                )
            self.barrier_commands.append((int(channel_text), mode))
            return HttpResponse(200, response_status(path, 1, "OK", "ok"), XML)
        return HttpResponse(403, response_status(path, 4, "Invalid Operation", "notSupport"), XML)

    # ------------------------------------------------------------ pushing events

    async def push(
        self,
        receiver_url: str,
        body: bytes,
        content_type: str = "multipart/form-data; boundary=MIME_boundary",
    ) -> int:
        resp = await http_request(
            "POST", receiver_url, body=body, headers=[("Content-Type", content_type)], timeout=3.0
        )
        return resp.status

    async def push_anpr(self, receiver_url: str, plate: str, **kwargs: object) -> int:
        images = bool(kwargs.pop("images", True))
        xml = anpr_xml(plate, **kwargs)  # type: ignore[arg-type]
        return await self.push(receiver_url, anpr_multipart(xml, images=images))
