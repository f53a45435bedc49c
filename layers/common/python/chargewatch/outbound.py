"""Outbound HTTP to customer URLs (webhooks), guarded against SSRF.

Rules (docs/webhooks.md, "SSRF rules"):
- https only; plain http only when `webhook_allow_local_http` is set (local mode), and then only
  to the literal host 127.0.0.1 (test and demo receivers). No credentials in the URL.
- The host is resolved once per attempt; if ANY address is loopback, private, link-local,
  multicast, reserved, unspecified, shared (100.64/10), or an IPv4-mapped / NAT64 / 6to4 /
  Teredo form of one, the attempt is refused.
- The connection goes to the checked address (no second resolution, so DNS rebinding between
  check and connect is impossible); TLS still verifies the certificate for the host name
  (`server_hostname` / `assert_hostname`) and the Host header names the host.
- No redirects, a total timeout, and the response body is read only up to a small limit.

urllib3 ships with botocore, so this adds no runtime dependency.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from chargewatch.errors import ValidationError
from chargewatch.limits import MAX_URL_LENGTH

LOCAL_RECEIVER_HOST = "127.0.0.1"
RESPONSE_READ_LIMIT = 4096
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# A DNS name (LDH labels) or an IP literal; anything else (spaces, "%", "_", ...) is no host at all.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class TargetRefused(Exception):
    """The URL or one of its addresses is not an allowed delivery target."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class HttpOutcome:
    http_status: int | None
    body: str | None
    error: str | None
    duration_ms: int


def _is_local_receiver(host: str, allow_local_http: bool) -> bool:
    return allow_local_http and host == LOCAL_RECEIVER_HOST


def parse_target(url: str, *, allow_local_http: bool) -> Target:
    """Static checks of a webhook URL; raises TargetRefused with a reason a customer can act on."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"must be at most {MAX_URL_LENGTH} characters")
    url = url.strip()
    if any(character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in url):
        raise TargetRefused("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a valid URL ({error})") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("https", "http") or not host:
        raise TargetRefused("must be an absolute https:// URL")
    if not _is_ip_literal(host) and not _HOST_NAME.match(_ascii_host(host)):
        raise TargetRefused(f"host {host!r} is not a valid host name")
    if port == 0:
        raise TargetRefused("port must be between 1 and 65535")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not contain credentials")
    if scheme == "http" and not _is_local_receiver(host, allow_local_http):
        raise TargetRefused("must use https")
    if host == "localhost" or host.endswith(".localhost"):
        raise TargetRefused("must not target localhost")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")  # internationalised names as DNS sees them
    except UnicodeError:
        return ""


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address may not be a delivery target, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return f"IPv6 form of a {reason} address" if reason else None
    for reason, flagged in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("shared (CGNAT)", address in _SHARED if address.version == 4 else False),
    ):
        if flagged:
            return reason
    if not address.is_global:
        return "non-public"
    return None


def resolve(host: str, port: int) -> list[str]:
    """All addresses of a host (tests replace this to fake DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})  # the address of an AF_INET/AF_INET6 sockaddr


def check_addresses(target: Target, *, allow_local_http: bool) -> str:
    """Resolve once and return the address to connect to; TargetRefused when any is forbidden."""
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(target.host, target.port)
        except (OSError, UnicodeError) as error:
            raise TargetRefused(f"host {target.host} does not resolve ({error})") from None
        if not addresses:
            raise TargetRefused(f"host {target.host} does not resolve")
    if _is_local_receiver(target.host, allow_local_http):
        return LOCAL_RECEIVER_HOST
    for text in addresses:
        reason = refusal_reason(ipaddress.ip_address(text.split("%", 1)[0]))
        if reason:
            raise TargetRefused(f"host {target.host} resolves to a {reason} address ({text})")
    return addresses[0]


def validate_url(url: str, field: str, *, allow_local_http: bool, resolve_host: bool = True) -> str:
    """Create/update-time check: a refused target is a 400 naming the field."""
    try:
        target = parse_target(url, allow_local_http=allow_local_http)
        if resolve_host:
            try:
                check_addresses(target, allow_local_http=allow_local_http)
            except TargetRefused as error:
                # A name that does not resolve yet may be set up later; delivery re-checks it.
                if "does not resolve" not in str(error):
                    raise
    except TargetRefused as error:
        raise ValidationError.for_field(field, str(error), code="invalid_webhook_url") from None
    return url.strip()


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout_seconds: float, allow_local_http: bool
) -> HttpOutcome:
    """One POST to a checked address; never raises for network or target problems."""
    import urllib3

    started = time.monotonic()

    def outcome(status: int | None = None, text: str | None = None, error: str | None = None) -> HttpOutcome:
        return HttpOutcome(status, text, error, int((time.monotonic() - started) * 1000))

    try:
        target = parse_target(url, allow_local_http=allow_local_http)
        address = check_addresses(target, allow_local_http=allow_local_http)
    except TargetRefused as error:
        return outcome(error=f"refused: {error}")
    timeout = urllib3.Timeout(total=timeout_seconds)
    pool: urllib3.HTTPConnectionPool  # HTTPSConnectionPool is one
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            text = response.read(RESPONSE_READ_LIMIT, decode_content=True).decode("utf-8", "replace")
        finally:
            response.release_conn()
        return outcome(response.status, text)
    except urllib3.exceptions.HTTPError as error:
        return outcome(error=f"{type(error).__name__}: {error}"[:500])
    finally:
        pool.close()
