"""Environment settings, parsed once per cold start into one model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from chargewatch.limits import MAX_BODY_BYTES


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
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, gt=0)
    # How long the authorizer may keep a verified key in memory before looking it up again.
    auth_cache_ttl_seconds: float = Field(default=30.0, ge=0, le=60)
    # Local tooling only: accept API keys without our checksum (a DEMO_API_KEY chosen by hand).
    api_key_checksum_required: bool = True
    # Webhook deliveries: the queue every attempt goes through, and where exhausted ones land.
    webhook_queue_url: str | None = None
    webhook_dlq_url: str | None = None
    # Local mode only: lets webhooks target http://127.0.0.1 receivers (tests, `make run` demos).
    # Never set in a deployed stage: there every webhook must be https to a public address.
    webhook_allow_local_http: bool = False
    # Longest SQS DelaySeconds a retry uses (SQS caps it at 900; longer waits are chained).
    # Tests that fake the clock set 0 so a scheduled message is visible at once.
    webhook_max_delay_seconds: int = Field(default=900, ge=0, le=900)
    # SHADE station-day fan-out: the scheduler and the worker put work on this queue.
    shade_queue_url: str | None = None
    # Fine-tuning jobs: the queue the worker consumes.
    fine_tune_queue_url: str | None = None
    # Ask/explain: "grounded" (offline, deterministic) unless Bedrock is configured.
    explain_provider: str = "grounded"
    bedrock_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    # Identity: Cognito user pool tokens. The JWKS URL is separate from the issuer because
    # locally (moto) the issuer names the real AWS URL while the keys are served by the emulator.
    cognito_user_pool_id: str | None = None
    cognito_client_id: str | None = None
    cognito_issuer: str | None = None
    cognito_jwks_url: str | None = None
    # Plan limits override (JSON: {"free": {"storageBytes": ..., "aiTokensPerMonth": ...}}), merged
    # over chargewatch.services.usage.PLAN_LIMITS.
    plan_limits_json: str | None = None
    # GET /api/tenants/{id}/switch redirect targets.
    switch_redirect_success: str = "/excel"
    switch_redirect_unauthenticated: str = "/"
    switch_redirect_forbidden: str = "/onboarding"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {
            "stage": env.get("STAGE"),
            "table_name": env.get("TABLE_NAME"),
            "batch_queue_url": env.get("BATCH_QUEUE_URL"),
            "payload_bucket": env.get("PAYLOAD_BUCKET"),
            "api_key_env": env.get("API_KEY_ENV"),
            "aws_region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            "aws_endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "max_body_bytes": env.get("MAX_BODY_BYTES"),
            "auth_cache_ttl_seconds": env.get("AUTH_CACHE_TTL_SECONDS"),
            "api_key_checksum_required": env.get("API_KEY_CHECKSUM_REQUIRED"),
            "webhook_queue_url": env.get("WEBHOOK_QUEUE_URL") or None,
            "webhook_dlq_url": env.get("WEBHOOK_DLQ_URL") or None,
            "webhook_allow_local_http": env.get("WEBHOOK_ALLOW_LOCAL_HTTP"),
            "webhook_max_delay_seconds": env.get("WEBHOOK_MAX_DELAY_SECONDS"),
            "shade_queue_url": env.get("SHADE_QUEUE_URL") or None,
            "fine_tune_queue_url": env.get("FINE_TUNE_QUEUE_URL") or None,
            "explain_provider": (env.get("EXPLAIN_PROVIDER") or "").strip().lower() or None,
            "bedrock_model_id": env.get("BEDROCK_MODEL_ID") or None,
            "cognito_user_pool_id": env.get("COGNITO_USER_POOL_ID") or None,
            "cognito_client_id": env.get("COGNITO_CLIENT_ID") or None,
            "cognito_issuer": env.get("COGNITO_ISSUER") or None,
            "cognito_jwks_url": env.get("COGNITO_JWKS_URL") or None,
            "plan_limits_json": env.get("PLAN_LIMITS") or None,
            "switch_redirect_success": env.get("SWITCH_REDIRECT_SUCCESS") or None,
            "switch_redirect_unauthenticated": env.get("SWITCH_REDIRECT_UNAUTHENTICATED") or None,
            "switch_redirect_forbidden": env.get("SWITCH_REDIRECT_FORBIDDEN") or None,
        }
        return cls(**{k: v for k, v in raw.items() if v is not None})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()


def reload_settings() -> Settings:
    """Re-read the environment (tests and the local emulator change it at run time)."""
    get_settings.cache_clear()
    return get_settings()
