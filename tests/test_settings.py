"""Configuration from the environment: strict parsing, production refuses embedded defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas.settings import EMBEDDED_REDIS, Settings, SettingsError, parse_boolean

PROD = {
    "CLEANGATE_ENV": "production",
    "DATABASE_URL": "postgresql://app@db/cleangate",
    "REDIS_URL": "redis://cache:6379/0",
    "STORAGE_URL": "s3://cleangate-media",
    "CHECKPOINT_STORAGE_URL": "s3://cleangate-checkpoints",
    "SECRET_KEY": "x" * 48,
    "LEDGER_SIGNING_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "REGULATOR_MASTER_KEYS": "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}


def test_development_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'cleangate.db'}"
    assert settings.redis_url == EMBEDDED_REDIS
    assert settings.storage_url == f"file://{tmp_path / 'media'}"
    assert settings.checkpoint_storage_url == f"file://{tmp_path / 'checkpoints'}"
    assert len(settings.secret_key) >= 48
    # generated once, then reused
    again = Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path)})
    assert again.secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_accepts_a_full_environment() -> None:
    settings = Settings.from_env(PROD)
    assert settings.production
    assert settings.database_url == "postgresql+psycopg://app@db/cleangate"
    assert settings.migration_database_url == settings.database_url


@pytest.mark.parametrize(
    "missing",
    [
        "DATABASE_URL",
        "REDIS_URL",
        "STORAGE_URL",
        "CHECKPOINT_STORAGE_URL",
        "SECRET_KEY",
        "LEDGER_SIGNING_KEY",
    ],
)
def test_production_names_each_missing_variable(missing: str) -> None:
    env = {k: v for k, v in PROD.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_production_refuses_sqlite_and_short_keys() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings.from_env({**PROD, "DATABASE_URL": "sqlite:///x.db"})
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({**PROD, "SECRET_KEY": "short"})
    with pytest.raises(SettingsError, match="OIDC_ALLOW_INSECURE"):
        Settings.from_env({**PROD, "OIDC_ALLOW_INSECURE": "true"})


def test_strict_parsers(tmp_path: Path) -> None:
    assert parse_boolean("Yes", "X") is True
    assert parse_boolean("off", "X") is False
    with pytest.raises(SettingsError, match="X must be a boolean"):
        parse_boolean("maybe", "X")
    with pytest.raises(SettingsError, match="LOGIN_MAX_FAILURES"):
        Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path), "LOGIN_MAX_FAILURES": "five"})
    with pytest.raises(SettingsError, match="CLEANGATE_ENV"):
        Settings.from_env({"CLEANGATE_ENV": "staging"})


def test_cli_refuses_to_start_in_production_without_settings(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "CLEANGATE_ENV": "production",
        "CLEANGATE_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "saas.cli", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_repr_shows_no_secret(tmp_path: Path) -> None:
    """A logged settings object, or one in a traceback's locals, carries no credential."""
    settings = Settings.from_env(
        {
            "CLEANGATE_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://app:db-pass-123@db/cleangate",
            "MIGRATION_DATABASE_URL": "postgresql://owner:owner-pass-456@db/cleangate",
            "REDIS_URL": "rediss://:redis-token-789@cache:6379/0",
            "SECRET_KEY": "secret-key-abcdefghijklmnopqrstuvwxyz",
            "LEDGER_SIGNING_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        }
    )
    shown = repr(settings)
    for secret in ("db-pass-123", "owner-pass-456", "redis-token-789", "secret-key-abc",
                   "AAAAAAAAAAAAAAAA"):  # fmt: skip
        assert secret not in shown
    assert "var_dir" in shown  # still a useful repr
