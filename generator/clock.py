"""The one clock every "retired yet?" or "expired yet?" question reads; pinned with AZML_TODAY and AZML_NOW."""

from __future__ import annotations

import datetime as dt
import os

from generator.errors import ExitCode, GeneratorError

ENV = "AZML_TODAY"


class ClockError(GeneratorError, ValueError):
    """AZML_TODAY is set but is not a date (or AZML_NOW not a time): the user's input, exit 2."""

    exit_code = ExitCode.INVALID


def today() -> dt.date:
    """Today's date, or the date in AZML_TODAY (YYYY-MM-DD) when it is set."""
    pinned = os.environ.get(ENV, "").strip()
    if not pinned:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(pinned)
    except ValueError:
        raise ClockError(f"{ENV}={pinned!r} is not a date; use YYYY-MM-DD, or unset it to use today") from None


NOW_ENV = "AZML_NOW"


def now() -> dt.datetime:
    """The current UTC time, or the time in AZML_NOW (ISO 8601, e.g. 2026-11-25T12:00:00+00:00) when it is set."""
    pinned = os.environ.get(NOW_ENV, "").strip()
    if not pinned:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(pinned)
    except ValueError:
        raise ClockError(f"{NOW_ENV}={pinned!r} is not a time; use e.g. 2026-11-25T12:00:00+00:00, or unset it to "
                         "use the current time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_duration(text: str) -> dt.timedelta:
    """`8h` or `3d` (endpoint.expires_after) as a timedelta; ValueError for anything else."""
    text = str(text).strip()
    if len(text) < 2 or not text[:-1].isdigit() or text[-1] not in "hd":
        raise ValueError(f"{text!r} is not a duration like 8h or 3d")
    return dt.timedelta(hours=int(text[:-1]) * (24 if text[-1] == "d" else 1))
