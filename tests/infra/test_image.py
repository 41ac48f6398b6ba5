"""The one container image (issue 11): the Dockerfile's final stage runs as a non-root user
with no build tools and copies every package the distribution ships; the entrypoint maps each
role to its process. The entrypoint runs here for real, with ``gunicorn`` and ``cleangate``
replaced on PATH by scripts that record how they were called (building the image needs a
Docker daemon, which CI does not have)."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make ", "clang", "libpq-dev", "python3-dev")


def _stages() -> list[str]:
    text = DOCKERFILE.read_text(encoding="utf-8")
    return re.split(r"(?m)^FROM ", text)[1:]


def test_final_stage_is_non_root_without_build_tools() -> None:
    final = _stages()[-1]
    users = re.findall(r"(?m)^USER\s+(\S+)", final)
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert not [tool for tool in BUILD_TOOLS if tool in final]
    assert "pip uninstall -y pip" in final  # nothing left to build or fetch packages with
    assert re.search(r'(?m)^ENTRYPOINT \["cleangate-entrypoint"\]', final)


def test_every_shipped_package_is_copied_into_the_build() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    build = _stages()[0]
    missing = [p for p in shipped if not re.search(rf"(?m)^COPY {p} \./{p}$", build)]
    assert missing == []


@pytest.fixture
def stub_path(tmp_path: Path) -> Path:
    """``gunicorn`` and ``cleangate`` that append their arguments to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gunicorn", "cleangate"):
        script = bin_dir / name
        script.write_text(
            f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls.log"\n', encoding="utf-8"
        )
        script.chmod(0o755)
    return bin_dir


def _run(stub_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), *args],
        env={"PATH": f"{stub_path}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "calls"),
    [
        ((), {}, ["gunicorn --bind 0.0.0.0:8000 --worker-class gthread --workers 2 --threads 8"]),
        (("web",), {"PORT": "9000", "WEB_WORKERS": "4"}, ["gunicorn --bind 0.0.0.0:9000"]),
        (("hub",), {}, ["cleangate hub --host 0.0.0.0 --port 8765"]),
        (("worker", "--queues", "exports"), {}, ["cleangate worker --queues exports"]),
        (("scheduler",), {}, ["cleangate scheduler"]),
        (
            ("migrate",),
            {"DB_ADMIN_USER": "cleangate_admin"},
            ["cleangate db bootstrap-roles", "cleangate db upgrade"],
        ),
        (("migrate",), {}, ["cleangate db upgrade"]),  # roles exist; no admin credentials
        (("cleangate", "ledger", "checkpoint"), {}, ["cleangate ledger checkpoint"]),
    ],
)
def test_each_role_starts_its_process(
    stub_path: Path, args: tuple[str, ...], env: dict[str, str], calls: list[str]
) -> None:
    result = _run(stub_path, *args, **env)
    assert result.returncode == 0, result.stderr
    logged = (stub_path.parent / "calls.log").read_text(encoding="utf-8").splitlines()
    assert len(logged) == len(calls)
    for line, expected in zip(logged, calls, strict=True):
        assert line.startswith(expected), (line, expected)
    if args[:1] in ((), ("web",)):
        assert logged[0].endswith("saas.app:create_app()")
        if env.get("WEB_WORKERS"):
            assert f"--workers {env['WEB_WORKERS']}" in logged[0]


def test_an_unknown_role_is_refused_naming_the_roles(stub_path: Path) -> None:
    result = _run(stub_path, "webb")
    assert result.returncode == 64
    assert "unknown role 'webb'" in result.stderr
    assert "web, hub, worker, scheduler, migrate" in result.stderr
    assert not (stub_path.parent / "calls.log").exists()


def test_migrate_stops_when_the_roles_cannot_be_made(stub_path: Path) -> None:
    failing = stub_path / "cleangate"
    failing.write_text(
        f'#!/bin/sh\necho "cleangate $*" >> "{stub_path.parent}/calls.log"\n'
        '[ "$1 $2" = "db bootstrap-roles" ] && exit 2\nexit 0\n',
        encoding="utf-8",
    )
    result = _run(stub_path, "migrate", DB_ADMIN_USER="cleangate_admin")
    assert result.returncode == 2
    assert (stub_path.parent / "calls.log").read_text().splitlines() == [
        "cleangate db bootstrap-roles"
    ]
    assert os.access(ENTRYPOINT, os.X_OK)
