"""Daily SHADE schedule (EventBridge): one message per tenant on ShadeQueue. Logic: chargewatch.services.shade.

The event's `detail.date` (YYYY-MM-DD), when present, picks the day (`chargewatch schedule fire
ShadeSchedulerFunction --date ...`); otherwise yesterday (UTC), a complete day. `detail.catchUp`
schedules instead every station-day that has sessions but no result (`--catch-up`; the local
emulator sends it at start and every minute).
"""

from __future__ import annotations

from datetime import date

from aws_lambda_powertools.utilities.typing import LambdaContext

from chargewatch import observability
from chargewatch.services import shade

logger = observability.logger


@observability.handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    detail = (event or {}).get("detail") or {}
    if detail.get("catchUp") is True:
        station_days = shade.schedule_catch_up()
        if station_days:  # the emulator runs it every minute: quiet when there is nothing to do
            logger.info("SHADE catch-up scheduled", extra={"station_days": station_days})
        return {"catchUp": True, "stationDays": station_days}
    requested = detail.get("date")
    day = date.fromisoformat(requested) if requested else shade.default_day()
    tenants = shade.schedule_day(day)
    logger.info("SHADE day scheduled", extra={"day": day.isoformat(), "tenants": tenants})
    return {"day": day.isoformat(), "tenants": tenants}
