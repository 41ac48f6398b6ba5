"""Request signatures for regulator platforms (docs/regulator-adapters.md, "Signers").

Chinese platform APIs sign the same way, whatever the algorithm: one canonical text — the
request's parameters ASCII-sorted as ``k=v&k=v`` over non-empty values, without ``sign`` — and one
signature over it (domain.md §1.4). ``canonical`` builds that text; each signer only signs.

Signers (``make_signer(kind, credentials)``) and verifiers (``make_verifier(kind, material)``):

* ``rsa2``        SHA256withRSA, PKCS#1 v1.5, base64; RSA keys of at least 2048 bits (PEM).
* ``hmac-sha256`` HMAC-SHA256 with the shared key, **lower-case hex** (64 characters).
* ``md5-key``     MD5(canonical + "&key=" + key), upper-case hex (the WeChat Pay v2 rule).
* ``sm2``         国密 SM2 signature over SM3 (SM3withSM2, user id ``1234567812345678``, GM/T
                  0009), DER-encoded ``(r, s)``, base64; private key 64 hex digits, public key
                  128 hex digits (``x||y``, optionally prefixed ``04``). Curve arithmetic comes
                  from the ``gmssl`` package.

A bad key raises ``ConfigError(field, message)`` naming the credential field and never quoting
the key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from saas.regulator.base import ConfigError, Credentials

SIGNER_KINDS = ("rsa2", "hmac-sha256", "md5-key", "sm2")
MIN_RSA_BITS = 2048
MIN_SHARED_KEY_LENGTH = 16
# The SM2 recommended curve order n (GM/T 0003.5); a private key d must satisfy 1 <= d <= n-2.
_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def canonical(params: Mapping[str, Any]) -> str:
    """``k=v&…`` over the non-empty values, keys in ASCII order, ``sign`` left out. Nested
    values (lists, dicts) are written as compact JSON with sorted keys and unescaped Chinese;
    booleans as ``true``/``false``; ``None`` and ``""`` (and empty lists/dicts) are skipped."""
    parts = []
    for key in sorted(params):
        if key == "sign":
            continue
        value = params[key]
        if value is None or value == "" or (isinstance(value, list | dict) and not value):
            continue
        parts.append(f"{key}={_text(value)}")
    return "&".join(parts)


def compact_json(value: Any) -> str:
    """The JSON text nested values are signed as (also what ``canonical`` uses)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return compact_json(value)
    return str(value)


class Verifier(Protocol):
    kind: str

    def verify(self, text: str, signature: str) -> bool: ...


class Signer(Verifier, Protocol):
    def sign(self, text: str) -> str: ...


# --- RSA2 ---------------------------------------------------------------------------------------


def _load_rsa_private(pem: str, field: str = "private_key") -> rsa.RSAPrivateKey:
    if not pem or not pem.strip():
        raise ConfigError(field, "缺少 RSA 私钥 (PEM)")
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(field, "不是可读的 RSA 私钥 (需要未加密的 PEM)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(field, "不是 RSA 私钥")
    if key.key_size < MIN_RSA_BITS:
        raise ConfigError(field, f"RSA 密钥至少 {MIN_RSA_BITS} 位, 实为 {key.key_size} 位")
    return key


def _load_rsa_public(pem: str, field: str = "public_key") -> rsa.RSAPublicKey:
    if not pem or not pem.strip():
        raise ConfigError(field, "缺少 RSA 公钥 (PEM)")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(field, "不是可读的 RSA 公钥 (PEM)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError(field, "不是 RSA 公钥")
    if key.key_size < MIN_RSA_BITS:
        raise ConfigError(field, f"RSA 密钥至少 {MIN_RSA_BITS} 位, 实为 {key.key_size} 位")
    return key


class Rsa2Verifier:
    kind = "rsa2"

    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self._public = public_key

    def verify(self, text: str, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
            self._public.verify(raw, text.encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError, TypeError):
            return False
        return True

    def public_material(self) -> str:
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class Rsa2Signer(Rsa2Verifier):
    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        super().__init__(private_key.public_key())
        self._private = private_key

    def sign(self, text: str) -> str:
        raw = self._private.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


# --- shared-key signers -------------------------------------------------------------------------


def _shared_key(key: str, field: str = "shared_key") -> str:
    if not key or len(key) < MIN_SHARED_KEY_LENGTH:
        raise ConfigError(field, f"共享密钥至少 {MIN_SHARED_KEY_LENGTH} 个字符")
    return key


class HmacSha256Signer:
    """HMAC-SHA256(key, canonical) as lower-case hex."""

    kind = "hmac-sha256"

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def verify(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text), signature.strip().lower())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class Md5KeySigner:
    """MD5(canonical + "&key=" + key), upper-case hex: the WeChat Pay v2 rule, still common
    with Chinese platform vendors. Weak as cryptography: offered because platforms demand it."""

    kind = "md5-key"

    def __init__(self, key: str) -> None:
        self._key = key

    def sign(self, text: str) -> str:
        payload = f"{text}&key={self._key}".encode()
        return hashlib.md5(payload, usedforsecurity=False).hexdigest().upper()

    def verify(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text), signature.strip().upper())

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


# --- SM2 ----------------------------------------------------------------------------------------


def _sm2(private_hex: str, public_hex: str) -> Any:
    from gmssl import sm2

    crypt = sm2.CryptSM2(private_key=private_hex, public_key=public_hex, asn1=True)
    # CryptSM2 strips a leading "04" with str.lstrip, which also eats a leading 0 or 4 of x:
    # set the 128-digit x||y ourselves.
    crypt.public_key = public_hex
    return crypt


def _sm2_private(value: str, field: str = "private_key") -> str:
    text = (value or "").strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ConfigError(field, "SM2 私钥应为 64 位十六进制数")
    d = int(text, 16)
    if not 1 <= d <= _SM2_N - 2:
        raise ConfigError(field, "SM2 私钥超出曲线阶范围")
    return text


def _sm2_public(value: str, field: str = "public_key") -> str:
    text = (value or "").strip().lower()
    if len(text) == 130 and text.startswith("04"):
        text = text[2:]
    if len(text) != 128 or any(c not in "0123456789abcdef" for c in text):
        raise ConfigError(field, "SM2 公钥应为 128 位十六进制数 (x||y, 可带 04 前缀)")
    # The point must lie on the curve: y^2 = x^3 + ax + b (mod p).
    p = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
    a = p - 3
    b = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
    x, y = int(text[:64], 16), int(text[64:], 16)
    if x >= p or y >= p or (y * y - (x * x * x + a * x + b)) % p != 0:
        raise ConfigError(field, "SM2 公钥不在曲线上")
    return text


def sm2_public_from_private(private_hex: str) -> str:
    """The 128-hex-digit public key ``x||y`` of an SM2 private key."""
    from gmssl import sm2

    d = _sm2_private(private_hex)
    crypt = sm2.CryptSM2(private_key=d, public_key="")
    point: str = crypt._kg(int(d, 16), sm2.default_ecc_table["g"])
    return point.lower()


class Sm2Verifier:
    kind = "sm2"

    def __init__(self, public_hex: str) -> None:
        self._public = public_hex
        self._crypt = _sm2("", public_hex)

    def verify(self, text: str, signature: str) -> bool:
        try:
            der = base64.b64decode(signature, validate=True)
            ok = self._crypt.verify_with_sm3(der.hex(), text.encode())
        except Exception:  # a malformed DER or point is a failed verification, not a crash
            return False
        return bool(ok)

    def public_material(self) -> str:
        return self._public

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class Sm2Signer(Sm2Verifier):
    def __init__(self, private_hex: str) -> None:
        super().__init__(sm2_public_from_private(private_hex))
        self._crypt = _sm2(private_hex, self._public)

    def sign(self, text: str) -> str:
        while True:
            # gmssl's own nonce comes from ``random``; draw k from ``secrets`` instead.
            k = secrets.randbelow(_SM2_N - 1) + 1
            signature = self._crypt.sign_with_sm3(text.encode(), f"{k:064x}")
            if signature:
                return base64.b64encode(bytes.fromhex(signature)).decode()


# --- factories ----------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in SIGNER_KINDS:
        raise ConfigError("signer", f"未知的签名方式 {kind!r}; 可选: {', '.join(SIGNER_KINDS)}")


@functools.lru_cache(maxsize=256)
def make_signer(kind: str, credentials: Credentials) -> Signer:
    """The signer of ``kind`` over the configuration's secret; ConfigError names the field.
    Cached per (kind, secrets): parsing and checking an RSA key costs more than a signature
    (bench/regulator.py); a ConfigError is not cached."""
    _check_kind(kind)
    if kind == "rsa2":
        return Rsa2Signer(_load_rsa_private(credentials.private_key))
    if kind == "sm2":
        return Sm2Signer(_sm2_private(credentials.private_key))
    if kind == "hmac-sha256":
        return HmacSha256Signer(_shared_key(credentials.shared_key))
    return Md5KeySigner(_shared_key(credentials.shared_key))


def make_verifier(kind: str, material: str) -> Verifier:
    """The verifier of ``kind``: ``material`` is the public key (RSA PEM, SM2 hex) or, for the
    shared-key kinds, the shared key itself (errors then name ``shared_key``)."""
    _check_kind(kind)
    if kind == "rsa2":
        return Rsa2Verifier(_load_rsa_public(material))
    if kind == "sm2":
        return Sm2Verifier(_sm2_public(material))
    if kind == "hmac-sha256":
        return HmacSha256Signer(_shared_key(material))
    return Md5KeySigner(_shared_key(material))


def public_material(kind: str, credentials: Credentials) -> str | None:
    """What to register with the platform for ``kind``: our public key (RSA PEM, SM2 hex), or
    None for shared-key signers (the platform issued the key). Validates the secret."""
    signer = make_signer(kind, credentials)
    if isinstance(signer, Rsa2Verifier | Sm2Verifier):
        return signer.public_material()
    return None


def generate_private_key(kind: str) -> str:
    """A fresh private key for ``rsa2`` (PEM, 2048 bits) or ``sm2`` (64 hex digits)."""
    if kind == "rsa2":
        key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    if kind == "sm2":
        return f"{secrets.randbelow(_SM2_N - 2) + 1:064x}"
    raise ConfigError("signer", f"{kind!r} 不使用密钥对")
