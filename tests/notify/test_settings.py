"""Notification settings: strict, each missing variable named, secrets kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from saas.settings import Settings, SettingsError

ALIYUN = {
    "SMS_PROVIDER": "aliyun",
    "ALIYUN_ACCESS_KEY_ID": "LTAI-id",
    "ALIYUN_ACCESS_KEY_SECRET": "aliyun-very-secret-value",
    "SMS_TEMPLATE_ALERT": "SMS_1",
    "SMS_TEMPLATE_ALERT_END": "SMS_2",
}


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"CLEANGATE_VAR_DIR": str(tmp_path), **values}


def test_defaults_simulate_every_channel(tmp_path: Path) -> None:
    notify = Settings.from_env(_env(tmp_path)).notify
    assert (notify.sms_provider, notify.wechat_provider, notify.email_provider) == (
        "simulator", "simulator", "simulator",
    )  # fmt: skip
    assert notify.simulator_file == tmp_path / "notify-simulator.jsonl"
    assert (notify.max_attempts, notify.retry_base_seconds, notify.lease_seconds) == (8, 30, 300)


@pytest.mark.parametrize("missing", sorted(ALIYUN.keys() - {"SMS_PROVIDER"}))
def test_a_chosen_provider_names_each_missing_variable(tmp_path: Path, missing: str) -> None:
    env = _env(tmp_path, **{k: v for k, v in ALIYUN.items() if k != missing})
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


def test_tencent_wechat_and_smtp_need_their_variables(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TENCENT_SMS_SDK_APP_ID"):
        Settings.from_env(_env(tmp_path, SMS_PROVIDER="tencent"))
    with pytest.raises(SettingsError, match="WECHAT_APP_SECRET"):
        Settings.from_env(_env(tmp_path, WECHAT_PROVIDER="wechat", WECHAT_APP_ID="wx1"))
    with pytest.raises(SettingsError, match="SMTP_HOST"):
        Settings.from_env(_env(tmp_path, EMAIL_PROVIDER="smtp"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_PROVIDER", "twilio"),
        ("SMTP_SECURITY", "tls-ish"),
        ("NOTIFY_MAX_ATTEMPTS", "0"),
        ("NOTIFY_RETRY_BASE_SECONDS", "soon"),
        ("WECHAT_ALERT_FIELDS", "thing1"),
    ],
)
def test_junk_is_refused_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(_env(tmp_path, **{name: value}))


def test_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _env(tmp_path, **ALIYUN, SMTP_PASSWORD="smtp-very-secret", WECHAT_APP_SECRET="wx-secret-x")
    )
    assert settings.notify.aliyun_access_key_secret == "aliyun-very-secret-value"
    text = repr(settings)
    for secret in ("aliyun-very-secret-value", "smtp-very-secret", "wx-secret-x"):
        assert secret not in text
