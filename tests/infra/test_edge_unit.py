"""The systemd unit an installer copies onto a plant's box (infra/edge/cleangate-edge.service):
it runs the daemon's real command line as an unprivileged user, restarts it always, and keeps
its state where docs/edge-bridge.md says."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from edge_bridge.cli import main as edge_cli

UNIT = Path(__file__).resolve().parents[2] / "infra" / "edge" / "cleangate-edge.service"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_the_unit_runs_the_daemon_unprivileged_and_always_restarts() -> None:
    service = _unit()["Service"]
    assert service["User"] not in ("root", "0")
    assert service["Restart"] == "always"
    assert service["NoNewPrivileges"] == "true"
    assert service["StateDirectory"] == "cleangate-edge"
    assert "/var/lib/cleangate-edge" in service["ReadWritePaths"]
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def test_execstart_is_a_command_line_the_daemon_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = shlex.split(_unit()["Service"]["ExecStart"])
    assert Path(argv[0]).name == "cleangate-edge"
    assert argv[1:3] == ["run", "--config"]
    assert argv[3] == "/etc/cleangate-edge/edge.toml"
    # the real parser: a config that does not exist is refused by name, not by argparse
    assert edge_cli([*argv[1:3], "/nonexistent/edge.toml"]) == 2
    assert "/nonexistent/edge.toml: no such configuration file" in capsys.readouterr().err
