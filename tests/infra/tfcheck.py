"""Offline rules for ``infra/terraform`` (issue 11), over the files as python-hcl2 parses them.

``problems(root)`` returns one sentence per broken rule (empty: all hold):

* every ``.tf`` file parses;
* every ``variable`` has a description and a type;
* no literal ``arn:aws:`` partition anywhere (the code must work in aws-cn as in global regions);
* every ``aws_s3_bucket`` has server-side encryption, versioning with status ``Enabled`` and a
  lifecycle configuration (each found by its ``bucket = aws_s3_bucket.<name>.id`` reference, in
  the same module);
* every ``aws_db_instance`` says ``publicly_accessible = false``;
* the aws provider is pinned to one exact version in every root (``envs/*``) and to a bounded
  range in every module, and Terraform's version is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

BUCKET_SETTINGS = {
    "aws_s3_bucket_server_side_encryption_configuration": "server-side encryption",
    "aws_s3_bucket_versioning": "versioning",
    "aws_s3_bucket_lifecycle_configuration": "a lifecycle configuration",
}
_REF = re.compile(r"aws_s3_bucket\.([A-Za-z0-9_-]+)\.(?:id|bucket)")
_PARTITION = "arn:" + "aws:"  # split so that this file never holds the literal either


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def tf_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle)  # type: ignore[no-any-return]


def blocks(doc: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, body) of every ``variable``/``output``/… block."""
    for entry in doc.get(kind, []):
        for label, body in entry.items():
            yield unquote(label), body


def resources(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every ``resource`` block."""
    for entry in doc.get("resource", []):
        for rtype, named in entry.items():
            for name, body in named.items():
                yield unquote(rtype), unquote(name), body


def _enabled(body: dict[str, Any]) -> bool:
    for block in body.get("versioning_configuration", []):
        if unquote(block.get("status")) == "Enabled":
            return True
    return False


def problems(root: Path) -> list[str]:
    found: list[str] = []
    modules: dict[Path, list[tuple[Path, dict[str, Any]]]] = {}
    files = tf_files(root)
    if not files:
        return [f"no .tf files under {root}"]
    for path in files:
        rel = path.relative_to(root)
        if _PARTITION in path.read_text(encoding="utf-8"):
            found.append(f"{rel}: a hard-coded '{_PARTITION}' partition (use aws_partition)")
        try:
            doc = parse(path)
        except Exception as exc:  # python-hcl2 raises lark's errors of several kinds
            found.append(f"{rel}: does not parse: {str(exc).splitlines()[0]}")
            continue
        modules.setdefault(path.parent, []).append((path, doc))
        for name, body in blocks(doc, "variable"):
            for field in ("description", "type"):
                if not unquote(body.get(field, "")):
                    found.append(f"{rel}: variable {name!r} has no {field}")
        for rtype, name, body in resources(doc):
            if rtype == "aws_db_instance" and body.get("publicly_accessible") is not False:
                found.append(f"{rel}: aws_db_instance.{name} must say publicly_accessible = false")
        for block in doc.get("terraform", []):
            for providers in block.get("required_providers", []):
                for provider, spec in providers.items():
                    if provider.startswith("__"):
                        continue
                    version = unquote(spec.get("version", "")) if isinstance(spec, dict) else ""
                    if rel.parts[0] == "envs":  # a root: exactly the version it was tested with
                        if not re.fullmatch(r"=\s*\d+\.\d+\.\d+", version):
                            found.append(
                                f"{rel}: provider {provider} is not pinned to one version "
                                f"({version or 'no version'})"
                            )
                    elif not ("<" in version and ">=" in version):  # a module: a bounded range
                        found.append(
                            f"{rel}: provider {provider} needs a bounded version range "
                            f"({version or 'no version'})"
                        )
    for directory, docs in modules.items():
        found.extend(_bucket_problems(root, directory, docs))
    return found


def _bucket_problems(
    root: Path, directory: Path, docs: list[tuple[Path, dict[str, Any]]]
) -> list[str]:
    buckets: dict[str, Path] = {}
    covered: dict[str, set[str]] = {}
    for path, doc in docs:
        for rtype, name, body in resources(doc):
            if rtype == "aws_s3_bucket":
                buckets[name] = path
            elif rtype in BUCKET_SETTINGS:
                if rtype == "aws_s3_bucket_versioning" and not _enabled(body):
                    continue
                for ref in _REF.findall(str(body.get("bucket", ""))):
                    covered.setdefault(ref, set()).add(rtype)
    found = []
    for name, path in sorted(buckets.items()):
        for rtype, what in BUCKET_SETTINGS.items():
            if rtype not in covered.get(name, set()):
                found.append(f"{path.relative_to(root)}: bucket {name!r} has no {what}")
    return found


def required_version_set(root: Path) -> list[str]:
    """Env roots (``envs/*``) must bound Terraform's version."""
    found = []
    for env in sorted((root / "envs").iterdir()) if (root / "envs").is_dir() else []:
        versions = [
            unquote(block.get("required_version", ""))
            for path in tf_files(env)
            for block in parse(path).get("terraform", [])
        ]
        if not any(versions):
            found.append(f"envs/{env.name}: no terraform required_version")
    return found
