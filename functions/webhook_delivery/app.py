"""Webhook delivery consumer (SQS): one delivery attempt per message, partial batch failures.

Logic lives in chargewatch.services.webhooks; this handler only decodes records and keeps an
attempt from starting when the invocation could time out in the middle of it.
"""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import webhook_delivery

processor = BatchProcessor(event_type=EventType.SQS)
# an attempt may take the HTTP timeout plus signing and two writes
_MIN_REMAINING_MS = int(webhook_delivery.HTTP_TIMEOUT_SECONDS * 1000) + 5000


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < _MIN_REMAINING_MS:
        raise TimeoutError("not enough time left for an attempt; the message comes back")
    webhook_delivery.process_delivery_message(json.loads(record.body))


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
