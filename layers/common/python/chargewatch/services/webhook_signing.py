"""Webhook signatures per Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature).
For SECRET_GRACE after a rotation, every attempt carries a signature with the old secret too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as secrets_module
from datetime import datetime, timedelta

from chargewatch import clock
from chargewatch.dal import webhooks as webhooks_dal

SECRET_GRACE = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
USER_AGENT = "Chargewatch-Webhooks/1.0"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(webhook: webhooks_dal.WebhookItem, moment: datetime) -> list[str]:
    """The current secret, plus the previous one inside its grace window."""
    found = [webhook.secret]
    if (
        webhook.previousSecret
        and webhook.previousSecretExpiresAt
        and clock.parse_iso(webhook.previousSecretExpiresAt) > moment
    ):
        found.append(webhook.previousSecret)
    return found


def signed_headers(webhook: webhooks_dal.WebhookItem, message_id: str, body: str, moment: datetime) -> dict[str, str]:
    timestamp = int(moment.timestamp())
    signature = " ".join(sign(secret, message_id, timestamp, body) for secret in signing_secrets(webhook, moment))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
