"""The hj1321-json adapter against the reference receiver over real HTTP (loopback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from saas.regulator.adapters.hj1321_json import ADAPTER, build_gate, build_passage
from saas.regulator.base import (
    ConfigError,
    Credentials,
    Endpoint,
    Item,
    TransportError,
    get_adapter,
)
from saas.regulator.signing import generate_private_key, public_material
from saas.regulator.sim import RegulatorSim, SimClient

CLIENT_ID = "ent-0001"
CLIENT_SECRET = "client-secret-0001"
ENT_CODE = "TS130200000001"
USCC = "91350100M000100Y43"


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


def make_endpoint(url: str, private_key: str, **overrides: Any) -> Endpoint:
    values: dict[str, Any] = {
        "config_id": str(uuid.uuid4()),
        "endpoint": url,
        "client_id": CLIENT_ID,
        "enterprise_code": ENT_CODE,
        "uscc": USCC,
        "permit_no": "91350100M000100Y43001P",
        "signer": "rsa2",
        "credentials": Credentials(client_secret=CLIENT_SECRET, private_key=private_key),
        "timeout": 2.0,
    }
    values.update(overrides)
    return Endpoint(**values)


def make_client(private_key: str) -> SimClient:
    material = public_material("rsa2", Credentials(private_key=private_key))
    assert material is not None
    return SimClient(CLIENT_ID, CLIENT_SECRET, "rsa2", material, ENT_CODE)


@pytest.fixture
def sim(rsa_key: str) -> Iterator[RegulatorSim]:
    with RegulatorSim([make_client(rsa_key)]) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def passage_source(**changes: Any) -> dict[str, Any]:
    """A ledger passage record (saas.ledger.ingest.passage_record) plus gate/lane codes."""
    record: dict[str, Any] = {
        "v": 1,
        "kind": "passage",
        "event_id": str(uuid.uuid4()),
        "captured_at": "2025-01-15T01:02:03.000000Z",
        "received_at": "2025-01-15T01:02:04.000000Z",
        "gate": "G1",
        "lane": "01",
        "gate_code": "G1",
        "lane_code": "01",
        "direction": "in",
        "plate": {"raw": "冀B12345", "normalized": "冀B12345", "color": "yellow", "valid": True},
        "vehicle": {
            "registered": True,
            "vehicle_type": "H11",
            "fuel_type": "diesel",
            "emission_stage": "cn6b",
            "vin": "LFWSRXSJ1JAD12345",
            "registration_date": "2021-03-04",
            "carrier": "唐山顺达物流",
        },
        "decision": {"verdict": "ALLOW", "reasons": []},
        "images": [{"kind": "plate", "sha256": "a" * 64, "content_type": "image/jpeg", "size": 10}],
        "video_ref": None,
        "cargo": {"name": "焦炭", "quantity": 31.5, "unit": "t"},
    }
    record.update(changes)
    return record


def items_for(endpoint: Endpoint, sources: list[Mapping[str, Any]]) -> list[Item]:
    return [
        Item(
            key=f"p:{s['event_id']}", kind="passage", payload=ADAPTER.build("passage", s, endpoint)
        )
        for s in sources
    ]


# --- mapping --------------------------------------------------------------------------------


def test_registered_by_name() -> None:
    assert get_adapter("hj1321-json") is ADAPTER
    with pytest.raises(ConfigError) as info:
        get_adapter("nope")
    assert info.value.field == "adapter"


def test_passage_mapping_uses_the_documented_conventions(rsa_key: str) -> None:
    endpoint = make_endpoint("http://x", rsa_key)
    payload = build_passage(passage_source(), endpoint)
    assert payload["plateNo"] == "冀B12345"
    assert payload["plateColor"] == "1"  # kakou: 1 黄
    assert payload["emissionStage"] == "6"  # entrance_control: cn6b → 6
    assert payload["fuelType"] == "B"  # GA: B 柴油
    assert payload["vehicleType"] == "H11"
    assert payload["direction"] == "1"
    assert payload["passTime"] == "2025-01-15 09:02:03"  # UTC → Beijing time
    assert payload["releaseResult"] == "1"
    assert payload["photos"] == [{"type": "plate", "sha256": "a" * 64}]
    assert payload["cargoQuantity"] == "31.5"
    assert "videoRef" not in payload  # unknown → left out
    electric = build_passage(
        passage_source(vehicle={"fuel_type": "electric", "emission_stage": None}), endpoint
    )
    assert electric["emissionStage"] == "D"
    assert electric["fuelType"] == "C"
    manual = build_passage(
        passage_source(
            decision={"verdict": "DENY"},
            manual={"action": "release", "operator": "门卫张三", "reason": "救护"},
        ),
        endpoint,
    )
    assert manual["releaseResult"] == "3"
    unknown = build_passage(passage_source(vehicle={"emission_stage": "unknown"}), endpoint)
    assert "emissionStage" not in unknown


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lane_code": "1", "lane": "1"}, "lane_code"),
        ({"direction": "sideways"}, "direction"),
        ({"plate": {"raw": "冀B12345", "color": "紫红"}}, "plate.color"),
        ({"vehicle": {"emission_stage": "cn9"}}, "vehicle.emission_stage"),
        ({"vehicle": {"vehicle_type": "ZZZ"}}, "vehicle.vehicle_type"),
        ({"captured_at": "yesterday"}, "captured_at"),
        ({"decision": {"verdict": "MAYBE"}}, "decision.verdict"),
    ],
)
def test_passage_mapping_errors_name_the_field(
    rsa_key: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field.replace('.', '[.]')}:"):
        build_passage(passage_source(**changes), make_endpoint("http://x", rsa_key))


def test_registries_gate_and_daily_count_mapping(rsa_key: str) -> None:
    endpoint = make_endpoint("http://x", rsa_key)
    vehicle = ADAPTER.build(
        "transport_vehicle",
        {
            "id": "v1", "plate": "冀B12345", "plate_color": "yellow", "vehicle_type": "Q11",
            "fuel_type": "natural_gas", "emission_stage": "cn5", "use_nature": "F",
            "network_status": "online", "active": True, "owner_name": "顺达",
        },
        endpoint,
    )  # fmt: skip
    assert vehicle == {
        "recordId": "v1", "status": "1", "ownerName": "顺达", "plateNo": "冀B12345",
        "plateColor": "1", "vehicleType": "Q11", "fuelType": "E", "emissionStage": "5",
        "useNature": "F", "networkStatus": "1",
    }  # fmt: skip
    machine = ADAPTER.build(
        "nonroad_machinery",
        {
            "id": "m1",
            "env_reg_code": "13020012345",
            "machine_type": "装载机",
            "nonroad_stage": "nr3",
        },
        endpoint,
    )
    assert machine["emissionStage"] == "国三"
    gate = build_gate(
        {"gate_code": "G1", "lane_code": "02", "name": "东门入口", "longitude": 118.18,
         "latitude": "39.63"},
        endpoint,
    )  # fmt: skip
    assert gate["entCode"] == USCC
    assert (gate["longitude"], gate["latitude"], gate["laneCode"]) == ("118.18", "39.63", "02")
    with pytest.raises(ValueError, match=r"^latitude:"):
        build_gate({"gate_code": "G1", "lane_code": "02", "name": "x", "longitude": 1}, endpoint)
    with pytest.raises(ValueError, match=r"^longitude:"):
        build_gate(
            {"gate_code": "G1", "lane_code": "02", "name": "x", "longitude": 200, "latitude": 1},
            endpoint,
        )
    count = ADAPTER.build(
        "daily_count", {"date": "2025-01-15", "gate_code": "G1", "lane_code": "01", "count": 42},
        endpoint,
    )  # fmt: skip
    assert count == {"recordDate": "2025-01-15", "gateCode": "G1", "laneCode": "01",
                     "recordCount": "42"}  # fmt: skip
    with pytest.raises(ValueError, match=r"^count:"):
        ADAPTER.build(
            "daily_count", {"date": "2025-01-15", "gate_code": "G1", "lane_code": "01",
                            "count": -1}, endpoint,
        )  # fmt: skip


# --- over HTTP ------------------------------------------------------------------------------


def test_accepted_batch_then_duplicates_counted(
    sim: RegulatorSim, http: requests.Session, rsa_key: str
) -> None:
    endpoint = make_endpoint(sim.url, rsa_key)
    items = items_for(endpoint, [passage_source() for _ in range(5)])
    results = ADAPTER.send(http, endpoint, items)
    assert {r.key for r in results} == {i.key for i in items}
    assert all(r.outcome == "accepted" and r.code == "0" for r in results)
    again = ADAPTER.send(http, endpoint, items[:2])
    assert [(r.outcome, r.code) for r in again] == [("accepted", "duplicate")] * 2
    stats = sim.stats()
    assert (stats["received"], stats["accepted"], stats["duplicates"]) == (7, 5, 2)
    assert stats["bad_signature"] == 0
    assert stats["tokens_issued"] == 1  # the token was cached between batches
    receipt = sim.receipts("passage")[0]
    assert receipt["record"]["plateNo"] == "冀B12345"


def test_token_refreshed_once_after_revocation(
    sim: RegulatorSim, http: requests.Session, rsa_key: str
) -> None:
    endpoint = make_endpoint(sim.url, rsa_key)
    ADAPTER.send(http, endpoint, items_for(endpoint, [passage_source()]))
    sim.revoke_tokens()
    results = ADAPTER.send(http, endpoint, items_for(endpoint, [passage_source()]))
    assert results[0].outcome == "accepted"
    stats = sim.stats()
    assert stats["tokens_issued"] == 2
    assert stats["auth_failures"] == 1


def test_rejected_records_carry_the_platform_message(
    sim: RegulatorSim, http: requests.Session, rsa_key: str
) -> None:
    endpoint = make_endpoint(sim.url, rsa_key)
    items = items_for(endpoint, [passage_source() for _ in range(3)])
    sim.set_faults(reject_keys=[items[1].key], reject_message="车辆未备案, 请补录")
    by_key = {r.key: r for r in ADAPTER.send(http, endpoint, items)}
    assert by_key[items[1].key].outcome == "rejected"
    assert by_key[items[1].key].message == "车辆未备案, 请补录"
    assert by_key[items[0].key].outcome == "accepted"
    assert sim.stats()["rejected"] == 1


class CorruptingAdapter(HTTPAdapter):
    """A transport that changes the body after the adapter signed it (a man in the middle)."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if isinstance(request.body, bytes) and b"/upload/" in (request.url or "").encode():
            request.body = request.body.replace("冀B12345".encode(), "冀B99999".encode())
        return super().send(request, *args, **kwargs)


def test_tampered_payload_is_rejected_as_bad_signature(sim: RegulatorSim, rsa_key: str) -> None:
    endpoint = make_endpoint(sim.url, rsa_key)
    items = items_for(endpoint, [passage_source(), passage_source()])
    with requests.Session() as http:
        http.mount("http://", CorruptingAdapter())
        results = ADAPTER.send(http, endpoint, items)
    assert [r.outcome for r in results] == ["rejected", "rejected"]
    assert all(r.code == "40001" and "验签失败" in r.message for r in results)
    stats = sim.stats()
    assert stats["bad_signature"] == 1
    assert stats["accepted"] == 0
    assert sim.receipts() == []


def test_key_not_registered_at_the_platform_fails_verification(
    sim: RegulatorSim, http: requests.Session
) -> None:
    endpoint = make_endpoint(sim.url, generate_private_key("rsa2"))
    with pytest.raises(ConfigError) as info:
        ADAPTER.test_connection(http, endpoint)
    assert info.value.field == "private_key"
    assert "验签失败" in info.value.message


@pytest.mark.parametrize(
    ("faults", "match"),
    [
        ({"error_rate": 1.0, "error_status": 503}, "HTTP 503"),
        ({"timeout_rate": 1.0, "timeout_ms": 1500}, "超时"),
        ({"malformed_rate": 1.0}, "无法解析"),
        ({"down": True}, "连接"),
    ],
)
def test_transport_failures_raise_transport_error(
    sim: RegulatorSim, http: requests.Session, rsa_key: str, faults: dict[str, Any], match: str
) -> None:
    endpoint = make_endpoint(sim.url, rsa_key, timeout=0.5)
    ADAPTER.fetch_token(http, endpoint)  # the token works; the upload meets the fault
    sim.set_faults(**faults)
    with pytest.raises(TransportError, match=match):
        ADAPTER.send(http, endpoint, items_for(endpoint, [passage_source()]))


def test_unreachable_endpoint_and_bad_credentials_at_configuration(
    http: requests.Session, sim: RegulatorSim, rsa_key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        ADAPTER.test_connection(http, make_endpoint("http://127.0.0.1:9", rsa_key, timeout=0.5))
    assert info.value.field == "endpoint"
    wrong = make_endpoint(
        sim.url, rsa_key, credentials=Credentials(client_secret="wrong", private_key=rsa_key)
    )
    with pytest.raises(ConfigError) as info:
        ADAPTER.test_connection(http, wrong)
    assert info.value.field == "client_secret"
    assert "wrong" not in str(info.value)
    assert "验签通过" in ADAPTER.test_connection(http, make_endpoint(sim.url, rsa_key))


def test_mixed_kinds_in_one_call_go_to_their_endpoints(
    sim: RegulatorSim, http: requests.Session, rsa_key: str
) -> None:
    endpoint = make_endpoint(sim.url, rsa_key)
    items = [
        *items_for(endpoint, [passage_source()]),
        Item(
            "dc:2025-01-15:G1:01",
            "daily_count",
            ADAPTER.build(
                "daily_count",
                {"date": "2025-01-15", "gate_code": "G1", "lane_code": "01", "count": 1},
                endpoint,
            ),
        ),
    ]
    assert all(r.outcome == "accepted" for r in ADAPTER.send(http, endpoint, items))
    assert set(sim.stats()["by_kind"]) == {"passage", "daily_count"}


@pytest.mark.parametrize("signer", ["sm2", "hmac-sha256", "md5-key"])
def test_other_signers_end_to_end(http: requests.Session, signer: str) -> None:
    if signer == "sm2":
        private = generate_private_key("sm2")
        credentials = Credentials(client_secret=CLIENT_SECRET, private_key=private)
        material = public_material("sm2", credentials)
    else:
        credentials = Credentials(client_secret=CLIENT_SECRET, shared_key="shared-key-0123456789")
        material = credentials.shared_key
    assert material is not None
    with RegulatorSim([SimClient(CLIENT_ID, CLIENT_SECRET, signer, material, ENT_CODE)]) as sim:
        endpoint = make_endpoint(sim.url, "", signer=signer, credentials=credentials)
        results = ADAPTER.send(http, endpoint, items_for(endpoint, [passage_source()]))
        assert results[0].outcome == "accepted"
        assert sim.stats()["bad_signature"] == 0
