"""Times as people and programs read them: ISO 8601 in JSON, a short UTC date on screens and cards."""

import datetime


def iso(t):
    """ISO 8601 UTC (e.g. 2026-11-30T17:40:50Z) for an epoch time, or None."""
    if t is None:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def readable(t):
    """A date and minute for a screen or a card (e.g. 2026-11-30 17:40 UTC)."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
