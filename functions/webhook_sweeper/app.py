"""Webhook sweeper (EventBridge, every 5 minutes): re-queues pending deliveries whose message was lost.

A delivery record is written before its SQS message is sent; a failed send, an invocation that
died between the two, or a chained wait message lost in flight leaves it pending with an overdue
next attempt. Logic: chargewatch.services.webhooks.sweep_pending_deliveries. Locally:
`chargewatch schedule fire WebhookSweep`.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import webhook_delivery

logger = observability.logger


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    counts = webhook_delivery.sweep_pending_deliveries()
    logger.info("webhook deliveries swept", extra=counts)
    return counts
