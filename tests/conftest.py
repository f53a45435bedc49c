"""Shared fixtures: AWS faked by moto, infrastructure built from template.yaml."""
from __future__ import annotations

import os

# Never reach real AWS from tests, whatever the developer's shell has set.
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "ChargewatchTest",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
})

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
        table.bind(settings.reload_settings())
        auth.clear_cache()
        try:
            yield created
        finally:
            os.environ.clear()
            os.environ.update(saved)
            table.bind(settings.reload_settings())
            auth.clear_cache()


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
def client_for(gateway):
    def _client(api_key: str | None) -> ApiClient:
        return ApiClient(gateway, api_key)

    return _client


@pytest.fixture
def api(make_org, client_for):
    _, key = make_org()
    return client_for(key)
