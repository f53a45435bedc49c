"""Application credentials and derivedStatus, without AWS."""

from datetime import UTC, datetime, timedelta

import pytest

from chargewatch import clock
from chargewatch.services import applications

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _iso(**delta):
    return clock.to_iso(NOW + timedelta(**delta))


@pytest.mark.parametrize(
    "status, expires, last_active, expected",
    [
        ("active", _iso(hours=1), _iso(seconds=-10), "active"),
        ("active", _iso(hours=1), _iso(minutes=-4, seconds=-59), "active"),
        ("active", _iso(hours=1), _iso(minutes=-5), "idle"),
        ("active", _iso(hours=1), None, "active"),
        ("active", _iso(seconds=0), _iso(seconds=-1), "expired"),  # expiry is inclusive
        ("active", _iso(hours=-1), _iso(minutes=-90), "expired"),  # expired wins over idle
        ("disconnected", _iso(hours=-1), _iso(minutes=-90), "disconnected"),  # disconnected wins over all
        ("disconnected", _iso(hours=1), _iso(seconds=-1), "disconnected"),
    ],
)
def test_derive_status(status, expires, last_active, expected):
    assert applications.derive_status(status, expires, last_active, NOW) == expected


def test_credentials_have_distinct_prefixes_and_enough_entropy():
    secret = applications._new_credential(applications.SECRET_PREFIX)
    token = applications._new_credential(applications.TOKEN_PREFIX)
    assert secret.startswith("cwas_") and token.startswith("cwa_")
    # the authorizer routes by prefix: a secret is neither a session token nor an API key (cw_)
    assert not secret.startswith(applications.TOKEN_PREFIX) and not secret.startswith("cw_")
    assert not token.startswith("cw_")
    assert applications._has_shape(secret, applications.SECRET_PREFIX)
    assert applications._has_shape(token, applications.TOKEN_PREFIX)
    assert not applications._has_shape(secret, applications.TOKEN_PREFIX)
    assert not applications._has_shape(token, applications.SECRET_PREFIX)
    assert len({applications._new_credential("cwa_") for _ in range(100)}) == 100
    assert len(token) - len("cwa_") == 43  # 256 random bits


@pytest.mark.parametrize(
    "status, include_inactive, wanted",
    [
        (None, False, ("active", "idle")),
        ("active", True, ("active", "idle")),
        (None, True, None),
        ("all", False, None),
        ("inactive", False, ("expired", "disconnected")),
    ],
)
def test_list_filter(status, include_inactive, wanted):
    assert applications._wanted(status, include_inactive) == wanted
