"""Login-session rules that need no AWS: expiry, device parsing, the `before` cursor."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from chargewatch import clock
from chargewatch.errors import ValidationError
from chargewatch.schemas.tenant_sessions import DeviceRequest
from chargewatch.services import tenant_sessions
from chargewatch.services.tenant_sessions import describe_device, ended_at, parse_before, parse_user_agent

T0 = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


def _session(*, last_active=T0, released=None):
    return SimpleNamespace(
        releasedAt=released and clock.to_iso(released),
        lastActiveAt=clock.to_iso(last_active),
        expiresAt=clock.to_iso(T0 + tenant_sessions.ABSOLUTE_LIFETIME),
    )


def test_a_session_ends_when_idle_for_two_hours():
    assert ended_at(_session(), T0 + timedelta(hours=1, minutes=59)) is None
    assert ended_at(_session(), T0 + timedelta(hours=2)) == T0 + timedelta(hours=2)


def test_activity_never_extends_beyond_24_hours():
    active_late = _session(last_active=T0 + timedelta(hours=23, minutes=30))
    assert ended_at(active_late, T0 + timedelta(hours=23, minutes=59)) is None
    assert ended_at(active_late, T0 + timedelta(hours=24)) == T0 + timedelta(hours=24)


def test_a_released_session_ended_when_it_was_released():
    released = _session(released=T0 + timedelta(minutes=5))
    assert ended_at(released, T0 + timedelta(minutes=6)) == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    "agent, expected",
    [
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Mobile/15E148 Safari/604.1",
            {"platform": "iOS", "type": "mobile", "name": "Safari on iOS", "osVersion": "17.4"},
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 "
            "Mobile/15E148 Safari/604.1",
            {"platform": "iOS", "type": "tablet", "name": "Chrome on iOS", "osVersion": "16.6"},
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Mobile "
            "Safari/537.36",
            {"platform": "Android", "type": "mobile", "name": "Chrome on Android", "osVersion": "14"},
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 "
            "Safari/537.36 Edg/122.0",
            {"platform": "Windows", "type": "desktop", "name": "Edge on Windows", "osVersion": "10"},
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7; rv:124.0) Gecko/20100101 Firefox/124.0",
            {"platform": "macOS", "type": "desktop", "name": "Firefox on macOS", "osVersion": "10.15.7"},
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
            {"platform": "Linux", "type": "desktop", "name": "Chrome on Linux", "osVersion": "unknown"},
        ),
        ("curl/8.4.0", {"platform": "unknown", "type": "other", "name": "curl", "osVersion": "unknown"}),
        (None, {"platform": "unknown", "type": "unknown", "name": "unknown", "osVersion": "unknown"}),
    ],
)
def test_user_agents_describe_the_device(agent, expected):
    assert parse_user_agent(agent) == expected


def test_body_fields_win_over_the_user_agent_and_the_id_is_stable():
    body = DeviceRequest(id="ipad-7", name="Front desk iPad")
    device = describe_device("user-1", body, "curl/8.4.0")
    assert device == {
        "id": "ipad-7",
        "platform": "unknown",
        "type": "other",
        "name": "Front desk iPad",
        "osVersion": "unknown",
    }
    derived = describe_device("user-1", None, "curl/8.4.0")["id"]
    assert derived == describe_device("user-1", None, "curl/8.4.0")["id"]
    assert derived != describe_device("user-2", None, "curl/8.4.0")["id"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-03-26T09:00:00Z", T0),
        ("2026-03-26T11:00:00+02:00", T0),
        ("2026-03-26T09:00:00.123456789Z", T0 + timedelta(microseconds=123456)),
        ("2026-03-26t09:00:00.5z", T0 + timedelta(milliseconds=500)),
    ],
)
def test_before_accepts_rfc3339(text, expected):
    assert parse_before(text) == expected


@pytest.mark.parametrize(
    "text",
    ["yesterday", "2026-03-26", "2026-03-26T09:00:00", "2026-13-26T09:00:00Z", "1711443600", "2026-03-26T09:00Z"],
)
def test_before_refuses_anything_else(text):
    with pytest.raises(ValidationError) as raised:
        parse_before(text)
    assert raised.value.details[0]["field"] == "before"


def test_tenant_ids_must_be_uuids():
    assert tenant_sessions.checked_tenant_id("7b0c3a52-1f0e-4d7c-9a51-3f6f8f2c1d10")
    for bad in ("", "acme", "7b0c3a52-1f0e-4d7c-9a51-3f6f8f2c1d1", "7b0c3a52-1f0e-4d7c-9a51-3f6f8f2c1d10#x"):
        with pytest.raises(ValidationError) as raised:
            tenant_sessions.checked_tenant_id(bad)
        assert raised.value.code == "invalid_tenant_id"
