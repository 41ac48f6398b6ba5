"""A site's regulator platform configurations: validation, the connection test, sealed secrets
(docs/regulator.md, "Configuration and screens").

Saving is all or nothing. Before anything is written the configuration is checked in three
steps, each naming the bad field (422, ``details.fields``):

1. the form itself (pydantic): name, ``http(s)`` endpoint without credentials in it, a valid
   统一社会信用代码, a known adapter and signer;
2. the key: ``signing.make_signer`` over the given secret (malformed PEM / SM2 hex →
   ``private_key``; short shared key → ``shared_key``);
3. the **connection test** (``adapter.test_connection``, a short timeout): an unreachable or
   refusing platform → ``endpoint``; refused credentials → ``client_secret``; the platform
   failing our signature → ``private_key`` / ``shared_key``.

``skip_test`` saves without step 3 — for tenant admins only (the API checks the role): an
RSA2/SM2 platform verifies our signature with the public key registered there, and that key is
only shown after saving, so the first save of such a configuration may have to skip the test.
Steps 1 and 2 are never skipped.

Secrets (client secret, private key, shared key, password) are sealed with
``saas.regulator.envelope`` into ``secret_box`` and never returned or shown again; an update
that leaves a secret blank keeps the stored one. Our public key (RSA PEM or SM2 hex) is derived
and stored to be registered with the platform. Audit events ``regulator_config.create|update|
test`` carry field names, never values.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StrictBool
from pydantic_core import PydanticCustomError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.db import utcnow
from saas.errors import NotFound, validation_error
from saas.models.regulator import UPLOAD_KINDS, UPLOAD_STATUSES, RegulatorConfig, RegulatorUpload
from saas.models.tenancy import Site
from saas.regulator import envelope, outbox
from saas.regulator.base import ConfigError, Credentials, Endpoint, TransportError, get_adapter
from saas.regulator.relay import credentials_for
from saas.regulator.signing import SIGNER_KINDS, public_material
from saas.sites import Uscc

TEST_TIMEOUT = 5.0  # seconds: the connection test at configuration must answer quickly
SECRET_FIELDS = ("client_secret", "private_key", "shared_key", "password")
CONNECTION_FIELDS = ("adapter", "endpoint", "signer", "client_id", "enterprise_code", "uscc")
MAX_SECRET = {"client_secret": 500, "private_key": 10_000, "shared_key": 500, "password": 200}


# --- input --------------------------------------------------------------------------------------


def _endpoint(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("endpoint_invalid", "平台地址应为 http(s):// 开头的网址")
    if parts.username or parts.password:
        raise PydanticCustomError(
            "endpoint_credentials", "平台地址中不能包含用户名或密码（请填入凭据字段）"
        )
    if parts.query or parts.fragment:
        raise PydanticCustomError("endpoint_query", "平台地址不能包含查询参数或锚点")
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise PydanticCustomError("endpoint_port", "平台地址的端口无效") from None
    return value.rstrip("/")


def _adapter(value: str) -> str:
    try:
        get_adapter(value)
    except ConfigError as exc:
        raise PydanticCustomError(
            "adapter_unknown", "{message}", {"message": exc.message}
        ) from None
    return value


def _signer(value: str) -> str:
    if value not in SIGNER_KINDS:
        raise PydanticCustomError(
            "signer_unknown", "未知的签名方式; 可选: {kinds}", {"kinds": ", ".join(SIGNER_KINDS)}
        )
    return value


def _secret(name: str) -> Any:
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) > MAX_SECRET[name]:
            raise PydanticCustomError(
                "secret_too_long", "过长（至多 {n} 个字符）", {"n": MAX_SECRET[name]}
            )
        return value

    return AfterValidator(check)


Name = Annotated[str, Field(min_length=1, max_length=100)]
EndpointUrl = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(_endpoint)]
AdapterName = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_adapter)]
SignerKind = Annotated[str, AfterValidator(_signer)]
ClientId = Annotated[str, Field(max_length=100)]
EnterpriseCode = Annotated[str, Field(max_length=64)]
PermitNo = Annotated[str | None, Field(max_length=40)]


class ConfigCreate(BaseModel):
    """A new platform configuration. Secrets are write-only."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    adapter: AdapterName = "hj1321-json"
    endpoint: EndpointUrl
    signer: SignerKind = "rsa2"
    client_id: ClientId = ""
    enterprise_code: EnterpriseCode = ""
    uscc: Uscc
    permit_no: PermitNo = None
    active: StrictBool = True
    client_secret: Annotated[SecretStr | None, _secret("client_secret")] = None
    private_key: Annotated[SecretStr | None, _secret("private_key")] = None
    shared_key: Annotated[SecretStr | None, _secret("shared_key")] = None
    password: Annotated[SecretStr | None, _secret("password")] = None
    skip_test: StrictBool = False  # tenant admins only; see the module docstring


class ConfigPatch(BaseModel):
    """Only the fields given change; a blank or absent secret keeps the stored one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name | None = None
    adapter: AdapterName | None = None
    endpoint: EndpointUrl | None = None
    signer: SignerKind | None = None
    client_id: ClientId | None = None
    enterprise_code: EnterpriseCode | None = None
    uscc: Uscc | None = None
    permit_no: PermitNo = None
    active: StrictBool | None = None
    client_secret: Annotated[SecretStr | None, _secret("client_secret")] = None
    private_key: Annotated[SecretStr | None, _secret("private_key")] = None
    shared_key: Annotated[SecretStr | None, _secret("shared_key")] = None
    password: Annotated[SecretStr | None, _secret("password")] = None
    skip_test: StrictBool = False


class ConfigOut(BaseModel):
    """What is shown of a configuration: never a secret, only which ones are stored."""

    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    adapter: str
    endpoint: str
    signer: str
    client_id: str
    enterprise_code: str
    uscc: str
    permit_no: str | None
    active: bool
    public_key: str | None
    secrets_set: list[str]
    created_at: datetime
    updated_at: datetime
    last_test_at: datetime | None
    last_test_ok: bool | None
    last_test_message: str | None


class ConnectionTestOut(BaseModel):
    ok: bool
    field: str | None
    message: str
    tested_at: datetime


class UploadOut(BaseModel):
    """One upload record; ``platform_message`` is the platform's answer (平台信息)."""

    id: uuid.UUID
    config_id: uuid.UUID
    site_id: uuid.UUID
    kind: str
    source_id: str
    key: str
    gate_code: str | None
    lane_code: str | None
    captured_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    platform_code: str | None
    platform_message: str | None
    created_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None


# --- reading ------------------------------------------------------------------------------------


def list_configs(session: Session, site: Site) -> list[RegulatorConfig]:
    return list(
        session.scalars(
            select(RegulatorConfig)
            .where(RegulatorConfig.site_id == site.id)
            .order_by(RegulatorConfig.created_at, RegulatorConfig.id)
        )
    )


def get_config(session: Session, site: Site, config_id: uuid.UUID) -> RegulatorConfig:
    """The configuration of ``site`` (current tenant), or 404 — another tenant's the same."""
    row = session.scalars(
        select(RegulatorConfig).where(
            RegulatorConfig.id == config_id, RegulatorConfig.site_id == site.id
        )
    ).one_or_none()
    if row is None:
        raise NotFound("监管平台配置")
    return row


def stored_secret_names(config: RegulatorConfig, app: Flask) -> list[str]:
    """Names of the secrets stored in the box (an unreadable box shows none)."""
    try:
        credentials = credentials_for(config, app)
    except (envelope.EnvelopeError, ConfigError, ValueError):
        return []
    return [n for n in SECRET_FIELDS if getattr(credentials, n)]


def config_out(config: RegulatorConfig, app: Flask) -> dict[str, Any]:
    return ConfigOut(
        id=config.id,
        site_id=config.site_id,
        name=config.name,
        adapter=config.adapter,
        endpoint=config.endpoint,
        signer=config.signer,
        client_id=config.client_id,
        enterprise_code=config.enterprise_code,
        uscc=config.uscc,
        permit_no=config.permit_no,
        active=config.active,
        public_key=config.public_key,
        secrets_set=stored_secret_names(config, app),
        created_at=config.created_at,
        updated_at=config.updated_at,
        last_test_at=config.last_test_at,
        last_test_ok=config.last_test_ok,
        last_test_message=config.last_test_message,
    ).model_dump(mode="json")


def uploads_query(
    site: Site,
    *,
    status: str | None = None,
    kind: str | None = None,
    config_id: uuid.UUID | None = None,
) -> Select[Any]:
    """The site's upload records, filtered; ValueError-free: bad filters are a 422 naming them."""
    fields: dict[str, str] = {}
    if status and status not in UPLOAD_STATUSES:
        fields["status"] = f"可选: {', '.join(UPLOAD_STATUSES)}"
    if kind and kind not in UPLOAD_KINDS:
        fields["kind"] = f"可选: {', '.join(UPLOAD_KINDS)}"
    if fields:
        raise validation_error(fields, "查询参数有误")
    stmt = select(RegulatorUpload).where(RegulatorUpload.site_id == site.id)
    if status:
        stmt = stmt.where(RegulatorUpload.status == status)
    if kind:
        stmt = stmt.where(RegulatorUpload.kind == kind)
    if config_id is not None:
        stmt = stmt.where(RegulatorUpload.config_id == config_id)
    return stmt


def upload_out(row: RegulatorUpload) -> dict[str, Any]:
    return UploadOut.model_validate(
        {
            **{name: getattr(row, name) for name in UploadOut.model_fields},
            "next_attempt_at": row.next_attempt_at if row.status == "pending" else None,
        }
    ).model_dump(mode="json")


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str
    field: str | None = None


def _credentials(values: Mapping[str, SecretStr | None], old: Credentials | None) -> Credentials:
    """The new secrets over the stored ones: a blank or absent value keeps the old one."""
    base = old or Credentials()
    changes = {
        name: value.get_secret_value()
        for name, value in values.items()
        if name in SECRET_FIELDS and value is not None and value.get_secret_value().strip()
    }
    return dataclasses.replace(base, **changes)


def _check_key(signer: str, credentials: Credentials) -> str | None:
    """Our public key for ``signer`` (None for shared keys); 422 naming the field otherwise."""
    try:
        return public_material(signer, credentials)
    except ConfigError as exc:
        raise validation_error({exc.field: exc.message}, "密钥无效，未保存") from None


def _run_test(
    config_id: uuid.UUID | None,
    state: Mapping[str, Any],
    credentials: Credentials,
    http: requests.Session | None,
    timeout: float,
) -> ConnectionResult:
    """``adapter.test_connection`` with a short timeout; never raises for the platform's sake."""
    endpoint = Endpoint(
        config_id=str(config_id or uuid.uuid4()),
        endpoint=str(state["endpoint"]),
        client_id=str(state["client_id"] or ""),
        enterprise_code=str(state["enterprise_code"] or ""),
        uscc=str(state["uscc"]),
        permit_no=state.get("permit_no"),
        signer=str(state["signer"]),
        credentials=credentials,
        timeout=timeout,
    )
    own = http is None
    session = http or requests.Session()
    try:
        message = get_adapter(str(state["adapter"])).test_connection(session, endpoint)
    except ConfigError as exc:
        return ConnectionResult(False, exc.message[:480], exc.field)
    except TransportError as exc:
        return ConnectionResult(False, f"无法连接平台: {exc}"[:480], "endpoint")
    except requests.RequestException as exc:
        return ConnectionResult(False, f"无法连接平台 ({type(exc).__name__})", "endpoint")
    finally:
        if own:
            session.close()
    return ConnectionResult(True, str(message)[:480] or "连接成功")


def _record_test(config: RegulatorConfig, result: ConnectionResult) -> None:
    config.last_test_at = utcnow()
    config.last_test_ok = result.ok
    label = f"{result.field}: {result.message}" if result.field else result.message
    config.last_test_message = label[:500]


def _name_taken(
    session: Session, site_id: uuid.UUID, name: str, except_id: uuid.UUID | None
) -> bool:
    stmt = select(RegulatorConfig.id).where(
        RegulatorConfig.site_id == site_id, RegulatorConfig.name == name
    )
    if except_id is not None:
        stmt = stmt.where(RegulatorConfig.id != except_id)
    return session.scalars(stmt).first() is not None


def _seal(credentials: Credentials, app: Flask) -> bytes:
    data = {k: v for k, v in dataclasses.asdict(credentials).items() if v}
    keyring = app.config["CLEANGATE_SETTINGS"].regulator_keyring
    return envelope.seal(json.dumps(data).encode(), keyring)


# --- writing ------------------------------------------------------------------------------------


def create_config(
    session: Session,
    site: Site,
    body: ConfigCreate,
    *,
    app: Flask,
    actor_id: uuid.UUID | None,
    http: requests.Session | None = None,
    timeout: float = TEST_TIMEOUT,
    commit: bool = True,
) -> RegulatorConfig:
    """Check (form, key, connection unless ``skip_test``), then save, seal the secrets, register
    the site's gates with the platform (``outbox.enqueue_gates``) and commit (``commit=False``:
    flush, for a caller's larger transaction). Any failure is a 422 naming the field, with
    nothing written."""
    if _name_taken(session, site.id, body.name, None):
        raise validation_error({"name": "本站点已有同名的平台配置"})
    state = body.model_dump(exclude=set(SECRET_FIELDS) | {"skip_test"})
    credentials = _credentials({n: getattr(body, n) for n in SECRET_FIELDS}, None)
    public_key = _check_key(body.signer, credentials)
    result = None
    if not body.skip_test:
        result = _run_test(None, state, credentials, http, timeout)
        if not result.ok:
            field = result.field or "endpoint"
            raise validation_error({field: result.message}, "连接测试未通过，未保存")
    now = utcnow()
    config = RegulatorConfig(
        tenant_id=site.tenant_id,
        site_id=site.id,
        **state,
        secret_box=_seal(credentials, app),
        public_key=public_key,
        created_by=actor_id,
        created_at=now,
        updated_at=now,
    )
    if result is not None:
        _record_test(config, result)
    session.add(config)
    session.flush()
    gates = outbox.enqueue_gates(session, site) if config.active else 0
    audit.record(
        session,
        "regulator_config.create",
        tenant_id=site.tenant_id,
        actor_user_id=actor_id,
        details={
            "site_id": str(site.id),
            "config_id": str(config.id),
            "adapter": config.adapter,
            "signer": config.signer,
            "secrets": sorted(n for n in SECRET_FIELDS if getattr(credentials, n)),
            "tested": result is not None,
            "gates_enqueued": gates,
        },
    )
    session.commit() if commit else session.flush()
    return config


def update_config(
    session: Session,
    config: RegulatorConfig,
    body: ConfigPatch,
    *,
    app: Flask,
    actor_id: uuid.UUID | None,
    http: requests.Session | None = None,
    timeout: float = TEST_TIMEOUT,
) -> RegulatorConfig:
    """Change the given fields. A change that touches the connection (adapter, endpoint,
    signer, client id, enterprise codes, any secret) is tested again unless ``skip_test``;
    failures are a 422 naming the field, with nothing written."""
    given = body.model_dump(exclude_unset=True, exclude=set(SECRET_FIELDS) | {"skip_test"})
    for name in ("name", "adapter", "endpoint", "signer", "client_id", "uscc", "active"):
        if name in given and given[name] is None:
            raise validation_error({name: "不能为空"})
    if "enterprise_code" in given and given["enterprise_code"] is None:
        given["enterprise_code"] = ""
    changes = {k: v for k, v in given.items() if getattr(config, k) != v}
    new_secrets = {
        n: getattr(body, n)
        for n in SECRET_FIELDS
        if getattr(body, n) is not None and getattr(body, n).get_secret_value().strip()
    }
    if "name" in changes and _name_taken(session, config.site_id, changes["name"], config.id):
        raise validation_error({"name": "本站点已有同名的平台配置"})
    state = {c: getattr(config, c) for c in (*CONNECTION_FIELDS, "permit_no")} | changes
    old = credentials_for(config, app)
    credentials = _credentials(new_secrets, old)
    public_key = config.public_key
    connection_changed = bool(new_secrets) or any(f in changes for f in CONNECTION_FIELDS)
    if connection_changed:
        public_key = _check_key(str(state["signer"]), credentials)
    result = None
    if connection_changed and not body.skip_test:
        result = _run_test(config.id, state, credentials, http, timeout)
        if not result.ok:
            field = result.field or "endpoint"
            raise validation_error({field: result.message}, "连接测试未通过，未保存")
    if not changes and not new_secrets:
        return config
    reactivated = changes.get("active") is True
    for name, value in changes.items():
        setattr(config, name, value)
    if new_secrets:
        config.secret_box = _seal(credentials, app)
    config.public_key = public_key
    config.updated_at = utcnow()
    if result is not None:
        _record_test(config, result)
    session.flush()
    gates = 0
    if reactivated:
        site = session.get(Site, config.site_id)
        if site is not None:
            gates = outbox.enqueue_gates(session, site)
    audit.record(
        session,
        "regulator_config.update",
        tenant_id=config.tenant_id,
        actor_user_id=actor_id,
        details={
            "site_id": str(config.site_id),
            "config_id": str(config.id),
            "fields": sorted(changes),
            "secrets_changed": sorted(new_secrets),
            "tested": result is not None,
            "gates_enqueued": gates,
        },
    )
    session.commit()
    return config


def run_connection_test(
    session: Session,
    config: RegulatorConfig,
    *,
    app: Flask,
    actor_id: uuid.UUID | None,
    http: requests.Session | None = None,
    timeout: float = TEST_TIMEOUT,
) -> ConnectionResult:
    """Test a saved configuration with its stored secrets; record ``last_test_*`` and audit
    the outcome (a failed test is a result, not an error)."""
    try:
        credentials = credentials_for(config, app)
    except (envelope.EnvelopeError, ConfigError, ValueError):
        result = ConnectionResult(False, "无法解密已保存的凭据，请重新填写密钥", "secret_box")
    else:
        state = {c: getattr(config, c) for c in (*CONNECTION_FIELDS, "permit_no")}
        try:
            get_adapter(config.adapter)
            public_material(config.signer, credentials)
        except ConfigError as exc:
            result = ConnectionResult(False, exc.message, exc.field)
        else:
            result = _run_test(config.id, state, credentials, http, timeout)
    _record_test(config, result)
    audit.record(
        session,
        "regulator_config.test",
        tenant_id=config.tenant_id,
        actor_user_id=actor_id,
        details={
            "site_id": str(config.site_id),
            "config_id": str(config.id),
            "ok": result.ok,
            "field": result.field,
        },
    )
    session.commit()
    return result
