"""Property: whatever JSON value a client puts in whatever field of a create, the answer is a 2xx or
a 4xx, never a 5xx, and a 4xx leaves the table exactly as it was."""

from __future__ import annotations

import copy
import itertools

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seed_examples import seed_session

from chargewatch.settings import get_settings

TOP_LEVEL = ("sessionId", "chargingStationId", "connectorId", "evseId", "meterValues", "metadata", "status")
READING_FIELDS = ("timestamp", "value", "measurand", "unit", "phase", "location", "reconstructed")
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**38), max_value=10**38)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["2026-02-27T10:00:00Z", "0001-01-01T00:00:00Z", "1e18", "a/b", "Wh", "SoC", "x" * 200]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=5,
)
_ids = itertools.count()


def _table_dump() -> list:
    """Every item; the API key's last-use stamp moves with every authenticated request, by design."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    items = []
    for page in client.get_paginator("scan").paginate(TableName=get_settings().table_name, ConsistentRead=True):
        items.extend(
            {name: value for name, value in item.items() if not name.startswith("lastUsed")} for item in page["Items"]
        )
    return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def _body(field: str, value) -> dict:
    body = copy.deepcopy(seed_session(f"prop-{next(_ids)}"))
    if field in TOP_LEVEL:
        body[field] = value
    else:
        body["meterValues"][1][field] = value
    return body


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(TOP_LEVEL + READING_FIELDS), value=JSON_VALUES)
def test_any_value_in_any_field_of_a_create_is_2xx_or_a_4xx_that_writes_nothing(api, field, value):
    before = _table_dump()
    response = api.post("/v1/sessions", _body(field, value))
    assert response.status < 500, response.body
    if response.status >= 400:
        assert response.json()["error"]["code"]
        assert _table_dump() == before
    else:
        session_id = response.json()["sessionId"]
        assert api.get(f"/v1/sessions/{session_id}").status == 200
