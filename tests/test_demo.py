"""`cleangate demo` as a person uses it: a real process on the embedded defaults, its printed
URLs and logins, the console's ``alert orange``, and a clean stop on Ctrl-C (SIGINT) that
leaves no edge bridge behind."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Demo:
    def __init__(self, tmp: Path) -> None:
        self.port, self.hub, self.receiver = _free_port(), _free_port(), _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
        env.update(CLEANGATE_VAR_DIR=str(tmp), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "saas.cli", "demo", "--port", str(self.port),
             "--hub-port", str(self.hub), "--receiver-port", str(self.receiver), "--rate", "2"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def expect(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.output)}")

    def type(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()


def _login(base: str, username: str, password: str) -> requests.Response:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return session.post(
        f"{base}/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        timeout=10,
    )


def test_the_demo_runs_switches_on_an_alert_and_stops_cleanly(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    try:
        portal = demo.expect(r"portal\s+(\S+)\s+user (\S+)\s+password (\S+)", timeout=150)
        boards = [demo.expect(r"board\s+(\S+)\s+\((\S+)\)") for _ in range(2)]
        guards = [demo.expect(r"guard\s+(\S+)\s+\((\S+);") for _ in range(2)]
        receiver = demo.expect(r"receiver\s+(\S+)")
        demo.expect("Ctrl-C to stop")
        base = f"http://127.0.0.1:{demo.port}"

        home = _login(base, portal.group(2), portal.group(3))
        assert home.url.endswith("/portal/")
        assert "示例焦化厂" in home.text

        board = requests.get(boards[0].group(1), timeout=10)
        assert board.status_code == 200
        assert "当前无预警" in board.text
        assert "示例焦化" in board.text
        assert requests.get(guards[0].group(1), timeout=10).status_code in (200, 302, 401)
        assert "监管平台模拟接收端" in requests.get(receiver.group(1), timeout=10).text

        demo.type("alert orange")
        demo.expect("橙色预警已发布")
        board = requests.get(boards[1].group(1), timeout=10)
        assert "当前重污染天气橙色预警" in board.text

        demo.type("status")
        status = demo.expect(r"coking\s+edge running\s+online True\s+answered\s+(\d+)\s+ledger")
        assert int(status.group(1)) >= 0
        demo.type("bogus")
        demo.expect("unknown command 'bogus'")

        ports = [int(g.group(1).rsplit(":", 1)[1].strip("/")) for g in guards]
        assert all(_port_open(p) for p in ports)
        demo.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.proc.wait(60) == 0
        demo.expect("已停止 / stopped", timeout=5)
        assert not any(_port_open(p) for p in ports), "an edge bridge outlived the demo"
        assert not _port_open(demo.port)
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait(10)


def test_the_demo_refuses_a_production_configuration(tmp_path: Path) -> None:
    """It creates a provider administrator and prints passwords: never against production."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        CLEANGATE_ENV="production",
        CLEANGATE_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgresql://app:x@127.0.0.1:1/cleangate",
        REDIS_URL="redis://127.0.0.1:1/0",
        STORAGE_URL="s3://media",
        CHECKPOINT_STORAGE_URL="s3://checkpoints",
        SECRET_KEY="s" * 48,
        LEDGER_SIGNING_KEY="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        REGULATOR_MASTER_KEYS="k1:" + "A" * 43 + "=",
    )
    result = subprocess.run(
        [sys.executable, "-m", "saas.cli", "demo", "--no-serve"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "refuses CLEANGATE_ENV=production" in result.stdout + result.stderr
    assert not (tmp_path / "demo").exists()
