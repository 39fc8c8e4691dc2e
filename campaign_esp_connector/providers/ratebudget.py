"""An account's rate budget, as the transport sees it: asked before each call, told what the ESP said after.

Every call belongs to a *scope*: the tier the ESP counts it in (dotdigital's tiered scheme counts ``low``,
``medium`` and ``high`` calls separately, per minute), or ``account`` when the ESP counts all calls together.
A budget is fed by the ESP's ``X-RateLimit-*`` headers where it sends them, and by the provider's published
limit otherwise (:attr:`~.records.ProviderLimits.published_rate`).

This module holds only the interface and an in-process budget; the add-on plugs in one that lives in
PostgreSQL, so every worker of every server spends the same budget.
"""

import threading
import time


class RateBudget:
    """Interface. :meth:`acquire` takes one call from ``scope``'s budget and returns 0, or returns the seconds
    until the budget refills (nothing taken); :meth:`observe` records what the ESP said of a scope."""

    def acquire(self, scope):
        return 0.0

    def observe(self, scope, limit, remaining, reset_seconds):
        """``limit`` calls per window, ``remaining`` of them left, refilled in ``reset_seconds``."""


class LocalRateBudget(RateBudget):
    """A budget of this process only (the provider tests, scripts without a database).

    :param published: ``(calls, window_seconds)`` used for a scope until the ESP's headers describe it, or
        ``None`` for no limit until then
    """

    def __init__(self, published=None, clock=time.monotonic):
        self.published = published
        self.clock = clock
        self.scopes = {}  # scope -> [limit, remaining, resets_at, window]
        self._lock = threading.Lock()

    def _row(self, scope):
        row = self.scopes.get(scope)
        if row is None and self.published:
            calls, window = self.published
            row = self.scopes.setdefault("account", [calls, calls, self.clock() + window, window])
        return row

    def acquire(self, scope):
        with self._lock:
            row = self._row(scope)
            if row is None:
                return 0.0
            now = self.clock()
            if row[2] <= now:
                row[1], row[2] = row[0], now + row[3]
            if row[1] <= 0:
                return max(row[2] - now, 0.001)
            row[1] -= 1
            return 0.0

    def observe(self, scope, limit, remaining, reset_seconds):
        with self._lock:
            window = self.scopes.get(scope, [0, 0, 0, 60])[3]
            self.scopes[scope] = [limit, remaining, self.clock() + reset_seconds, window]
