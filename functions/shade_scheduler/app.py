"""Daily SHADE schedule (EventBridge): one message per tenant on ShadeQueue. Logic: chargewatch.services.shade.

The event's `detail.date` (YYYY-MM-DD), when present, picks the day (`chargewatch schedule fire
ShadeSchedulerFunction --date ...`); otherwise yesterday (UTC), a complete day.
"""

from __future__ import annotations

from datetime import date

from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import shade

logger = observability.logger


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    requested = ((event or {}).get("detail") or {}).get("date")
    day = date.fromisoformat(requested) if requested else shade.default_day()
    tenants = shade.schedule_day(day)
    logger.info("SHADE day scheduled", extra={"day": day.isoformat(), "tenants": tenants})
    return {"day": day.isoformat(), "tenants": tenants}
