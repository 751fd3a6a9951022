"""Dates given to commands on the command line."""

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date, parse_datetime


def parse_moment(value: str | None, option: str) -> datetime | None:
    """YYYY-MM-DD (00:00 UTC) or an ISO date-time (UTC unless it names its zone); a usage error otherwise."""
    if not value:
        return None
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"{option} {value}: not a date (YYYY-MM-DD) or ISO date-time.", returncode=2)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
