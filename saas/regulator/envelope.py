"""Envelope encryption of regulator credentials at rest (``RegulatorConfig.secret_box``).

Each box has its own fresh 256-bit data key (AES-256-GCM over the data); the data key is wrapped
by a master key (AES-256-GCM) named by its id, so master keys rotate without re-encrypting
anything but the small wrapped key (``rewrap``). The keyring comes from ``REGULATOR_MASTER_KEYS``
(``id:base64key,id:base64key``): the **first** entry is the current key, used to seal; every
entry can open.

Box layout (all lengths in bytes)::

    b"CGE1" | len(key_id) (1) | key_id (ASCII) | wrap nonce (12) | wrapped data key (32 + 16)
            | data nonce (12) | ciphertext + tag

The header (magic, key id) is the associated data of the wrap, and the whole prefix up to the
data nonce is the associated data of the data encryption: changing any byte fails to open.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from saas.regulator.base import ConfigError

MAGIC = b"CGE1"
NONCE_BYTES = 12
KEY_BYTES = 32
WRAPPED_BYTES = KEY_BYTES + 16
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")

Keyring = Mapping[str, bytes]


class EnvelopeError(ValueError):
    """A box that cannot be opened: tampered, truncated, or sealed with a key not in the ring."""


def parse_master_keys(text: str, field: str = "REGULATOR_MASTER_KEYS") -> dict[str, bytes]:
    """``id:base64key,…`` → ordered ``{id: key}`` (first = current). Raises ConfigError naming
    ``field``; the message never quotes key material."""
    ring: dict[str, bytes] = {}
    for position, entry in enumerate(p.strip() for p in text.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise ConfigError(
                field, f"第 {position + 1} 项应为 id:base64key, id 由字母、数字、_.- 组成"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(field, f"密钥 {key_id!r} 不是有效的 base64") from None
        if len(key) != KEY_BYTES:
            raise ConfigError(field, f"密钥 {key_id!r} 应为 {KEY_BYTES} 字节 (256 位)")
        if key_id in ring:
            raise ConfigError(field, f"密钥 id {key_id!r} 重复")
        ring[key_id] = key
    if not ring:
        raise ConfigError(field, "至少需要一个主密钥")
    return ring


def generate_master_key(key_id: str) -> str:
    """One ``id:base64key`` entry with a fresh random key."""
    if not KEY_ID_PATTERN.match(key_id):
        raise ConfigError("key_id", "id 由字母、数字、_.- 组成, 至多 40 个字符")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def _current(keyring: Keyring) -> tuple[str, bytes]:
    for key_id, key in keyring.items():
        if len(key) != KEY_BYTES or not KEY_ID_PATTERN.match(key_id):
            raise ConfigError("REGULATOR_MASTER_KEYS", f"主密钥 {key_id!r} 无效")
        return key_id, key
    raise ConfigError("REGULATOR_MASTER_KEYS", "至少需要一个主密钥")


def _header(key_id: str) -> bytes:
    raw = key_id.encode("ascii")
    return MAGIC + bytes([len(raw)]) + raw


def seal(data: bytes, keyring: Keyring) -> bytes:
    """Encrypt ``data`` under a fresh data key wrapped by the keyring's current key."""
    key_id, master = _current(keyring)
    data_key = AESGCM.generate_key(bit_length=256)
    header = _header(key_id)
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(master).encrypt(wrap_nonce, data_key, header)
    prefix = header + wrap_nonce + wrapped
    data_nonce = os.urandom(NONCE_BYTES)
    return prefix + data_nonce + AESGCM(data_key).encrypt(data_nonce, data, prefix)


def _split(box: bytes) -> tuple[str, bytes, bytes, bytes, bytes, bytes]:
    if not isinstance(box, bytes | bytearray | memoryview):
        raise EnvelopeError("密文格式无效")
    box = bytes(box)
    if len(box) < len(MAGIC) + 1 or box[: len(MAGIC)] != MAGIC:
        raise EnvelopeError("密文格式无效 (不是 CGE1 信封)")
    id_len = box[len(MAGIC)]
    header_len = len(MAGIC) + 1 + id_len
    wrapped_end = header_len + NONCE_BYTES + WRAPPED_BYTES
    if len(box) < wrapped_end + NONCE_BYTES + 16:
        raise EnvelopeError("密文被截断")
    try:
        key_id = box[len(MAGIC) + 1 : header_len].decode("ascii")
    except UnicodeDecodeError:
        raise EnvelopeError("密文格式无效 (密钥 id)") from None
    header = box[:header_len]
    wrap_nonce = box[header_len : header_len + NONCE_BYTES]
    wrapped = box[header_len + NONCE_BYTES : wrapped_end]
    prefix = box[:wrapped_end]
    rest = box[wrapped_end:]
    return key_id, header, wrap_nonce, wrapped, prefix, rest


def key_id_of(box: bytes) -> str:
    """The id of the master key that sealed ``box`` (to find boxes still on a retired key)."""
    return _split(box)[0]


def _unwrap(box: bytes, keyring: Keyring) -> tuple[bytes, bytes, bytes]:
    key_id, header, wrap_nonce, wrapped, prefix, rest = _split(box)
    master = keyring.get(key_id)
    if master is None:
        raise EnvelopeError(f"主密钥 {key_id!r} 不在 REGULATOR_MASTER_KEYS 中")
    try:
        data_key = AESGCM(master).decrypt(wrap_nonce, wrapped, header)
    except InvalidTag:
        raise EnvelopeError("密文已被篡改或主密钥不符 (数据密钥校验失败)") from None
    return data_key, prefix, rest


def open_box(box: bytes, keyring: Keyring) -> bytes:
    """The plaintext of a box sealed by any key of the ring; EnvelopeError otherwise."""
    data_key, prefix, rest = _unwrap(box, keyring)
    try:
        return AESGCM(data_key).decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], prefix)
    except InvalidTag:
        raise EnvelopeError("密文已被篡改 (数据校验失败)") from None


def rewrap(box: bytes, keyring: Keyring) -> bytes:
    """The same plaintext sealed under the ring's current key (rotation: run over every box,
    then retire the old key)."""
    return seal(open_box(box, keyring), keyring)
