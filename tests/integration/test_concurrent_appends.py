"""Racing PATCHes on one session never lose a reading.

Each append either commits whole or is refused with 409 `concurrent_modification` (after the
service's own retries), which a client retries; in the end every reading is there exactly once.
"""

import threading

from chargewatch.errors import ConcurrencyError
from chargewatch.schemas.sessions import AppendSessionRequest, CreateSessionRequest
from chargewatch.services import sessions


def _reading(minute, value):
    return {
        "timestamp": f"2026-02-27T{10 + minute // 60:02d}:{minute % 60:02d}:00Z",
        "value": value,
        "measurand": "Energy.Active.Import.Register",
        "unit": "kWh",
    }


def test_racing_appends_keep_every_reading(stack, make_org, atomic_calls):
    organization_id, _ = make_org()
    sessions.create_session(
        organization_id,
        CreateSessionRequest(sessionId="race", chargingStationId="CP-1", meterValues=[_reading(0, 0.0)]),
    )
    writers, per_writer = 4, 3
    unexpected, refusals = [], []

    def append(writer):
        for n in range(per_writer):
            minute = 1 + writer * per_writer + n
            request = AppendSessionRequest(meterValues=[_reading(minute, minute * 0.1)])
            for _ in range(20):  # what a client does with a 409 concurrent_modification
                try:
                    sessions.append_session(organization_id, "race", request)
                    break
                except ConcurrencyError as error:
                    refusals.append(error)
                except Exception as error:  # pragma: no cover - reported below
                    unexpected.append(error)
                    return

    threads = [threading.Thread(target=append, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert unexpected == []
    detail = sessions.get_session(organization_id, "race")
    stamps = [value.timestamp for value in detail.meterValues]
    assert len(stamps) == 1 + writers * per_writer == detail.meterValueCount
    assert len(set(stamps)) == len(stamps)
