"""SSRF guard of outbound webhook HTTP (chargewatch.outbound)."""

import ipaddress

import pytest

from chargewatch import outbound
from chargewatch.errors import ValidationError

FORBIDDEN = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "169.254.169.254",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.1",
    "192.168.1.1",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "100.64.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a00:1",  # NAT64 of 127.0.0.1, 169.254.169.254, 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden_addresses_are_refused(address):
    assert outbound.refusal_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert outbound.refusal_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/",
        "https://172.16.5.4/",
        "https://192.168.0.10/",
        "https://[::ffff:127.0.0.1]/",
        "http://example.com/hook",  # plain http outside local mode
        "https://user:pass@example.com/hook",
        "ftp://example.com/",
        "example.com/hook",
        "https://localhost/hook",
        "http://127.0.0.1:8080/hook",  # local receivers need the explicit local-mode setting
    ],
)
def test_create_time_validation_refuses(url):
    with pytest.raises(ValidationError) as raised:
        outbound.validate_url(url, "url", allow_local_http=False)
    assert raised.value.details[0]["field"] == "url"


def test_local_mode_allows_only_127_0_0_1_receivers():
    assert outbound.validate_url("http://127.0.0.1:8080/hook", "url", allow_local_http=True)
    for url in ("http://127.0.0.2:8080/", "http://[::1]:8080/", "http://10.0.0.1/", "http://example.com/"):
        with pytest.raises(ValidationError):
            outbound.validate_url(url, "url", allow_local_http=True)


def test_a_hostname_resolving_to_a_forbidden_address_is_refused(monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(ValidationError) as raised:
        outbound.validate_url("https://hooks.example.com/x", "url", allow_local_http=False)
    assert "private" in raised.value.message
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["::ffff:127.0.0.1"])
    outcome = outbound.post("https://rebind.example.com/x", b"{}", {}, timeout_seconds=1, allow_local_http=True)
    assert outcome.http_status is None and outcome.error.startswith("refused:")


class _FakePool:
    made: list = []

    def __init__(self, host, port, **kwargs):
        self.host, self.port, self.kwargs = host, port, kwargs
        _FakePool.made.append(self)

    def urlopen(self, method, path, **kwargs):
        self.request = (method, path, kwargs)

        class _Response:
            status = 204

            def read(self, amount, decode_content=True):
                return b""

            def release_conn(self):
                pass

        return _Response()

    def close(self):
        pass


def test_connects_to_the_checked_address_with_tls_for_the_host_name(monkeypatch):
    import urllib3

    calls = []

    def resolve(host, port):
        calls.append(host)
        return ["93.184.216.34"]

    monkeypatch.setattr(outbound, "resolve", resolve)
    monkeypatch.setattr(urllib3, "HTTPSConnectionPool", _FakePool)
    _FakePool.made.clear()
    outcome = outbound.post(
        "https://hooks.example.com:8443/in?x=1", b"{}", {"webhook-id": "m"}, timeout_seconds=10, allow_local_http=False
    )
    assert outcome.http_status == 204
    assert calls == ["hooks.example.com"]  # resolved once, never again by the HTTP client
    (pool,) = _FakePool.made
    assert (pool.host, pool.port) == ("93.184.216.34", 8443)
    assert pool.kwargs["server_hostname"] == pool.kwargs["assert_hostname"] == "hooks.example.com"
    assert pool.kwargs["cert_reqs"] == "CERT_REQUIRED"
    method, path, kwargs = pool.request
    assert (method, path) == ("POST", "/in?x=1")
    assert kwargs["headers"]["Host"] == "hooks.example.com:8443"
    assert kwargs["redirect"] is False and kwargs["retries"] is False


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.exa mple.com/x",
        "https://hooks.example.com:0/x",
        "https://hooks_example.com/x",
        "https://hooks.example.com/a\nb",
        "https://-bad-.example.com/x",
    ],
)
def test_malformed_hosts_and_ports_are_refused(url):
    with pytest.raises(outbound.TargetRefused):
        outbound.parse_target(url, allow_local_http=False)


def test_internationalised_host_names_are_valid():
    assert outbound.parse_target("https://bücher.example/x", allow_local_http=False).host == "bücher.example"
