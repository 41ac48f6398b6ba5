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
    database_url: str = ""
    migration_database_url: str = ""
    redis_url: str = EMBEDDED_REDIS
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_addressing_style: str = "auto"
    secret_key: str = ""
    ledger_signing_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    edge_hub_url: str = "ws://127.0.0.1:8765/"
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_allow_insecure: bool = False
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    login_ip_limit_per_minute: int = 20
    testing: bool = False
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
                "SECRET_KEY",
                "LEDGER_SIGNING_KEY",
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
            "s3_endpoint_url": env.get("S3_ENDPOINT_URL") or None,
            "s3_region": env.get("S3_REGION") or None,
            "s3_addressing_style": env.get("S3_ADDRESSING_STYLE", "auto"),
            "secret_key": secret_key,
            "ledger_signing_key": env.get("LEDGER_SIGNING_KEY", "").strip(),
            "base_url": env.get("CLEANGATE_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            "edge_hub_url": env.get("EDGE_HUB_URL", "ws://127.0.0.1:8765/").strip(),
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
            "login_ip_limit_per_minute": parse_int(
                env.get("LOGIN_IP_LIMIT_PER_MINUTE", "20"), "LOGIN_IP_LIMIT_PER_MINUTE", 1
            ),
        }
        if production and values["oidc_allow_insecure"]:
            raise SettingsError("OIDC_ALLOW_INSECURE cannot be set in production")
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        if not settings.secret_key:
            settings = settings.with_generated_secret()
        return settings

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


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
