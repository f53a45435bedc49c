"""Nothing half-written: a DynamoDB write that fails at any step of a create, replace (PUT), append
(PATCH) or batch part leaves the table as it was before the request (no session without its
analysis, no station, connector or counter moved, no usage metered)."""

from __future__ import annotations

import copy

import boto3
import botocore.client
import pytest
from seed_examples import energy_session, seed_session

from chargewatch.schemas.sessions import AppendSessionRequest, CreateSessionRequest, ReplaceSessionRequest
from chargewatch.services import sessions
from chargewatch.settings import get_settings

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
# The rollback is a write too: injecting the failure at the first writes of the request is enough
# to cover every step (station registration, session, analysis, usage) before it succeeds.
MAX_STEPS = 12


class InjectedFailure(Exception):
    pass


@pytest.fixture
def fail_write(monkeypatch):
    """fail_write(n): the n-th DynamoDB write from now raises (once); returns a counter of writes."""
    original = botocore.client.BaseClient._make_api_call
    state = {"fail_at": 0, "writes": 0}

    def injected(self, operation_name, api_params):
        if operation_name in WRITES:
            state["writes"] += 1
            if state["writes"] == state["fail_at"]:
                raise InjectedFailure(f"write {state['writes']} ({operation_name}) failed")
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", injected)

    def arm(n: int) -> dict:
        state.update(fail_at=n, writes=0)
        return state

    return arm


def _dump() -> list:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    items = []
    for page in client.get_paginator("scan").paginate(TableName=get_settings().table_name, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def _each_step(fail_write, operation) -> int:
    """Run `operation` with the n-th write failing, for n = 1, 2, ... until it no longer reaches n.
    Each failed run must leave the table exactly as it was. Returns how many steps failed."""
    failed = 0
    for n in range(1, MAX_STEPS + 1):
        before = _dump()
        state = fail_write(n)
        try:
            operation(n)
        except InjectedFailure:
            failed += 1
            fail_write(0)
            assert _dump() == before, f"write {n} failed and left a change behind"
            continue
        fail_write(0)
        if state["writes"] < n:
            return failed
    return failed


@pytest.fixture
def organization(make_org):
    organization_id, _ = make_org("Acme", organization_id="acme")
    sessions.create_session(organization_id, CreateSessionRequest.model_validate(energy_session("first")))
    return organization_id


def test_the_first_session_of_a_new_tenant_failing_leaves_nothing_behind(make_org, fail_write):
    organization_id, _ = make_org("Fresh", organization_id="fresh")

    def create(n):
        body = seed_session(f"very-first-{n}", chargingStationId="CP-FIRST")
        sessions.create_session(organization_id, CreateSessionRequest.model_validate(body))

    assert _each_step(fail_write, create) >= 2


def test_a_failed_create_leaves_nothing_behind(organization, fail_write):
    def create(n):
        body = seed_session(f"create-{n}", chargingStationId=f"CP-NEW-{n}")
        sessions.create_session(organization, CreateSessionRequest.model_validate(body))

    assert _each_step(fail_write, create) >= 2  # at least registration, session and analysis were hit


def test_a_failed_create_at_a_known_station_leaves_nothing_behind(organization, fail_write):
    def create(n):
        body = seed_session(f"known-{n}", chargingStationId="CP-1")
        sessions.create_session(organization, CreateSessionRequest.model_validate(body))

    assert _each_step(fail_write, create) >= 2


def test_a_failed_create_restores_the_station_metadata_it_overwrote(organization, fail_write):
    first = energy_session("located", station="CP-1")
    first["metadata"] = {"city": "Amsterdam"}
    sessions.create_session(organization, CreateSessionRequest.model_validate(first))

    def create(n):
        body = seed_session(f"moved-{n}", chargingStationId="CP-1")
        body["metadata"] = {**(body.get("metadata") or {}), "city": "Utrecht"}
        sessions.create_session(organization, CreateSessionRequest.model_validate(body))

    assert _each_step(fail_write, create) >= 2  # every failed step left the table (metadata too) as it was


def test_a_failed_append_leaves_nothing_behind(organization, fail_write):
    sessions.create_session(organization, CreateSessionRequest.model_validate(seed_session("grow")))
    extra = {"measurand": "Energy.Active.Import.Register", "timestamp": "2026-02-27T10:45:00Z", "unit": "kWh"}

    def append(n):
        request = AppendSessionRequest.model_validate({"meterValues": [{**extra, "value": 1.0 + n}]})
        sessions.append_session(organization, "grow", request)

    assert _each_step(fail_write, append) >= 2


def test_a_failed_replace_leaves_nothing_behind(organization, fail_write):
    sessions.create_session(organization, CreateSessionRequest.model_validate(seed_session("swap")))
    readings = copy.deepcopy(seed_session()["meterValues"])

    def replace(n):
        readings[-1]["value"] = 1.0 + n  # a different body each time
        sessions.replace_session(organization, "swap", ReplaceSessionRequest.model_validate({"meterValues": readings}))

    assert _each_step(fail_write, replace) >= 2


def test_a_failed_replace_below_three_readings_leaves_nothing_behind(organization, fail_write):
    sessions.create_session(organization, CreateSessionRequest.model_validate(seed_session("shrink")))
    readings = copy.deepcopy(seed_session()["meterValues"][:2])

    def replace(n):
        readings[-1]["value"] = 1.0 + n
        sessions.replace_session(
            organization, "shrink", ReplaceSessionRequest.model_validate({"meterValues": readings})
        )

    assert _each_step(fail_write, replace) >= 2


def _consistent(organization_id: str) -> int:
    """Every stored session is analysed and counted; every registered station is counted. Returns
    how many sessions are stored."""
    from chargewatch.dal import sessions as sessions_dal
    from chargewatch.dal import stations as stations_dal

    stored = list(sessions_dal.query_sessions(organization_id))
    for item in stored:
        full = sessions_dal.get_session(organization_id, item.sessionId)
        assert full is not None and full.analyzedVersion is not None, item.sessionId
        assert int(full.analyzedVersion) == int(full.version), item.sessionId
    totals = stations_dal.totals(organization_id)
    assert int(totals.totalSessions) == len(stored)
    assert int(totals.stationCount) == len(stations_dal.station_ids(organization_id))
    return len(stored)


def test_a_failed_write_in_a_batch_part_leaves_only_whole_sessions(organization, fail_write):
    from chargewatch.services import batches

    for n in range(1, MAX_STEPS + 1):
        payload = [seed_session(f"b{n}-{i}", chargingStationId=f"CP-B{n}-{i % 2}") for i in range(3)]
        before = _consistent(organization)
        state = fail_write(n)
        try:
            outcomes = batches._process_sessions(organization, "batch-1", list(range(len(payload))), payload, set())
        except InjectedFailure:
            fail_write(0)
            assert _consistent(organization) == before  # the part comes back; nothing of it stays
            continue
        fail_write(0)
        kept = {outcome.sessionId for outcome in outcomes if outcome.outcome == "processed"}
        assert _consistent(organization) == before + len(kept)
        for body in payload:  # a session reported failed is not stored; one reported processed is
            stored = sessions.sessions_dal.get_session(organization, body["sessionId"]) is not None
            assert stored == (body["sessionId"] in kept), body["sessionId"]
        if state["writes"] < n:
            break
