"""Fine-tune worker (SQS): one job per message, partial batch failures.

Logic lives in chargewatch.services.models (job state machine) and chargewatch.services.fine_tune
(training). A job whose upload has not arrived yet is left on the queue for a later receive."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import models

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    models.process_job_message(json.loads(record.body))


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
