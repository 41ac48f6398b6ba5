"""The reference receiver on its own: protocol checks, control endpoints, store, CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from saas.regulator.adapters.hj1321_json import ADAPTER, encode_body, envelope
from saas.regulator.base import ConfigError, Credentials
from saas.regulator.signing import canonical, generate_private_key, make_signer
from saas.regulator.sim import RegulatorSim, load_clients
from tests.regulator.test_hj1321 import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENT_CODE,
    items_for,
    make_client,
    make_endpoint,
    passage_source,
)


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


def token(url: str, secret: str = CLIENT_SECRET) -> requests.Response:
    return requests.post(
        url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": secret},
        timeout=5,
    )


def upload(url: str, access: str, body: dict[str, Any], kind: str = "passage") -> Any:
    return requests.post(
        f"{url}/api/v1/upload/{kind}",
        data=encode_body(body),
        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
        timeout=5,
    )


def test_protocol_checks(rsa_key: str) -> None:
    with RegulatorSim([make_client(rsa_key)]) as sim:
        assert token(sim.url, "nope").status_code == 401
        answer = token(sim.url).json()
        assert answer["token_type"] == "Bearer"
        assert answer["expires_in"] == 7200
        access = answer["access_token"]
        endpoint = make_endpoint(sim.url, rsa_key)
        signer = make_signer("rsa2", Credentials(private_key=rsa_key))
        record = {**items_for(endpoint, [passage_source()])[0].payload, "key": "k1"}

        body = envelope(endpoint, signer, [record])
        assert upload(sim.url, "bogus", body).json()["code"] == "40100"
        first = upload(sim.url, access, body)
        assert first.status_code == 200
        assert first.json()["results"] == [{"key": "k1", "code": "0", "msg": "接收成功"}]
        replay = upload(sim.url, access, body)  # same nonce
        assert (replay.status_code, replay.json()["code"]) == (400, "40003")

        stale = {**body, "timestamp": str(int(time.time() * 1000) - 3_600_000)}
        stale["sign"] = signer.sign(canonical(stale))
        assert upload(sim.url, access, stale).json()["code"] == "40003"

        wrong_type = envelope(endpoint, signer, [record])
        wrong_type["signType"] = "MD5"
        assert "signType" in upload(sim.url, access, wrong_type).json()["msg"]

        missing = envelope(endpoint, signer, [{"key": "k2", "plateNo": "冀B1"}])
        result = upload(sim.url, access, missing).json()["results"][0]
        assert (result["code"], result["msg"]) == ("invalid", "缺少字段 recordId")

        unsigned = envelope(endpoint, signer, [record])
        unsigned["data"][0]["plateNo"] = "冀B00000"
        bad = upload(sim.url, access, unsigned)
        assert (bad.status_code, bad.json()["code"]) == (400, "40001")
        assert upload(sim.url, access, body, kind="weather").status_code == 404

        stats = sim.stats()
        assert stats["bad_signature"] == 1
        assert stats["accepted"] == 1
        assert stats["rejected"] == 1


def test_control_endpoints_over_http(rsa_key: str) -> None:
    with RegulatorSim([make_client(rsa_key)]) as sim:
        bad = requests.post(sim.url + "/_sim/faults", json={"error_rate": 2}, timeout=5)
        assert bad.status_code == 400
        assert "error_rate" in bad.json()["error"]
        unknown = requests.post(sim.url + "/_sim/faults", json={"explode": True}, timeout=5)
        assert "explode" in unknown.json()["error"]
        set_ = requests.post(
            sim.url + "/_sim/faults", json={"latency_ms": 50, "reject_rate": 0.5, "seed": 7},
            timeout=5,
        )  # fmt: skip
        assert set_.json()["latency_ms"] == 50
        endpoint = make_endpoint(sim.url, rsa_key)
        with requests.Session() as http:
            started = time.monotonic()
            results = ADAPTER.send(http, endpoint, items_for(endpoint, [passage_source()] * 1))
            assert time.monotonic() - started >= 0.05
            results += ADAPTER.send(
                http, endpoint, items_for(endpoint, [passage_source() for _ in range(20)])
            )
        outcomes = {r.outcome for r in results}
        assert outcomes == {"accepted", "rejected"}
        stats = requests.get(sim.url + "/_sim/stats", timeout=5).json()
        assert stats["received"] == 21
        assert stats["accepted"] + stats["rejected"] == 21
        assert stats["by_kind"]["passage"]["received"] == 21
        receipts = requests.get(sim.url + "/_sim/receipts?kind=passage", timeout=5).json()
        assert len(receipts["receipts"]) == stats["accepted"]
        assert requests.post(sim.url + "/_sim/reset", timeout=5).json() == {"reset": True}
        assert requests.get(sim.url + "/_sim/stats", timeout=5).json()["received"] == 0
        assert requests.get(sim.url + "/_sim/faults", timeout=5).json()["latency_ms"] == 0


def test_store_keeps_receipts_across_restarts(rsa_key: str, tmp_path: Path) -> None:
    store = tmp_path / "receipts.jsonl"
    endpoint_items: list[Any] = []
    with RegulatorSim([make_client(rsa_key)], store=store) as sim, requests.Session() as http:
        endpoint = make_endpoint(sim.url, rsa_key)
        endpoint_items = items_for(endpoint, [passage_source(), passage_source()])
        ADAPTER.send(http, endpoint, endpoint_items)
    assert len(store.read_text().splitlines()) == 2
    with RegulatorSim([make_client(rsa_key)], store=store) as sim, requests.Session() as http:
        endpoint = make_endpoint(sim.url, rsa_key)
        results = ADAPTER.send(http, endpoint, endpoint_items)
        assert {r.code for r in results} == {"duplicate"}
        assert sim.stats()["duplicates"] == 2


def test_load_clients_names_the_bad_field(rsa_key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_clients({"clients": [{"client_id": "a", "client_secret": "b", "signer": "rsa2",
                                   "public_key": "junk"}]})  # fmt: skip
    assert info.value.field == "clients[0].public_key"
    with pytest.raises(ConfigError) as info:
        load_clients([{"client_id": "a", "signer": "rsa2"}])
    assert info.value.field == "clients[0].client_secret"
    assert load_clients([{"client_id": "a", "client_secret": "b", "signer": "md5-key",
                          "shared_key": "0123456789abcdef"}])[0].signer == "md5-key"  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_serves_the_protocol(rsa_key: str, tmp_path: Path) -> None:
    client = make_client(rsa_key)
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps(
            {"clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                          "signer": "rsa2", "public_key": client.material,
                          "ent_code": ENT_CODE}]}
        )
    )  # fmt: skip
    port = _free_port()
    cli = Path(sys.executable).parent / "cleangate"
    proc = subprocess.Popen(
        [str(cli), "regulator-sim", "--port", str(port), "--clients", str(clients),
         "--store", str(tmp_path / "store.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CLEANGATE_VAR_DIR": str(tmp_path / "var")},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(url + "/_sim/stats", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        endpoint = make_endpoint(url, rsa_key)
        with requests.Session() as http:
            assert "验签通过" in ADAPTER.test_connection(http, endpoint)
            results = ADAPTER.send(http, endpoint, items_for(endpoint, [passage_source()]))
        assert results[0].outcome == "accepted"
        assert requests.get(url + "/_sim/stats", timeout=5).json()["accepted"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run(
        [str(cli), "regulator-sim", "--clients", str(tmp_path / "store.jsonl")],
        capture_output=True,
        text=True,
        env={**os.environ, "CLEANGATE_VAR_DIR": str(tmp_path / "var")},
    )
    assert bad.returncode != 0
    assert "--clients" in bad.stderr
