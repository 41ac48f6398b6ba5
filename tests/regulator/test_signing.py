"""Signers: canonical text, round trips, golden vectors, tamper detection, bad keys."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from saas.regulator.base import ConfigError, Credentials
from saas.regulator.signing import (
    canonical,
    generate_private_key,
    make_signer,
    make_verifier,
    public_material,
    sm2_public_from_private,
)

SHARED = "192006250b4c09247ec02edce69f6a2d"


def test_canonical_sorts_skips_empty_and_sign_and_writes_nested_json() -> None:
    params = {
        "b": "2",
        "a": "1",
        "sign": "XYZ",
        "empty": "",
        "none": None,
        "nolist": [],
        "flag": True,
        "data": [{"z": "车", "a": 1}],
        "A": "upper",
    }
    assert canonical(params) == 'A=upper&a=1&b=2&data=[{"a":1,"z":"车"}]&flag=true'


def test_md5_key_matches_the_wechat_pay_v2_published_example() -> None:
    # WeChat Pay v2 "安全规范" worked example: stringSignTemp and its MD5, upper-cased.
    params = {
        "appid": "wxd930ea5d5a258f4f",
        "mch_id": "10000100",
        "device_info": "1000",
        "body": "test",
        "nonce_str": "ibuaiVcKdpRxkhJA",
    }
    signer = make_signer("md5-key", Credentials(shared_key=SHARED))
    text = canonical(params)
    assert text == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100"
        "&nonce_str=ibuaiVcKdpRxkhJA"
    )
    assert signer.sign(text) == "9A0A8659F005D6984697E2CA0A9CF3B7"
    assert signer.verify(text, "9a0a8659f005d6984697e2ca0a9cf3b7")
    assert not signer.verify(text.replace("test", "tesT"), "9A0A8659F005D6984697E2CA0A9CF3B7")


def test_hmac_sha256_is_lower_hex_and_a_golden_vector() -> None:
    # golden vector (also: printf 'a=1&b=2' | openssl dgst -sha256 -hmac 0123456789abcdef)
    signer = make_signer("hmac-sha256", Credentials(shared_key="0123456789abcdef"))
    sig = signer.sign("a=1&b=2")
    assert sig == "3457651fba2fa5d9824549808bc88ddab70f375c5d82b003c2530b6f541dd763"
    verifier = make_verifier("hmac-sha256", "0123456789abcdef")
    assert verifier.verify("a=1&b=2", sig)
    assert verifier.verify("a=1&b=2", sig.upper())
    assert not verifier.verify("a=1&b=3", sig)
    assert not make_verifier("hmac-sha256", "0123456789abcdeX").verify("a=1&b=2", sig)


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return generate_private_key("rsa2")


def test_rsa2_round_trip_and_tamper(rsa_pem: str) -> None:
    signer = make_signer("rsa2", Credentials(private_key=rsa_pem))
    text = canonical({"appId": "c1", "data": [{"plateNo": "冀B12345"}], "timestamp": "1"})
    sig = signer.sign(text)
    assert len(base64.b64decode(sig)) == 256  # 2048-bit key
    verifier = make_verifier("rsa2", public_material("rsa2", Credentials(private_key=rsa_pem)))
    assert verifier.verify(text, sig)
    assert not verifier.verify(text.replace("12345", "12346"), sig)
    assert not verifier.verify(text, "not base64!!")
    assert not verifier.verify(text, base64.b64encode(b"\0" * 256).decode())


def test_rsa2_signature_matches_openssl(rsa_pem: str, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    key = tmp_path / "k.pem"
    key.write_text(rsa_pem)
    data = tmp_path / "d.txt"
    data.write_bytes("a=1&b=车".encode())
    out = subprocess.run(
        [openssl, "dgst", "-sha256", "-sign", str(key), str(data)], capture_output=True, check=True
    ).stdout
    signer = make_signer("rsa2", Credentials(private_key=rsa_pem))
    assert signer.sign("a=1&b=车") == base64.b64encode(out).decode()


def test_sm2_round_trip_tamper_and_public_key() -> None:
    private = generate_private_key("sm2")
    signer = make_signer("sm2", Credentials(private_key=private))
    public = public_material("sm2", Credentials(private_key=private))
    assert public is not None
    assert len(public) == 128
    assert public == sm2_public_from_private(private)
    text = "appId=c1&data=[]&nonce=n&timestamp=1"
    sig = signer.sign(text)
    assert sig != signer.sign(text)  # randomised k
    for material in (public, "04" + public, public.upper()):
        verifier = make_verifier("sm2", material)
        assert verifier.verify(text, sig)
        assert not verifier.verify(text + "x", sig)
    other = make_verifier("sm2", sm2_public_from_private(generate_private_key("sm2")))
    assert not other.verify(text, sig)
    assert not make_verifier("sm2", public).verify(text, "AAAA")


def test_sm2_against_openssl(tmp_path: Path) -> None:
    """An independent implementation: OpenSSL 3 signs SM3withSM2 with the GM/T 0009 default
    id 1234567812345678 and we verify; OpenSSL verifies ours."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    pem = tmp_path / "sm2.pem"
    made = subprocess.run(
        [openssl, "genpkey", "-algorithm", "SM2", "-out", str(pem)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("this openssl has no SM2")
    dump = subprocess.run(
        [openssl, "pkey", "-in", str(pem), "-text", "-noout"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    hexdigits = lambda s: re.sub(r"[^0-9a-f]", "", s)  # noqa: E731
    private = hexdigits(re.search(r"priv:(.*?)pub:", dump, re.S).group(1))[-64:].rjust(64, "0")  # type: ignore[union-attr]
    public = hexdigits(re.search(r"pub:(.*?)ASN1", dump, re.S).group(1))  # type: ignore[union-attr]
    assert sm2_public_from_private(private) == public[2:]
    text = 'appId=c1&data=[{"plateNo":"津A12345"}]&timestamp=1'
    data = tmp_path / "d.txt"
    data.write_bytes(text.encode())
    sig_file = tmp_path / "sig.der"
    opts = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    subprocess.run(
        [openssl, "pkeyutl", "-sign", "-inkey", str(pem), *opts, "-in", str(data),
         "-out", str(sig_file)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    theirs = base64.b64encode(sig_file.read_bytes()).decode()
    verifier = make_verifier("sm2", public)
    assert verifier.verify(text, theirs)
    assert not verifier.verify(text + " ", theirs)
    ours = make_signer("sm2", Credentials(private_key=private)).sign(text)
    sig_file.write_bytes(base64.b64decode(ours))
    check = subprocess.run(
        [openssl, "pkeyutl", "-verify", "-inkey", str(pem), *opts, "-in", str(data),
         "-sigfile", str(sig_file)],
        capture_output=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def _short_rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the test of the refusal)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("kind", "credentials", "field"),
    [
        (
            "rsa2",
            Credentials(private_key="-----BEGIN PRIVATE KEY-----\nSECRETJUNK\n"),
            "private_key",
        ),
        ("rsa2", Credentials(private_key=""), "private_key"),
        ("sm2", Credentials(private_key="SECRETJUNK"), "private_key"),
        ("sm2", Credentials(private_key="f" * 64), "private_key"),
        ("hmac-sha256", Credentials(shared_key="SECRETJUNK"), "shared_key"),
        ("md5-key", Credentials(shared_key=""), "shared_key"),
        ("rsa3", Credentials(private_key="x"), "signer"),
    ],
)
def test_bad_keys_name_the_field_and_never_echo_the_key(
    kind: str, credentials: Credentials, field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make_signer(kind, credentials)
    assert info.value.field == field
    assert "SECRETJUNK" not in str(info.value)


def test_short_rsa_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="2048") as info:
        make_signer("rsa2", Credentials(private_key=_short_rsa_pem()))
    assert info.value.field == "private_key"


def test_bad_public_material_names_public_key() -> None:
    with pytest.raises(ConfigError) as info:
        make_verifier("rsa2", "not a pem")
    assert info.value.field == "public_key"
    with pytest.raises(ConfigError, match="曲线") as info:
        make_verifier("sm2", "1" * 128)
    assert info.value.field == "public_key"


def test_signers_hide_secrets_in_repr(rsa_pem: str) -> None:
    signer = make_signer("md5-key", Credentials(shared_key=SHARED))
    assert SHARED not in repr(signer)
    assert "PRIVATE" not in repr(make_signer("rsa2", Credentials(private_key=rsa_pem)))
