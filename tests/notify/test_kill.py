"""SIGKILL a relay process mid-batch, start another: every message is delivered, at least
once, and the receiver (deduplicating on OutId) takes each once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import TenantFixture
from tests.notify import fakes as f
from tests.notify.conftest import add_contact, issue_for_site, outbox_rows

MESSAGES = 25
CLEANGATE = Path(sys.executable).with_name("cleangate")


def _relay_process(
    app: Flask, tenant: TenantFixture, servers: f.Fakes, var: Path
) -> subprocess.Popen[bytes]:
    settings = app.config["CLEANGATE_SETTINGS"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "CLEANGATE_VAR_DIR": str(var),
        "DATABASE_URL": settings.database_url,
        "SMS_PROVIDER": "aliyun",
        "ALIYUN_ACCESS_KEY_ID": f.ALIYUN_KEY_ID,
        "ALIYUN_ACCESS_KEY_SECRET": f.ALIYUN_SECRET,
        "ALIYUN_SMS_ENDPOINT": servers.aliyun.url,
        "SMS_TEMPLATE_ALERT": "SMS_470001",
        "SMS_TEMPLATE_ALERT_END": "SMS_470002",
        "NOTIFY_LEASE_SECONDS": "2",
    }
    command = [str(CLEANGATE), "notify", "relay", "--loop", "--interval", "0.2",
               "--tenant", str(tenant.tenant_id)]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.timeout(240)
def test_sigkill_mid_batch_then_restart_delivers_everything(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    for n in range(MESSAGES):
        add_contact(app, tenant_a, name=f"值班员{n}", phone=f"1390013{n + 9100:04d}")
    issue_for_site(app, tenant_a)
    servers.aliyun.delay = 0.15  # a slow provider: the kill lands inside a batch
    first = _relay_process(app, tenant_a, servers, tmp_path)
    try:
        f.until(lambda: len(servers.aliyun.requests) >= 5 or first.poll() is not None, 90)
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    sent_before = sum(r.status == "sent" for r in outbox_rows(app, tenant_a))
    assert sent_before < MESSAGES  # killed mid-batch: work was left over

    second = _relay_process(app, tenant_a, servers, tmp_path)
    try:
        f.until(
            lambda: (
                all(r.status == "sent" for r in outbox_rows(app, tenant_a))
                or second.poll() is not None
            ),
            120,
        )
        assert second.poll() is None, second.stderr.read().decode() if second.stderr else ""
    finally:
        second.send_signal(signal.SIGTERM)  # the loop stops cleanly on SIGTERM
        second.wait(timeout=20)
    assert second.returncode == 0
    rows = outbox_rows(app, tenant_a)
    assert len(rows) == MESSAGES
    assert {r.status for r in rows} == {"sent"}
    delivered = {d["OutId"] for d in servers.aliyun.delivered}
    assert delivered == {r.id.hex for r in rows}  # each exactly once at the receiver
    assert MESSAGES <= len(servers.aliyun.requests) <= MESSAGES + 1  # at most the in-flight one
    assert servers.aliyun.rejected == []
