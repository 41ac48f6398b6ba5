"""The reference receiver of ``hj1321-json`` (docs/regulator-adapters.md): a standalone
threaded HTTP server — no Flask app — that issues tokens, checks the token and the signature of
every request with the client's registered public material, records receipts idempotently on
the record key, and injects faults on request. Used by tests (``RegulatorSim(...).start()``),
the benchmark and the demo; ``cleangate regulator-sim`` runs it from the command line.

A test tool: the ``/_sim/*`` control endpoints are unauthenticated; bind it to loopback.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from saas.regulator.adapters.hj1321_json import (
    BAD_REQUEST,
    BAD_SIGNATURE,
    DUPLICATE,
    KINDS,
    LANE_PATTERN,
    OK,
    PING_PATH,
    SIGN_TYPES,
    STALE_REQUEST,
    TIMESTAMP_WINDOW_MS,
    TOKEN_INVALID,
    TOKEN_PATH,
)
from saas.regulator.base import ConfigError
from saas.regulator.signing import Verifier, canonical, make_verifier

UPLOAD_PREFIX = "/api/v1/upload/"
REJECTED = "rejected"
INVALID = "invalid"

# Fields a record of each kind must carry (the sim's own check: a real platform checks more).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "passage": ("recordId", "plateNo", "plateColor", "direction", "passTime", "gateCode",
                "laneCode", "releaseResult"),
    "transport_vehicle": ("recordId", "plateNo", "plateColor", "status"),
    "inplant_vehicle": ("recordId", "envRegCode", "status"),
    "nonroad_machinery": ("recordId", "envRegCode", "machineType", "status"),
    "gate": ("entCode", "gateCode", "laneCode", "laneName", "longitude", "latitude"),
    "daily_count": ("recordDate", "gateCode", "laneCode", "recordCount"),
}  # fmt: skip


@dataclass(frozen=True)
class SimClient:
    """One enterprise registered at the receiver: its credentials and public material."""

    client_id: str
    client_secret: str = field(repr=False)
    signer: str  # rsa2 | hmac-sha256 | md5-key | sm2
    material: str = field(repr=False)  # public key (RSA PEM / SM2 hex) or the shared key
    ent_code: str = ""

    def verifier(self) -> Verifier:
        return make_verifier(self.signer, self.material)


def load_clients(data: Any) -> list[SimClient]:
    """``{"clients": [{client_id, client_secret, signer, public_key | shared_key, ent_code}]}``
    (or the bare list); ConfigError names the entry and field."""
    entries = data.get("clients") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ConfigError("clients", "应为非空列表")
    clients = []
    for index, entry in enumerate(entries):
        where = f"clients[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "应为对象")
        for name in ("client_id", "client_secret", "signer"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise ConfigError(f"{where}.{name}", "缺少或不是字符串")
        if entry["signer"] not in SIGN_TYPES:
            raise ConfigError(f"{where}.signer", f"未知的签名方式 {entry['signer']!r}")
        name = "shared_key" if entry["signer"] in {"hmac-sha256", "md5-key"} else "public_key"
        material = entry.get(name)
        if not isinstance(material, str) or not material:
            raise ConfigError(f"{where}.{name}", "缺少")
        client = SimClient(
            client_id=entry["client_id"],
            client_secret=entry["client_secret"],
            signer=entry["signer"],
            material=material,
            ent_code=str(entry.get("ent_code", "")),
        )
        try:
            client.verifier()
        except ConfigError as exc:
            raise ConfigError(f"{where}.{name}", exc.message) from None
        clients.append(client)
    return clients


FAULT_DEFAULTS: dict[str, Any] = {
    "down": False,
    "latency_ms": 0,
    "error_status": 503,
    "error_rate": 0.0,
    "timeout_rate": 0.0,
    "timeout_ms": 5000,
    "malformed_rate": 0.0,
    "reject_keys": [],
    "reject_rate": 0.0,
    "reject_message": "平台拒收: 记录不符合要求",
}


def check_faults(changes: Any) -> dict[str, Any]:
    """Validate a ``POST /_sim/faults`` body; ValueError names the field."""
    if not isinstance(changes, dict):
        raise ValueError("body: 应为 JSON 对象")
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("seed: 应为整数")
            clean[name] = value
        elif name not in FAULT_DEFAULTS:
            raise ValueError(f"{name}: 未知的故障项")
        elif name == "down":
            if not isinstance(value, bool):
                raise ValueError("down: 应为 true/false")
            clean[name] = value
        elif name in {"latency_ms", "timeout_ms"}:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 600_000:
                raise ValueError(f"{name}: 应为 0–600000 的整数")
            clean[name] = value
        elif name == "error_status":
            if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
                raise ValueError("error_status: 应为 400–599 的整数")
            clean[name] = value
        elif name.endswith("_rate"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name}: 应为 0–1 之间的数")
            clean[name] = float(value)
        elif name == "reject_keys":
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise ValueError("reject_keys: 应为字符串列表")
            clean[name] = list(value)
        elif name == "reject_message":
            if not isinstance(value, str) or not value:
                raise ValueError("reject_message: 应为非空字符串")
            clean[name] = value
    return clean


def _empty_stats() -> dict[str, Any]:
    return {
        "requests": 0,
        "received": 0,
        "accepted": 0,
        "duplicates": 0,
        "rejected": 0,
        "bad_signature": 0,
        "auth_failures": 0,
        "tokens_issued": 0,
        "by_kind": {},
    }


class _State:
    def __init__(self, clients: Iterable[SimClient], token_ttl: int, store: Path | None) -> None:
        self.lock = threading.Lock()
        self.clients = {c.client_id: c for c in clients}
        self.verifiers = {c.client_id: c.verifier() for c in self.clients.values()}
        self.token_ttl = token_ttl
        self.store = store
        self.tokens: dict[str, tuple[str, float]] = {}
        self.nonces: dict[str, float] = {}
        self.receipts: dict[tuple[str, str], dict[str, Any]] = {}
        # sha256 → the signed request body whose records were accepted, so a check outside the
        # receiver can verify every receipt's signature again (``RegulatorSim.envelopes``)
        self.envelopes: dict[str, bytes] = {}
        self.stats = _empty_stats()
        self.faults = dict(FAULT_DEFAULTS)
        self.random = random.Random()
        self.stopping = threading.Event()
        if store is not None and store.exists():
            for line in store.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    receipt = json.loads(line)
                    self.receipts[(receipt["client_id"], receipt["key"])] = receipt

    def roll(self, rate: float) -> bool:
        return rate > 0 and self.random.random() < rate

    def count(self, kind: str, name: str, n: int = 1) -> None:
        self.stats[name] += n
        per = self.stats["by_kind"].setdefault(
            kind, {"received": 0, "accepted": 0, "duplicates": 0, "rejected": 0}
        )
        per[name] += n


class _Handler(BaseHTTPRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle and delayed ACKs stall
        # back-to-back requests ~40 ms each (bench/regulator.py).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _status_page(self) -> None:
        """``GET /``: what a person checks in the demo — counts per kind, faults, the clients
        registered and the latest receipts; refreshes itself every 5 seconds."""
        state = self.server.state
        with state.lock:
            stats = json.loads(json.dumps(state.stats))
            faults = dict(state.faults)
            clients = sorted((c.client_id, c.ent_code, c.signer) for c in state.clients.values())
            latest = sorted(state.receipts.values(), key=lambda r: r["received_at"])[-20:]
        e = html.escape
        kinds = "".join(
            f"<tr><td>{e(kind)}</td><td>{n['received']}</td><td>{n['accepted']}</td>"
            f"<td>{n['duplicates']}</td><td>{n['rejected']}</td></tr>"
            for kind, n in sorted(stats["by_kind"].items())
        )
        registered = "".join(
            f"<tr><td>{e(cid)}</td><td>{e(ent)}</td><td>{e(signer)}</td></tr>"
            for cid, ent, signer in clients
        )
        rows = "".join(
            f"<tr><td>{e(r['received_at'][:19].replace('T', ' '))}Z</td><td>{e(r['kind'])}</td>"
            f"<td>{e(str(r['record'].get('plateNo') or r['record'].get('gateCode') or ''))}</td>"
            f"<td>{e(str(r['record'].get('releaseResult') or ''))}</td><td>{e(r['key'])}</td></tr>"
            for r in reversed(latest)
        )
        state_text = "停止服务 (down)" if faults["down"] else "正常接收"
        body = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>监管平台模拟接收端</title>
<style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>
<h1>监管平台模拟接收端 <small>hj1321-json reference receiver</small></h1>
<p id="state">状态: {e(state_text)} · 请求 {stats["requests"]} · 接收 {stats["accepted"]} ·
重复 {stats["duplicates"]} · 拒收 {stats["rejected"]} · 验签失败 {stats["bad_signature"]} ·
鉴权失败 {stats["auth_failures"]}</p>
<h2>按类型 / by kind</h2><table id="kinds"><tr><th>类型</th><th>收到</th><th>接收</th>
<th>重复</th><th>拒收</th></tr>{kinds}</table>
<h2>已注册企业 / clients</h2><table><tr><th>client_id</th><th>企业编码</th><th>签名</th></tr>
{registered}</table>
<h2>最近接收 / latest receipts</h2><table id="latest"><tr><th>时间 (UTC)</th><th>类型</th>
<th>车牌/出入口</th><th>放行结果</th><th>key</th></tr>{rows}</table>
<p>JSON: <a href="/_sim/stats">/_sim/stats</a> · <a href="/_sim/faults">/_sim/faults</a> ·
<a href="/_sim/receipts">/_sim/receipts</a></p></body></html>"""
        raw = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _drop(self) -> None:
        """Down: close without an answer, as an unreachable platform would."""
        self.close_connection = True

    def do_GET(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        if url.path in ("/", "/_sim/status"):
            self._status_page()
        elif url.path == "/_sim/stats":
            with state.lock:
                self._send(200, json.loads(json.dumps(state.stats)))
        elif url.path == "/_sim/faults":
            with state.lock:
                self._send(200, dict(state.faults))
        elif url.path == "/_sim/receipts":
            query = parse_qs(url.query)
            kinds = query.get("kind")
            kind = kinds[0] if kinds else None
            with state.lock:
                items = [r for r in state.receipts.values() if kind is None or r["kind"] == kind]
            self._send(200, {"receipts": items})
        elif state.faults["down"]:
            self._drop()
        else:
            self._send(404, {"code": "404", "msg": "not found"})

    def do_POST(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        body = self._body()
        if path.startswith("/_sim/"):
            self._control(path, body)
            return
        with state.lock:
            faults = dict(state.faults)
        if faults["down"]:
            self._drop()
            return
        if faults["latency_ms"]:
            state.stopping.wait(faults["latency_ms"] / 1000)
        if path == TOKEN_PATH:
            self._token(body)
        elif path == PING_PATH or path.startswith(UPLOAD_PREFIX):
            self._upload(path, body, faults)
        else:
            self._send(404, {"code": "404", "msg": "not found"})

    # -- control

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        if path == "/_sim/faults":
            try:
                changes = check_faults(json.loads(body or b"{}"))
            except (ValueError, UnicodeDecodeError) as exc:
                self._send(400, {"error": str(exc)})
                return
            with state.lock:
                seed = changes.pop("seed", None)
                if seed is not None:
                    state.random.seed(seed)
                state.faults.update(changes)
                self._send(200, dict(state.faults))
        elif path == "/_sim/reset":
            self.server.sim.reset()
            self._send(200, {"reset": True})
        elif path == "/_sim/revoke":
            self.server.sim.revoke_tokens()
            self._send(200, {"revoked": True})
        else:
            self._send(404, {"error": "not found"})

    # -- protocol

    def _token(self, body: bytes) -> None:
        state = self.server.state
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            self._send(400, {"error": "unsupported_grant_type"})
            return
        client = state.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(
            client.client_secret.encode(), form.get("client_secret", "").encode()
        ):
            with state.lock:
                state.stats["auth_failures"] += 1
            self._send(401, {"error": "invalid_client", "error_description": "客户端凭据无效"})
            return
        token = secrets.token_urlsafe(32)
        with state.lock:
            state.tokens[token] = (client.client_id, time.monotonic() + state.token_ttl)
            state.stats["tokens_issued"] += 1
        self._send(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": state.token_ttl}
        )

    def _client_of_token(self) -> SimClient | None:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        with state.lock:
            entry = state.tokens.get(header[7:].strip())
            if entry is None or entry[1] < time.monotonic():
                return None
        return state.clients.get(entry[0])

    def _upload(self, path: str, raw: bytes, faults: Mapping[str, Any]) -> None:
        state = self.server.state
        with state.lock:
            state.stats["requests"] += 1
            timeout = state.roll(faults["timeout_rate"])
            error = state.roll(faults["error_rate"])
            malformed = state.roll(faults["malformed_rate"])
        if timeout:
            state.stopping.wait(faults["timeout_ms"] / 1000)
        if error:
            self._send(faults["error_status"], None, raw=b"<html>server error</html>")
            return
        kind = None if path == PING_PATH else path[len(UPLOAD_PREFIX) :]
        if kind is not None and kind not in KINDS:
            self._send(404, {"code": "404", "msg": f"未知的上报类型 {kind}"})
            return
        client = self._client_of_token()
        if client is None:
            with state.lock:
                state.stats["auth_failures"] += 1
            self._send(401, {"code": TOKEN_INVALID, "msg": "令牌无效或已过期"})
            return
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"code": BAD_REQUEST, "msg": "请求体不是 JSON"})
            return
        problem = _envelope_problem(body, client)
        if problem:
            self._send(400, {"code": BAD_REQUEST, "msg": problem})
            return
        if not state.verifiers[client.client_id].verify(canonical(body), str(body["sign"])):
            with state.lock:
                state.stats["bad_signature"] += 1
            self._send(400, {"code": BAD_SIGNATURE, "msg": "验签失败: 签名与内容不符"})
            return
        now_ms = time.time() * 1000
        if abs(now_ms - int(body["timestamp"])) > TIMESTAMP_WINDOW_MS:
            self._send(400, {"code": STALE_REQUEST, "msg": "timestamp 超出允许的时间窗口"})
            return
        with state.lock:
            if body["nonce"] in state.nonces:
                replay = True
            else:
                replay = False
                if len(state.nonces) > 100_000:  # outside the window a replay is stale anyway
                    limit = now_ms - 2 * TIMESTAMP_WINDOW_MS
                    state.nonces = {n: t for n, t in state.nonces.items() if t > limit}
                state.nonces[body["nonce"]] = now_ms
        if replay:
            self._send(400, {"code": STALE_REQUEST, "msg": "nonce 重复 (重放的请求)"})
            return
        if kind is None:
            self._send(200, {"code": OK, "msg": "pong", "results": []})
            return
        results = self._receive(client, kind, body["data"], faults, raw)
        if malformed:
            self._send(200, None, raw=b'{"code": "0", "results": [')
            return
        self._send(200, {"code": OK, "msg": "成功", "results": results})

    def _receive(
        self,
        client: SimClient,
        kind: str,
        records: Sequence[Any],
        faults: Mapping[str, Any],
        raw: bytes,
    ) -> list[dict[str, str]]:
        state = self.server.state
        envelope = hashlib.sha256(raw).hexdigest()
        results = []
        new_lines = []
        with state.lock:
            for record in records:
                key = record.get("key") if isinstance(record, dict) else None
                if not isinstance(key, str) or not key:
                    state.count(kind, "received")
                    state.count(kind, "rejected")
                    results.append({"key": "", "code": INVALID, "msg": "缺少 key"})
                    continue
                state.count(kind, "received")
                if (client.client_id, key) in state.receipts:
                    state.count(kind, "duplicates")
                    results.append({"key": key, "code": DUPLICATE, "msg": "重复记录, 已接收"})
                    continue
                missing = [f for f in REQUIRED_FIELDS[kind] if not record.get(f)]
                if missing:
                    state.count(kind, "rejected")
                    results.append({"key": key, "code": INVALID, "msg": f"缺少字段 {missing[0]}"})
                    continue
                if "laneCode" in record and not LANE_PATTERN.match(str(record["laneCode"])):
                    state.count(kind, "rejected")
                    results.append({"key": key, "code": INVALID, "msg": "laneCode 应为两位数字"})
                    continue
                if key in faults["reject_keys"] or state.roll(faults["reject_rate"]):
                    state.count(kind, "rejected")
                    results.append({"key": key, "code": REJECTED, "msg": faults["reject_message"]})
                    continue
                receipt = {
                    "client_id": client.client_id,
                    "key": key,
                    "kind": kind,
                    "record": record,
                    "received_at": datetime.now(UTC).isoformat(),
                    "envelope": envelope,
                }
                state.receipts[(client.client_id, key)] = receipt
                state.envelopes[envelope] = raw
                state.count(kind, "accepted")
                new_lines.append(json.dumps(receipt, ensure_ascii=False))
                results.append({"key": key, "code": OK, "msg": "接收成功"})
            if new_lines and state.store is not None:
                with state.store.open("a", encoding="utf-8") as handle:
                    handle.write("\n".join(new_lines) + "\n")
        return results


def _envelope_problem(body: Any, client: SimClient) -> str | None:
    if not isinstance(body, dict):
        return "请求体应为 JSON 对象"
    for name in ("appId", "timestamp", "nonce", "signType", "sign"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"缺少字段 {name}"
    if not isinstance(body.get("data"), list):
        return "data 应为数组"
    if body["appId"] != client.client_id:
        return "appId 与令牌不符"
    if client.ent_code and body.get("entCode") != client.ent_code:
        return "entCode 与注册信息不符"
    if body["signType"] != SIGN_TYPES[client.signer]:
        return f"signType 应为 {SIGN_TYPES[client.signer]}"
    if not body["timestamp"].isdigit():
        return "timestamp 应为毫秒时间戳"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    state: _State
    sim: RegulatorSim
    verbose: bool = False


class RegulatorSim:
    """``with RegulatorSim(clients) as sim: … sim.url …`` (port 0 picks a free port)."""

    def __init__(
        self,
        clients: Iterable[SimClient],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        store: Path | None = None,
        token_ttl: int = 7200,
        verbose: bool = False,
    ) -> None:
        self.state = _State(clients, token_ttl, store)
        self._address = (host, port)
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return f"http://{self._address[0]}:{self._server.server_port}"

    def start(self) -> RegulatorSim:
        server = _Server(self._address, _Handler)
        server.state = self.state
        server.sim = self
        server.verbose = self._verbose
        self._server = server
        self.state.stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """The CLI: serve in this thread until interrupted."""
        server = _Server(self._address, _Handler)
        server.state = self.state
        server.sim = self
        server.verbose = self._verbose
        self._server = server
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()

    def stop(self) -> None:
        self.state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> RegulatorSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- in-process control (the same as the /_sim endpoints)

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        clean = check_faults(changes)
        with self.state.lock:
            seed = clean.pop("seed", None)
            if seed is not None:
                self.state.random.seed(seed)
            self.state.faults.update(clean)
            return dict(self.state.faults)

    def stats(self) -> dict[str, Any]:
        with self.state.lock:
            stats: dict[str, Any] = json.loads(json.dumps(self.state.stats))
            return stats

    def receipts(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [r for r in self.state.receipts.values() if kind is None or r["kind"] == kind]

    def envelopes(self) -> dict[str, bytes]:
        """The signed request bodies receipts name (``receipt["envelope"]``), by SHA-256."""
        with self.state.lock:
            return dict(self.state.envelopes)

    def revoke_tokens(self) -> None:
        with self.state.lock:
            self.state.tokens.clear()

    def reset(self) -> None:
        """Forget receipts (and the store file), stats, faults, tokens and nonces."""
        with self.state.lock:
            self.state.receipts.clear()
            self.state.envelopes.clear()
            self.state.tokens.clear()
            self.state.nonces.clear()
            self.state.stats = _empty_stats()
            self.state.faults = dict(FAULT_DEFAULTS)
            if self.state.store is not None and self.state.store.exists():
                self.state.store.write_text("", encoding="utf-8")
