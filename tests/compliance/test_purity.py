"""The import contract: saas.compliance uses the standard library and itself, nothing else.

The edge daemon installs the package without extras, and the cloud and the edge must reach the
same verdict, so the rules core may not depend on anything either side could version differently.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import saas.compliance

PACKAGE_DIR = Path(saas.compliance.__file__).parent
ALLOWED_OWN = "saas.compliance"


def _modules() -> list[Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: stays inside the package
                names.append(ALLOWED_OWN)
            elif node.module is not None:
                names.append(node.module)
    return names


def _allowed(name: str) -> bool:
    top = name.split(".")[0]
    return (
        top in sys.stdlib_module_names or name == ALLOWED_OWN or name.startswith(ALLOWED_OWN + ".")
    )


def test_every_module_imports_only_stdlib_or_itself() -> None:
    modules = _modules()
    assert len(modules) >= 10, "the walk must actually find the package's modules"
    offenders = {
        str(path.relative_to(PACKAGE_DIR)): bad
        for path in modules
        if (bad := [n for n in _imports(path) if not _allowed(n)])
    }
    assert offenders == {}


def test_the_checker_rejects_third_party_and_sibling_packages() -> None:
    # Guard against a vacuous contract: the predicate must say no to what it forbids.
    assert not _allowed("flask")
    assert not _allowed("saas.models")
    assert not _allowed("saas")
    assert _allowed("saas.compliance.codes")
    assert _allowed("json")
    assert _allowed("importlib.resources")


def test_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    import requests\n    from saas.models import X\n", encoding="utf-8"
    )
    assert [n for n in _imports(sample) if not _allowed(n)] == ["requests", "saas.models"]
