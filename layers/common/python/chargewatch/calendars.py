"""Public holiday calendars (the `holidays` package) for an organization's `holidayCountry`.

SHADE judges a listed holiday as a Sunday and learns holidays in its history as Sundays; without a
calendar it expects an unlisted holiday on any day (see docs/engine.md, SHADE)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from chargewatch.errors import ValidationError

UNKNOWN_CALENDAR = "unknown_holiday_calendar"


@lru_cache(maxsize=1)
def _supported() -> dict[str, set[str]]:
    import holidays

    return {country: set(subdivisions) for country, subdivisions in holidays.list_supported_countries().items()}


def validate_country(value: str, field: str = "holidayCountry") -> str:
    """`DE` or `DE-BY`, supported by the calendar library; a clear 400 naming the field otherwise."""
    country, _, subdivision = value.partition("-")
    supported = _supported()
    if country not in supported:
        raise ValidationError.for_field(
            field, f"no public holiday calendar for country {country!r}", code=UNKNOWN_CALENDAR
        )
    if subdivision and subdivision not in supported[country]:
        raise ValidationError.for_field(field, f"{country} has no subdivision {subdivision!r}", code=UNKNOWN_CALENDAR)
    return value


@lru_cache(maxsize=64)
def public_holidays(country: str, first_year: int, last_year: int) -> frozenset[date]:
    """The public holidays of `country` (`DE` or `DE-BY`) in the given years."""
    import holidays

    code, _, subdivision = country.partition("-")
    calendar = holidays.country_holidays(code, subdiv=subdivision or None, years=range(first_year, last_year + 1))
    return frozenset(calendar)
