"""Envelope encryption: round trip, rotation, tampering, keyring parsing, settings."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from saas.regulator.base import ConfigError
from saas.regulator.envelope import (
    EnvelopeError,
    generate_master_key,
    key_id_of,
    open_box,
    parse_master_keys,
    rewrap,
    seal,
)
from saas.settings import Settings, SettingsError

SECRET = '{"client_secret": "s3cr3t-值", "private_key": "-----BEGIN…"}'.encode()


def ring(*ids: str) -> dict[str, bytes]:
    return {i: os.urandom(32) for i in ids}


def test_round_trip_and_fresh_data_key_per_box() -> None:
    keys = ring("k1")
    a, b = seal(SECRET, keys), seal(SECRET, keys)
    assert a != b
    assert SECRET not in a
    assert open_box(a, keys) == SECRET == open_box(b, keys)
    assert key_id_of(a) == "k1"
    assert open_box(seal(b"", keys), keys) == b""


def test_rotation_new_key_seals_old_key_still_opens() -> None:
    old = ring("2024")
    box = seal(SECRET, old)
    rotated = {"2025": os.urandom(32), **old}  # first = current
    newer = seal(SECRET, rotated)
    assert key_id_of(newer) == "2025"
    assert open_box(box, rotated) == SECRET
    moved = rewrap(box, rotated)
    assert key_id_of(moved) == "2025"
    retired = {"2025": rotated["2025"]}
    assert open_box(moved, retired) == SECRET
    with pytest.raises(EnvelopeError, match="2024"):
        open_box(box, retired)


@pytest.mark.parametrize("position", [5, 12, 30, 70, -1, -20])
def test_any_flipped_byte_is_detected(position: int) -> None:
    keys = ring("k1")
    box = bytearray(seal(SECRET, keys))
    box[position] ^= 0x01
    with pytest.raises(EnvelopeError):
        open_box(bytes(box), keys)


def test_wrong_master_key_truncation_and_junk() -> None:
    keys = ring("k1")
    box = seal(SECRET, keys)
    with pytest.raises(EnvelopeError, match="篡改或主密钥不符"):
        open_box(box, {"k1": os.urandom(32)})
    with pytest.raises(EnvelopeError, match="截断"):
        open_box(box[:40], keys)
    with pytest.raises(EnvelopeError, match="CGE1"):
        open_box(b"plaintext", keys)


def test_parse_master_keys_names_the_variable_and_hides_keys() -> None:
    one, two = generate_master_key("a"), generate_master_key("b")
    parsed = parse_master_keys(f"{two}, {one}")
    assert list(parsed) == ["b", "a"]
    assert all(len(k) == 32 for k in parsed.values())
    short = "x:" + base64.b64encode(b"TOPSECRET").decode()
    bad = [short, "nokey", "a:!!!", f"{one},{one}", "", "bad id:" + one.split(":")[1]]
    for text in bad:
        with pytest.raises(ConfigError) as info:
            parse_master_keys(text)
        assert info.value.field == "REGULATOR_MASTER_KEYS"
        assert "VE9QU0VDUkVU" not in str(info.value)  # base64 of TOPSECRET


def test_settings_generate_once_in_development_and_hide_from_repr(tmp_path: Path) -> None:
    settings = Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path)})
    path = tmp_path / "regulator_master_keys"
    assert path.stat().st_mode & 0o777 == 0o600
    assert list(settings.regulator_keyring) == ["dev1"]
    again = Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path)})
    assert again.regulator_master_keys == settings.regulator_master_keys
    assert settings.regulator_master_keys.split(":")[1] not in repr(settings)
    given = generate_master_key("prod1")
    explicit = Settings.from_env(
        {"CLEANGATE_VAR_DIR": str(tmp_path), "REGULATOR_MASTER_KEYS": given}
    )
    assert list(explicit.regulator_keyring) == ["prod1"]


def test_settings_refuse_bad_keys_and_require_them_in_production(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="REGULATOR_MASTER_KEYS"):
        Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp_path), "REGULATOR_MASTER_KEYS": "a:b"})
    prod = {
        "CLEANGATE_ENV": "production",
        "DATABASE_URL": "postgresql://app@db/cleangate",
        "REDIS_URL": "redis://cache:6379/0",
        "STORAGE_URL": "s3://cleangate-media",
        "CHECKPOINT_STORAGE_URL": "s3://cleangate-checkpoints",
        "SECRET_KEY": "x" * 48,
        "LEDGER_SIGNING_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    }
    with pytest.raises(SettingsError, match="REGULATOR_MASTER_KEYS"):
        Settings.from_env(prod)
    settings = Settings.from_env({**prod, "REGULATOR_MASTER_KEYS": generate_master_key("p1")})
    assert list(settings.regulator_keyring) == ["p1"]
