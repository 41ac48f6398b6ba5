"""One typed settings object, built from the environment in ``create_app()`` and the CLI.

Configuration is environment variables only (12-factor). Development runs on embedded
defaults (SQLite file, in-process Redis substitute, local-disk object storage, a secret key
generated once into ``var/``). ``CLEANGATE_ENV=production`` refuses every embedded default and
names the variable that is missing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

EMBEDDED_REDIS = "embedded://"


class SettingsError(ValueError):
    """The environment does not describe a runnable configuration."""


def parse_boolean(value: str, name: str) -> bool:
    """Strict boolean parser: junk raises instead of silently meaning False (Redash's rule)."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be a boolean (true/false), got {value!r}")


def parse_int(value: str, name: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None
    if number < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {number}")
    return number


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    var_dir: Path = Path("var")
    database_url: str = field(default="", repr=False)  # may hold a secret
    migration_database_url: str = field(default="", repr=False)  # may hold a secret
    redis_url: str = field(default=EMBEDDED_REDIS, repr=False)  # may hold a password
    storage_url: str = ""
    # docs/ledger-chain.md: the write-once archive of signed checkpoints (Object Lock bucket)
    checkpoint_storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_addressing_style: str = "auto"
    secret_key: str = field(default="", repr=False)  # may hold a secret
    ledger_signing_key: str = field(default="", repr=False)  # may hold a secret
    # Retired LEDGER_SIGNING_KEYs' public halves (base64, comma-separated): their checkpoints
    # still verify after a rotation (docs/deployment.md).
    ledger_previous_public_keys: str = ""
    base_url: str = "http://127.0.0.1:8000"
    edge_hub_url: str = "ws://127.0.0.1:8765/"
    board_feed_url: str = "ws://127.0.0.1:8765/"  # the hub as board pages' browsers reach it
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_allow_insecure: bool = False
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    login_ip_limit_per_minute: int = 20
    # Reverse proxies in front of the app (ALB, nginx): how many X-Forwarded-For / -Proto hops
    # to trust, so rate limits and audit see the client's address, not the proxy's. 0: none.
    proxy_hops: int = 0
    # saas/metrics.py: the `metrics` job prints CloudWatch EMF lines to stdout (ECS → CloudWatch
    # Logs → metrics) when on; off, it logs the values at DEBUG.
    metrics_emf: bool = False
    metrics_environment: str = "development"  # the Environment dimension of every metric
    testing: bool = False
    # docs/regulator-adapters.md: envelope master keys, "id:base64key,…" (first = current)
    regulator_master_keys: str = field(default="", repr=False)
    notify: NotifySettings = field(default_factory=lambda: NotifySettings())
    alert_feed: AlertFeedSettings = field(default_factory=lambda: AlertFeedSettings())
    regulator_relay: RegulatorRelaySettings = field(
        default_factory=lambda: RegulatorRelaySettings()
    )
    miniprogram: MiniProgramSettings = field(default_factory=lambda: MiniProgramSettings())
    billing: BillingSettings = field(default_factory=lambda: BillingSettings())
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if environ is None else environ)
        mode = env.get("CLEANGATE_ENV", "development").strip() or "development"
        if mode not in {"development", "production"}:
            raise SettingsError(f"CLEANGATE_ENV must be development or production, got {mode!r}")
        production = mode == "production"
        var_dir = Path(env.get("CLEANGATE_VAR_DIR", "var"))

        missing = [
            name
            for name in (
                "DATABASE_URL",
                "REDIS_URL",
                "STORAGE_URL",
                "CHECKPOINT_STORAGE_URL",
                "SECRET_KEY",
                "LEDGER_SIGNING_KEY",
                "REGULATOR_MASTER_KEYS",
            )
            if production and not env.get(name, "").strip()
        ]
        if missing:
            raise SettingsError(
                "CLEANGATE_ENV=production refuses embedded defaults; set " + ", ".join(missing)
            )

        database_url = (
            env.get("DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'cleangate.db'}"
        )
        if production and database_url.startswith("sqlite"):
            raise SettingsError("DATABASE_URL must name PostgreSQL in production, not SQLite")
        redis_url = env.get("REDIS_URL", "").strip() or EMBEDDED_REDIS
        if production and redis_url == EMBEDDED_REDIS:
            raise SettingsError("REDIS_URL must name a Redis server in production")
        secret_key = env.get("SECRET_KEY", "").strip()
        if production and len(secret_key) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters in production")

        values: dict[str, object] = {
            "env": mode,
            "var_dir": var_dir,
            "database_url": normalize_database_url(database_url),
            "migration_database_url": normalize_database_url(
                env.get("MIGRATION_DATABASE_URL", "").strip() or database_url
            ),
            "redis_url": redis_url,
            "storage_url": env.get("STORAGE_URL", "").strip() or f"file://{var_dir / 'media'}",
            "checkpoint_storage_url": (
                env.get("CHECKPOINT_STORAGE_URL", "").strip() or f"file://{var_dir / 'checkpoints'}"
            ),
            "s3_endpoint_url": env.get("S3_ENDPOINT_URL") or None,
            "s3_region": env.get("S3_REGION") or None,
            "s3_addressing_style": env.get("S3_ADDRESSING_STYLE", "auto"),
            "secret_key": secret_key,
            "ledger_signing_key": env.get("LEDGER_SIGNING_KEY", "").strip(),
            "ledger_previous_public_keys": env.get("LEDGER_PREVIOUS_PUBLIC_KEYS", "").strip(),
            "base_url": env.get("CLEANGATE_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            "edge_hub_url": env.get("EDGE_HUB_URL", "ws://127.0.0.1:8765/").strip(),
            # docs/board.md: the public board's live feed; defaults to the hub the edges use
            "board_feed_url": (
                env.get("BOARD_FEED_URL", "").strip()
                or env.get("EDGE_HUB_URL", "ws://127.0.0.1:8765/").strip()
            ),
            "oidc_issuer": env.get("OIDC_ISSUER") or None,
            "oidc_client_id": env.get("OIDC_CLIENT_ID") or None,
            "oidc_client_secret": env.get("OIDC_CLIENT_SECRET") or None,
            "oidc_allow_insecure": parse_boolean(
                env.get("OIDC_ALLOW_INSECURE", "false"), "OIDC_ALLOW_INSECURE"
            ),
            "login_max_failures": parse_int(
                env.get("LOGIN_MAX_FAILURES", "5"), "LOGIN_MAX_FAILURES", 1
            ),
            "login_lockout_seconds": parse_int(
                env.get("LOGIN_LOCKOUT_SECONDS", "900"), "LOGIN_LOCKOUT_SECONDS", 1
            ),
            "proxy_hops": parse_int(env.get("PROXY_HOPS", "0"), "PROXY_HOPS", 0),
            "login_ip_limit_per_minute": parse_int(
                env.get("LOGIN_IP_LIMIT_PER_MINUTE", "20"), "LOGIN_IP_LIMIT_PER_MINUTE", 1
            ),
        }
        if production and values["oidc_allow_insecure"]:
            raise SettingsError("OIDC_ALLOW_INSECURE cannot be set in production")
        if not str(values["board_feed_url"]).startswith(("ws://", "wss://")):
            raise SettingsError("BOARD_FEED_URL (default EDGE_HUB_URL) must be ws:// or wss://")
        values["regulator_master_keys"] = _regulator_master_keys(env)
        values.update(_metrics(env))  # saas/metrics.py
        values["notify"] = NotifySettings.from_env(env, var_dir)  # docs/notifications.md
        values["alert_feed"] = AlertFeedSettings.from_env(env)  # docs/alerts.md §Console
        values["regulator_relay"] = RegulatorRelaySettings.from_env(env)  # docs/regulator.md
        values["miniprogram"] = MiniProgramSettings.from_env(env)  # docs/miniprogram-api.md
        values["billing"] = BillingSettings.from_env(env, str(values["base_url"]), production)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        if not settings.secret_key:
            settings = settings.with_generated_secret()
        if not settings.regulator_master_keys:
            settings = settings.with_generated_master_keys()
        return settings

    @property
    def regulator_keyring(self) -> dict[str, bytes]:
        """The envelope keyring of regulator credentials (``saas.regulator.envelope``)."""
        from saas.regulator.envelope import parse_master_keys

        return parse_master_keys(self.regulator_master_keys)

    def with_generated_master_keys(self) -> Settings:
        """Development only: one master key generated once into ``var/regulator_master_keys``."""
        from saas.regulator.envelope import generate_master_key

        path = self.var_dir / "regulator_master_keys"
        if path.exists():
            keys = path.read_text().strip()
        else:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            keys = generate_master_key("dev1")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(keys)
        return _replace(self, regulator_master_keys=keys)

    def with_generated_secret(self) -> Settings:
        """Development only: a random key generated once into ``var/secret_key``."""
        path = self.var_dir / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
        return _replace(self, secret_key=key)


def _replace(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)  # type: ignore[arg-type]


def _regulator_master_keys(env: Mapping[str, str]) -> str:
    text = env.get("REGULATOR_MASTER_KEYS", "").strip()
    if text:
        from saas.regulator.base import ConfigError
        from saas.regulator.envelope import parse_master_keys

        try:
            parse_master_keys(text)
        except ConfigError as exc:
            raise SettingsError(f"REGULATOR_MASTER_KEYS: {exc.message}") from None
    return text


def _metrics(env: Mapping[str, str]) -> dict[str, object]:
    import re

    environment = env.get("METRICS_ENVIRONMENT", "").strip() or "development"
    # A CloudWatch dimension value; kept to a plain name so alarms can be written against it.
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", environment):
        raise SettingsError(
            "METRICS_ENVIRONMENT must be 1-64 letters, digits, '-', '_' or '.',"
            f" got {environment!r}"
        )
    return {
        "metrics_emf": parse_boolean(env.get("METRICS_EMF", "false"), "METRICS_EMF"),
        "metrics_environment": environment,
    }


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# --- site-contact notifications (docs/notifications.md) ---------------------------------------

SMS_PROVIDERS = ("simulator", "aliyun", "tencent")
WECHAT_PROVIDERS = ("simulator", "wechat")
EMAIL_PROVIDERS = ("simulator", "smtp")
SMTP_SECURITY = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class NotifySettings:
    """Channels of the notification outbox. Secrets come from the environment only and are
    kept out of ``repr`` (so out of logs and tracebacks)."""

    sms_provider: str = "simulator"
    sms_sign_name: str = "CleanGate"
    sms_template_alert: str = ""
    sms_template_alert_end: str = ""
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = field(default="", repr=False)
    aliyun_sms_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    aliyun_sms_region: str = "cn-hangzhou"
    tencent_secret_id: str = ""
    tencent_secret_key: str = field(default="", repr=False)
    tencent_sms_app_id: str = ""
    tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com/"
    tencent_sms_region: str = "ap-guangzhou"
    wechat_provider: str = "simulator"
    wechat_app_id: str = ""
    wechat_app_secret: str = field(default="", repr=False)
    wechat_api_base: str = "https://api.weixin.qq.com/"
    wechat_template_alert: str = ""
    wechat_template_alert_end: str = ""
    wechat_alert_fields: str = "thing1=site,phrase2=level,time3=time,thing4=summary"
    wechat_page: str = ""
    # Visitor booking decisions (docs/miniprogram-api.md): optional — without the template a
    # booking notice fails for good with a clear reason, the gate and the booking stand.
    wechat_template_booking: str = ""
    wechat_booking_fields: str = "thing1=site,phrase2=result,time3=start,thing4=note"
    wechat_booking_page: str = ""  # the mini-program page a tap opens (``?id=<booking>`` added)
    wechat_template_invoice: str = ""  # provider billing's payment reminders (billing.dunning)
    wechat_invoice_fields: str = "character_string1=invoice,amount2=amount,time3=due,phrase4=status"
    wechat_miniprogram_state: str = "formal"
    email_provider: str = "simulator"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = "CleanGate <noreply@cleangate.local>"
    simulator_file: Path = Path("var/notify-simulator.jsonl")
    max_attempts: int = 8
    retry_base_seconds: int = 30
    retry_max_seconds: int = 3600
    lease_seconds: int = 300
    send_timeout_seconds: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str], var_dir: Path) -> NotifySettings:
        def text(name: str, default: str = "") -> str:
            return env.get(name, default).strip() or default

        def choice(name: str, allowed: tuple[str, ...]) -> str:
            value = text(name, allowed[0])
            if value not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return value

        def number(name: str, default: int, minimum: int = 0) -> int:
            return parse_int(text(name, str(default)), name, minimum)

        settings = cls(
            sms_provider=choice("SMS_PROVIDER", SMS_PROVIDERS),
            sms_sign_name=text("SMS_SIGN_NAME", "CleanGate"),
            sms_template_alert=text("SMS_TEMPLATE_ALERT"),
            sms_template_alert_end=text("SMS_TEMPLATE_ALERT_END"),
            aliyun_access_key_id=text("ALIYUN_ACCESS_KEY_ID"),
            aliyun_access_key_secret=text("ALIYUN_ACCESS_KEY_SECRET"),
            aliyun_sms_endpoint=text("ALIYUN_SMS_ENDPOINT", cls.aliyun_sms_endpoint),
            aliyun_sms_region=text("ALIYUN_SMS_REGION", cls.aliyun_sms_region),
            tencent_secret_id=text("TENCENT_SECRET_ID"),
            tencent_secret_key=text("TENCENT_SECRET_KEY"),
            tencent_sms_app_id=text("TENCENT_SMS_SDK_APP_ID"),
            tencent_sms_endpoint=text("TENCENT_SMS_ENDPOINT", cls.tencent_sms_endpoint),
            tencent_sms_region=text("TENCENT_SMS_REGION", cls.tencent_sms_region),
            wechat_provider=choice("WECHAT_PROVIDER", WECHAT_PROVIDERS),
            wechat_app_id=text("WECHAT_APP_ID"),
            wechat_app_secret=text("WECHAT_APP_SECRET"),
            wechat_api_base=text("WECHAT_API_BASE", cls.wechat_api_base),
            wechat_template_alert=text("WECHAT_TEMPLATE_ALERT"),
            wechat_template_alert_end=text("WECHAT_TEMPLATE_ALERT_END"),
            wechat_alert_fields=text("WECHAT_ALERT_FIELDS", cls.wechat_alert_fields),
            wechat_page=text("WECHAT_PAGE"),
            wechat_template_booking=text("WECHAT_TEMPLATE_BOOKING"),
            wechat_booking_fields=text("WECHAT_BOOKING_FIELDS", cls.wechat_booking_fields),
            wechat_booking_page=text("WECHAT_BOOKING_PAGE"),
            wechat_template_invoice=text("WECHAT_TEMPLATE_INVOICE"),
            wechat_invoice_fields=text("WECHAT_INVOICE_FIELDS", cls.wechat_invoice_fields),
            wechat_miniprogram_state=choice(
                "WECHAT_MINIPROGRAM_STATE", ("formal", "trial", "developer")
            ),
            email_provider=choice("EMAIL_PROVIDER", EMAIL_PROVIDERS),
            smtp_host=text("SMTP_HOST"),
            smtp_port=number("SMTP_PORT", 587, 1),
            smtp_security=choice("SMTP_SECURITY", SMTP_SECURITY),
            smtp_username=text("SMTP_USERNAME"),
            smtp_password=env.get("SMTP_PASSWORD", ""),
            smtp_from=text("SMTP_FROM", cls.smtp_from),
            simulator_file=Path(
                text("NOTIFY_SIMULATOR_FILE", str(var_dir / "notify-simulator.jsonl"))
            ),
            max_attempts=number("NOTIFY_MAX_ATTEMPTS", 8, 1),
            retry_base_seconds=number("NOTIFY_RETRY_BASE_SECONDS", 30),
            retry_max_seconds=number("NOTIFY_RETRY_MAX_SECONDS", 3600),
            lease_seconds=number("NOTIFY_LEASE_SECONDS", 300, 1),
            send_timeout_seconds=number("NOTIFY_SEND_TIMEOUT_SECONDS", 10, 1),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Name every variable a chosen provider still needs (fail fast, any environment)."""
        needs: dict[str, str] = {}
        if self.sms_provider == "aliyun":
            needs |= {
                "ALIYUN_ACCESS_KEY_ID": self.aliyun_access_key_id,
                "ALIYUN_ACCESS_KEY_SECRET": self.aliyun_access_key_secret,
            }
        if self.sms_provider == "tencent":
            needs |= {
                "TENCENT_SECRET_ID": self.tencent_secret_id,
                "TENCENT_SECRET_KEY": self.tencent_secret_key,
                "TENCENT_SMS_SDK_APP_ID": self.tencent_sms_app_id,
            }
        if self.sms_provider != "simulator":
            needs |= {
                "SMS_TEMPLATE_ALERT": self.sms_template_alert,
                "SMS_TEMPLATE_ALERT_END": self.sms_template_alert_end,
            }
        if self.wechat_provider == "wechat":
            needs |= {
                "WECHAT_APP_ID": self.wechat_app_id,
                "WECHAT_APP_SECRET": self.wechat_app_secret,
                "WECHAT_TEMPLATE_ALERT": self.wechat_template_alert,
                "WECHAT_TEMPLATE_ALERT_END": self.wechat_template_alert_end,
            }
        if self.email_provider == "smtp":
            needs |= {"SMTP_HOST": self.smtp_host}
        missing = [name for name, value in needs.items() if not value]
        if missing:
            raise SettingsError("notifications need " + ", ".join(missing))
        for name, fields in (
            ("WECHAT_ALERT_FIELDS", self.wechat_alert_fields),
            ("WECHAT_BOOKING_FIELDS", self.wechat_booking_fields),
            ("WECHAT_INVOICE_FIELDS", self.wechat_invoice_fields),
        ):
            for pair in fields.split(","):
                key, _, value = pair.partition("=")
                if not key.strip() or not value.strip():
                    raise SettingsError(f"{name} must be key=value pairs, got {fields!r}")


# --- regulator alert feed pull (docs/alerts.md, "Console") ------------------------------------


@dataclass(frozen=True)
class AlertFeedSettings:
    """Where ``cleangate alerts pull`` fetches the regulator's findControlMeasuresInfo answer
    (domain.md §1.8). The API's authentication is undocumented; we send one header
    (``ALERT_FEED_TOKEN_HEADER: ALERT_FEED_TOKEN``). The token is kept out of ``repr``."""

    urls: tuple[str, ...] = field(default=(), repr=False)  # a query string may carry a key
    token: str = field(default="", repr=False)
    token_header: str = "Authorization"  # noqa: S105 (a header name)
    timeout_seconds: int = 15
    interval_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlertFeedSettings:
        import re
        from urllib.parse import urlsplit

        urls = tuple(u for u in re.split(r"[\s,]+", env.get("ALERT_FEED_URLS", "")) if u)
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise SettingsError(f"ALERT_FEED_URLS must hold http(s) URLs, got {parts.scheme!r}")
        header = env.get("ALERT_FEED_TOKEN_HEADER", "").strip() or cls.token_header
        if not re.fullmatch(r"[A-Za-z0-9-]+", header):
            raise SettingsError("ALERT_FEED_TOKEN_HEADER must be an HTTP header name")
        return cls(
            urls=urls,
            token=env.get("ALERT_FEED_TOKEN", "").strip(),
            token_header=header,
            timeout_seconds=parse_int(
                env.get("ALERT_FEED_TIMEOUT_SECONDS", "15").strip() or "15",
                "ALERT_FEED_TIMEOUT_SECONDS",
                1,
            ),
            interval_seconds=parse_int(
                env.get("ALERT_FEED_INTERVAL_SECONDS", "300").strip() or "300",
                "ALERT_FEED_INTERVAL_SECONDS",
                10,
            ),
        )


# --- regulator upload relay (docs/regulator.md) -----------------------------------------------


@dataclass(frozen=True)
class RegulatorRelaySettings:
    """Retries, lease and circuit breaker of the regulator upload relay."""

    max_attempts: int = 96
    retry_base_seconds: int = 30
    retry_max_seconds: int = 3600
    lease_seconds: int = 300
    breaker_failures: int = 5  # consecutive transport failures that open an endpoint's breaker
    breaker_cooldown_seconds: int = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RegulatorRelaySettings:
        def number(name: str, default: int, minimum: int = 0) -> int:
            return parse_int(env.get(name, "").strip() or str(default), name, minimum)

        return cls(
            max_attempts=number("REGULATOR_MAX_ATTEMPTS", 96, 1),
            retry_base_seconds=number("REGULATOR_RETRY_BASE_SECONDS", 30),
            retry_max_seconds=number("REGULATOR_RETRY_MAX_SECONDS", 3600),
            lease_seconds=number("REGULATOR_LEASE_SECONDS", 300, 1),
            breaker_failures=number("REGULATOR_BREAKER_FAILURES", 5, 1),
            breaker_cooldown_seconds=number("REGULATOR_BREAKER_COOLDOWN_SECONDS", 60, 1),
        )


# --- WeChat mini-program backend (docs/miniprogram-api.md) ------------------------------------


@dataclass(frozen=True)
class MiniProgramSettings:
    """Tokens and windows of ``/mp/v1``. The mini-program's AppID, AppSecret and API base are
    the notification channel's (``WECHAT_APP_ID`` …): one provider mini-program does both."""

    access_token_seconds: int = 1800
    refresh_token_days: int = 30
    session_key_seconds: int = 3 * 86400  # WeChat's session_key, kept server-side in Redis
    cargo_window_minutes: int = 720  # a cargo registration waits this long for its passage
    login_limit_per_minute: int = 30  # per client address
    booking_max_days_ahead: int = 30
    booking_max_hours: int = 24

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MiniProgramSettings:
        def number(name: str, default: int, minimum: int = 1) -> int:
            return parse_int(env.get(name, "").strip() or str(default), name, minimum)

        return cls(
            access_token_seconds=number("MP_ACCESS_TOKEN_SECONDS", 1800, 60),
            refresh_token_days=number("MP_REFRESH_TOKEN_DAYS", 30),
            session_key_seconds=number("MP_SESSION_KEY_SECONDS", 3 * 86400, 60),
            cargo_window_minutes=number("MP_CARGO_WINDOW_MINUTES", 720, 5),
            login_limit_per_minute=number("MP_LOGIN_LIMIT_PER_MINUTE", 30),
            booking_max_days_ahead=_at_most(
                number("MP_BOOKING_MAX_DAYS_AHEAD", 30), 31, "MP_BOOKING_MAX_DAYS_AHEAD"
            ),
            booking_max_hours=number("MP_BOOKING_MAX_HOURS", 24),
        )


def _at_most(value: int, limit: int, name: str) -> int:
    if value > limit:
        raise SettingsError(f"{name} must be at most {limit}, got {value}")
    return value


# --- billing: payments and dunning (docs/billing.md) ------------------------------------------


@dataclass(frozen=True)
class BillingSettings:
    """Dunning and WeChat Pay API v3 (Native QR). WeChat Pay is off until ``WECHATPAY_MCHID``
    is set; then every variable it needs is required. Keys come from the variable itself or
    from the file its ``_FILE`` variant names (a mounted secret); all key material is kept out
    of ``repr`` (so out of logs and tracebacks)."""

    grace_days: int = 15  # a subscription's own grace_days wins; this is the default
    reminder_interval_days: int = 3  # at most one reminder per invoice per this many days
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_api_v3_key: str = field(default="", repr=False)  # 32 bytes
    wechatpay_serial_no: str = ""  # the merchant API certificate's serial number
    wechatpay_private_key: str = field(default="", repr=False)  # PEM, apiclient_key.pem
    # How WeChat Pay's answers and notifications are verified: platform certificate(s) (PEM,
    # the serial is read from each) and/or the 微信支付公钥 with its ID (PUB_KEY_ID_…).
    wechatpay_platform_certs: str = field(default="", repr=False)
    wechatpay_public_key: str = field(default="", repr=False)
    wechatpay_public_key_id: str = ""
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com/"
    wechatpay_notify_url: str = ""
    wechatpay_order_minutes: int = 120  # a Native QR code is payable this long
    wechatpay_timeout_seconds: int = 10
    wechatpay_skew_seconds: int = 300  # notifications older or newer than this are refused
    # 销售方 (the provider) as printed on invoices (billing/pdf.py)
    seller_name: str = ""
    seller_tax_no: str = ""
    seller_address_phone: str = ""
    seller_bank_account: str = ""

    @property
    def wechatpay_enabled(self) -> bool:
        return bool(self.wechatpay_mchid)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], base_url: str, production: bool = False
    ) -> BillingSettings:
        def text(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        def number(name: str, default: int, minimum: int = 0) -> int:
            return parse_int(text(name, str(default)), name, minimum)

        def secret(name: str) -> str:
            value = env.get(name, "").strip()
            path = env.get(name + "_FILE", "").strip()
            if value and path:
                raise SettingsError(f"set {name} or {name}_FILE, not both")
            if path:
                try:
                    return Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise SettingsError(f"{name}_FILE cannot be read: {exc.strerror}") from None
            return value

        api_base = text("WECHATPAY_API_BASE", cls.wechatpay_api_base)
        settings = cls(
            grace_days=number("BILLING_GRACE_DAYS", 15),
            reminder_interval_days=number("BILLING_REMINDER_INTERVAL_DAYS", 3, 1),
            wechatpay_mchid=text("WECHATPAY_MCHID"),
            wechatpay_appid=text("WECHATPAY_APPID"),
            wechatpay_api_v3_key=secret("WECHATPAY_API_V3_KEY"),
            wechatpay_serial_no=text("WECHATPAY_SERIAL_NO").upper(),
            wechatpay_private_key=secret("WECHATPAY_PRIVATE_KEY"),
            wechatpay_platform_certs=secret("WECHATPAY_PLATFORM_CERT"),
            wechatpay_public_key=secret("WECHATPAY_PUBLIC_KEY"),
            wechatpay_public_key_id=text("WECHATPAY_PUBLIC_KEY_ID"),
            wechatpay_api_base=api_base if api_base.endswith("/") else api_base + "/",
            wechatpay_notify_url=text(
                "WECHATPAY_NOTIFY_URL", base_url.rstrip("/") + "/billing/wechatpay/notify"
            ),
            wechatpay_order_minutes=number("WECHATPAY_ORDER_MINUTES", 120, 5),
            wechatpay_timeout_seconds=number("WECHATPAY_TIMEOUT_SECONDS", 10, 1),
            wechatpay_skew_seconds=number("WECHATPAY_SKEW_SECONDS", 300, 30),
            seller_name=text("BILLING_SELLER_NAME"),
            seller_tax_no=text("BILLING_SELLER_TAX_NO"),
            seller_address_phone=text("BILLING_SELLER_ADDRESS_PHONE"),
            seller_bank_account=text("BILLING_SELLER_BANK_ACCOUNT"),
        )
        settings.check(production)
        return settings

    def check(self, production: bool = False) -> None:
        """With WeChat Pay on, name every variable still missing or malformed (fail fast)."""
        if not self.wechatpay_enabled:
            return
        needs = {
            "WECHATPAY_APPID": self.wechatpay_appid,
            "WECHATPAY_API_V3_KEY": self.wechatpay_api_v3_key,
            "WECHATPAY_SERIAL_NO": self.wechatpay_serial_no,
            "WECHATPAY_PRIVATE_KEY": self.wechatpay_private_key,
        }
        missing = [name for name, value in needs.items() if not value]
        if not self.wechatpay_platform_certs and not self.wechatpay_public_key:
            missing.append("WECHATPAY_PLATFORM_CERT or WECHATPAY_PUBLIC_KEY")
        if self.wechatpay_public_key and not self.wechatpay_public_key_id:
            missing.append("WECHATPAY_PUBLIC_KEY_ID")
        if missing:
            raise SettingsError("WeChat Pay (WECHATPAY_MCHID is set) needs " + ", ".join(missing))
        if len(self.wechatpay_api_v3_key.encode()) != 32:
            raise SettingsError("WECHATPAY_API_V3_KEY must be exactly 32 bytes (the APIv3 key)")
        if "PRIVATE KEY" not in self.wechatpay_private_key:
            raise SettingsError("WECHATPAY_PRIVATE_KEY must be a PEM private key")
        if self.wechatpay_platform_certs and "CERTIFICATE" not in self.wechatpay_platform_certs:
            raise SettingsError("WECHATPAY_PLATFORM_CERT must hold PEM certificates")
        if self.wechatpay_public_key and "PUBLIC KEY" not in self.wechatpay_public_key:
            raise SettingsError("WECHATPAY_PUBLIC_KEY must be a PEM public key")
        for name, url in (
            ("WECHATPAY_API_BASE", self.wechatpay_api_base),
            ("WECHATPAY_NOTIFY_URL", self.wechatpay_notify_url),
        ):
            if not url.startswith(("https://", "http://")):
                raise SettingsError(f"{name} must be an http(s) URL")
            if production and not url.startswith("https://"):
                raise SettingsError(f"{name} must be https in production")
        if "?" in self.wechatpay_notify_url:
            raise SettingsError("WECHATPAY_NOTIFY_URL cannot carry a query string (WeChat Pay)")
