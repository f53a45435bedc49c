"""Where AWS calls go: one factory for boto3 clients and the DynamoDB endpoint for pynamodb.

- Default: boto3 with `endpoint_url` from settings (AWS_ENDPOINT_URL: moto, LocalStack) or,
  without it, real AWS.
- `CHARGEWATCH_AWS_MODE=localstack`: clients come from the `localstack-client` package, which
  targets the LocalStack edge port (LOCALSTACK_HOST, default localhost:4566; it also honours
  AWS_ENDPOINT_URL). The local emulator listens there too, so the same code runs against either.

boto3 (and localstack_client, which imports it) is imported on first use only: handlers that
never build a client don't pay its import time at cold start.
"""

from __future__ import annotations

import os
from typing import Any

from chargewatch.settings import Settings, get_settings

LOCALSTACK_MODE = "localstack"
MODE_VARIABLE = "CHARGEWATCH_AWS_MODE"


def mode() -> str:
    """'localstack' or 'aws' (the default: AWS itself, or AWS_ENDPOINT_URL when set)."""
    value = (os.environ.get(MODE_VARIABLE) or "aws").strip().lower()
    if value not in ("aws", LOCALSTACK_MODE):
        raise ValueError(f"{MODE_VARIABLE} must be 'aws' or '{LOCALSTACK_MODE}', not {value!r}")
    return value


def _localstack_session(settings: Settings) -> Any:  # a boto3 Session (boto3 ships no types)
    from localstack_client.session import Session

    # LocalStack (and moto) accept any credentials; real ones from the environment are used when set.
    return Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "test",
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "test",
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or "test",
        region_name=settings.aws_region,
    )


# service name -> (the settings it was built for, the client): one client per service and container,
# rebuilt when the settings are reloaded (tests, the emulator) or the mode changes.
_clients: dict[str, tuple[Settings, str, Any]] = {}


def client(service_name: str, *, settings: Settings | None = None, **kwargs: Any) -> Any:
    """The boto3 client for `service_name` (sqs, s3, ...), pointed where this process's mode says.
    Built once per container (clients are thread-safe and costly to build); a call with extra
    client arguments gets a client of its own."""
    settings = settings or get_settings()
    if kwargs:
        return _build(service_name, settings, **kwargs)
    cached = _clients.get(service_name)
    if cached is None or cached[0] is not settings or cached[1] != mode():
        cached = _clients[service_name] = (settings, mode(), _build(service_name, settings))
    return cached[2]


def _build(service_name: str, settings: Settings, **kwargs: Any) -> Any:
    if mode() == LOCALSTACK_MODE:
        return _localstack_session(settings).client(service_name, **kwargs)
    import boto3

    kwargs.setdefault("region_name", settings.aws_region)
    if settings.aws_endpoint_url:
        kwargs.setdefault("endpoint_url", settings.aws_endpoint_url)
    return boto3.client(service_name, **kwargs)


def pynamodb_host(settings: Settings | None = None) -> str | None:
    """The DynamoDB endpoint for pynamodb's `Meta.host` / `Connection(host=...)`; None = AWS."""
    settings = settings or get_settings()
    if mode() == LOCALSTACK_MODE:
        from localstack_client.config import get_service_endpoint

        endpoint: str = get_service_endpoint("dynamodb")
        return endpoint

    return settings.aws_endpoint_url_dynamodb or settings.aws_endpoint_url


def error_types() -> tuple[type[Exception], type[Exception]]:
    """(ClientError, BotoCoreError): what a boto3 call raises when the service refuses (the first)
    or the call itself fails (the second), for callers that answer each differently."""
    from botocore.exceptions import BotoCoreError, ClientError

    return ClientError, BotoCoreError


def error_code(error: Exception) -> str:
    """The service's error code of a ClientError ('' for anything else)."""
    response = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def presigned_put_url(bucket: str, key: str, expires_in: int, settings: Settings | None = None) -> str:
    """A URL a client PUTs one object to, signed for the endpoint a client can reach: the stack's
    S3 (or AWS_ENDPOINT_URL / LocalStack), or S3_PUBLIC_ENDPOINT_URL when that is set (path-style,
    as a local endpoint has no bucket host names)."""
    settings = settings or get_settings()
    if settings.s3_public_endpoint_url:
        from botocore.config import Config

        s3 = client(
            "s3",
            settings=settings,
            endpoint_url=settings.s3_public_endpoint_url,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )
    else:
        s3 = client("s3", settings=settings)
    url: str = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in, HttpMethod="PUT"
    )
    return url
