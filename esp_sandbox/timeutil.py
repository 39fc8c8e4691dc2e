"""The sandbox clock and dotdigital's ISO 8601 dates.

Every timestamp the sandbox writes and every since-date feed it answers reads this clock, so a test can move
time forward instead of sleeping.
"""

import datetime
import re
import time

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


class Clock:
    """Wall time plus an offset the operator can only move forward."""

    def __init__(self, offset=0.0):
        self.offset = offset

    def now(self):
        return time.time() + self.offset

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset += seconds


def to_iso(epoch):
    """``2024-05-01T10:00:00.123Z`` like dotdigital's answers; None stays None."""
    if epoch is None:
        return None
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    # The year is padded by hand: strftime's %Y writes year 1 (.NET's DateTime.MinValue) as "1" on glibc.
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text):
    """Epoch seconds of an ISO 8601 date as clients send them (``Z``, ``+00:00``, ``+0000`` or naive UTC).

    :raises ValueError: when the text is not a date.
    """
    text = _COMPACT_OFFSET.sub(r"\1:\2", text.strip().replace(" ", "+"))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()
