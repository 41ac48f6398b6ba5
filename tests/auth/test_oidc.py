"""Provider-staff single sign-on against a real local OpenID provider (tests/auth/oidc_provider.py).

Every login goes over HTTP: the app's authlib client reads discovery and JWKS from the provider,
the browser leg is followed with ``requests``, and the code is exchanged at the token endpoint.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from saas import migrate
from saas.app import create_app
from saas.db import get_database
from saas.models.identity import AuditEvent, Role, User
from saas.settings import Settings
from saas.tenancy import system_context
from tests.auth.oidc_provider import FakeOpenIDProvider, Identity
from tests.conftest import make_tenant, make_user

CLIENT_ID = "cleangate-console"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOpenIDProvider]:
    idp = FakeOpenIDProvider(CLIENT_ID, secrets.token_urlsafe(24)).start()
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def oidc_app(
    provider: FakeOpenIDProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("oidc")
    url = f"sqlite:///{tmp / 'oidc.db'}"
    migrate.upgrade(url)
    settings = Settings.from_env(
        {
            "CLEANGATE_VAR_DIR": str(tmp),
            "DATABASE_URL": url,
            "MIGRATION_DATABASE_URL": url,
            "OIDC_ISSUER": provider.issuer,
            "OIDC_CLIENT_ID": provider.client_id,
            "OIDC_CLIENT_SECRET": provider.client_secret,
            "OIDC_ALLOW_INSECURE": "true",
        },
        testing=True,
    )
    with pytest.MonkeyPatch.context() as mp:
        # oidc.init_app sets this process-wide for http issuers; scope it to this module.
        mp.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
        app = create_app(settings)
        yield app
        get_database(app).dispose()


def _email() -> str:
    return f"staff-{uuid.uuid4().hex[:8]}@cleangate.example"


def _oidc_login(client: FlaskClient, provider: FakeOpenIDProvider) -> TestResponse:
    """Start at the app, pass through the provider over HTTP, return the callback's response."""
    start = client.get("/auth/oidc/start")
    assert start.status_code == 302
    location = start.headers["Location"]
    assert location.startswith(provider.authorization_endpoint + "?")
    approved = requests.get(location, allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/auth/oidc/callback"
    return client.get(f"{back.path}?{back.query}")


def _assert_logged_in(client: FlaskClient, response: TestResponse) -> None:
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/console/"
    assert client.get("/console/").status_code == 200


def _assert_not_logged_in(client: FlaskClient, response: TestResponse) -> None:
    assert response.status_code >= 400
    assert "/console/" not in response.headers.get("Location", "")
    with client.session_transaction() as session:
        assert "sid" not in session
    assert client.get("/console/").status_code == 401


def _user(app: Flask, user_id: uuid.UUID) -> User:
    with get_database(app).sessionmaker() as session, system_context("test: read user"):
        user = session.get(User, user_id)
        assert user is not None
        return user


def _refusals(app: Flask, actor: str) -> list[AuditEvent]:
    with get_database(app).sessionmaker() as session, system_context("test: audit"):
        return list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.event == "login.failure", AuditEvent.actor_label == actor
                )
            )
        )


def test_known_staff_logs_in_by_verified_email_and_is_bound(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    staff = make_user(oidc_app, Role.PROVIDER_OPS, None, email=email)
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email)
    client = oidc_app.test_client()

    _assert_logged_in(client, _oidc_login(client, provider))

    bound = _user(oidc_app, staff.id)
    assert bound.oidc_issuer == provider.issuer
    assert bound.oidc_subject == provider.identity.sub
    assert provider.token_auth_methods[-1] in {"client_secret_basic", "client_secret_post"}


def test_bound_staff_logs_in_by_subject_after_email_change(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    staff = make_user(oidc_app, Role.PROVIDER_EXPERT, None, email=email)
    subject = f"sub-{uuid.uuid4().hex}"
    provider.identity = Identity(sub=subject, email=email)
    first = oidc_app.test_client()
    _assert_logged_in(first, _oidc_login(first, provider))

    provider.identity = Identity(sub=subject, email=_email(), email_verified=False)
    second = oidc_app.test_client()
    _assert_logged_in(second, _oidc_login(second, provider))
    assert _user(oidc_app, staff.id).oidc_subject == subject


def test_unknown_email_is_refused_and_audited(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email)
    client = oidc_app.test_client()

    response = _oidc_login(client, provider)

    assert response.status_code == 403
    _assert_not_logged_in(client, response)
    [refusal] = _refusals(oidc_app, email)
    assert refusal.tenant_id is None
    assert refusal.details == {"reason": "oidc_unknown_staff", "issuer": provider.issuer}


def test_tenant_user_with_the_same_email_is_refused(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    tenant = make_tenant(oidc_app, "oidc")
    viewer = make_user(oidc_app, Role.VIEWER, tenant.tenant_id, email=email)
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email)
    client = oidc_app.test_client()

    response = _oidc_login(client, provider)

    assert response.status_code == 403
    _assert_not_logged_in(client, response)
    assert client.get("/portal/").status_code == 401
    assert _user(oidc_app, viewer.id).oidc_subject is None
    assert [r.details["reason"] for r in _refusals(oidc_app, email)] == ["oidc_unknown_staff"]


def test_unverified_email_is_refused(oidc_app: Flask, provider: FakeOpenIDProvider) -> None:
    email = _email()
    staff = make_user(oidc_app, Role.PROVIDER_ADMIN, None, email=email)
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email, email_verified=False)
    client = oidc_app.test_client()

    response = _oidc_login(client, provider)

    assert response.status_code == 403
    _assert_not_logged_in(client, response)
    assert _user(oidc_app, staff.id).oidc_subject is None
    assert len(_refusals(oidc_app, email)) == 1


def test_id_token_with_a_forged_signature_is_rejected(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    staff = make_user(oidc_app, Role.PROVIDER_OPS, None, email=email)
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email)
    client = oidc_app.test_client()

    with provider.signing_with_unpublished_key():
        response = _oidc_login(client, provider)

    assert response.status_code == 403
    _assert_not_logged_in(client, response)
    assert _user(oidc_app, staff.id).oidc_subject is None
    assert any(r.startswith("oidc_token_invalid") for r in _refusal_reasons(oidc_app))

    # The same user and provider succeed once the token is signed with the published key.
    _assert_logged_in(client, _oidc_login(client, provider))


def test_each_app_uses_its_own_identity_provider(
    oidc_app: Flask, provider: FakeOpenIDProvider, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two apps in one process (tests, multi-worker embedding) must not share the OIDC client."""
    other_provider = FakeOpenIDProvider("other-client", secrets.token_urlsafe(24)).start()
    try:
        tmp = tmp_path_factory.mktemp("oidc-other")
        other_app = create_app(
            Settings.from_env(
                {
                    "CLEANGATE_VAR_DIR": str(tmp),
                    "DATABASE_URL": f"sqlite:///{tmp / 'other.db'}",
                    "OIDC_ISSUER": other_provider.issuer,
                    "OIDC_CLIENT_ID": other_provider.client_id,
                    "OIDC_CLIENT_SECRET": other_provider.client_secret,
                    "OIDC_ALLOW_INSECURE": "true",
                },
                testing=True,
            )
        )
        other_start = other_app.test_client().get("/auth/oidc/start")
        first_start = oidc_app.test_client().get("/auth/oidc/start")
        get_database(other_app).dispose()
    finally:
        other_provider.stop()
    assert other_start.headers["Location"].startswith(other_provider.authorization_endpoint + "?")
    assert "client_id=other-client" in other_start.headers["Location"]
    assert first_start.headers["Location"].startswith(provider.authorization_endpoint + "?")
    assert f"client_id={CLIENT_ID}" in first_start.headers["Location"]


def _refusal_reasons(app: Flask) -> list[str]:
    from sqlalchemy import select

    from saas.db import get_database
    from saas.models.identity import AuditEvent
    from saas.tenancy import system_context

    with get_database(app).sessionmaker() as session, system_context("test"):
        rows = session.scalars(select(AuditEvent).where(AuditEvent.event == "login.failure"))
        return [str(r.details.get("reason")) for r in rows]


def test_string_false_email_verified_and_mixed_case_email(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    staff = make_user(oidc_app, Role.PROVIDER_OPS, None, email=email.upper())
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email, email_verified="false")  # type: ignore[arg-type]
    client = oidc_app.test_client()
    assert _oidc_login(client, provider).status_code == 403
    assert _user(oidc_app, staff.id).oidc_subject is None
    provider.identity = Identity(sub=provider.identity.sub, email=email, email_verified=True)
    _assert_logged_in(client, _oidc_login(client, provider))


def test_inactive_staff_is_refused_and_not_bound(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    from saas.db import get_database
    from saas.models.identity import User
    from saas.tenancy import system_context

    email = _email()
    staff = make_user(oidc_app, Role.PROVIDER_OPS, None, email=email)
    with get_database(oidc_app).sessionmaker() as session, system_context("test"):
        row = session.get(User, staff.id)
        assert row is not None
        row.is_active = False
        session.commit()
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email)
    assert _oidc_login(oidc_app.test_client(), provider).status_code == 403
    assert _user(oidc_app, staff.id).oidc_subject is None


def test_two_staff_with_one_email_are_refused(
    oidc_app: Flask, provider: FakeOpenIDProvider
) -> None:
    email = _email()
    make_user(oidc_app, Role.PROVIDER_OPS, None, email=email)
    make_user(oidc_app, Role.PROVIDER_EXPERT, None, email=email)
    provider.identity = Identity(sub=f"sub-{uuid.uuid4().hex}", email=email)
    assert _oidc_login(oidc_app.test_client(), provider).status_code == 403
    assert "oidc_ambiguous_email" in _refusal_reasons(oidc_app)
