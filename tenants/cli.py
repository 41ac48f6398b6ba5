"""`cleangate tenant create|list`."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from pydantic import ValidationError
from sqlalchemy import select

from saas.api.openapi import error_fields
from saas.db import get_database
from saas.models.tenancy import Site, Tenant
from saas.tenancy import system_context
from tenants.provisioning import DuplicateSlug, DuplicateUsername, TenantCreate, create_tenant


@click.group("tenant", help="Tenant lifecycle.", cls=AppGroup)
def tenant_group() -> None:
    pass


@tenant_group.command("create")
@click.option("--name", required=True, help="企业名称")
@click.option("--slug", required=True, help="short unique identifier, a-z 0-9 -")
@click.option("--site-name", required=True, help="first site (plant) name")
@click.option("--uscc", required=True, help="统一社会信用代码")
@click.option("--region", "region_code", required=True, help="GB/T 2260 region code")
@click.option("--industry", required=True, help="industry code, e.g. coking")
@click.option("--rating", default="unrated", show_default=True, help="A, B, B-, C, D, …")
@click.option("--permit-no", default=None, help="排污许可证编号")
@click.option("--admin-username", default=None)
def create(
    name: str,
    slug: str,
    site_name: str,
    uscc: str,
    region_code: str,
    industry: str,
    rating: str,
    permit_no: str | None,
    admin_username: str | None,
) -> None:
    """Create a tenant, its first site and an admin; print one JSON object."""
    try:
        data = TenantCreate(
            name=name,
            slug=slug,
            admin_username=admin_username,
            site={
                "name": site_name,
                "uscc": uscc,
                "region_code": region_code,
                "industry": industry,
                "rating": rating,
                "permit_no": permit_no,
            },
        )
    except ValidationError as exc:
        click.echo(
            json.dumps(
                {"error": {"code": "validation_failed", "fields": error_fields(exc)}},
                ensure_ascii=False,
            ),
            err=True,
        )
        sys.exit(2)
    database = get_database()
    with database.sessionmaker() as session:
        try:
            result = create_tenant(session, data, actor_label="cli")
        except (DuplicateSlug, DuplicateUsername) as exc:
            field = "slug" if isinstance(exc, DuplicateSlug) else "admin_username"
            click.echo(
                json.dumps({"error": {"code": "conflict", "fields": {field: "already exists"}}}),
                err=True,
            )
            sys.exit(3)
    click.echo(json.dumps(result.as_dict(), ensure_ascii=False))


@tenant_group.command("list")
def list_tenants() -> None:
    """One JSON object per line: tenant and its sites."""
    with get_database().sessionmaker() as session, system_context("cli: tenant list"):
        for tenant in session.scalars(select(Tenant).order_by(Tenant.created_at)):
            sites = session.scalars(select(Site).where(Site.tenant_id == tenant.id)).all()
            click.echo(
                json.dumps(
                    {
                        "id": str(tenant.id),
                        "slug": tenant.slug,
                        "name": tenant.name,
                        "status": tenant.status,
                        "sites": [
                            {
                                "id": str(s.id),
                                "name": s.name,
                                "region_code": s.region_code,
                                "industry": s.industry,
                                "rating": s.rating,
                            }
                            for s in sites
                        ],
                    },
                    ensure_ascii=False,
                )
            )
