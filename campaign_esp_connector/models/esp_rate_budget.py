import logging
import math
from contextlib import contextmanager

import psycopg2.errors

from odoo import api, fields, models
from odoo.sql_db import TestCursor

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
        return PgRateBudget(self.env, account.id, published)

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
    READ COMMITTED transaction of its own (never rolled back with the run that made the call, never holding a
    lock across a call, and the decrement of one worker waits for another's instead of failing). Times are the
    database's clock (UTC), one clock for every worker."""

    def __init__(self, env, account_id, published):
        self.registry = env.registry
        self.account_id = account_id
        self.published = published

    @contextmanager
    def _cursor(self):
        with self.registry.cursor() as cr:
            if not isinstance(cr, TestCursor):  # a browser tour's requests share the test's transaction
                cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            yield cr

    def acquire(self, scope):
        try:
            with self._cursor() as cr:
                return self._acquire(cr, scope)
        except psycopg2.errors.ForeignKeyViolation:
            # The account was deleted meanwhile.
            return 0.0

    def _acquire(self, cr, scope):
        params = {"account": self.account_id, "scope": scope}
        for _attempt in range(3):
            # The scope's own budget when the ESP described it, else the account-wide one.
            cr.execute("""
                UPDATE esp_rate_budget b
                   SET remaining = CASE WHEN b.reset_at <= (now() AT TIME ZONE 'UTC') THEN b.call_limit
                                        ELSE b.remaining END - 1,
                       reset_at = CASE WHEN b.reset_at <= (now() AT TIME ZONE 'UTC')
                                       THEN (now() AT TIME ZONE 'UTC') + make_interval(secs => b.window_seconds)
                                       ELSE b.reset_at END
                 WHERE b.id = (SELECT id FROM esp_rate_budget
                                WHERE account_id = %(account)s AND scope IN (%(scope)s, 'account')
                                ORDER BY scope = %(scope)s DESC LIMIT 1)
                   AND (b.reset_at <= (now() AT TIME ZONE 'UTC') OR b.remaining > 0)
             RETURNING b.id
            """, params)
            if cr.fetchone():
                return 0.0
            # Nothing taken: the budget is spent, or there is none yet, or another worker created it after this
            # UPDATE looked (each statement sees what was committed before it began): look again.
            cr.execute("""
                SELECT remaining, EXTRACT(EPOCH FROM reset_at - (now() AT TIME ZONE 'UTC')) FROM esp_rate_budget
                 WHERE account_id = %(account)s AND scope IN (%(scope)s, 'account')
                 ORDER BY scope = %(scope)s DESC LIMIT 1
            """, params)
            row = cr.fetchone()
            if row is not None:
                remaining, refills_in = row
                if remaining <= 0 and refills_in > 0:
                    return max(math.ceil(refills_in), 1)  # spent: refilled in that many seconds
                continue  # there is room after all: take it
            if not self.published:
                return 0.0  # no published limit, and the ESP has said nothing yet
            # Only for an account other transactions see: one whose creation is not committed yet (a test, a
            # wizard that creates and connects at once) is used by no other worker, so there is nothing to share.
            cr.execute("""
                INSERT INTO esp_rate_budget (account_id, scope, call_limit, window_seconds, remaining, reset_at,
                                             source, create_date, write_date)
                SELECT %(account)s, 'account', %(calls)s, %(window)s, %(calls)s,
                       (now() AT TIME ZONE 'UTC') + make_interval(secs => %(window)s), 'published',
                       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                 WHERE EXISTS (SELECT 1 FROM esp_account WHERE id = %(account)s)
                ON CONFLICT (account_id, scope) DO NOTHING
            """, {**params, "calls": self.published[0], "window": self.published[1]})
        return 0.0

    def observe(self, scope, limit, remaining, reset_seconds):
        # dotdigital's tiers count per minute; a longer reset is an hourly budget (its flat scheme).
        window = 60 if reset_seconds <= 60 else 3600
        try:
            with self._cursor() as cr:
                cr.execute("""
                    INSERT INTO esp_rate_budget (account_id, scope, call_limit, window_seconds, remaining, reset_at,
                                                 source, create_date, write_date)
                    SELECT %(account)s, %(scope)s, %(limit)s, %(window)s, %(remaining)s,
                           (now() AT TIME ZONE 'UTC') + make_interval(secs => %(reset)s), 'headers',
                           now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                     WHERE EXISTS (SELECT 1 FROM esp_account WHERE id = %(account)s)
                    ON CONFLICT (account_id, scope) DO UPDATE
                       SET call_limit = EXCLUDED.call_limit, window_seconds = EXCLUDED.window_seconds,
                           remaining = EXCLUDED.remaining, reset_at = EXCLUDED.reset_at, source = 'headers',
                           write_date = EXCLUDED.write_date
                """, {"account": self.account_id, "scope": scope, "limit": limit, "window": window,
                      "remaining": remaining, "reset": float(reset_seconds)})
        except psycopg2.errors.ForeignKeyViolation:
            pass  # an account not committed yet (see acquire)
