"""``infra/terraform`` checked offline (issue 11): the rules of ``tfcheck`` (python-hcl2), the
checkov policy scan (no provider download, no platform) with every accepted finding listed with
its reason in ``infra/terraform/checkov-accepted.yaml``, and — where Terraform and an offline
provider mirror are installed — ``terraform validate`` and ``terraform fmt -check``.

The rules must bite: a copy whose bucket lost its lifecycle rule, and one whose database became
public, are both refused (by the rules and by checkov)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import services
from tests.infra import tfcheck

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "infra" / "terraform"
ACCEPTED = TERRAFORM / "checkov-accepted.yaml"
PLUGIN_DIR = Path(os.environ.get("CLEANGATE_TF_PLUGIN_DIR", "/opt/tf-plugins"))


def _missing(what: str) -> None:
    if services.REQUIRE:
        pytest.fail(f"{what} (CLEANGATE_REQUIRE_SERVICES=1; `make test` installs it)")
    pytest.skip(what)


def checkov_binary() -> str:
    for candidate in (
        os.environ.get("CHECKOV", ""),
        str(ROOT / ".venv-tools" / "bin" / "checkov"),
        shutil.which("checkov") or "",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    _missing("checkov is not installed (make test puts it in .venv-tools)")
    raise AssertionError("unreachable")


def checkov(directory: Path) -> list[dict[str, Any]]:
    """Failed checks of an offline scan of ``directory``."""
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",  # no download of the guideline mapping
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        "ENABLE_DEFINITION_KEY": "false",
    }
    result = subprocess.run(
        [checkov_binary(), "-d", str(directory), "--framework", "terraform", "--skip-download",
         "--compact", "--quiet", "-o", "json"],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        raise AssertionError(f"checkov did not run ({result.returncode}): {result.stderr[-2000:]}")
    report = json.loads(result.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    return [
        check
        for one in reports
        if isinstance(one, dict)
        for check in (one.get("results") or {}).get("failed_checks", [])
    ]


def accepted() -> list[dict[str, str]]:
    entries = yaml.safe_load(ACCEPTED.read_text(encoding="utf-8")) or []
    assert isinstance(entries, list)
    return entries


def unaccepted(failed: list[dict[str, Any]]) -> list[str]:
    allowed = accepted()

    def ok(check: dict[str, Any]) -> bool:
        return any(
            entry["id"] == check["check_id"]
            and entry.get("resource", "*") in ("*", check["resource"])
            for entry in allowed
        )

    return sorted(
        {f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in failed if not ok(c)}
    )


def test_the_rules_hold() -> None:
    assert tfcheck.problems(TERRAFORM) == []
    assert tfcheck.required_version_set(TERRAFORM) == []


def test_every_accepted_checkov_finding_has_a_reason() -> None:
    for entry in accepted():
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", entry.get("id", "")), entry
        assert len(str(entry.get("reason", "")).strip()) >= 20, entry


@pytest.mark.timeout(900)
def test_checkov_finds_nothing_that_is_not_accepted() -> None:
    failed = checkov(TERRAFORM)
    assert unaccepted(failed) == []
    # …and every accepted finding is still found (a fixed one leaves the list)
    ids = {c["check_id"] for c in failed}
    stale = [e["id"] for e in accepted() if e["id"] not in ids]
    assert stale == [], f"accepted findings no longer reported: {stale}"


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, copy, ignore=shutil.ignore_patterns(".terraform*"))
    return copy


def _remove_block(text: str, header: str) -> str:
    """``text`` without the top-level block starting with ``header`` (terraform fmt layout:
    the block ends at the first line that is a lone closing brace)."""
    start = text.index(header)
    end = text.index("\n}\n", start) + 3
    return text[:start] + text[end:]


def test_a_bucket_without_its_lifecycle_rule_is_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    header = re.compile(r'resource "aws_s3_bucket_lifecycle_configuration" "(\w+)"')
    path, match = next(
        (p, m) for p in tfcheck.tf_files(copy) if (m := header.search(p.read_text()))
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(_remove_block(text, match.group(0)), encoding="utf-8")
    bucket = re.search(r"aws_s3_bucket\.(\w+)\.(?:id|bucket)", text[match.start() :]).group(1)
    found = tfcheck.problems(copy)
    assert any(f"bucket '{bucket}' has no a lifecycle configuration" in p for p in found), found


@pytest.mark.timeout(900)
def test_a_public_database_is_refused(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    changed = 0
    for path in tfcheck.tf_files(copy):
        text = path.read_text(encoding="utf-8")
        new = re.sub(r"publicly_accessible(\s*)=(\s*)false", r"publicly_accessible\1=\2true", text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    assert changed
    found = tfcheck.problems(copy)
    assert any("publicly_accessible = false" in p for p in found), found
    database = next(p.parent for p in tfcheck.tf_files(copy) if "aws_db_instance" in p.read_text())
    assert any(c["check_id"] == "CKV_AWS_17" for c in checkov(database))


def test_no_partition_literal_anywhere(tmp_path: Path) -> None:
    """The rule itself: one ARN with the global partition written out is caught."""
    copy = _copy(tmp_path)
    path = tfcheck.tf_files(copy)[0]
    path.write_text(
        path.read_text() + '\nlocals {\n  bad = "' + "arn:" + 'aws:s3:::x"\n}\n', encoding="utf-8"
    )
    assert any("hard-coded" in p for p in tfcheck.problems(copy))


@pytest.mark.timeout(900)
def test_terraform_validate_and_fmt(tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None or not PLUGIN_DIR.is_dir():
        pytest.skip("terraform and an offline provider mirror are not installed")
    copy = _copy(tmp_path)
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    fmt = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", str(copy)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert fmt.returncode == 0, f"not formatted: {fmt.stdout}{fmt.stderr}"
    for env_dir in sorted((copy / "envs").iterdir()):
        for args in (
            ["init", "-backend=false", "-input=false", f"-plugin-dir={PLUGIN_DIR}"],
            ["validate", "-no-color"],
        ):
            run = subprocess.run(
                [terraform, *args], cwd=env_dir, capture_output=True, text=True, env=env,
                timeout=600, check=False,
            )  # fmt: skip
            assert run.returncode == 0, f"{env_dir.name}: terraform {args[0]}: {run.stderr}"
