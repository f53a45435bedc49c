"""Helpers of the login-session tests (seeds 000, 002, 004): a clock the tests move, browsers."""

from datetime import UTC, datetime

import pytest
from webhook_support import FakeClock

LAPTOP = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
# Two organizations whose ids share all but the last character (both valid UUIDs, as seed 002 wants).
ORG_A = "5f0c8a52-1f0e-4d7c-9a51-3f6f8f2c1d10"
ORG_B = "5f0c8a52-1f0e-4d7c-9a51-3f6f8f2c1d11"
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


@pytest.fixture
def moving_clock(monkeypatch):
    """chargewatch.clock.now() under the test's control (tokens are still checked against real time)."""
    from chargewatch import clock

    fake = FakeClock(datetime.now(UTC).replace(microsecond=0))
    monkeypatch.setattr(clock, "now", fake.now)
    return fake


def browser(client, agent):
    """The same client, but every request carries this User-Agent."""

    class Browser(type(client)):
        def request(self, method, path, *, headers=None, **kw):
            return super().request(method, path, headers={"user-agent": agent, **(headers or {})}, **kw)

        def delete(self, path, **kw):
            return self.request("DELETE", path, **kw)

    return Browser(client.gateway, client.api_key)


def cookie_attributes(set_cookie: str) -> tuple[str, str, dict[str, str]]:
    """'n=v; Path=/; HttpOnly' -> ('n', 'v', {'path': '/', 'httponly': ''})."""
    first, *rest = [part.strip() for part in set_cookie.split(";")]
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return name, value, attributes
