"""The emulator's schedule runner: EventBridge rate/cron expressions and when they fire."""

from datetime import UTC, datetime, timedelta

import pytest

from chargewatch_tools.emulator import schedules
from chargewatch_tools.emulator.schedules import Schedule, ScheduleExpressionError, Scheduler, template_schedules
from chargewatch_tools.infra import load_template

THURSDAY = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("cron(30 1 * * ? *)", "UTC", THURSDAY, datetime(2026, 12, 4, 1, 30, tzinfo=UTC)),
        (
            "cron(30 1 * * ? *)",
            "UTC",
            datetime(2026, 12, 3, 1, 29, 59, tzinfo=UTC),
            datetime(2026, 12, 3, 1, 30, tzinfo=UTC),
        ),
        (
            "cron(*/15 * * * ? *)",
            "UTC",
            datetime(2026, 12, 3, 10, 7, tzinfo=UTC),
            datetime(2026, 12, 3, 10, 15, tzinfo=UTC),
        ),
        # Friday 09:00 -> Monday 08:00 (EventBridge counts SUN=1 .. SAT=7)
        ("cron(0 8 ? * MON-FRI *)", "UTC", datetime(2026, 12, 4, 9, tzinfo=UTC), datetime(2026, 12, 7, 8, tzinfo=UTC)),
        ("cron(0 8 ? * 1 *)", "UTC", THURSDAY, datetime(2026, 12, 6, 8, tzinfo=UTC)),  # 1 = Sunday
        ("cron(0 0 1 JAN,JUL ? *)", "UTC", THURSDAY, datetime(2027, 1, 1, tzinfo=UTC)),
        # 09:00 in Amsterdam is 08:00 UTC in winter and 07:00 UTC in summer
        ("cron(0 9 * * ? *)", "Europe/Amsterdam", THURSDAY, datetime(2026, 12, 3, 8, tzinfo=UTC)),
        (
            "cron(0 9 * * ? *)",
            "Europe/Amsterdam",
            datetime(2026, 7, 1, tzinfo=UTC),
            datetime(2026, 7, 1, 7, tzinfo=UTC),
        ),
        ("cron(0 12 29 2 ? *)", "UTC", THURSDAY, datetime(2028, 2, 29, 12, tzinfo=UTC)),
        ("rate(5 minutes)", "UTC", THURSDAY, THURSDAY + timedelta(minutes=5)),
        ("rate(1 day)", "UTC", THURSDAY, THURSDAY + timedelta(days=1)),
    ],
)
def test_next_fire_time(expression, timezone, after, expected):
    assert Schedule("Fn", "Event", expression, timezone).next_after(after) == expected


@pytest.mark.parametrize(
    "expression",
    ["cron(0 8 L * ? *)", "cron(0 8 ? * 2#1 *)", "cron(0 25 * * ? *)", "cron(0 8 * *)", "rate(5 weeks)", "at(2026)"],
)
def test_unsupported_or_invalid_expressions_are_refused_up_front(expression):
    with pytest.raises(ScheduleExpressionError):
        Schedule("Fn", "Event", expression)


def test_the_templates_schedules_are_found_with_their_expressions():
    found = template_schedules(
        {
            logical_id: resource
            for logical_id, resource in load_template()["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
        }
    )
    assert {(s.function, s.name, s.expression, s.timezone) for s in found} == {
        ("ShadeSchedulerFunction", "DailyShade", "cron(30 1 * * ? *)", "UTC"),
        ("WebhookSweeperFunction", "WebhookSweep", "rate(5 minutes)", "UTC"),
    }


def test_scheduler_fires_each_schedule_when_due_and_catches_up_when_the_queues_are_idle(monkeypatch):
    calls: list[tuple[str, dict]] = []
    busy = {"now": False}
    daily = Schedule("ShadeSchedulerFunction", "DailyShade", "cron(30 1 * * ? *)")
    sweep = Schedule("WebhookSweeperFunction", "WebhookSweep", "rate(5 minutes)")
    scheduler = Scheduler([daily, sweep], lambda fn, event: calls.append((fn, event)), THURSDAY, lambda: busy["now"])

    scheduler.run_due(THURSDAY)  # at start: only the catch-up
    assert [(fn, event["detail"]) for fn, event in calls] == [("ShadeSchedulerFunction", {"catchUp": True})]
    assert scheduler.seconds_until_due(THURSDAY) == schedules.CATCH_UP_SECONDS

    calls.clear()
    busy["now"] = True  # the last catch-up's messages are still queued: no second one
    scheduler.run_due(THURSDAY + timedelta(minutes=5))
    assert [(fn, event["detail"]) for fn, event in calls] == [("WebhookSweeperFunction", {})]
    assert calls[0][1]["detail-type"] == "Scheduled Event"

    calls.clear()
    busy["now"] = False
    scheduler.run_due(datetime(2026, 12, 4, 1, 30, 5, tzinfo=UTC))
    assert [fn for fn, _ in calls] == ["ShadeSchedulerFunction", "WebhookSweeperFunction", "ShadeSchedulerFunction"]
    assert calls[0][1]["detail"] == {}  # the daily run: yesterday, as in AWS
    assert scheduler.next_fire["DailyShade"] == datetime(2026, 12, 5, 1, 30, tzinfo=UTC)


def test_a_failing_scheduled_function_does_not_stop_the_others():
    calls = []

    def invoke(fn, event):
        calls.append(fn)
        if fn == "A":
            raise RuntimeError("boom")

    scheduler = Scheduler(
        [Schedule("A", "a", "rate(1 minute)"), Schedule("B", "b", "rate(1 minute)")], invoke, THURSDAY
    )
    scheduler.run_due(THURSDAY + timedelta(minutes=1))
    assert calls == ["A", "B"]
    assert scheduler.next_fire["a"] == THURSDAY + timedelta(minutes=2)
