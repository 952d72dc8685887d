"""The one clock every "is this retired yet?" question reads; tests and users pin it with AZML_TODAY."""

from __future__ import annotations

import datetime as dt
import os

ENV = "AZML_TODAY"


class ClockError(ValueError):
    """AZML_TODAY is set but is not a date."""


def today() -> dt.date:
    """Today's date, or the date in AZML_TODAY (YYYY-MM-DD) when it is set."""
    pinned = os.environ.get(ENV, "").strip()
    if not pinned:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(pinned)
    except ValueError:
        raise ClockError(f"{ENV}={pinned!r} is not a date; use YYYY-MM-DD") from None
