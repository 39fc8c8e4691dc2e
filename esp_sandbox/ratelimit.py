"""dotdigital's two throttling schemes, off unless the operator turns one on.

flat: N calls per rolling hour for the account, refused with HTTP 400 and ``ERROR_APIUSAGE_EXCEEDED``.
tiered: per-minute budgets per tier (low = bulk calls, medium = lists, high = single records), refused with
HTTP 429 and ``X-RateLimit-Limit/-Remaining/-Reset/-Scope`` (Reset in seconds). Both count on the sandbox
clock, so advancing it refills the budget.
"""

import collections

from . import errors

WINDOW = 60  # seconds of a tiered budget


def tier_of(method, endpoint):
    """Tier of a call: imports and sends are bulk, paged reads are lists, the rest are single records."""
    if endpoint.startswith("v3_"):
        # v3 names its operations by what they do: the JSON import is bulk, the contacts feed a list.
        return "low" if endpoint == "v3_import" else "medium" if endpoint == "v3_list_contacts" else "high"
    if method == "POST" and ("import" in endpoint or endpoint == "send_campaign"):
        return "low"
    if endpoint.startswith("list_"):
        return "medium"
    return "high"


class RateLimiter:
    """Counters of calls already served. Callers hold the store lock."""

    def __init__(self):
        self.hourly = collections.deque()
        self.windows = {}

    def clear(self):
        self.hourly.clear()
        self.windows.clear()

    def check(self, settings, tier, now, per_minute=False):
        """Count one call; return the headers to add, or raise/return a refusal when over budget.

        :param per_minute: a v3 call, which has only the tiered scheme: counted per minute in its tier whenever
            the account is throttled at all.
        """
        mode = settings.get("mode", "off")
        if mode == "flat" and not per_minute:
            return self._flat(int(settings["calls_per_hour"]), now)
        if mode in ("tiered", "flat"):
            return self._tiered(int(settings["tiers"][tier]), tier, now)
        return {}

    def _flat(self, limit, now):
        while self.hourly and self.hourly[0] <= now - 3600:
            self.hourly.popleft()
        if len(self.hourly) >= limit:
            raise errors.ApiError(400, "You have exceeded your API usage allowance for this hour. ERROR_APIUSAGE_EXCEEDED")
        self.hourly.append(now)
        return {}

    def _tiered(self, limit, tier, now):
        start = now - now % WINDOW
        window_start, used = self.windows.get(tier, (start, 0))
        if window_start != start:
            used = 0
        reset = max(int(start + WINDOW - now + 0.999), 1)
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Reset": str(reset), "X-RateLimit-Scope": tier}
        if used >= limit:
            headers.update({"X-RateLimit-Remaining": "0", "Retry-After": str(reset)})
            raise errors.ApiError(429, "Too many requests. Please try again later.", headers)
        self.windows[tier] = (start, used + 1)
        headers["X-RateLimit-Remaining"] = str(limit - used - 1)
        return headers


def apply_headers(response, headers):
    for name, value in headers.items():
        response.headers[name] = value
    return response
