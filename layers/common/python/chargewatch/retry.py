"""Optimistic read-modify-write loops: one way to count attempts and pause between them.

    for attempt in retry.attempts(5):
        item = read()
        try:
            write(item, condition=unchanged_since_read)
            return
        except LostRace:
            if attempt.last:
                raise

Writers that lost a race on the same item would collide again if they retried at once: every retry
waits a random pause whose ceiling doubles per attempt (full jitter), bounded by `max_pause`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    number: int  # 0 for the first try
    last: bool  # no retry follows: a lost race now is the caller's to report


def attempts(count: int, *, first_pause: float = 0.005, max_pause: float = 0.25) -> Iterator[Attempt]:
    """`count` attempts; before each one but the first, a jittered exponentially growing pause."""
    for number in range(count):
        if number:
            time.sleep(random.uniform(0, min(max_pause, first_pause * 2**number)))
        yield Attempt(number, number == count - 1)
