import logging
import math

from odoo import api, fields, models

from .. import providers

_logger = logging.getLogger(__name__)

# How many calls a minute one list's sync spends at most, to size how many lists of an account run at once.
CALLS_PER_LIST_MINUTE = 10
MAX_LISTS_AT_ONCE = 8
# An ESP with no published limit and no rate-limit headers yet.
DEFAULT_LISTS_AT_ONCE = 4

SCOPES_HELP = ("The tier the ESP counts calls in (dotdigital: low for imports, medium for paged reads, high for "
               "single records), or 'account' for a budget that counts every call.")


class EspRateBudget(models.Model):
    """An account's API rate budget for one scope, shared by every worker of every Odoo server.

    Each call through the account's client takes one call from it first (:meth:`_esp_acquire`, one atomic
    UPDATE in a transaction of its own), so together the workers never exceed it; every answer carrying the
    ESP's ``X-RateLimit-*`` headers sets it to what the ESP counts (:meth:`_esp_observe`). Until the ESP has
    described a scope, the provider's published limit stands for the whole account (scope ``account``).
    Written by the transport only, through SQL; people read it on the account.
    """

    _name = "esp.rate.budget"
    _description = "ESP API Rate Budget"
    _order = "account_id, scope"

    account_id = fields.Many2one("esp.account", required=True, ondelete="cascade", index=True, readonly=True)
    scope = fields.Char(required=True, readonly=True, help=SCOPES_HELP)
    call_limit = fields.Integer(string="Calls per Window", readonly=True)
    window_seconds = fields.Integer(string="Window (seconds)", readonly=True)
    remaining = fields.Integer(string="Calls Left", readonly=True)
    reset_at = fields.Datetime(string="Refills At", readonly=True)
    source = fields.Selection(
        [("published", "Provider's published limit"), ("headers", "ESP's rate-limit headers")],
        readonly=True, required=True, default="published")

    _sql_constraints = [
        ("account_scope_uniq", "unique(account_id, scope)", "One budget per account and scope."),
    ]

    @api.model
    def _esp_budget_for(self, account):
        """The :class:`~..providers.RateBudget` the account's client spends (it opens cursors of its own)."""
        published = providers.get_provider_class(account.provider).limits.published_rate
        return PgRateBudget(self.env.registry, account.id, published)

    @api.model
    def _esp_capacity(self, account):
        """How many lists (or other units) of the account may be worked on at once: the calls a minute its
        scarcest budget allows, at ``CALLS_PER_LIST_MINUTE`` per unit, between 1 and ``MAX_LISTS_AT_ONCE``."""
        self.env.cr.execute("""
            SELECT MIN(call_limit * 60.0 / NULLIF(window_seconds, 0)) FROM esp_rate_budget
             WHERE account_id = %s AND call_limit > 0 AND scope IN ('low', 'account')
        """, [account.id])
        per_minute = self.env.cr.fetchone()[0]
        if per_minute is None:
            published = providers.get_provider_class(account.provider).limits.published_rate
            if not published:
                return DEFAULT_LISTS_AT_ONCE
            per_minute = published[0] * 60.0 / published[1]
        return max(1, min(MAX_LISTS_AT_ONCE, int(per_minute // CALLS_PER_LIST_MINUTE)))


class PgRateBudget(providers.RateBudget):
    """:class:`~..providers.RateBudget` kept in ``esp_rate_budget`` rows: every acquire and observe is a short
    transaction of its own (never rolled back with the run that made the call, never holding a lock across a
    call). Times are the database's clock (UTC), one clock for every worker."""

    def __init__(self, registry, account_id, published):
        self.registry = registry
        self.account_id = account_id
        self.published = published

    def acquire(self, scope):
        with self.registry.cursor() as cr:
            if self.published:
                cr.execute("""
                    INSERT INTO esp_rate_budget (account_id, scope, call_limit, window_seconds, remaining, reset_at,
                                                 source, create_date, write_date)
                    VALUES (%(account)s, 'account', %(calls)s, %(window)s, %(calls)s,
                            (now() AT TIME ZONE 'UTC') + make_interval(secs => %(window)s), 'published',
                            now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                    ON CONFLICT (account_id, scope) DO NOTHING
                """, {"account": self.account_id, "calls": self.published[0], "window": self.published[1]})
            # The scope's own budget when the ESP described it, else the account-wide one; locked so that two
            # workers never both take the last call.
            cr.execute("""
                SELECT id, call_limit, remaining, window_seconds,
                       EXTRACT(EPOCH FROM reset_at - (now() AT TIME ZONE 'UTC'))
                  FROM esp_rate_budget
                 WHERE account_id = %s AND scope IN (%s, 'account')
                 ORDER BY scope = %s DESC
                 LIMIT 1
                   FOR UPDATE
            """, [self.account_id, scope, scope])
            row = cr.fetchone()
            if row is None:
                return 0.0
            budget_id, limit, remaining, window, refills_in = row
            if refills_in is None or refills_in <= 0:
                remaining = limit
                cr.execute("""
                    UPDATE esp_rate_budget SET remaining = %s - 1,
                           reset_at = (now() AT TIME ZONE 'UTC') + make_interval(secs => %s)
                     WHERE id = %s
                """, [limit, window or 60, budget_id])
                return 0.0
            if remaining <= 0:
                return max(math.ceil(refills_in), 1)
            cr.execute("UPDATE esp_rate_budget SET remaining = remaining - 1 WHERE id = %s", [budget_id])
            return 0.0

    def observe(self, scope, limit, remaining, reset_seconds):
        # dotdigital's tiers count per minute; a longer reset is an hourly budget (its flat scheme).
        window = 60 if reset_seconds <= 60 else 3600
        with self.registry.cursor() as cr:
            cr.execute("""
                INSERT INTO esp_rate_budget (account_id, scope, call_limit, window_seconds, remaining, reset_at,
                                             source, create_date, write_date)
                VALUES (%(account)s, %(scope)s, %(limit)s, %(window)s, %(remaining)s,
                        (now() AT TIME ZONE 'UTC') + make_interval(secs => %(reset)s), 'headers',
                        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                ON CONFLICT (account_id, scope) DO UPDATE
                   SET call_limit = EXCLUDED.call_limit, window_seconds = EXCLUDED.window_seconds,
                       remaining = EXCLUDED.remaining, reset_at = EXCLUDED.reset_at, source = 'headers',
                       write_date = EXCLUDED.write_date
            """, {"account": self.account_id, "scope": scope, "limit": limit, "window": window,
                  "remaining": remaining, "reset": float(reset_seconds)})
