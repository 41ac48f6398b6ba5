"""Local stand-ins for the providers: real HTTP and SMTP servers on 127.0.0.1.

Each recomputes the request's signature independently — from the raw request, with its own
implementation of the vendor's documented algorithm, sharing no code with ``saas.notify`` —
and refuses a bad one as the vendor would. Each is idempotent on the sender's key like a
well-behaved receiver (Aliyun ``OutId``, Tencent ``SessionContext``, e-mail ``Message-ID``):
a repeat is answered but not delivered twice. Failures can be scripted (``fail_next``).
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller

ALIYUN_KEY_ID = "LTAI5tFakeKeyId0001"
ALIYUN_SECRET = "aliyun-Secret-0123456789abcdef"
TENCENT_ID = "AKIDfakeSecretId0000000000000000"
TENCENT_KEY = "tencent-SecretKey-0123456789abcd"
TENCENT_APP = "1400000001"
WECHAT_APPID = "wx0123456789abcdef"
WECHAT_SECRET = "wechat-AppSecret-0123456789abcdef"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHttp:
    """A threaded HTTP server; subclasses answer ``handle(request) -> (status, json)``."""

    name: str = "fake"
    requests: list[Request] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    delay: float = 0.0
    _failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FakeHttp:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                status, answer = fake.answer(request)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve  # noqa: N815 (http.server's names)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/"

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.delivered.clear()
            self.rejected.clear()
            self._failures.clear()
            self.delay = 0.0
            self.extra_reset()

    def extra_reset(self) -> None:
        pass

    def fail_next(
        self, times: int, status: int = 500, answer: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            self._failures.extend([(status, answer or {"error": "boom"})] * times)

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.requests.append(request)
            if self._failures and self.scriptable(request):
                return self._failures.pop(0)
            return self.handle(request)

    def scriptable(self, request: Request) -> bool:
        return True

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


# --- Aliyun Dysmsapi ------------------------------------------------------------------------


def aliyun_encode(text: str) -> str:
    """Only A-Z a-z 0-9 - _ . ~ literal, every other UTF-8 byte as %XX (the documented rule)."""
    unreserved = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(chr(b) if b in unreserved else f"%{b:02X}" for b in text.encode())


def aliyun_signature(method: str, params: dict[str, str], secret: str) -> str:
    pairs = sorted((aliyun_encode(k), aliyun_encode(v)) for k, v in params.items())
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    to_sign = f"{method}&{aliyun_encode('/')}&{aliyun_encode(canonical)}"
    mac = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class FakeAliyun(FakeHttp):
    def extra_reset(self) -> None:
        self.nonces: set[str] = set()
        self.by_out_id: dict[str, str] = {}
        self.illegal_numbers: set[str] = set()

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        raw = request.body.decode() if request.method == "POST" else ""
        params = dict(parse_qsl(raw, keep_blank_values=True)) if raw else dict(request.query)
        signature = params.pop("Signature", "")
        request_id = uuid.uuid4().hex
        if params.get("AccessKeyId") != ALIYUN_KEY_ID:
            return 404, {"Code": "InvalidAccessKeyId.NotFound", "RequestId": request_id}
        if not hmac.compare_digest(
            signature, aliyun_signature(request.method, params, ALIYUN_SECRET)
        ):
            self.rejected.append("signature")
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched with our calculation.",
                "RequestId": request_id,
            }
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return 400, {"Code": "InvalidTimeStamp.Expired", "RequestId": request_id}
        if params["SignatureNonce"] in self.nonces:
            return 400, {"Code": "SignatureNonceUsed", "RequestId": request_id}
        self.nonces.add(params["SignatureNonce"])
        for name in ("Action", "Version", "PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return 400, {"Code": "isv.INVALID_PARAMETERS", "Message": name}
        if (params["Action"], params["Version"]) != ("SendSms", "2017-05-25"):
            return 400, {"Code": "InvalidAction.NotFound", "RequestId": request_id}
        if params["PhoneNumbers"] in self.illegal_numbers:
            return 200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}
        out_id = params.get("OutId", "")
        if out_id and out_id in self.by_out_id:  # idempotent on the sender's key
            return 200, {"Code": "OK", "BizId": self.by_out_id[out_id], "RequestId": request_id}
        biz_id = f"{len(self.delivered) + 1:06d}^0"
        self.by_out_id[out_id] = biz_id
        self.delivered.append({**params, "TemplateParam": json.loads(params["TemplateParam"])})
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id}


# --- Tencent Cloud SMS --------------------------------------------------------------------


def tencent_signature(secret_key: str, date: str, service: str, to_sign: str) -> str:
    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeTencent(FakeHttp):
    def extra_reset(self) -> None:
        self.by_context: dict[str, str] = {}
        self.illegal_numbers: set[str] = set()

    def _error(self, code: str, message: str = "") -> tuple[int, dict[str, Any]]:
        error = {"Code": code, "Message": message}
        return 200, {"Response": {"Error": error, "RequestId": uuid.uuid4().hex}}

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        auth = request.headers.get("authorization", "")
        try:
            algorithm, rest = auth.split(" ", 1)
            parts = dict(item.strip().split("=", 1) for item in rest.split(","))
            secret_id, date, service, terminator = parts["Credential"].split("/")
        except ValueError:
            return self._error("AuthFailure.InvalidAuthorization")
        if algorithm != "TC3-HMAC-SHA256" or terminator != "tc3_request":
            return self._error("AuthFailure.InvalidAuthorization")
        if secret_id != TENCENT_ID:
            return self._error("AuthFailure.SecretIdNotFound")
        stamp = int(request.headers.get("x-tc-timestamp", "0"))
        if abs(time.time() - stamp) > 300:
            return self._error("AuthFailure.SignatureExpire")
        if date != datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d"):
            return self._error("AuthFailure.SignatureFailure", "date")
        signed = parts["SignedHeaders"].split(";")
        canonical_headers = "".join(f"{h}:{request.headers.get(h, '').strip()}\n" for h in signed)
        canonical = "\n".join(
            [
                request.method,
                request.path,
                "",
                canonical_headers,
                parts["SignedHeaders"],
                hashlib.sha256(request.body).hexdigest(),
            ]
        )
        to_sign = "\n".join(
            [
                algorithm,
                str(stamp),
                f"{date}/{service}/tc3_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        expected = tencent_signature(TENCENT_KEY, date, service, to_sign)
        if (
            "content-type" not in signed
            or "host" not in signed
            or not hmac.compare_digest(parts["Signature"], expected)
        ):
            self.rejected.append("signature")
            return self._error("AuthFailure.SignatureFailure", "signature mismatch")
        if (request.headers.get("x-tc-action"), request.headers.get("x-tc-version")) != (
            "SendSms",
            "2021-01-11",
        ):
            return self._error("InvalidAction")
        body = json.loads(request.body)
        if body.get("SmsSdkAppId") != TENCENT_APP:
            return self._error("FailedOperation.SmsSdkAppIdVerifyFail")
        number = body["PhoneNumberSet"][0]
        context = body.get("SessionContext", "")
        if number in self.illegal_numbers:
            status = {"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "bad"}
            return 200, {"Response": {"SendStatusSet": [status], "RequestId": "r"}}
        serial = self.by_context.get(context)
        if serial is None:
            serial = f"2433:{len(self.delivered) + 1:08d}"
            self.by_context[context] = serial
            self.delivered.append(body)
        status = {
            "SerialNo": serial,
            "PhoneNumber": number,
            "Code": "Ok",
            "Message": "send success",
            "SessionContext": context,
        }
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": uuid.uuid4().hex}}


# --- WeChat --------------------------------------------------------------------------------

_WECHAT_LIMITS = {"thing": 20, "phrase": 5}


class FakeWeChat(FakeHttp):
    """The WeChat server API as documented: ``stable_token``, ``subscribe/send``,
    ``sns/jscode2session`` and ``wxa/business/getuserphonenumber``, with their error codes
    (40029 invalid code, 40163 code been used, 40001 invalid token, 42001 expired token).
    Login and phone codes are minted by the test (``login_code``/``phone_code``) and work
    once, like ``wx.login``'s. ``fail_next`` scripts any call but the token's."""

    def extra_reset(self) -> None:
        self.tokens: set[str] = set()
        self.expired: set[str] = set()
        self.token_requests: list[Request] = []
        self.refusing: set[str] = set()
        self.codes: dict[str, tuple[str, str | None]] = {}
        self.phone_codes: dict[str, str] = {}
        self.used: set[str] = set()

    def scriptable(self, request: Request) -> bool:
        return request.path != "/cgi-bin/stable_token"

    def expire_tokens(self) -> None:
        """Every issued token now answers 42001 (expired), as WeChat does after 2 hours."""
        with self._lock:
            self.expired |= self.tokens
            self.tokens.clear()

    def login_code(self, openid: str, unionid: str | None = None) -> str:
        code = "0" + uuid.uuid4().hex[:31]
        with self._lock:
            self.codes[code] = (openid, unionid)
        return code

    def phone_code(self, phone: str) -> str:
        code = "p" + uuid.uuid4().hex
        with self._lock:
            self.phone_codes[code] = phone
        return code

    def _token_error(self, token: str | None) -> tuple[int, dict[str, Any]] | None:
        if token in self.tokens:
            return None
        if token in self.expired:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token"}

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.path == "/cgi-bin/stable_token":
            self.token_requests.append(request)
            body = json.loads(request.body)
            if (body.get("appid"), body.get("secret")) != (WECHAT_APPID, WECHAT_SECRET):
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return 200, {"access_token": token, "expires_in": 7200}
        if request.path == "/sns/jscode2session":
            q = request.query
            if (q.get("appid"), q.get("secret")) != (WECHAT_APPID, WECHAT_SECRET):
                return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
            if q.get("grant_type") != "authorization_code":
                return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
            code = q.get("js_code", "")
            if code in self.used:
                return 200, {"errcode": 40163, "errmsg": "code been used"}
            if code not in self.codes:
                return 200, {"errcode": 40029, "errmsg": "invalid code"}
            self.used.add(code)
            openid, unionid = self.codes.pop(code)
            answer = {"openid": openid, "session_key": uuid.uuid4().hex[:24] + "=="}
            if unionid:
                answer["unionid"] = unionid
            return 200, answer
        if request.path == "/wxa/business/getuserphonenumber":
            refused = self._token_error(request.query.get("access_token"))
            if refused is not None:
                return refused
            code = json.loads(request.body or b"{}").get("code", "")
            if code not in self.phone_codes:
                return 200, {"errcode": 40029, "errmsg": "invalid code"}
            phone = self.phone_codes.pop(code)
            return 200, {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(time.time()), "appid": WECHAT_APPID},
                },
            }
        if request.path == "/cgi-bin/message/subscribe/send":
            refused = self._token_error(request.query.get("access_token"))
            if refused is not None:
                return refused
            body = json.loads(request.body)
            if body.get("touser") in self.refusing:
                return 200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            for key, value in body.get("data", {}).items():
                limit = _WECHAT_LIMITS.get(key.rstrip("0123456789"))
                if limit and len(value["value"]) > limit:
                    return 200, {"errcode": 47003, "errmsg": f"argument invalid! data.{key}"}
            self.delivered.append(body)
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": 3000 + len(self.delivered)}
        return 404, {"errcode": 404}


# --- SMTP ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSmtp:
    """aiosmtpd on a local port: records mail, deduplicates on Message-ID, can answer 451
    (try again) or refuse a recipient with 550."""

    def __init__(self) -> None:
        self.port = free_port()
        self.delivered: list[email.message.EmailMessage] = []
        self.attempts = 0
        self.temporary_failures = 0
        self.refused: set[str] = set()
        self.seen: set[str] = set()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    def start(self) -> FakeSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def reset(self) -> None:
        self.delivered.clear()
        self.seen.clear()
        self.refused.clear()
        self.attempts = 0
        self.temporary_failures = 0

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.temporary_failures:
            self.temporary_failures -= 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        key = str(message["Message-ID"])
        if key not in self.seen:
            self.seen.add(key)
            self.delivered.append(message)  # type: ignore[arg-type]
        return "250 2.0.0 queued"


@dataclass
class Fakes:
    aliyun: FakeAliyun
    tencent: FakeTencent
    wechat: FakeWeChat
    smtp: FakeSmtp

    def reset(self) -> None:
        for fake in (self.aliyun, self.tencent, self.wechat, self.smtp):
            fake.reset()

    def stop(self) -> None:
        for fake in (self.aliyun, self.tencent, self.wechat, self.smtp):
            fake.stop()


def start_fakes() -> Fakes:
    fakes = Fakes(
        FakeAliyun("aliyun").start(),  # type: ignore[arg-type]
        FakeTencent("tencent").start(),  # type: ignore[arg-type]
        FakeWeChat("wechat").start(),  # type: ignore[arg-type]
        FakeSmtp().start(),
    )
    fakes.reset()
    return fakes


Waiter = Callable[[], bool]


def until(check: Waiter, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
