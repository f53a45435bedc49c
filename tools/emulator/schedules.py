"""The template's EventBridge schedules, run locally the way EventBridge Scheduler runs them.

For every function event of `Type: Schedule`/`ScheduleV2`, `Scheduler` computes the next fire
time of its `rate(...)` or `cron(...)` expression (in its `ScheduleExpressionTimezone`, UTC by
default) and invokes the function with a Scheduled Event when it is due. Catch-up: functions
listed in CATCH_UP_FUNCTIONS are also invoked with `detail.catchUp` at start and every
CATCH_UP_SECONDS, so data uploaded for past days is analysed without waiting for tomorrow's
01:30 run (`DailyShade` then analyses every station-day with sessions and no result).

Supported expressions: `rate(N minute|minutes|hour|hours|day|days)` and six-field
`cron(minutes hours day-of-month month day-of-week year)` with `*`, `?`, numbers, names
(JAN, MON), lists, ranges and steps; `L`, `W` and `#` are refused at start.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chargewatch_tools.schedule import SCHEDULE_TYPES

CATCH_UP_FUNCTIONS = ("ShadeSchedulerFunction",)
CATCH_UP_SECONDS = 60.0
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: n for n, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
# EventBridge numbers days of the week 1-7 from Sunday
_WEEKDAYS = {name: n for n, name in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}


class ScheduleExpressionError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int] | None:
    """The values a cron field allows; None for `*` and `?` (any)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        else:
            start_text, _, end_text = base.partition("-")
            first = _value(start_text, names)
            last = _value(end_text, names) if end_text else (high if step_text else first)
        if not (low <= first <= high and low <= last <= high) or step < 1:
            raise ScheduleExpressionError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleExpressionError(f"unsupported cron value {text!r} (L, W and # are not emulated)")
    return int(text)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 1 = Sunday
    years: frozenset[int] | None

    @classmethod
    def parse(cls, fields: str) -> Cron:
        parts = fields.split()
        if len(parts) != 6:
            raise ScheduleExpressionError(f"cron needs 6 fields, got {len(parts)}: {fields!r}")
        return cls(
            _field(parts[0], 0, 59),
            _field(parts[1], 0, 23),
            _field(parts[2], 1, 31),
            _field(parts[3], 1, 12, _MONTHS),
            _field(parts[4], 1, 7, _WEEKDAYS),
            _field(parts[5], 1970, 2199),
        )

    def matches(self, moment: datetime) -> bool:
        return (
            self._day_matches(moment)
            and (self.hours is None or moment.hour in self.hours)
            and (self.minutes is None or moment.minute in self.minutes)
        )

    def next_after(self, moment: datetime) -> datetime | None:
        """The first matching minute after `moment` (in its timezone), within four years."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + timedelta(days=4 * 366)
        while candidate < limit:
            if not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if self.hours is not None and candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
                continue
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        return None

    def _day_matches(self, moment: datetime) -> bool:
        weekday = moment.isoweekday() % 7 + 1  # Monday 1 -> 2, Sunday 7 -> 1
        return (
            (self.days is None or moment.day in self.days)
            and (self.months is None or moment.month in self.months)
            and (self.weekdays is None or weekday in self.weekdays)
            and (self.years is None or moment.year in self.years)
        )


@dataclass
class Schedule:
    function: str
    name: str
    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        rate, cron = _RATE.match(self.expression.strip()), _CRON.match(self.expression.strip())
        if rate:
            unit = rate.group(2).rstrip("s")
            self._interval: timedelta | None = timedelta(seconds=int(rate.group(1)) * _UNITS[unit])
            self._cron: Cron | None = None
        elif cron:
            self._interval, self._cron = None, Cron.parse(cron.group(1))
        else:
            raise ScheduleExpressionError(f"{self.name}: unsupported schedule expression {self.expression!r}")
        self._zone = ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime | None:
        """The next fire time after `moment` (a rate counts from `moment`, as from its creation)."""
        if self._interval is not None:
            return moment + self._interval
        assert self._cron is not None
        local = self._cron.next_after(moment.astimezone(self._zone))
        return None if local is None else local.astimezone(UTC)


def template_schedules(resources: dict[str, Any]) -> list[Schedule]:
    """Every enabled schedule event of the template's functions."""
    found = []
    for logical_id, resource in resources.items():
        for name, event in (resource["Properties"].get("Events") or {}).items():
            if event.get("Type") not in SCHEDULE_TYPES:
                continue
            properties = event.get("Properties") or {}
            if properties.get("State", "ENABLED") == "DISABLED" or properties.get("Enabled") is False:
                continue
            found.append(
                Schedule(
                    logical_id,
                    name,
                    properties["Schedule"] if "Schedule" in properties else properties["ScheduleExpression"],
                    properties.get("ScheduleExpressionTimezone") or "UTC",
                )
            )
    return found


class Scheduler:
    """Fires due schedules through `invoke(function, event)`; `run_due(now)` is one tick."""

    def __init__(self, schedules: list[Schedule], invoke, started: datetime, busy=lambda: False) -> None:
        """`busy()` true postpones a catch-up: what the last one queued is still being worked off."""
        self.schedules = schedules
        self.invoke = invoke
        self.busy = busy
        self.next_fire = {s.name: s.next_after(started) for s in schedules}
        self.catch_up_functions = sorted({s.function for s in schedules} & set(CATCH_UP_FUNCTIONS))
        self.next_catch_up = started
        self.fired: list[tuple[str, datetime]] = []

    def run_due(self, now: datetime) -> list[str]:
        from chargewatch_tools.schedule import scheduled_event

        ran = []
        for schedule in self.schedules:
            due = self.next_fire[schedule.name]
            if due is None or due > now:
                continue
            self.next_fire[schedule.name] = schedule.next_after(now)
            self.fired.append((schedule.name, due))
            ran.append(schedule.name)
            self._invoke(schedule.function, scheduled_event(None))
        if self.catch_up_functions and now >= self.next_catch_up and not self.busy():
            self.next_catch_up = now + timedelta(seconds=CATCH_UP_SECONDS)
            for function in self.catch_up_functions:
                ran.append(f"{function} (catch-up)")
                self._invoke(function, scheduled_event(None, catch_up=True))
        return ran

    def _invoke(self, function: str, event: dict[str, Any]) -> None:
        try:
            self.invoke(function, event)
        except Exception:  # as EventBridge: a failed run is that run's failure, not the schedule's end
            traceback.print_exc()

    def seconds_until_due(self, now: datetime) -> float:
        upcoming = [t for t in self.next_fire.values() if t is not None]
        if self.catch_up_functions:
            upcoming.append(self.next_catch_up)
        return max(0.0, min((t - now).total_seconds() for t in upcoming)) if upcoming else CATCH_UP_SECONDS
