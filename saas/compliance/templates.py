"""Built-in policy templates (``data/templates/*.json``), each citing its source.

A tenant starts from one and edits a copy; templates are never changed in place by a tenant.

* ``ordinary_baseline`` — ordinary days: no heavy diesel trucks of 国四 and below (seed 000).
* ``b_enterprise`` / ``c_enterprise`` — seed-001 alert measures for B- and C-rated enterprises:
  stop 国四-and-below heavy trucks (gas included) at yellow/orange/red.
* ``coking_ule`` — seed 003 coking ultra-low-emission transport: 国六 or new energy only.
"""

from __future__ import annotations

from importlib import resources

from saas.compliance.policy import Policy

TEMPLATE_NAMES: tuple[str, ...] = (
    "ordinary_baseline",
    "b_enterprise",
    "c_enterprise",
    "coking_ule",
)


def template_json(name: str) -> str:
    """The template document as stored (canonical JSON)."""
    if name not in TEMPLATE_NAMES:
        raise KeyError(f"unknown policy template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    node = resources.files("saas.compliance").joinpath("data", "templates", f"{name}.json")
    return node.read_text(encoding="utf-8")


TEMPLATES: dict[str, Policy] = {
    name: Policy.from_json(template_json(name)) for name in TEMPLATE_NAMES
}


def load_template(name: str) -> Policy:
    """A built-in template by name (raises KeyError for an unknown name)."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown policy template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    return TEMPLATES[name]
