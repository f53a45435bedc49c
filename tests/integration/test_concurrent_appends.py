"""Two (or eight) PATCHes racing on one session never lose a reading."""
import threading

from chargewatch.schemas.sessions import AppendSessionRequest, CreateSessionRequest
from chargewatch.services import sessions


def _reading(minute, value):
    return {"timestamp": f"2026-02-27T{10 + minute // 60:02d}:{minute % 60:02d}:00Z", "value": value,
            "measurand": "Energy.Active.Import.Register", "unit": "kWh"}


def test_racing_appends_keep_every_reading(stack, make_org):
    organization_id, _ = make_org()
    sessions.create_session(organization_id, CreateSessionRequest(sessionId="race", chargingStationId="CP-1",
                                                                  meterValues=[_reading(0, 0.0)]))
    writers, per_writer = 8, 3
    errors = []

    def append(writer):
        try:
            for n in range(per_writer):
                minute = 1 + writer * per_writer + n
                sessions.append_session(organization_id, "race",
                                        AppendSessionRequest(meterValues=[_reading(minute, minute * 0.1)]))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    detail = sessions.get_session(organization_id, "race")
    minutes = sorted(value.timestamp for value in detail.meterValues)
    assert len(minutes) == 1 + writers * per_writer
    assert len(set(minutes)) == len(minutes)
