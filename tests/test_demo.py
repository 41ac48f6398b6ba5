"""`cleangate demo` serves the login page and the printed demo login reaches the portal."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_serves_and_printed_login_reaches_portal(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(CLEANGATE_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "saas.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            lines.append(line)
            if "Ctrl-C" in line or proc.poll() is not None:
                break
        output = "".join(lines)
        match = re.search(r"portal/\s+user (\S+)\s+password (\S+)", output)
        assert match, output
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        for _ in range(50):
            try:
                page = session.get(f"{base}/login", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert page.status_code == 200
        assert "登录" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        response = session.post(
            f"{base}/login",
            data={
                "username": match.group(1),
                "password": match.group(2),
                "csrf_token": token.group(1),
            },
            timeout=10,
        )
        assert response.status_code == 200
        assert response.url.endswith("/portal/")
        assert "示例焦化厂" in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
