"""A fake Vzenith camera speaking real HTTP to a receiver (tests, demo, bench).

It behaves like the camera in software.md §5.3: posts ``AlarmInfoPlate`` and obeys the reply
(``info: ok`` or ``ivs_ioctrl`` pulses the relay, ``serialData`` goes to its RS-485 port), keeps
results it could not deliver as offline records and replays them with ``isoffline: 1``, one at
a time, only moving on when the reply carries ``ContinuePushOffline`` for that ``plateid`` with
``continue: 1``, and polls with comet heartbeats (multipart form fields).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from edge_bridge.drivers.http import HttpError, Part, build_multipart, http_request
from edge_bridge.drivers.simulator.jpeg import tiny_jpeg


@dataclass
class FakeVzenithCamera:
    receiver_url: str
    serial: str = "fe71e106-57263272"
    channel: int = 0
    reply_timeout: float = 2.0  # how long the camera waits for our reply
    ipaddr: str = "192.168.1.100"
    relay_pulses: list[dict[str, Any]] = field(default_factory=list)
    serial_out: list[tuple[int, bytes]] = field(default_factory=list)
    offline: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 21085
    _comet: asyncio.Task[None] | None = None

    def plate_payload(
        self,
        license_text: str,
        *,
        color_type: int = 2,
        confidence: int = 96,
        plateid: int | None = None,
        offline: bool = False,
        sec: int | None = None,
        images: bool = True,
        direction: int = 0,
    ) -> dict[str, Any]:
        if plateid is None:
            plateid = self._next_id
            self._next_id += 1
        sec = int(time.time()) if sec is None else sec
        jpeg = base64.b64encode(tiny_jpeg()).decode() if images else ""
        return {
            "AlarmInfoPlate": {
                "channel": self.channel,
                "deviceName": "IVS",
                "ipaddr": self.ipaddr,
                "serialno": self.serial,
                "rule_id": 1,
                "user_data": "",
                "result": {
                    "PlateResult": {
                        "license": license_text,
                        "colorType": color_type,
                        "confidence": confidence,
                        "direction": direction,
                        "type": 1,
                        "triggerType": 4,
                        "timeStamp": {"Timeval": {"sec": sec, "usec": 687772}},
                        "plateid": plateid,
                        "isoffline": 1 if offline else 0,
                        "gioouts": [{"ionum": 0, "ctrltype": 0}],
                        "imageFile": jpeg,
                        "imageFileLen": len(tiny_jpeg()) if images else 0,
                        "imageFragmentFile": jpeg,
                        "imageFragmentFileLen": len(tiny_jpeg()) if images else 0,
                    }
                },
            }
        }

    async def _post(self, body: bytes, content_type: str) -> dict[str, Any]:
        resp = await http_request(
            "POST",
            self.receiver_url,
            body=body,
            headers=[("Content-Type", content_type)],
            timeout=self.reply_timeout,
        )
        if resp.status != 200:
            raise HttpError(f"receiver answered {resp.status}")
        reply: dict[str, Any] = json.loads(resp.body)
        self.replies.append(reply)
        self._obey(reply)
        return reply

    def _obey(self, reply: dict[str, Any]) -> None:
        body = reply.get("Response_AlarmInfoPlate") or {}
        if body.get("info") == "ok":
            self.relay_pulses.append({"via": "info", "io": body.get("channelNum", 0)})
        if isinstance(body.get("ivs_ioctrl"), dict):
            self.relay_pulses.append({"via": "ivs_ioctrl", **body["ivs_ioctrl"]})
        for item in body.get("serialData") or []:
            data = base64.b64decode(item["data"])
            assert len(data) == item["dataLen"], "dataLen must match the decoded bytes"
            self.serial_out.append((item["serialChannel"], data))

    async def push(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Post one result; on failure keep it as an offline record, like the camera does."""
        try:
            return await self._post(
                json.dumps(payload, ensure_ascii=False).encode(), "application/json"
            )
        except (HttpError, ValueError):
            record = json.loads(json.dumps(payload))
            record["AlarmInfoPlate"]["result"]["PlateResult"]["isoffline"] = 1
            self.offline.append(record)
            return None

    async def push_plate(self, license_text: str, **kwargs: Any) -> dict[str, Any] | None:
        return await self.push(self.plate_payload(license_text, **kwargs))

    async def replay_offline(self) -> int:
        """Replay stored records in order; stop unless each is acknowledged. Returns how many."""
        sent = 0
        while self.offline:
            record = self.offline[0]
            plateid = record["AlarmInfoPlate"]["result"]["PlateResult"]["plateid"]
            try:
                reply = await self._post(
                    json.dumps(record, ensure_ascii=False).encode(), "application/json"
                )
            except (HttpError, ValueError):
                return sent
            ack = (reply.get("Response_AlarmInfoPlate") or {}).get("ContinuePushOffline") or {}
            if ack.get("plateid") != plateid:
                return sent
            self.offline.pop(0)
            sent += 1
            if ack.get("continue") != 1:
                return sent
        return sent

    async def heartbeat(self) -> dict[str, Any]:
        fields = {
            "device_name": "IVS",
            "ipaddr": self.ipaddr,
            "port": "80",
            "user_name": "admin",
            "pass_wd": "admin",
            "serialno": self.serial,
            "channel_num": "1",
        }
        boundary = "------------------------" + secrets.token_hex(8)
        body = build_multipart(
            [Part(k, None, "text/plain", v.encode()) for k, v in fields.items()], boundary
        )
        return await self._post(body, f"multipart/form-data; boundary={boundary}")

    async def _comet_loop(self, interval: float) -> None:
        while True:
            with contextlib.suppress(HttpError, ValueError):
                await self.heartbeat()
            await asyncio.sleep(interval)

    def start_comet(self, interval: float = 0.05) -> None:
        """Comet polling: the camera posts again as soon as it has the reply."""
        self._comet = asyncio.get_running_loop().create_task(self._comet_loop(interval))

    async def stop(self) -> None:
        if self._comet is not None:
            self._comet.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._comet
            self._comet = None
