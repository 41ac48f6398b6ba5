"""The ORM scopes every query on a tenant-owned model to the current tenant (both backends)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import delete, func, select, update

from saas.db import get_database
from saas.models.identity import AuditEvent
from saas.models.tenancy import Site, Tenant
from saas.tenancy import (
    CrossTenantWrite,
    NoTenantContext,
    system_context,
    tenant_context,
)
from tests.conftest import SHARED_SITE_NAME, VALID_USCC, TenantFixture


def _site_ids(app: Flask) -> set[object]:
    with get_database(app).sessionmaker() as session:
        return set(session.scalars(select(Site.id)))


def test_query_without_context_raises(app: Flask, tenant_a: TenantFixture) -> None:
    with get_database(app).sessionmaker() as session:
        with pytest.raises(NoTenantContext):
            session.scalars(select(Site)).all()
        with pytest.raises(NoTenantContext):
            session.scalar(select(func.count()).select_from(Site))
        with pytest.raises(NoTenantContext):
            session.scalars(select(Tenant)).all()


def test_context_sees_only_own_rows(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    with tenant_context(tenant_a.tenant_id):
        ids = _site_ids(app)
        assert tenant_a.site_id in ids
        assert tenant_b.site_id not in ids
        with get_database(app).sessionmaker() as session:
            # the same natural key exists in both tenants; only A's is visible
            names = session.scalars(select(Site).where(Site.name == SHARED_SITE_NAME)).all()
            assert {s.tenant_id for s in names} == {tenant_a.tenant_id}
            assert session.get(Site, tenant_b.site_id) is None
            assert [t.id for t in session.scalars(select(Tenant))] == [tenant_a.tenant_id]
            assert session.scalar(select(func.count()).select_from(Site)) == 1
            sub = select(Site.id).where(Site.name == SHARED_SITE_NAME).scalar_subquery()
            assert session.scalars(select(Site.id).where(Site.id.in_(sub))).all() == [
                tenant_a.site_id
            ]
    with tenant_context(tenant_b.tenant_id):
        assert tenant_a.site_id not in _site_ids(app)


def test_switching_context_in_one_session(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    with get_database(app).sessionmaker() as session:
        with tenant_context(tenant_a.tenant_id):
            assert session.scalars(select(Site.id)).all() == [tenant_a.site_id]
        with tenant_context(tenant_b.tenant_id):
            assert session.scalars(select(Site.id)).all() == [tenant_b.site_id]


def test_insert_is_stamped_and_cross_tenant_insert_refused(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    database = get_database(app)
    with tenant_context(tenant_a.tenant_id), database.sessionmaker() as session:
        site = Site(
            name="二号厂", uscc=VALID_USCC, region_code="130200", industry="coking", rating="B"
        )
        session.add(site)
        session.commit()
        assert site.tenant_id == tenant_a.tenant_id
    with tenant_context(tenant_a.tenant_id), database.sessionmaker() as session:
        session.add(
            Site(
                tenant_id=tenant_b.tenant_id,
                name="入侵",
                uscc=VALID_USCC,
                region_code="130200",
                industry="coking",
                rating="B",
            )
        )
        with pytest.raises(CrossTenantWrite):
            session.commit()
    with database.sessionmaker() as session:
        session.add(
            Site(
                tenant_id=tenant_b.tenant_id,
                name="无上下文",
                uscc=VALID_USCC,
                region_code="130200",
                industry="coking",
                rating="B",
            )
        )
        with pytest.raises(NoTenantContext):
            session.commit()
    with tenant_context(tenant_b.tenant_id), database.sessionmaker() as session:
        names = set(session.scalars(select(Site.name)))
        assert "入侵" not in names
        assert "无上下文" not in names


def test_tenant_id_cannot_move(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        site.tenant_id = tenant_b.tenant_id
        with pytest.raises(CrossTenantWrite):
            session.commit()


def test_bulk_update_and_delete_are_scoped(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    database = get_database(app)
    with tenant_context(tenant_a.tenant_id), database.sessionmaker() as session:
        session.execute(update(Site).values(address="被A改写"))
        session.execute(delete(Site).where(Site.name == "不存在"))
        session.commit()
    with system_context("test: check"), database.sessionmaker() as session:
        b_site = session.get(Site, tenant_b.site_id)
        a_site = session.get(Site, tenant_a.site_id)
        assert b_site is not None
        assert a_site is not None
        assert b_site.address != "被A改写"
        assert a_site.address == "被A改写"


def test_system_context_sees_everything(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    with system_context("test"):
        ids = _site_ids(app)
    assert {tenant_a.site_id, tenant_b.site_id} <= ids


def test_audit_log_is_append_only(app: Flask, tenant_a: TenantFixture) -> None:
    """Tenant creation wrote audit rows; the database refuses to change them."""
    database = get_database(app)
    with tenant_context(tenant_a.tenant_id), database.sessionmaker() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.event == "tenant.create")).one()
        event.event = "forged"
        with pytest.raises(Exception, match=r"(?i)append-only|permission denied"):
            session.commit()
        session.rollback()
        session.delete(session.get(AuditEvent, event.id))
        with pytest.raises(Exception, match=r"(?i)append-only|permission denied"):
            session.commit()
