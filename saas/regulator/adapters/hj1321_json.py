"""``hj1321-json``: HTTPS JSON with a client-credentials token and a signed envelope, carrying
our documented field mapping of the HJ 1321 records (docs/regulator-adapters.md is the spec;
``saas.regulator.sim`` is its reference receiver).

Code conventions (all through ``saas.compliance.codes``): plate colour ``kakou`` (公安卡口
0 白 1 黄 2 蓝 3 黑 4 绿 9 其他), emission stage ``entrance_control`` (0–6, D 电动), fuel ``ga``
(GA 24.9 letters), vehicle type GA 24.4 as stored, direction 1 进厂 / 2 出厂.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from saas.compliance.codes import (
    Direction,
    EmissionStage,
    FuelType,
    NonRoadStage,
    PlateColor,
    color_to_code,
    fuel_to_code,
    parse_color,
    stage_to_code,
    vehicle_type_from_code,
)
from saas.regulator.base import (
    ConfigError,
    Endpoint,
    Item,
    ItemResult,
    TransportError,
    register,
)
from saas.regulator.signing import Signer, canonical, make_signer

NAME = "hj1321-json"
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path)
UPLOAD_PATH = "/api/v1/upload/{kind}"
PING_PATH = "/api/v1/ping"
KINDS = (
    "passage",
    "transport_vehicle",
    "inplant_vehicle",
    "nonroad_machinery",
    "gate",
    "daily_count",
)
SIGN_TYPES = {"rsa2": "RSA2", "hmac-sha256": "HMAC-SHA256", "md5-key": "MD5", "sm2": "SM2"}
SIGNERS_BY_TYPE = {v: k for k, v in SIGN_TYPES.items()}

COLOR_CONVENTION = "kakou"
STAGE_CONVENTION = "entrance_control"
FUEL_CONVENTION = "ga"

# Top-level answer codes
OK = "0"
TOKEN_INVALID = "40100"  # noqa: S105 (a code)
BAD_SIGNATURE = "40001"
BAD_REQUEST = "40002"
STALE_REQUEST = "40003"
# Per-record codes: OK, DUPLICATE (accepted before), BUSY (retry later); anything else: rejected.
DUPLICATE = "duplicate"
BUSY = "busy"

TIMESTAMP_WINDOW_MS = 5 * 60 * 1000
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991
LANE_PATTERN = re.compile(r"^[0-9]{2}$")


# --- field mapping ------------------------------------------------------------------------------


def _wire_time(value: Any, field: str) -> str:
    """UTC (stored) → ``yyyy-MM-dd HH:mm:ss`` in Beijing time, as the ledgers write it."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"{field}: 不是有效的时间 {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{field}: 时间缺少时区")
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _wire_date(value: Any, field: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValueError(f"{field}: 不是有效的日期 {value!r}") from None


def _color(value: Any, field: str) -> str:
    color: PlateColor | None
    if value is None or value == "":
        color = PlateColor.OTHER
    else:
        try:
            color = PlateColor(value)
        except ValueError:
            color = parse_color(str(value))
    if color is None:
        raise ValueError(f"{field}: 无法识别的号牌颜色 {value!r}")
    code = color_to_code(COLOR_CONVENTION, color)
    if code is None:  # pragma: no cover - every colour has a kakou code (other = 9)
        raise ValueError(f"{field}: 号牌颜色 {color.value} 无平台代码")
    return code


def _fuel(value: Any, field: str) -> FuelType | None:
    if value is None or value == "":
        return None
    try:
        return FuelType(value)
    except ValueError:
        raise ValueError(f"{field}: 未知的燃料类型 {value!r}") from None


def _stage(value: Any, fuel: FuelType | None, field: str) -> str | None:
    """The platform's stage code; None (field omitted = 未知) when there is none."""
    stage: EmissionStage | None = None
    if value is not None and value != "":
        try:
            stage = EmissionStage(value)
        except ValueError:
            raise ValueError(f"{field}: 未知的排放阶段 {value!r}") from None
    return stage_to_code(STAGE_CONVENTION, stage, fuel)


def _fuel_code(fuel: FuelType | None) -> str | None:
    return fuel_to_code(FUEL_CONVENTION, fuel)


def _vehicle_type(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    vt = vehicle_type_from_code(str(value))
    if vt is None:
        raise ValueError(f"{field}: 未知的车辆类型代码 {value!r}")
    return vt.value


def _lane(value: Any, field: str) -> str:
    text = "" if value is None else str(value)
    if not LANE_PATTERN.match(text):
        raise ValueError(f"{field}: 道闸编号应为两位数字, 如 01")
    return text


def _required(source: Mapping[str, Any], name: str, label: str) -> str:
    value = source.get(name)
    if value is None or str(value).strip() == "":
        raise ValueError(f"{name}: 缺少{label}")
    return str(value).strip()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(value: Any, field: str, low: Decimal, high: Decimal) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValueError(f"{field}: 不是数字 {value!r}") from None
    if not number.is_finite() or not low <= number <= high:
        raise ValueError(f"{field}: 应在 {low} 与 {high} 之间")
    return format(number, "f")


def _number_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    """Optional fields are left out when unknown (the spec: absent = 未知)."""
    return {k: v for k, v in record.items() if v is not None and v != "" and v != []}


_RELEASE = {"ALLOW": "1", "DENY": "0", "REVIEW": "2"}
MANUAL_RELEASE = "3"


def build_passage(source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    plate = source.get("plate") or {}
    vehicle = source.get("vehicle") or {}
    decision = source.get("decision") or {}
    cargo = source.get("cargo") or {}
    manual = source.get("manual") or {}
    direction = source.get("direction")
    try:
        direction_code = Direction(str(direction)).code
    except ValueError:
        raise ValueError(f"direction: 应为 in 或 out, 而非 {direction!r}") from None
    verdict = decision.get("verdict")
    if verdict not in _RELEASE:
        raise ValueError(f"decision.verdict: 未知的放行结果 {verdict!r}")
    release = _RELEASE[verdict]
    if manual.get("action") in {"release", "remote_release"}:
        release = MANUAL_RELEASE
    fuel = _fuel(vehicle.get("fuel_type"), "vehicle.fuel_type")
    photos = [
        {"type": str(image["kind"]), "sha256": str(image["sha256"])}
        for image in source.get("images") or []
    ]
    record = {
        "recordId": _required(source, "event_id", "事件编号"),
        "plateNo": plate.get("normalized") or plate.get("raw") or "",
        "plateColor": _color(plate.get("color"), "plate.color"),
        "direction": direction_code,
        "passTime": _wire_time(source.get("captured_at"), "captured_at"),
        "gateCode": str(source.get("gate_code") or _required(source, "gate", "出入口编号")),
        "laneCode": _lane(source.get("lane_code") or source.get("lane"), "lane_code"),
        "vehicleType": _vehicle_type(vehicle.get("vehicle_type"), "vehicle.vehicle_type"),
        "vin": _text(vehicle.get("vin")),
        "registerDate": (
            _wire_date(vehicle["registration_date"], "vehicle.registration_date")
            if vehicle.get("registration_date")
            else None
        ),
        "fuelType": _fuel_code(fuel),
        "emissionStage": _stage(vehicle.get("emission_stage"), fuel, "vehicle.emission_stage"),
        "carrier": _text(vehicle.get("carrier")),
        "releaseResult": release,
        "releaseOperator": _text(manual.get("operator")),
        "releaseReason": _text(manual.get("reason")),
        "cargoName": _text(cargo.get("name")),
        "cargoQuantity": _number_text(cargo.get("quantity")),
        "cargoUnit": _text(cargo.get("unit")),
        "cargoOrigin": _text(cargo.get("origin")),
        "cargoDestination": _text(cargo.get("destination")),
        "photos": photos,
        "videoRef": _text(source.get("video_ref")),
    }
    if not record["plateNo"]:
        record["plateNo"] = "未识别"
    return _compact(record)


def _registry_common(source: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "recordId": _required(source, "id", "台账记录编号"),
        "status": "1" if source.get("active", True) else "0",
        "ownerName": _text(source.get("owner_name")),
        "ownerPhone": _text(source.get("owner_phone")),
        "engineModel": _text(source.get("engine_model")),
        "engineManufacturer": _text(source.get("engine_manufacturer")),
        "engineNo": _text(source.get("engine_no")),
    }


def _network(value: Any) -> str | None:
    return {"online": "1", "offline": "0"}.get(str(value)) if value else None


def build_transport_vehicle(source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    fuel = _fuel(source.get("fuel_type"), "fuel_type")
    record = {
        **_registry_common(source),
        "plateNo": _required(source, "plate", "车牌号码"),
        "plateColor": _color(source.get("plate_color"), "plate_color"),
        "vehicleType": _vehicle_type(source.get("vehicle_type"), "vehicle_type"),
        "vin": _text(source.get("vin")),
        "registerDate": (
            _wire_date(source["registration_date"], "registration_date")
            if source.get("registration_date")
            else None
        ),
        "brandModel": _text(source.get("model")),
        "fuelType": _fuel_code(fuel),
        "emissionStage": _stage(source.get("emission_stage"), fuel, "emission_stage"),
        "useNature": _text(source.get("use_nature")),
        "networkStatus": _network(source.get("network_status")),
        "ratedLoadKg": _number_text(source.get("rated_load_kg")),
    }
    return _compact(record)


def build_inplant_vehicle(source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    fuel = _fuel(source.get("fuel_type"), "fuel_type")
    record = {
        **_registry_common(source),
        "envRegCode": _required(source, "env_reg_code", "环保登记编码"),
        "vin": _text(source.get("vin")),
        "productionDate": (
            _wire_date(source["production_date"], "production_date")
            if source.get("production_date")
            else None
        ),
        "plateNo": _text(source.get("plate")),
        "registerDate": (
            _wire_date(source["registration_date"], "registration_date")
            if source.get("registration_date")
            else None
        ),
        "brandModel": _text(source.get("model")),
        "fuelType": _fuel_code(fuel),
        "emissionStage": _stage(source.get("emission_stage"), fuel, "emission_stage"),
        "networkStatus": _network(source.get("network_status")),
    }
    return _compact(record)


def _nonroad_stage(value: Any) -> str | None:
    """Non-road stages go as their GB 20891 label (国一–国四): no numeric table is published."""
    if value is None or value == "":
        return None
    try:
        stage = NonRoadStage(value)
    except ValueError:
        raise ValueError(f"nonroad_stage: 未知的非道路排放阶段 {value!r}") from None
    return None if stage is NonRoadStage.UNKNOWN else stage.label_zh


def build_nonroad_machinery(source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    fuel = _fuel(source.get("fuel_type"), "fuel_type")
    record = {
        **_registry_common(source),
        "envRegCode": _required(source, "env_reg_code", "环保登记编码"),
        "productionDate": (
            _wire_date(source["production_date"], "production_date")
            if source.get("production_date")
            else None
        ),
        "plateNo": _text(source.get("plate")),
        "emissionStage": _nonroad_stage(source.get("nonroad_stage")),
        "fuelType": _fuel_code(fuel),
        "machineType": _required(source, "machine_type", "机械种类"),
        "pin": _text(source.get("pin")),
        "machineModel": _text(source.get("machine_model")),
        "enginePowerKw": _number_text(source.get("engine_power_kw")),
        "manufacturer": _text(source.get("manufacturer")),
        "localCode": _text(source.get("local_code")),
    }
    return _compact(record)


def build_gate(source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """Gate (道闸) registration: 经度/纬度 are required by the platforms (domain.md §1.4)."""
    for name, label in (("longitude", "经度"), ("latitude", "纬度")):
        if source.get(name) in (None, ""):
            raise ValueError(f"{name}: 缺少{label}")
    record = {
        "entCode": endpoint.uscc,
        "gateCode": _required(source, "gate_code", "出入口编号"),
        "laneCode": _lane(source.get("lane_code"), "lane_code"),
        "laneName": _required(source, "name", "道闸名称"),
        "address": _text(source.get("address")),
        "longitude": _decimal(source["longitude"], "longitude", Decimal(-180), Decimal(180)),
        "latitude": _decimal(source["latitude"], "latitude", Decimal(-90), Decimal(90)),
        "managerName": _text(source.get("manager_name")),
        "managerPhone": _text(source.get("manager_phone")),
        "maintainer": _text(source.get("maintainer")),
        "maintainerContact": _text(source.get("maintainer_contact")),
        "maintainerPhone": _text(source.get("maintainer_phone")),
        "status": "1" if source.get("active", True) else "0",
    }
    return _compact(record)


def build_daily_count(source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    count = source.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError("count: 记录数应为非负整数")
    return {
        "recordDate": _wire_date(source.get("date"), "date"),
        "gateCode": _required(source, "gate_code", "出入口编号"),
        "laneCode": _lane(source.get("lane_code"), "lane_code"),
        "recordCount": str(count),
    }


BUILDERS: dict[str, Callable[[Mapping[str, Any], Endpoint], dict[str, Any]]] = {
    "passage": build_passage,
    "transport_vehicle": build_transport_vehicle,
    "inplant_vehicle": build_inplant_vehicle,
    "nonroad_machinery": build_nonroad_machinery,
    "gate": build_gate,
    "daily_count": build_daily_count,
}


# --- envelope -----------------------------------------------------------------------------------


def sign_type(signer_kind: str) -> str:
    try:
        return SIGN_TYPES[signer_kind]
    except KeyError:
        raise ConfigError("signer", f"{NAME} 不支持签名方式 {signer_kind!r}") from None


def envelope(
    endpoint: Endpoint, signer: Signer, records: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The signed request body: ``sign`` over ``canonical`` of the other top-level fields,
    ``data`` as compact JSON (sorted keys, unescaped Chinese)."""
    body: dict[str, Any] = {
        "appId": endpoint.client_id,
        "entCode": endpoint.enterprise_code,
        "timestamp": str(int(time.time() * 1000)),
        "nonce": secrets.token_hex(16),
        "signType": sign_type(endpoint.signer),
        "data": [dict(r) for r in records],
    }
    body["sign"] = signer.sign(canonical(body))
    return body


def encode_body(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# --- token cache --------------------------------------------------------------------------------


class TokenCache:
    """Access tokens per configuration, reused until shortly before expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    @staticmethod
    def _key(endpoint: Endpoint) -> tuple[str, str, str]:
        return (endpoint.config_id, endpoint.endpoint, endpoint.client_id)

    def get(self, endpoint: Endpoint) -> str | None:
        with self._lock:
            entry = self._tokens.get(self._key(endpoint))
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    def put(self, endpoint: Endpoint, token: str, expires_in: float) -> None:
        margin = min(60.0, expires_in / 5)
        with self._lock:
            self._tokens[self._key(endpoint)] = (token, time.monotonic() + expires_in - margin)

    def drop(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._tokens.pop(self._key(endpoint), None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


# --- the adapter --------------------------------------------------------------------------------


def _url(endpoint: Endpoint, path: str) -> str:
    return endpoint.endpoint.rstrip("/") + path


def _read_json(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        raise TransportError(f"平台应答无法解析 (HTTP {response.status_code})") from None
    if not isinstance(answer, dict):
        raise TransportError(f"平台应答格式错误 (HTTP {response.status_code})")
    return answer


class Hj1321JsonAdapter:
    name = NAME
    max_batch = 200

    def __init__(self) -> None:
        self.tokens = TokenCache()

    # -- Adapter protocol

    def build(self, kind: str, source: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
        builder = BUILDERS.get(kind)
        if builder is None:
            raise ValueError(f"kind: {NAME} 不支持的上报类型 {kind!r}")
        return builder(source, endpoint)

    def send(
        self, http: requests.Session, endpoint: Endpoint, items: Sequence[Item]
    ) -> list[ItemResult]:
        if len(items) > self.max_batch:
            raise ValueError(f"items: 每批至多 {self.max_batch} 条, 实为 {len(items)} 条")
        try:
            signer = make_signer(endpoint.signer, endpoint.credentials)
            sign_type(endpoint.signer)
        except ConfigError as exc:
            raise TransportError(f"配置无效: {exc}") from None
        groups: dict[str, list[Item]] = {}
        for item in items:
            if item.kind not in KINDS:
                raise ValueError(f"kind: {NAME} 不支持的上报类型 {item.kind!r}")
            groups.setdefault(item.kind, []).append(item)
        results: list[ItemResult] = []
        for kind, group in groups.items():
            results.extend(self._send_kind(http, endpoint, signer, kind, group))
        return results

    def test_connection(self, http: requests.Session, endpoint: Endpoint) -> str:
        """Get a token and send a signed, empty ping: proves the endpoint, the client
        credentials and our key (the platform verifies the signature)."""
        signer = make_signer(endpoint.signer, endpoint.credentials)
        sign_type(endpoint.signer)
        self.tokens.drop(endpoint)
        try:
            self.fetch_token(http, endpoint)  # refused credentials: ConfigError(client_secret)
            response = self._post(http, endpoint, signer, PING_PATH, [])
        except TransportError as exc:
            raise ConfigError("endpoint", f"无法连接平台: {exc}") from None
        answer = _read_json(response)
        code = str(answer.get("code", ""))
        message = str(answer.get("msg", ""))[:300]
        if response.status_code == 200 and code == OK:
            return "连接成功: 已取得令牌, 平台验签通过"
        if code == BAD_SIGNATURE:
            field = "shared_key" if endpoint.signer in {"hmac-sha256", "md5-key"} else "private_key"
            raise ConfigError(field, f"平台验签失败: {message}")
        if code == STALE_REQUEST:
            raise ConfigError("endpoint", f"平台拒绝了请求时间 (请检查服务器时钟): {message}")
        raise ConfigError("endpoint", f"平台拒绝了测试请求 ({code}): {message}")

    # -- internals

    def fetch_token(self, http: requests.Session, endpoint: Endpoint) -> str:
        """A cached token, or a new one by client credentials (RFC 6749 §4.4, client secret in
        the form). Refused credentials → ConfigError naming ``client_secret``."""
        token = self.tokens.get(endpoint)
        if token is not None:
            return token
        if not endpoint.client_id:
            raise ConfigError("client_id", "缺少平台分配的 client_id")
        try:
            response = http.post(
                _url(endpoint, TOKEN_PATH),
                data={
                    "grant_type": "client_credentials",
                    "client_id": endpoint.client_id,
                    "client_secret": endpoint.credentials.client_secret,
                },
                timeout=endpoint.timeout,
            )
        except requests.Timeout:
            raise TransportError("获取令牌超时") from None
        except requests.RequestException as exc:
            raise TransportError(f"获取令牌时连接失败 ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise TransportError(f"获取令牌失败: 平台 HTTP {response.status_code}")
        answer = _read_json(response)
        if response.status_code in (400, 401):
            detail = str(answer.get("error_description") or answer.get("error") or "")[:200]
            raise ConfigError("client_secret", f"平台拒绝了客户端凭据: {detail}")
        token = answer.get("access_token")
        expires_in = answer.get("expires_in", 3600)
        if (
            response.status_code != 200
            or not isinstance(token, str)
            or not token
            or not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
        ):
            raise TransportError(f"令牌应答格式错误 (HTTP {response.status_code})")
        self.tokens.put(endpoint, token, float(expires_in))
        return token

    def _post(
        self,
        http: requests.Session,
        endpoint: Endpoint,
        signer: Signer,
        path: str,
        records: Sequence[Mapping[str, Any]],
    ) -> requests.Response:
        """POST a freshly signed envelope with the token; one refresh on 401."""
        for attempt in (1, 2):
            try:
                token = self.fetch_token(http, endpoint)
            except ConfigError as exc:
                raise TransportError(str(exc)) from None
            body = encode_body(envelope(endpoint, signer, records))
            try:
                response = http.post(
                    _url(endpoint, path),
                    data=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json; charset=utf-8",
                    },
                    timeout=endpoint.timeout,
                )
            except requests.Timeout:
                raise TransportError("平台应答超时") from None
            except requests.RequestException as exc:
                raise TransportError(f"连接平台失败 ({type(exc).__name__})") from None
            if response.status_code == 401 and attempt == 1:
                self.tokens.drop(endpoint)
                continue
            if response.status_code == 401:
                raise TransportError("平台拒绝了刚取得的令牌 (HTTP 401)")
            if response.status_code >= 500:
                raise TransportError(f"平台 HTTP {response.status_code}")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_kind(
        self,
        http: requests.Session,
        endpoint: Endpoint,
        signer: Signer,
        kind: str,
        items: Sequence[Item],
    ) -> list[ItemResult]:
        records = [{**item.payload, "key": item.key} for item in items]
        response = self._post(http, endpoint, signer, UPLOAD_PATH.format(kind=kind), records)
        answer = _read_json(response)
        code = str(answer.get("code", ""))
        message = str(answer.get("msg", ""))[:500]
        if response.status_code == 400 and code in {BAD_SIGNATURE, BAD_REQUEST}:
            # The platform refused the batch as a whole for what it carries: every record
            # is rejected with the platform's words (fix, then 补传).
            return [ItemResult(i.key, "rejected", code, message) for i in items]
        if response.status_code != 200 or code != OK:
            raise TransportError(f"平台拒绝了请求 (HTTP {response.status_code}, {code}): {message}")
        results = answer.get("results")
        if not isinstance(results, list):
            raise TransportError("平台应答缺少 results")
        by_key: dict[str, ItemResult] = {}
        for entry in results:
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise TransportError("平台应答的 results 格式错误")
            rcode = str(entry.get("code", ""))
            rmsg = str(entry.get("msg", ""))[:500]
            if rcode in {OK, DUPLICATE}:
                outcome = "accepted"
            elif rcode == BUSY:
                outcome = "retry"
            else:
                outcome = "rejected"
            by_key[entry["key"]] = ItemResult(entry["key"], outcome, rcode, rmsg)  # type: ignore[arg-type]
        return [
            by_key.get(item.key) or ItemResult(item.key, "retry", "", "平台未返回该记录的结果")
            for item in items
        ]


ADAPTER = register(Hj1321JsonAdapter())
