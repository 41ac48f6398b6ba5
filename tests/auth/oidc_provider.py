"""A small but real OpenID Connect provider for tests: a werkzeug server on 127.0.0.1 speaking
discovery, JWKS, the authorization-code flow, the token endpoint and userinfo over HTTP.

It auto-approves every authorization request for the identity currently set on it, signs ID
tokens RS256 with a key generated at start-up, and can be told to sign with a key it does not
publish (a forged token) so tests can check that the relying party verifies signatures.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

KEY_ID = "test-signing-key"


@dataclass
class Identity:
    """Who the provider says the user is; tests change it between logins."""

    sub: str
    email: str
    email_verified: bool = True
    name: str = "Test Staff"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    identity: Identity


@dataclass
class FakeOpenIDProvider:
    client_id: str
    client_secret: str
    identity: Identity = field(default_factory=lambda: Identity("sub-0", "nobody@example.com"))
    token_auth_methods: list[str] = field(default_factory=list)  # what clients actually used

    def __post_init__(self) -> None:
        self.published_key = _new_key()
        self.signing_key = self.published_key
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, Identity] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.issuer = ""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenIDProvider:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-oidc-provider", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            assert not self._thread.is_alive(), "fake OIDC provider thread did not stop"

    @contextmanager
    def signing_with_unpublished_key(self) -> Iterator[None]:
        """Sign ID tokens with a fresh key under the published key id: a forged signature."""
        self.signing_key = _new_key()
        try:
            yield
        finally:
            self.signing_key = self.published_key

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + "/authorize"

    # -- HTTP ------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        routes = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/jwks"): self._jwks,
            ("GET", "/authorize"): self._authorize,
            ("POST", "/token"): self._token,
            ("GET", "/userinfo"): self._userinfo,
        }
        handler = routes.get((request.method, request.path))
        response = _error(404, "not_found") if handler is None else handler(request)
        return response(environ, start_response)

    def _discovery(self, _request: Request) -> Response:
        return _json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.authorization_endpoint,
                "token_endpoint": self.issuer + "/token",
                "userinfo_endpoint": self.issuer + "/userinfo",
                "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "claims_supported": ["sub", "iss", "aud", "email", "email_verified", "name"],
            }
        )

    def _jwks(self, _request: Request) -> Response:
        return _json(KeySet([self.published_key]).as_dict(private=False))

    def _authorize(self, request: Request) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id or not redirect_uri:
            return _error(400, "invalid_request", "unknown client or missing redirect_uri")
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            return _error(400, "unsupported_response_type")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                self.client_id, redirect_uri, args.get("nonce"), _copy(self.identity)
            )
        query = {"code": code}
        if "state" in args:
            query["state"] = args["state"]
        separator = "&" if "?" in redirect_uri else "?"
        location = redirect_uri + separator + urlencode(query)
        return Response(status=302, headers={"Location": location})

    def _token(self, request: Request) -> Response:
        client_id, client_secret, method = _client_credentials(request)
        if client_id != self.client_id or not secrets.compare_digest(
            client_secret or "", self.client_secret
        ):
            return _error(401, "invalid_client")
        self.token_auth_methods.append(method)
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # codes are single-use
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return _error(400, "invalid_grant")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "sub": grant.identity.sub,
            "email": grant.identity.email,
            "email_verified": grant.identity.email_verified,
            "name": grant.identity.name,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, self.signing_key)
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = grant.identity
        return _json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "openid email profile",
                "id_token": id_token,
            }
        )

    def _userinfo(self, request: Request) -> Response:
        header = request.headers.get("Authorization", "")
        with self._lock:
            identity = self._access_tokens.get(header.removeprefix("Bearer ").strip())
        if not header.startswith("Bearer ") or identity is None:
            return _error(401, "invalid_token")
        return _json(
            {
                "sub": identity.sub,
                "email": identity.email,
                "email_verified": identity.email_verified,
                "name": identity.name,
            }
        )


def _new_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"}, private=True
    )


def _copy(identity: Identity) -> Identity:
    return Identity(identity.sub, identity.email, identity.email_verified, identity.name)


def _client_credentials(request: Request) -> tuple[str | None, str | None, str]:
    """client_secret_basic (RFC 6749 §2.3.1: form-urlencoded, then base64) or _post."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode()
        except ValueError:
            return None, None, "client_secret_basic"
        client_id, _, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret), "client_secret_basic"
    return request.form.get("client_id"), request.form.get("client_secret"), "client_secret_post"


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(status: int, error: str, description: str | None = None) -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return _json(body, status)
