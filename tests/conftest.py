"""Shared fixtures: AWS faked by moto, infrastructure built from template.yaml."""

from __future__ import annotations

import os

# Never reach real AWS from tests, whatever the developer's shell has set.
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "ChargewatchTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from chargewatch import settings  # noqa: E402
from chargewatch.dal import table  # noqa: E402
from chargewatch.services import auth  # noqa: E402
from chargewatch_tools.emulator import moto_fixes  # noqa: E402
from chargewatch_tools.infra import create_stack  # noqa: E402

moto_fixes.install()


@pytest.fixture
def stack():
    """A fresh moto account with the template's table, queues and bucket; env as the functions see it."""
    with mock_aws():
        session = boto3.Session(region_name="eu-west-1")
        created = create_stack(session, prefix="test")
        saved = dict(os.environ)
        # every function shares the Globals environment; the sessions function is representative
        os.environ.update(created.function_environment("SessionsFunction"))
        os.environ["COGNITO_JWKS_URL"] = _moto_jwks_url()
        table.bind(settings.reload_settings())
        auth.clear_cache()
        try:
            yield created
        finally:
            os.environ.clear()
            os.environ.update(saved)
            table.bind(settings.reload_settings())
            auth.clear_cache()


_jwks_server_url: str | None = None


def _moto_jwks_url() -> str:
    """moto signs user-pool tokens with a fixed key pair; without a moto server the public half is
    served from a tiny local HTTP server (PyJWKClient fetches over http(s) only), started once."""
    global _jwks_server_url
    if _jwks_server_url is None:
        import gzip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from pathlib import Path

        import moto.cognitoidp

        keys = gzip.decompress(
            (Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-public.json.gz").read_bytes()
        )

        class _Keys(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(keys)))
                self.end_headers()
                self.wfile.write(keys)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Keys)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _jwks_server_url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    return _jwks_server_url


@pytest.fixture
def gateway(stack):
    from chargewatch_tools.emulator.gateway import LocalGateway

    return LocalGateway(stack)


@pytest.fixture
def make_org(stack):
    """Provision an organization (optionally with a chosen id) and return (organization id, api key)."""
    from chargewatch.services.organizations import create_organization

    def _make(name: str = "Acme Charging", organization_id: str | None = None):
        provisioned = create_organization(name, organization_id=organization_id)
        return provisioned.organization_id, provisioned.api_key

    return _make


class ApiClient:
    """Calls the local gateway like an HTTP client would (JSON in, JSON out)."""

    def __init__(self, gateway, api_key: str | None):
        self.gateway = gateway
        self.api_key = api_key

    def request(self, method: str, path: str, *, json_body=None, raw_body=None, query: str = "", headers=None):
        import json as _json

        sent = {"content-type": "application/json"}
        if self.api_key:
            sent["authorization"] = f"Bearer {self.api_key}"
        sent.update(headers or {})
        body = raw_body if raw_body is not None else (None if json_body is None else _json.dumps(json_body))
        return self.gateway.handle(method, path, headers=sent, query=query, body=body)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)

    def put(self, path, json_body=None, **kw):
        return self.request("PUT", path, json_body=json_body, **kw)

    def patch(self, path, json_body=None, **kw):
        return self.request("PATCH", path, json_body=json_body, **kw)


@pytest.fixture
def make_user(stack):
    """A person in the user pool (optionally a member of `org` with `role`), signed in: `.token` is
    a Cognito ID token the authorizer verifies like any other."""
    import types

    from chargewatch import clock
    from chargewatch.dal import members, users
    from chargewatch.services import cognito

    def _make(
        email: str,
        *,
        org: str | None = None,
        role: str = "member",
        super_admin: bool = False,
        password: str = "Passw0rd-local",
    ):
        user_id = cognito.admin_create_user(email, password)
        users.upsert(user_id, email=email, now=clock.iso_now(), super_admin=super_admin)
        if org:
            members.put_member(org, user_id=user_id, email=email, role=role, joined_at=clock.iso_now())
        token = cognito.login(email, password)["IdToken"]
        return types.SimpleNamespace(user_id=user_id, email=email, token=token, password=password)

    return _make


@pytest.fixture
def client_for(gateway):
    def _client(api_key: str | None) -> ApiClient:
        return ApiClient(gateway, api_key)

    return _client


@pytest.fixture
def api(make_org, client_for):
    _, key = make_org()
    return client_for(key)


@pytest.fixture
def atomic_calls(monkeypatch):
    """Make each AWS call atomic, as DynamoDB is: moto's in-process backend is not thread-safe
    (its transactions check and apply without a lock), so without this a concurrency test would
    measure moto. Used by the racing-append and the concurrent-metering tests."""
    import threading

    import botocore.client

    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def serialised(self, operation_name, api_params):
        with lock:
            return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", serialised)
