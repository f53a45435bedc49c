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

from chargewatch import aws, settings  # noqa: E402
from chargewatch.dal import table  # noqa: E402
from chargewatch.services import auth  # noqa: E402
from chargewatch_tools.emulator import moto_fixes  # noqa: E402
from chargewatch_tools.infra import create_stack  # noqa: E402

moto_fixes.install()

# Fixtures that live with their helpers (fake clocks, webhook receivers, browsers): registered here,
# so test files ask for them by name instead of importing them.
pytest_plugins = ["webhook_support", "login_session_support"]


REGION = "eu-west-1"


class SharedStack:
    """The template's resources in one moto account, built once per test process (per xdist worker).

    Building the stack is cheap; what made every test pay ~2 s was everything downstream of a new
    moto account: pynamodb re-creating a botocore client per model after `table.bind`, the gateway
    re-importing every function, boto3 re-reading its service models. Here all of that happens once
    per process, and each test starts from empty data instead: `reset_data()` deletes the table's
    items, purges the queues, empties the buckets and removes the user pool's users (tens of ms).
    """

    def __init__(self):
        # the default boto3 session (and the clients cached from it) survives between tests
        self.mock = mock_aws(config={"core": {"reset_boto3_session": False}})
        self.session = boto3.Session(region_name=REGION)
        self.stack = None
        self.env: dict[str, str] = {}
        self._clients: dict[str, object] = {}
        self._registry = None
        with self.mock_active():
            self.build()

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    def mock_active(self):
        """moto on for one test only, data kept: tests that do not ask for AWS never see moto."""
        import contextlib

        @contextlib.contextmanager
        def _active():
            self.mock.start(reset=False)
            try:
                yield
            finally:
                self.mock.stop(remove_data=False)

        return _active()

    def build(self) -> None:
        created = create_stack(self.session, prefix="test")
        if self.stack is None:
            self.stack = created
        else:  # rebuilt after something reset moto: same Stack object, new physical ids
            self.stack.refs.update(created.refs)
            self.stack.arns.update(created.arns)
        self.env = all_functions_environment(self.stack)

    def ensure_built(self) -> None:
        """A test that starts its own mock_aws or calls moto's reset API wipes every backend of this
        process; rebuild then instead of failing every later test."""
        dynamodb = self.client("dynamodb")
        for name in self._names("AWS::DynamoDB::Table"):
            try:
                dynamodb.describe_table(TableName=name)
            except dynamodb.exceptions.ResourceNotFoundException:
                self.build()
                return

    def _names(self, resource_type: str) -> list[str]:
        return [self.stack.refs[logical_id] for logical_id in self.stack.resources(resource_type)]

    def reset_data(self) -> None:
        """Empty every table, queue, bucket and user pool of the stack (the resources stay)."""
        dynamodb = self.client("dynamodb")
        for logical_id, resource in self.stack.resources("AWS::DynamoDB::Table").items():
            name = self.stack.refs[logical_id]
            key_names = [key["AttributeName"] for key in resource["Properties"]["KeySchema"]]
            names = {f"#k{i}": key for i, key in enumerate(key_names)}
            keys = []
            for page in dynamodb.get_paginator("scan").paginate(
                TableName=name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
            ):
                keys.extend(page["Items"])
            for start in range(0, len(keys), 25):
                dynamodb.batch_write_item(
                    RequestItems={name: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
                )
        sqs = self.client("sqs")
        # moto, like SQS, allows one purge a minute per queue unless told otherwise (read per call)
        os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"] = "false"
        try:
            for url in self._names("AWS::SQS::Queue"):
                sqs.purge_queue(QueueUrl=url)
        finally:
            del os.environ["MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR"]
        s3 = self.client("s3")
        for bucket in self._names("AWS::S3::Bucket"):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                objects = [
                    {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                    for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if objects:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        cognito = None
        for pool_id in self._names("AWS::Cognito::UserPool"):
            cognito = cognito or self.client("cognito-idp")
            for page in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id):
                for user in page["Users"]:
                    cognito.admin_delete_user(UserPoolId=pool_id, Username=user["Username"])

    def registry(self):
        """The functions, imported once per process with the stack's environment (a cold start each)."""
        if self._registry is None:
            from chargewatch_tools.emulator.gateway import FunctionRegistry

            self._registry = FunctionRegistry(self.stack)
            # import them all now: each import re-binds the table, which costs every model a new
            # client; done in one go, before the models connect, it costs nothing
            for logical_id in self.stack.resources("AWS::Serverless::Function"):
                self._registry.module(logical_id)
            sync_settings()
        return self._registry


def all_functions_environment(stack) -> dict[str, str]:
    """What the functions see, all in one process: Globals plus every function's own variables
    (the tests call services of several functions in one process, as the emulator does)."""
    env = stack.process_environment()
    env["COGNITO_JWKS_URL"] = _moto_jwks_url()
    return env


_synced: tuple[dict[str, str], object] | None = None


def sync_settings(*, bind: bool = True) -> None:
    """Settings (and, with `bind`, the table binding) follow os.environ; nothing is rebuilt when
    nothing changed.

    Re-binding the table drops every model's connection (a botocore client each, ~0.2 s), and a
    new settings object makes the services rebuild their boto3 clients: both only when needed. After
    a test the models stay bound to the stack's table (no AWS is reachable outside `stack` anyway),
    so the next test that uses the stack finds them connected.
    """
    global _synced
    environ = dict(os.environ)
    if _synced is None or _synced[0] != environ or _synced[1] is not settings.get_settings():
        current = settings.reload_settings()
        _synced = (environ, current)
    current = settings.get_settings()
    target = (current.table_name, current.aws_region, aws.pynamodb_host(current))
    if bind and any((model.Meta.table_name, model.Meta.region, model.Meta.host) != target for model in table._MODELS):
        table.bind(current)
    auth.clear_cache()


@pytest.fixture(scope="session")
def shared_stack():
    return SharedStack()


@pytest.fixture
def fresh_stack():
    """Opt-in: a brand-new moto account for this test alone (about a second more than `stack`).

    For a test that changes the infrastructure itself (deletes or reconfigures a queue, a table, the
    user pool) or must see an account nothing else ever touched. With it, `stack`, `gateway`,
    `make_org`, `api` and the rest use this account too. The shared stack is rebuilt afterwards.
    """
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        created = create_stack(boto3.Session(region_name=REGION), prefix="fresh")
        saved = dict(os.environ)
        os.environ.update(all_functions_environment(created))
        sync_settings()
        try:
            yield created
        finally:
            os.environ.clear()
            os.environ.update(saved)
            sync_settings(bind=False)


@pytest.fixture
def stack(request):
    """The template's table, queues, bucket and user pool in moto, with the environment as the
    functions see it; empty at the start of each test (data reset, resources kept: see SharedStack).
    Isolation between tests does not rely on the reset alone: each test makes its own organization."""
    if "fresh_stack" in request.fixturenames:
        yield request.getfixturevalue("fresh_stack")
        return
    shared = request.getfixturevalue("shared_stack")
    with shared.mock_active():
        shared.ensure_built()
        shared.reset_data()
        saved = dict(os.environ)
        os.environ.update(shared.env)
        sync_settings()
        try:
            yield shared.stack
        finally:
            os.environ.clear()
            os.environ.update(saved)
            sync_settings(bind=False)


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
def gateway(request, stack):
    """The HTTP API in process: routes and the authorizer from template.yaml, the functions imported
    once per process (a fresh stack gets its own registry: the functions see its resources)."""
    from chargewatch_tools.emulator.gateway import FunctionRegistry, LocalGateway

    if "fresh_stack" in request.fixturenames:
        return LocalGateway(stack, FunctionRegistry(stack))
    return LocalGateway(stack, request.getfixturevalue("shared_stack").registry())


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


@pytest.fixture
def scheduled_emulator(monkeypatch):
    """An emulator on free ports running the template's schedules, its catch-up every second (more
    often is slower: each catch-up scan competes with the work it schedules for the CPU)."""
    from chargewatch_tools.emulator import schedules
    from chargewatch_tools.emulator.server import start_emulator

    monkeypatch.setattr(schedules, "CATCH_UP_SECONDS", 1.0)
    with start_emulator(port=0, moto_port=0, schedules=True) as emulator:
        yield emulator


# Tests that run the developer tooling end to end (an emulator on real ports, `chargewatch invoke`,
# a moto server on the LocalStack edge port): part of `make test`, not of `make test-fast`.
_TOOLING_MODULES = {
    "test_emulator_http.py",
    "test_emulator_webhooks.py",
    "test_invoke_cli.py",
    "test_localstack_mode.py",
    "test_upload_cli.py",
}


def pytest_collection_modifyitems(items):
    """`http`: the test goes through the API gateway (the `gateway` fixture, directly or via `api`,
    `client_for`) or the tooling above. `slow`: threads racing on one item (`atomic_calls`), which
    retry with back-off until they settle. `make test-fast` runs everything else: the unit tests
    and the service-level tests against the shared stack."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "gateway" in fixtures or item.path.name in _TOOLING_MODULES:
            item.add_marker(pytest.mark.http)
        if "atomic_calls" in fixtures:
            item.add_marker(pytest.mark.slow)
