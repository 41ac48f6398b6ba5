"""Structural rules that keep the picture of docs/architecture.md true."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Modules allowed to step past tenant scoping with system_context(), and why.
SYSTEM_CONTEXT_ALLOWED = {
    "saas/tenancy.py": "defines it",
    "saas/auth/service.py": "look-ups before a tenant is known (login, session, token)",
    "saas/auth/oidc.py": "staff single sign-on look-up",
    "saas/auth/devices.py": "device look-up by key before the tenant is known",
    "saas/policy/alerts.py": "regional alerts are provider data, read for every covered tenant",
    "saas/notify/relay.py": "outbox relay sweep: which tenants have due notifications (each \
is relayed in its own tenant context)",
    "saas/regulator/relay.py": "regulator relay sweep: which tenants have due uploads (each \
is relayed in its own tenant context)",
    "saas/api/alerts.py": "provider staff list and end alerts (provider data, no tenant)",
    "saas/api/devices.py": "edge pairing: code look-up and failed-attempt audit before the tenant \
is known",
    "saas/edge_hub/server.py": "hub: device look-up at authentication, refusals audited before \
the tenant is known, last-seen of many bridges",
    "saas/ledger/cli.py": "operator CLI: verify, checkpoints across sites",
    "saas/metrics.py": "CloudWatch metrics job: counts across tenants (regulator uploads due, \
lowest report rate of the previous day); no row's content is read",
    "saas/regulator/cli.py": "operator CLI: re-seal every tenant's platform credentials under \
the current master key (key rotation)",
    "saas/api/support.py": "provider staff starting support access",
    "saas/console/__init__.py": "provider-wide overview counts",
    "saas/console/health.py": "provider compliance-health screen across tenants (read-only)",
    "saas/console/fleet.py": "provider fleet of edge bridges across tenants (read-only)",
    "saas/console/rating.py": "rating services: sites across tenants and the tenant of the site in \
the URL; per-site reads and writes run in that site's tenant context",
    "tenants/console.py": "provider tenant list and detail across tenants, status changes, \
support grants",
    "tenants/onboarding.py": "creating a tenant with its subscription, regulator platform, bridge",
    "billing/payments_web.py": "provider billing: invoices and payments across tenants; the tenant \
of an invoice id (writes then run in that tenant's context)",
    "billing/plans.py": "monthly billing runs: the tenants to meter and invoice (each then in its \
own tenant context); the catalogue seed's audit row (no tenant)",
    "billing/console.py": "provider billing screens: invoices and subscriptions across tenants, \
the tenant of an invoice id",
    "billing/wechatpay.py": "WeChat Pay notification: no tenant until its out_trade_no names one",
    "billing/dunning.py": "daily dunning sweep: tenants with past-due invoices (each handled in \
its own tenant context)",
    "saas/console/regulator.py": "provider report-rate screen across tenants (read-only)",
    "saas/console/alerts.py": "provider alert screens: covered sites, their tenants and \
bridges, the alert's audit trail",
    "cleangate_demo/seed.py": "demo seeding: the demo tenant, provider staff",
    "cleangate_demo/plant.py": "demo: ends the alerts it raised (provider data)",
    "saas/board/tokens.py": "public board: the token is the credential; operator CLI by site id",
    "saas/users.py": "global username uniqueness; provider staff bootstrap",
    "tenants/provisioning.py": "creating tenants",
    "miniprogram_api/bookings.py": "mini-program: a visitor's own bookings across the sites \
they booked (filtered by the visitor's user id)",
    "miniprogram_api/cargo.py": "mini-program: a driver's own cargo registrations across sites \
(filtered by the driver's user id)",
    "miniprogram_api/sites.py": "mini-program: the site id in a board's QR code names its \
tenant (read-only look-up; the work that follows runs in that tenant's context)",
    "tenants/api.py": "provider tenant list",
    "tenants/cli.py": "operator CLI",
}


def _python_files(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in (ROOT / pkg).rglob("*.py")]


def test_saas_package_init_imports_nothing() -> None:
    tree = ast.parse((ROOT / "saas/__init__.py").read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_system_context_only_where_allowed() -> None:
    offenders = []
    for path in _python_files("saas", "tenants", "billing", "miniprogram_api", "cleangate_demo"):
        rel = path.relative_to(ROOT).as_posix()
        if "system_context(" in path.read_text() and rel not in SYSTEM_CONTEXT_ALLOWED:
            offenders.append(rel)
    assert not offenders, f"system_context used outside the allow-list: {offenders}"


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", s, maxsplit=1)[0].lower() for s in specs}


def test_edge_extra_has_no_web_or_orm_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []
    edge = _requirement_names(project["optional-dependencies"]["edge"])
    assert not edge & {"flask", "sqlalchemy", "alembic", "psycopg", "rq", "redis", "boto3"}


def test_every_tenant_owned_table_has_rls_in_migrations() -> None:
    """Each table with a tenant_id column appears in a migration's RLS list."""
    import saas.models  # noqa: F401
    from saas.db import Base

    migrations = "\n".join(p.read_text() for p in (ROOT / "saas/migrations/versions").glob("*.py"))
    for table in Base.metadata.sorted_tables:
        if "tenant_id" in table.c or table.name == "tenants":
            assert re.search(rf'"{table.name}"', migrations), (
                f"{table.name} has no row-level security in any migration"
            )
