"""SHADE worker (SQS): expands a tenant into station groups, or computes and stores station-days.

Partial batch failures: a failed message comes back alone. Idempotent on (tenant, station, day):
a redelivered or re-fired day overwrites its station-day and moves the uptime sums by the
difference. Logic: chargewatch.services.shade.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import shade

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    shade.process_message(record.body)


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
