"""Seed 002 usage metering: GET/POST /api/tenant-usage, plan limits (402, nothing changed), the
storage floor, Idempotency-Key, usage events, the monthly reset, product metering, roles, isolation
and the 50-vs-10 concurrency case."""

import threading
import time
from datetime import UTC, datetime

import pytest
from seed_examples import SEED_APPEND_SESSION, SEED_REPLACE_SESSION, seed_session
from webhook_support import FakeClock

from chargewatch import clock
from chargewatch.dal import usage as usage_dal
from chargewatch.errors import QuotaExceededError
from chargewatch.schemas.usage import UsageIncrementRequest
from chargewatch.services import usage
from chargewatch.tenancy import Tenant

PATH = "/api/tenant-usage"
SMALL_LIMITS = {"storageBytes": 1000, "aiTokensPerMonth": 100, "whatsappMessagesPerMonth": 10}
COUNTERS = ("storageBytes", "aiTokens", "whatsappMessages")


@pytest.fixture
def small_plan(monkeypatch):
    monkeypatch.setitem(usage.PLAN_LIMITS, "free", dict(SMALL_LIMITS))


@pytest.fixture
def frozen(monkeypatch):
    fake = FakeClock(datetime(2026, 1, 31, 23, 59, tzinfo=UTC))
    monkeypatch.setattr(clock, "now", fake.now)
    return fake


def _events(organization_id, month=None):
    return usage_dal.list_events(organization_id, month or usage.current_month())


def _counters(response):
    return {name: response.json()["usage"][name] for name in COUNTERS}


# ------------------------------------------------------------------ shapes


def test_get_returns_plan_limits_and_zero_counters_of_a_new_organization(make_org, client_for, frozen):
    organization_id, key = make_org()
    response = client_for(key).get(PATH)
    assert response.status == 200
    assert response.json() == {
        "tenantId": organization_id,
        "plan": {
            "id": "free",
            "name": "Free",
            "limits": {"storageBytes": 1024**3, "aiTokens": 20_000, "whatsappMessages": 100},
        },
        "usage": {
            "storageBytes": 0,
            "aiTokens": 0,
            "whatsappMessages": 0,
            "periodStart": "2026-01-01T00:00:00Z",
            "periodEnd": "2026-02-01T00:00:00Z",
        },
    }
    # the counters exist from the start (create_organization initialises them)
    assert usage_dal.get_month(organization_id, "2026-01") is not None


def test_enterprise_limits_are_unlimited(make_org, client_for):
    from chargewatch.services.organizations import create_organization

    provisioned = create_organization("Big", plan="enterprise")
    plan = client_for(provisioned.api_key).get(PATH).json()["plan"]
    assert plan == {
        "id": "enterprise",
        "name": "Enterprise",
        "limits": {"storageBytes": None, "aiTokens": None, "whatsappMessages": None},
    }
    response = client_for(provisioned.api_key).post(PATH, {"aiTokensDelta": 10**12})
    assert response.status == 200 and response.json()["usage"]["aiTokens"] == 10**12


def test_post_applies_the_seed_example_and_logs_an_event(make_org, client_for):
    organization_id, key = make_org()
    api = client_for(key)
    response = api.post(
        PATH, {"storageBytesDelta": 2097152, "reason": "document_upload", "metadata": {"fileId": "doc-uuid-1"}}
    )
    assert response.status == 200, response.body
    body = response.json()
    assert body["ok"] is True
    assert body["plan"] == api.get(PATH).json()["plan"]
    assert _counters(response) == {"storageBytes": 2097152, "aiTokens": 0, "whatsappMessages": 0}
    assert api.get(PATH).json()["usage"] == body["usage"]

    (event,) = _events(organization_id)
    assert event.deltas == {"storageBytes": 2097152}
    assert event.reason == "document_upload"
    assert event.metadata == {"fileId": "doc-uuid-1"}
    assert event.principal["type"] == "api_key" and event.principal["keyId"]
    assert event.ttl > time.time() + 300 * 86400  # kept ~400 days, then removed by DynamoDB TTL


def test_several_deltas_apply_together(make_org, client_for):
    _, key = make_org()
    response = client_for(key).post(PATH, {"storageBytesDelta": 10, "aiTokensDelta": 20, "whatsappMessagesDelta": 3})
    assert response.status == 200
    assert _counters(response) == {"storageBytes": 10, "aiTokens": 20, "whatsappMessages": 3}


@pytest.mark.parametrize(
    "body, fields",
    [
        ({}, {"storageBytesDelta", "aiTokensDelta", "whatsappMessagesDelta"}),
        ({"storageBytesDelta": 0, "aiTokensDelta": 0}, {"storageBytesDelta", "aiTokensDelta", "whatsappMessagesDelta"}),
        ({"reason": "nothing"}, {"storageBytesDelta", "aiTokensDelta", "whatsappMessagesDelta"}),
        ({"aiTokensDelta": "5"}, {"aiTokensDelta"}),
        ({"aiTokensDelta": True}, {"aiTokensDelta"}),
        ({"storageBytesDelta": 1.5}, {"storageBytesDelta"}),
        ({"aiTokensDelta": -5}, {"aiTokensDelta"}),
        ({"whatsappMessagesDelta": 1e300}, {"whatsappMessagesDelta"}),
        ({"aiTokensDelta": 1, "tokens": 5}, {"tokens"}),
        ({"aiTokensDelta": 1, "metadata": {"blob": "x" * 5000}}, {"metadata"}),
    ],
)
def test_invalid_increments_are_400_naming_the_field(make_org, client_for, body, fields):
    organization_id, key = make_org()
    response = client_for(key).post(PATH, body)
    assert response.status == 400, response.body
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {detail["field"] for detail in error["details"]} == fields
    assert _events(organization_id) == []


@pytest.mark.parametrize(
    "raw", ['{"aiTokensDelta": NaN}', '{"storageBytesDelta": Infinity}', '{"storageBytesDelta": -Infinity}']
)
def test_non_finite_numbers_are_400(make_org, client_for, raw):
    # NaN and Infinity are not JSON (RFC 8259): the body is refused before any field is read
    organization_id, key = make_org()
    response = client_for(key).post(PATH, raw_body=raw)
    assert response.status == 400
    assert response.json()["error"]["details"][0]["field"] == "body"
    assert _events(organization_id) == []


def test_invalid_json_is_400(make_org, client_for):
    _, key = make_org()
    response = client_for(key).post(PATH, raw_body="{")
    assert response.status == 400 and response.json()["error"]["code"] == "invalid_json"


def test_unauthenticated_is_401(client_for, stack):
    assert client_for(None).get(PATH).status == 401
    assert client_for(None).post(PATH, {"aiTokensDelta": 1}).status == 401


# ------------------------------------------------------------------ limits


@pytest.mark.parametrize(
    "field, counter, limit, code",
    [
        ("storageBytesDelta", "storageBytes", 1000, "storage_limit_exceeded"),
        ("aiTokensDelta", "aiTokens", 100, "ai_limit_exceeded"),
        ("whatsappMessagesDelta", "whatsappMessages", 10, "whatsapp_limit_exceeded"),
    ],
)
def test_an_increment_past_the_limit_is_402_and_changes_nothing(
    make_org, client_for, small_plan, field, counter, limit, code
):
    organization_id, key = make_org()
    api = client_for(key)
    assert api.post(PATH, {field: limit - 1}).status == 200
    before = api.get(PATH).json()["usage"]

    refused = api.post(PATH, {field: 2, "reason": "too much"})
    assert refused.status == 402, refused.body
    error = refused.json()["error"]
    assert error["code"] == code
    assert error["details"][0]["field"] == counter
    assert api.get(PATH).json()["usage"] == before
    assert len(_events(organization_id)) == 1

    # a combined delta is refused whole when one counter would pass its limit
    other = "aiTokensDelta" if field != "aiTokensDelta" else "whatsappMessagesDelta"
    assert api.post(PATH, {field: 2, other: 1}).status == 402
    assert api.get(PATH).json()["usage"] == before

    # exactly up to the limit is allowed
    reached = api.post(PATH, {field: 1})
    assert reached.status == 200 and reached.json()["usage"][counter] == limit


def test_a_single_delta_bigger_than_the_limit_is_402(make_org, client_for, small_plan):
    _, key = make_org()
    response = client_for(key).post(PATH, {"aiTokensDelta": 101})
    assert response.status == 402 and response.json()["error"]["code"] == "ai_limit_exceeded"
    assert client_for(key).get(PATH).json()["usage"]["aiTokens"] == 0


def test_plan_limits_environment_override(stack, monkeypatch):
    """PLAN_LIMITS (template parameter PlanLimits) is merged over the built-in limits."""
    from chargewatch import settings

    monkeypatch.setenv("PLAN_LIMITS", '{"free": {"whatsappMessagesPerMonth": 2}, "pro": {"storageBytes": null}}')
    settings.reload_settings()
    try:
        assert usage.limits_for("free") == {"storageBytes": 1024**3, "aiTokens": 20_000, "whatsappMessages": 2}
        assert usage.limits_for("pro") == {"storageBytes": None, "aiTokens": 2_000_000, "whatsappMessages": 5_000}
    finally:
        monkeypatch.delenv("PLAN_LIMITS")
        settings.reload_settings()
    assert usage.limits_for("free")["whatsappMessages"] == 100


def test_negative_storage_floors_at_zero(make_org, client_for, small_plan):
    organization_id, key = make_org()
    api = client_for(key)
    assert api.post(PATH, {"storageBytesDelta": 600}).json()["usage"]["storageBytes"] == 600
    assert api.post(PATH, {"storageBytesDelta": -100}).json()["usage"]["storageBytes"] == 500
    floored = api.post(PATH, {"storageBytesDelta": -10_000, "reason": "cleanup"})
    assert floored.status == 200 and floored.json()["usage"]["storageBytes"] == 0
    assert api.post(PATH, {"storageBytesDelta": -1}).json()["usage"]["storageBytes"] == 0
    # releasing storage is never refused, and frees room under the limit
    assert api.post(PATH, {"storageBytesDelta": 1000}).status == 200
    assert api.post(PATH, {"storageBytesDelta": -5000}).status == 200
    assert api.post(PATH, {"storageBytesDelta": 1000}).status == 200
    assert len(_events(organization_id)) == 7


# ------------------------------------------------------------------ idempotency


def test_idempotency_key_applies_a_retried_increment_once(make_org, client_for, small_plan):
    organization_id, key = make_org()
    api = client_for(key)
    headers = {"Idempotency-Key": "job-42"}
    first = api.post(PATH, {"aiTokensDelta": 60}, headers=headers)
    again = api.post(PATH, {"aiTokensDelta": 60}, headers=headers)
    assert first.status == again.status == 200
    assert first.json()["usage"]["aiTokens"] == again.json()["usage"]["aiTokens"] == 60
    assert len(_events(organization_id)) == 1
    # the retry is answered 200 even though applying it again would now pass the limit (60 + 60 > 100)
    assert api.post(PATH, {"aiTokensDelta": 60}, headers={"Idempotency-Key": "job-43"}).status == 402
    assert (
        api.post(PATH, {"aiTokensDelta": 10}, headers={"idempotency-key": "job-44"}).json()["usage"]["aiTokens"] == 70
    )
    assert len(_events(organization_id)) == 2


def test_a_refused_increment_does_not_use_up_its_idempotency_key(make_org, client_for, small_plan):
    _, key = make_org()
    api = client_for(key)
    headers = {"Idempotency-Key": "retry-me"}
    assert api.post(PATH, {"aiTokensDelta": 101}, headers=headers).status == 402
    assert api.post(PATH, {"aiTokensDelta": 10}, headers=headers).json()["usage"]["aiTokens"] == 10


def test_idempotency_keys_are_per_tenant(make_org, client_for):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    headers = {"Idempotency-Key": "same"}
    assert client_for(acme_key).post(PATH, {"aiTokensDelta": 5}, headers=headers).status == 200
    applied = client_for(corp_key).post(PATH, {"aiTokensDelta": 7}, headers=headers)
    assert applied.json()["usage"]["aiTokens"] == 7


# ------------------------------------------------------------------ billing month


def test_counters_reset_per_billing_month_and_storage_carries_over(make_org, client_for, small_plan, frozen):
    organization_id, key = make_org()
    api = client_for(key)
    assert api.post(PATH, {"storageBytesDelta": 300, "aiTokensDelta": 100, "whatsappMessagesDelta": 10}).status == 200
    assert api.post(PATH, {"aiTokensDelta": 1}).status == 402

    frozen.advance(minutes=2)  # 2026-02-01T00:01Z
    february = api.get(PATH).json()["usage"]
    assert february == {
        "storageBytes": 300,
        "aiTokens": 0,
        "whatsappMessages": 0,
        "periodStart": "2026-02-01T00:00:00Z",
        "periodEnd": "2026-03-01T00:00:00Z",
    }
    applied = api.post(PATH, {"aiTokensDelta": 100, "whatsappMessagesDelta": 10, "storageBytesDelta": 700})
    assert applied.status == 200, applied.body
    assert _counters(applied) == {"storageBytes": 1000, "aiTokens": 100, "whatsappMessages": 10}
    # storage is a level: still at its limit in February
    assert api.post(PATH, {"storageBytesDelta": 1}).json()["error"]["code"] == "storage_limit_exceeded"
    # January's item and events stay as they were
    january = usage_dal.get_month(organization_id, "2026-01")
    assert (january.storageBytes, january.aiTokens, january.whatsappMessages) == (300, 100, 10)
    assert len(_events(organization_id, "2026-01")) == 1
    assert len(_events(organization_id, "2026-02")) == 1

    frozen.set(datetime(2026, 12, 31, 12, tzinfo=UTC))  # months without any usage in between
    assert api.get(PATH).json()["usage"]["storageBytes"] == 1000
    assert api.post(PATH, {"storageBytesDelta": -400}).json()["usage"]["storageBytes"] == 600


# ------------------------------------------------------------------ roles and isolation


def test_members_read_usage_but_only_admins_increment(make_org, client_for, make_user):
    organization_id, _ = make_org("Acme", organization_id="acme")
    member = make_user("member@example.com", org=organization_id, role="member")
    admin = make_user("admin@example.com", org=organization_id, role="admin")
    owner = make_user("owner@example.com", org=organization_id, role="owner")

    assert client_for(member.token).get(PATH).json()["tenantId"] == organization_id
    refused = client_for(member.token).post(PATH, {"aiTokensDelta": 5})
    assert refused.status == 403
    assert refused.json()["error"]["code"] == "insufficient_privilege"
    assert client_for(member.token).get(PATH).json()["usage"]["aiTokens"] == 0

    assert client_for(admin.token).post(PATH, {"aiTokensDelta": 5}).status == 200
    assert client_for(owner.token).post(PATH, {"aiTokensDelta": 5}).json()["usage"]["aiTokens"] == 10
    principals = [event.principal for event in _events(organization_id)]
    assert sorted(principal["userId"] for principal in principals) == sorted([admin.user_id, owner.user_id])
    assert {principal["type"] for principal in principals} == {"user"}


def test_tenants_sharing_an_id_prefix_are_isolated(make_org, client_for, make_user):
    _, acme_key = make_org("Acme", organization_id="acme")
    _, corp_key = make_org("Acme Corp", organization_id="acme-corp")
    acme, corp = client_for(acme_key), client_for(corp_key)
    assert acme.post(PATH, {"storageBytesDelta": 123, "aiTokensDelta": 4}).status == 200

    corp_usage = corp.get(PATH).json()
    assert corp_usage["tenantId"] == "acme-corp"
    assert _counters_of(corp_usage) == {"storageBytes": 0, "aiTokens": 0, "whatsappMessages": 0}
    assert _events("acme-corp") == []

    # neither a key nor a user can reach the other tenant's counters
    for method, body in (("GET", None), ("POST", {"aiTokensDelta": 1})):
        response = acme.request(method, PATH, json_body=body, headers={"X-Organization-Id": "acme-corp"})
        assert response.status == 403, response.body
    admin = make_user("admin@acme.example", org="acme", role="admin")
    for method, body in (("GET", None), ("POST", {"aiTokensDelta": 1})):
        response = client_for(admin.token).request(
            method, PATH, json_body=body, headers={"X-Organization-Id": "acme-corp"}
        )
        assert response.status == 403, response.body
    # body fields cannot choose the tenant
    smuggled = acme.post(PATH, {"aiTokensDelta": 1, "tenantId": "acme-corp"})
    assert smuggled.status == 400
    assert _counters_of(corp.get(PATH).json()) == {"storageBytes": 0, "aiTokens": 0, "whatsappMessages": 0}
    assert _counters_of(acme.get(PATH).json()) == {"storageBytes": 123, "aiTokens": 4, "whatsappMessages": 0}


def _counters_of(body):
    return {name: body["usage"][name] for name in COUNTERS}


# ------------------------------------------------------------------ the product meters through the service


def test_charging_sessions_meter_their_stored_bytes(make_org, client_for):
    from chargewatch.dal import sessions as sessions_dal

    organization_id, key = make_org()
    api = client_for(key)

    def stored():
        return api.get(PATH).json()["usage"]["storageBytes"]

    assert api.post("/v1/sessions", seed_session("s-1")).status == 200
    created = int(sessions_dal.get_session(organization_id, "s-1").storedBytes)
    assert created > 0 and stored() == created
    assert api.post("/v1/sessions", seed_session("s-1")).status == 200  # an idempotent retry stores nothing
    assert stored() == created

    assert api.patch("/v1/sessions/s-1", SEED_APPEND_SESSION).status == 200
    appended = int(sessions_dal.get_session(organization_id, "s-1").storedBytes)
    assert appended > created and stored() == appended

    assert api.put("/v1/sessions/s-1", SEED_REPLACE_SESSION).status == 200
    replaced = int(sessions_dal.get_session(organization_id, "s-1").storedBytes)
    assert stored() == replaced

    reasons = [event.reason for event in _events(organization_id)]
    assert sorted(reasons) == ["session.append", "session.create", "session.replace"]
    assert {event.principal["type"] for event in _events(organization_id)} == {"system"}
    assert all(event.metadata == {"sessionId": "s-1"} for event in _events(organization_id))


def test_a_batch_meters_the_sessions_it_stores_once(make_org, client_for, gateway):
    import boto3
    from seed_examples import energy_session

    from chargewatch.dal import sessions as sessions_dal
    from chargewatch_tools.emulator.queues import QueuePoller

    organization_id, key = make_org()
    api = client_for(key)
    assert api.post("/v1/sessions", seed_session("already-there")).status == 200
    before = api.get(PATH).json()["usage"]["storageBytes"]
    sessions = [seed_session("already-there"), energy_session("e-1"), energy_session("e-short", readings=1)]
    assert api.post("/v1/sessions/batch", {"sessions": sessions}).status == 200
    poller = QueuePoller(gateway.registry, boto3.client("sqs", region_name="eu-west-1"), failed_visibility_seconds=0)
    assert poller.drain() == 1

    new_bytes = sum(int(sessions_dal.get_session(organization_id, sid).storedBytes) for sid in ("e-1", "e-short"))
    assert api.get(PATH).json()["usage"]["storageBytes"] == before + new_bytes
    (batch_event,) = [event for event in _events(organization_id) if event.reason == "session.batch"]
    assert batch_event.deltas == {"storageBytes": new_bytes}
    assert batch_event.metadata["sessions"] == 2


def test_a_storage_metering_failure_never_fails_the_stored_write(make_org, client_for, monkeypatch):
    organization_id, key = make_org()

    def broken(*args, **kwargs):
        raise RuntimeError("metering is down")

    monkeypatch.setattr(usage_dal, "apply", broken)
    assert client_for(key).post("/v1/sessions", seed_session("kept")).status == 200
    monkeypatch.undo()
    assert client_for(key).get("/v1/sessions/kept").status == 200


def test_stored_bytes_are_metered_past_the_limit(make_org, client_for, monkeypatch):
    """The data is already stored: metering counts it (the limit refuses the next explicit increment)."""
    monkeypatch.setitem(usage.PLAN_LIMITS, "free", {**SMALL_LIMITS, "storageBytes": 100})
    _, key = make_org()
    api = client_for(key)
    assert api.post("/v1/sessions", seed_session("big")).status == 200
    assert api.get(PATH).json()["usage"]["storageBytes"] > 100
    assert api.post(PATH, {"storageBytesDelta": 1}).json()["error"]["code"] == "storage_limit_exceeded"


# ------------------------------------------------------------------ concurrency


@pytest.mark.parametrize(
    "counter, code",
    [
        ("aiTokens", "ai_limit_exceeded"),
        ("whatsappMessages", "whatsapp_limit_exceeded"),
        ("storageBytes", "storage_limit_exceeded"),
    ],
)
def test_fifty_concurrent_increments_against_a_limit_of_ten(make_org, atomic_calls, monkeypatch, counter, code):
    limit_key = {"aiTokens": "aiTokensPerMonth", "whatsappMessages": "whatsappMessagesPerMonth"}.get(counter, counter)
    monkeypatch.setitem(usage.PLAN_LIMITS, "free", {**SMALL_LIMITS, limit_key: 10})
    organization_id, _ = make_org()
    tenant = Tenant(organization_id=organization_id, principal_type="api_key", key_id="k", scopes=(), role="admin")
    request = UsageIncrementRequest(**{f"{counter}Delta": 1})
    applied, refused, unexpected = [], [], []
    start = threading.Barrier(50)

    def increment():
        start.wait()
        try:
            applied.append(usage.increment(tenant, request, None))
        except QuotaExceededError as error:
            refused.append(error.code)
        except Exception as error:  # pragma: no cover - reported below
            unexpected.append(error)

    threads = [threading.Thread(target=increment) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unexpected == []
    assert len(applied) == 10 and len(refused) == 40
    assert set(refused) == {code}
    assert usage.get_usage(organization_id).usage.model_dump()[counter] == 10
    assert len(_events(organization_id)) == 10
