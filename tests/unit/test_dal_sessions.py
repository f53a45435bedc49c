"""Storage of sessions: chunking under the item limit, atomic replace, race-free appends."""

import pytest

from chargewatch import clock
from chargewatch.dal import sessions as dal

ORG = "11111111-1111-4111-8111-111111111111"
ITEM_LIMIT = 400 * 1024


def _readings(count, start_ms=1_772_186_400_000, step_ms=30_000, energy0=0.0):
    return [
        {
            "timestamp": start_ms + i * step_ms,
            "value": energy0 + i * 0.05,
            "measurand": "Energy.Active.Import.Register",
            "unit": "kWh",
            "phase": None,
            "location": "Outlet",
            "reconstructed": None,
        }
        for i in range(count)
    ]


def _new_item(session_id="s-1", readings=()):
    start = readings[0]["timestamp"] if readings else 0
    now = clock.iso_now()
    return dal.new_session_item(
        ORG,
        session_id,
        "CP-1",
        start,
        connectorId="1",
        status="active",
        requestHash="h",
        createdAt=now,
        updatedAt=now,
        generation=clock.new_id(),
        version=1,
    )


def test_twenty_thousand_readings_fit_in_chunks_below_the_item_limit(stack):
    readings = _readings(20_000)
    item = _new_item(readings=readings)
    dal.create_session(item, readings)
    stored = dal.get_session(ORG, "s-1")
    assert stored.readingCount == 20_000 and stored.chunkCount == 20
    chunks = list(dal.MeterChunkItem.query(stored.PK, dal.MeterChunkItem.SK.startswith("MV#")))
    assert len(chunks) == 20
    assert max(len(chunk.data) for chunk in chunks) < ITEM_LIMIT / 4
    assert dal.read_readings(stored) == readings


def test_create_is_conditional_on_the_id(stack):
    readings = _readings(3)
    dal.create_session(_new_item(readings=readings), readings)
    with pytest.raises(dal.VersionConflict):
        dal.create_session(_new_item(readings=readings), readings)


def test_stale_version_cannot_append(stack):
    readings = _readings(3)
    dal.create_session(_new_item(readings=readings), readings)
    first = dal.get_session(ORG, "s-1")
    second = dal.get_session(ORG, "s-1")
    dal.append_readings(first, _readings(2, start_ms=1_772_190_000_000), {})
    with pytest.raises(dal.VersionConflict):
        dal.append_readings(second, _readings(2, start_ms=1_772_200_000_000), {})
    assert dal.get_session(ORG, "s-1").readingCount == 5


def test_replace_switches_generation_and_keeps_the_old_one_until_it_is_deleted(stack):
    readings = _readings(2500)
    dal.create_session(_new_item(readings=readings), readings)
    item = dal.get_session(ORG, "s-1")
    old_generation, old_chunks = item.generation, int(item.chunkCount)
    replacement = _readings(4, energy0=100)
    replaced = dal.replace_readings(item, clock.new_id(), replacement, {})
    stored = dal.get_session(ORG, "s-1")
    assert stored.generation != old_generation and stored.readingCount == 4
    assert dal.read_readings(stored) == replacement

    def leftovers():
        prefix = f"MV#{old_generation}#"
        return list(dal.MeterChunkItem.query(stored.PK, dal.MeterChunkItem.SK.startswith(prefix)))

    # a replace whose analysis fails switches back to the old generation, so it outlives the switch
    assert len(leftovers()) == old_chunks == 3
    dal.delete_generation(replaced, old_generation, old_chunks)
    assert leftovers() == []
    assert dal.read_readings(dal.get_session(ORG, "s-1")) == replacement


def test_chunk_codec_round_trips_every_field():
    readings = [
        {
            "timestamp": 1,
            "value": 1.5,
            "measurand": "SoC",
            "unit": "Percent",
            "phase": "L1",
            "location": "EV",
            "reconstructed": True,
        }
    ]
    assert dal.decode_chunk(dal.encode_chunk(readings)) == readings
