"""`cleangate tenant create|list` through the real click commands."""

from __future__ import annotations

import json

from click.testing import CliRunner
from flask import Flask

from saas.cli import main
from tests.conftest import VALID_USCC, Backend


def _run(backend: Backend, *args: str) -> object:
    app: Flask = backend.app
    runner = app.test_cli_runner()
    return runner.invoke(args=list(args))


def test_tenant_create_prints_one_json_object(backend: Backend) -> None:
    result = _run(
        backend,
        "tenant",
        "create",
        "--name",
        "唐山某焦化",
        "--slug",
        f"cli-{backend.name}",
        "--site-name",
        "一厂",
        "--uscc",
        VALID_USCC,
        "--region",
        "130200",
        "--industry",
        "coking",
        "--rating",
        "B",
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(result.output)  # type: ignore[attr-defined]
    assert set(data) == {
        "tenant_id",
        "site_id",
        "admin_username",
        "admin_user_id",
        "one_time_password",
    }
    listed = _run(backend, "tenant", "list")
    slugs = [json.loads(line)["slug"] for line in listed.output.splitlines()]  # type: ignore[attr-defined]
    assert f"cli-{backend.name}" in slugs
    again = _run(
        backend,
        "tenant",
        "create",
        "--name",
        "x",
        "--slug",
        f"cli-{backend.name}",
        "--site-name",
        "一厂",
        "--uscc",
        VALID_USCC,
        "--region",
        "130200",
        "--industry",
        "coking",
    )
    assert again.exit_code == 3  # type: ignore[attr-defined]


def test_tenant_create_rejects_bad_fields(backend: Backend) -> None:
    result = _run(
        backend,
        "tenant",
        "create",
        "--name",
        "x",
        "--slug",
        "bad-fields",
        "--site-name",
        "一厂",
        "--uscc",
        "91350100M000100Y44",
        "--region",
        "990000",
        "--industry",
        "nope",
        "--rating",
        "Z",
    )
    assert result.exit_code == 2  # type: ignore[attr-defined]
    error = json.loads(result.output.strip().splitlines()[-1])  # type: ignore[attr-defined]
    assert set(error["error"]["fields"]) == {
        "site.uscc",
        "site.region_code",
        "site.industry",
        "site.rating",
    }


def test_main_group_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "tenant", "demo"):
        assert command in result.output
