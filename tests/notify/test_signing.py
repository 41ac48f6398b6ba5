"""Request signing against the vendors' published worked examples (golden vectors), and the
fakes' independent implementations agreeing with ours and refusing a tampered request."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from saas.notify.channels import Outgoing, aliyun, tencent
from tests.notify import fakes as f

# Aliyun "RPC 风格签名" documentation: ECS DescribeRegions with AccessKeySecret "testsecret".
ALIYUN_DOC_PARAMS = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}
ALIYUN_DOC_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
    "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
)
# Dysmsapi's own HTTP example (SendSms, AccessKeySecret "testSecret", Chinese SignName).
ALIYUN_SMS_DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}

# Tencent Cloud API 3.0 "签名方法 v3" example: CVM DescribeInstances at 1551113065.
TENCENT_DOC_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
TENCENT_DOC_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"


def test_aliyun_rpc_signature_matches_the_published_examples() -> None:
    assert aliyun.string_to_sign("GET", ALIYUN_DOC_PARAMS) == ALIYUN_DOC_STRING_TO_SIGN
    assert aliyun.sign("GET", ALIYUN_DOC_PARAMS, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert aliyun.sign("GET", ALIYUN_SMS_DOC_PARAMS, "testSecret") == (
        "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    )


def test_aliyun_percent_encoding_follows_the_documented_rule() -> None:
    assert aliyun.percent_encode("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"
    assert aliyun.percent_encode("派") == "%E6%B4%BE"
    for text in ("a b*c~d/e+f", "【CleanGate】橙色", "=&%"):
        assert aliyun.percent_encode(text) == f.aliyun_encode(text)


def test_tencent_tc3_signature_matches_the_published_example() -> None:
    canonical = tencent.canonical_request("cvm.tencentcloudapi.com", TENCENT_DOC_PAYLOAD)
    assert canonical.endswith("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert tencent.string_to_sign(1551113065, "cvm", canonical) == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert tencent.signature(TENCENT_DOC_KEY, 1551113065, "cvm", canonical) == (
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )
    # The date is the UTC date: 00:44 on 26 February in Beijing is still the 25th.
    assert tencent.utc_date(1551113065) == "2019-02-25"


def _message() -> Outgoing:
    return Outgoing(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        channel="sms",
        recipient="13800138000",
        template="alert_started",
        subject="",
        payload={
            "values": {
                "site": "一号焦化厂",
                "level": "橙色",
                "response": "II",
                "start": "2027-01-12 10:00",
                "end": "另行通知",
            }
        },
        idempotency_key="alert:x:y:started:z:sms",
    )


def _aliyun_channel(secret: str = f.ALIYUN_SECRET) -> aliyun.AliyunSms:
    return aliyun.AliyunSms(
        access_key_id=f.ALIYUN_KEY_ID,
        access_key_secret=secret,
        endpoint="http://127.0.0.1:1/",
        region="cn-hangzhou",
        sign_name="CleanGate",
        templates={"alert": "SMS_1", "alert_end": "SMS_2"},
        timeout=1,
    )


def test_the_fake_aliyun_recomputes_our_signature_and_catches_tampering() -> None:
    params = _aliyun_channel().request_params(_message())
    body = dict(parse_qsl(aliyun.canonical_query(params)))
    signature = body.pop("Signature")
    assert body["TemplateParam"] == (
        '{"site":"一号焦化厂","level":"橙色","response":"II","start":"2027-01-12 10:00",'
        '"end":"另行通知"}'
    )
    assert signature == f.aliyun_signature("POST", body, f.ALIYUN_SECRET)
    tampered = {**body, "PhoneNumbers": "13900139000"}
    assert signature != f.aliyun_signature("POST", tampered, f.ALIYUN_SECRET)
    wrong_key = _aliyun_channel("not-the-secret").request_params(_message())["Signature"]
    assert wrong_key != f.aliyun_signature("POST", body, f.ALIYUN_SECRET)


def test_the_tencent_request_signs_the_exact_body_sent() -> None:
    channel = tencent.TencentSms(
        secret_id=f.TENCENT_ID, secret_key=f.TENCENT_KEY, app_id=f.TENCENT_APP,
        endpoint="http://127.0.0.1:8443/", region="ap-guangzhou", sign_name="CleanGate",
        templates={"alert": "1", "alert_end": "2"}, timeout=1,
    )  # fmt: skip
    headers, body = channel.request(_message(), timestamp=1_790_000_000)
    canonical = tencent.canonical_request("127.0.0.1:8443", body)
    to_sign = tencent.string_to_sign(1_790_000_000, "sms", canonical)
    date = tencent.utc_date(1_790_000_000)
    expected = f.tencent_signature(f.TENCENT_KEY, date, "sms", to_sign)
    assert headers["Authorization"].endswith(f"Signature={expected}")
    assert headers["Authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={f.TENCENT_ID}/{date}/sms/tc3_request, "
        "SignedHeaders=content-type;host, "
    )
    assert '"TemplateParamSet":["一号焦化厂","橙色","II","2027-01-12 10:00","另行通知"]' in (
        body.decode()
    )
    assert f.TENCENT_KEY not in headers["Authorization"]


def test_redact_removes_url_and_json_secrets_and_known_values() -> None:
    from saas.notify.channels import redact

    text = 'POST /send?access_token=abc123&x=1 {"secret": "s3cr3t-value"} key MYKEY123'
    cleaned = redact(text, ["MYKEY123"])
    for secret in ("abc123", "s3cr3t-value", "MYKEY123"):
        assert secret not in cleaned
    assert "x=1" in cleaned
    assert "access_token=***" in cleaned
