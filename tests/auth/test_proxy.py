"""PROXY_HOPS: behind N trusted proxies the client's address is the forwarded one (login rate
limits and the audit trail see clients, not the load balancer); without it, never."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import request

from saas.app import create_app
from saas.settings import Settings, SettingsError


def _settings(tmp_path: Path, hops: str) -> Settings:
    return Settings.from_env(
        {
            "CLEANGATE_VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'proxy.db'}",
            "PROXY_HOPS": hops,
        },
        testing=True,
    )


@pytest.mark.parametrize(("hops", "seen"), [("0", "10.0.0.1"), ("1", "203.0.113.9")])
def test_the_client_address_behind_trusted_proxies(tmp_path: Path, hops: str, seen: str) -> None:
    app = create_app(_settings(tmp_path, hops))
    app.add_url_rule("/_probe_ip", "probe_ip", lambda: request.remote_addr or "")
    answer = app.test_client().get(
        "/_probe_ip",
        headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.9"},  # a client's own claim first
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert answer.get_data(as_text=True) == seen


def test_proxy_hops_must_be_a_count(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PROXY_HOPS"):
        _settings(tmp_path, "-1")
