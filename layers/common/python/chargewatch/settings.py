"""Environment settings, parsed once per cold start into one model."""
from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    stage: str = "dev"
    table_name: str = "chargewatch"
    batch_queue_url: str | None = None
    payload_bucket: str | None = None
    # "test" keys for dev/local, "live" for prod: the environment is visible in the key itself.
    api_key_env: str = "test"
    aws_region: str = "eu-west-1"
    # Set to reach moto/LocalStack instead of AWS (botocore honours it too).
    aws_endpoint_url: str | None = None
    # API Gateway and Lambda cap payloads at 6 MB; we refuse bigger bodies with a clear 413.
    max_body_bytes: int = Field(default=6 * 1024 * 1024, gt=0)
    # How long the authorizer may keep a verified key in memory before looking it up again.
    auth_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=60)

    @classmethod
    def from_environ(cls, environ: os._Environ | dict | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        raw = {
            "stage": env.get("STAGE"),
            "table_name": env.get("TABLE_NAME"),
            "batch_queue_url": env.get("BATCH_QUEUE_URL"),
            "payload_bucket": env.get("PAYLOAD_BUCKET"),
            "api_key_env": env.get("API_KEY_ENV"),
            "aws_region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "aws_endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "max_body_bytes": env.get("MAX_BODY_BYTES"),
            "auth_cache_ttl_seconds": env.get("AUTH_CACHE_TTL_SECONDS"),
        }
        return cls(**{k: v for k, v in raw.items() if v is not None})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()


def reload_settings() -> Settings:
    """Re-read the environment (tests and the local emulator change it at run time)."""
    get_settings.cache_clear()
    return get_settings()
