"""chargewatch.retry: attempts of an optimistic write, with jittered pauses between them."""

from chargewatch import retry


def test_attempts_are_counted_and_the_last_is_marked(monkeypatch):
    pauses = []
    monkeypatch.setattr(retry.time, "sleep", pauses.append)
    seen = [(attempt.number, attempt.last) for attempt in retry.attempts(4, first_pause=0.01, max_pause=0.05)]
    assert seen == [(0, False), (1, False), (2, False), (3, True)]
    # no pause before the first try; each pause below its doubling ceiling, capped by max_pause
    assert len(pauses) == 3
    assert all(0 <= pause <= ceiling for pause, ceiling in zip(pauses, (0.02, 0.04, 0.05), strict=True))


def test_a_loop_that_succeeds_stops_pausing(monkeypatch):
    pauses = []
    monkeypatch.setattr(retry.time, "sleep", pauses.append)
    for attempt in retry.attempts(5):
        if attempt.number == 1:
            break
    assert len(pauses) == 1
