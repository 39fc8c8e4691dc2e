"""Activity job: each recipient's opens, clicks, bounces and unsubscribes of an ESP mailing, in bulk, and
Odoo's own ``mailing.trace`` rows following them, so Odoo's figures for the mailing are the ESP's.

Incremental per campaign: a read starts by taking the ESP's clock, then reads the activities feed and the
clicks feed from the binding's watermark, page by page. After each page its rows (activity rows, their
contacts and traces) and the read's position (feed and skip, on the binding) are committed together, so a read
stopped by the worker's time budget, a crash or a kill goes on from that page in the next run. The watermark
moves to the clock taken at the start only once both feeds were read whole, so nothing is lost; activity counts
are cumulative in the feed, so a row read twice is simply written again, and click dates only ever widen.
ESP unsubscribes and hard bounces reach the contacts' subscriptions and the blacklist through the list sync's
own feeds and rules, never through this job; a hard bounce counts in the contact's bounce counter here, once
per recipient of the mailing.
"""

import time
from datetime import timedelta

from odoo import fields
from odoo.tools import SQL

from . import link_clicks, mailing_audience
from .common import utc_naive
from .job import LOCK_NAMESPACES, time_budget

CHUNK = 1000
# Advisory lock namespace of an activity read ("ESPA"). Each page's transaction takes the campaign's lock
# first, so the activity cron, the statistics cron and a person's button never read one campaign's pages at the
# same time: a second reader stops at once and leaves the read to the first. A transaction lock, not a session
# one: a failed statement or a killed worker can never leave it held.
LOCK_NAMESPACE = LOCK_NAMESPACES["activity_page"]
# A read left unfinished is taken up again by the activity cron this soon.
RESUME_DELAY = timedelta(minutes=1)
# Context key: at most this many pages per run (tests and benchmarks stop runs part-way with it).
MAX_PAGES_KEY = "campaign_esp_connector_activity_pages"


class Budget:
    """When a run stops reading: past ``deadline`` (``time.monotonic()``), or after ``max_pages`` pages."""

    def __init__(self, seconds=None, max_pages=None):
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.max_pages = max_pages
        self.pages = 0

    @classmethod
    def for_env(cls, env, seconds=None):
        """The worker's time budget (``seconds``, default: the sync runner's), and the context's page limit."""
        if seconds is None:
            seconds = time_budget()
        return cls(seconds, env.context.get(MAX_PAGES_KEY))

    def page_read(self):
        self.pages += 1

    def used_up(self):
        return ((self.deadline is not None and time.monotonic() > self.deadline)
                or (self.max_pages is not None and self.pages >= self.max_pages))


def _naive(moment):
    return utc_naive(moment) if moment else None


def _no_commit(label=None):
    pass


def import_activity(binding, client, commit=None, budget=None):
    """Read the campaign's activity since the binding's watermark and write it, page by page, until both feeds
    are read or ``budget`` (default: the worker's time budget) is used up; return the rows written.

    :param commit: ``commit(label)`` makes the work so far durable (the caller's commit points); without it
        the caller's transaction holds the pages, their position included, and commits them all at once
    :return: rows written; the read is unfinished when ``binding.activity_pass_started`` is still set, and
        the activity cron is then scheduled to go on with it
    """
    env = binding.env
    commit = commit or _no_commit
    budget = budget or Budget.for_env(env)
    binding = binding.sudo()
    written, finished = 0, False
    if not budget.used_up():  # else the run's budget went to other campaigns: the activity cron reads this one
        try:
            written, finished = _read_pages(binding, client, commit, budget)
        finally:
            env["esp.mailing.activity"].invalidate_model()
            env["mailing.trace"].invalidate_model()
    if not finished:
        binding._esp_activity_queue()
        env["esp.sync.job.activity"]._esp_job_come_back(fields.Datetime.now() + RESUME_DELAY)
    return written


def _claim(binding):
    """Take the campaign's lock for this transaction; ``False`` when another worker is reading its pages."""
    binding.env.cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, binding.id])
    if not binding.env.cr.fetchone()[0]:
        return False
    # The position as committed, not as this worker last saw it.
    binding.invalidate_recordset(["activity_pass_started", "activity_feed", "activity_skip", "activity_anchor",
                                  "activity_watermark"])
    return True


def _read_pages(binding, client, commit, budget):
    """Read pages until both feeds are read or the budget is used up. :return: ``(rows written, finished)``"""
    if not _claim(binding):
        return 0, False
    if not binding.activity_pass_started:
        binding._esp_activity_started(utc_naive(client.server_time()))
        commit("activity:started")
    overlap = timedelta(seconds=client.limits.feed_overlap_seconds)
    since = (binding.activity_watermark - overlap) if binding.activity_watermark else client.limits.feed_epoch
    campaign_id = int(binding.remote_id)
    cr = binding.env.cr
    binding.env.flush_all()
    written = 0
    while not budget.used_up():
        if not _claim(binding):
            break
        feed, skip, anchor = binding.activity_feed, binding.activity_skip, binding.activity_anchor or None
        if feed == "activities":
            rows, next_skip, next_anchor = client.campaign_activities_page(campaign_id, since, skip, anchor=anchor)
            written += _write_activities(cr, binding, rows)
        else:
            rows, next_skip, next_anchor = client.campaign_clicks_page(campaign_id, since, skip, anchor=anchor)
            _write_clicks(cr, binding, rows)
        budget.page_read()
        if next_skip is not None:
            binding._esp_activity_progress(feed, next_skip, next_anchor)
            commit(f"activity:{feed}_page")
        elif feed == "activities" and not client.click_dates_in_activity:
            binding._esp_activity_progress("clicks", 0)
            commit("activity:activities_read")
        else:
            binding._esp_activity_done()
            commit("activity:done")
            return written, True
    return written, False


def _write_activities(cr, binding, rows):
    """Upsert one page of activity rows with their contacts and traces; return how many were written.

    One statement writes each new row once: its contact looked up by normalized email, its trace id drawn
    from the sequence and its trace inserted beside it (the foreign key is checked at the statement's end), so
    a page of a first read costs one insert per recipient in each table and no update.

    One ``mailing.trace`` per recipient known to Odoo follows the rows. A trace must name its record: a
    recipient no contact of Odoo has that email (added at the ESP outside Odoo's lists, or deleted in Odoo
    before its activity came) keeps its activity row and counts in the ESP's figures, not in Odoo's. A trace
    whose contact was deleted later keeps it, as Odoo's own traces do.
    """
    rows = {row.email.lower(): row for row in rows if row.email}
    if not rows:
        return 0
    # The trace status fragment is a constant of this module; the rows are parameters.
    query = f"""
        WITH v AS (
            SELECT %(mailing)s::int AS mailing_id, %(account)s::int AS account_id, u.*
              FROM unnest(%(email)s::varchar[], %(remote)s::varchar[], %(opens)s::int[], %(clicks)s::int[],
                          %(forwards)s::int[], %(unsubscribed)s::bool[], %(hard)s::bool[], %(soft)s::bool[],
                          %(sent)s::timestamp[], %(first_open)s::timestamp[], %(last_open)s::timestamp[],
                          %(first_click)s::timestamp[], %(last_click)s::timestamp[])
                   AS u(email, remote_contact_id, opens, clicks, forwards, unsubscribed, hard_bounced,
                        soft_bounced, sent_datetime, first_open_datetime, last_open_datetime,
                        first_click_datetime, last_click_datetime)
        ),
        m AS (
            -- The contact of each email: in the mailing's lists (the lowest id when several), else any. One
            -- index look-up per email, whatever the size of the contacts table. A mailing to a model and domain:
            -- the contact of its recipients list, which names the record the trace is about.
            SELECT v.email, CASE WHEN %(audience)s::int IS NOT NULL THEN (
                SELECT c.id FROM mailing_contact c
                 WHERE c.esp_source_list_id = %(audience)s::int AND c.email_normalized = v.email)
            ELSE (
                SELECT c.id FROM mailing_contact c
                 WHERE c.email_normalized = v.email
              ORDER BY NOT EXISTS (
                           SELECT 1 FROM mailing_subscription s
                             JOIN mail_mass_mailing_list_rel r ON r.mailing_list_id = s.list_id
                            WHERE s.contact_id = c.id AND r.mailing_mailing_id = v.mailing_id), c.id
                 LIMIT 1) END AS contact_id
              FROM v
        ),
        m2 AS (
            SELECT m.email, m.contact_id,
                   CASE WHEN %(audience)s::int IS NULL THEN m.contact_id
                        ELSE (SELECT c.esp_source_res_id FROM mailing_contact c WHERE c.id = m.contact_id)
                   END AS trace_res_id
              FROM m
        ),
        n AS (
            SELECT v.*, m2.contact_id, m2.trace_res_id,
                   CASE WHEN m2.trace_res_id IS NOT NULL THEN nextval('mailing_trace_id_seq') END AS new_trace_id
              FROM v LEFT JOIN m2 ON m2.email = v.email
        ),
        a AS (
            INSERT INTO esp_mailing_activity AS cur (
                mailing_id, account_id, email, remote_contact_id, opens, clicks, forwards, unsubscribed,
                hard_bounced, soft_bounced, sent_datetime, first_open_datetime, last_open_datetime,
                first_click_datetime, last_click_datetime, contact_id, trace_id)
            SELECT mailing_id, account_id, email, remote_contact_id, opens, clicks, forwards, unsubscribed,
                   hard_bounced, soft_bounced, sent_datetime, first_open_datetime, last_open_datetime,
                   first_click_datetime, last_click_datetime, contact_id, new_trace_id
              FROM n
            ON CONFLICT (mailing_id, email) DO UPDATE
               SET remote_contact_id = EXCLUDED.remote_contact_id, opens = EXCLUDED.opens,
                   clicks = EXCLUDED.clicks, forwards = EXCLUDED.forwards, unsubscribed = EXCLUDED.unsubscribed,
                   hard_bounced = EXCLUDED.hard_bounced, soft_bounced = EXCLUDED.soft_bounced,
                   sent_datetime = COALESCE(EXCLUDED.sent_datetime, cur.sent_datetime),
                   first_open_datetime = COALESCE(EXCLUDED.first_open_datetime, cur.first_open_datetime),
                   last_open_datetime = COALESCE(EXCLUDED.last_open_datetime, cur.last_open_datetime),
                   first_click_datetime = LEAST(EXCLUDED.first_click_datetime, cur.first_click_datetime),
                   last_click_datetime = GREATEST(EXCLUDED.last_click_datetime, cur.last_click_datetime),
                   -- A contact found once is kept, unless one of the mailing's lists has that email.
                   contact_id = CASE
                       WHEN EXCLUDED.contact_id IS NULL THEN cur.contact_id
                       WHEN cur.contact_id IS NULL OR EXISTS (
                           SELECT 1 FROM mailing_subscription s
                             JOIN mail_mass_mailing_list_rel r ON r.mailing_list_id = s.list_id
                            WHERE s.contact_id = EXCLUDED.contact_id AND r.mailing_mailing_id = cur.mailing_id)
                       THEN EXCLUDED.contact_id ELSE cur.contact_id END,
                   trace_id = COALESCE(cur.trace_id, EXCLUDED.trace_id)
            RETURNING cur.*
        ),
        created AS (
            INSERT INTO mailing_trace (id, trace_type, mass_mailing_id, campaign_id, model, res_id, email,
                                       trace_status, sent_datetime, open_datetime, links_click_datetime,
                                       failure_type, message_id, create_date, write_date, create_uid, write_uid)
            SELECT a.trace_id, 'mail', a.mailing_id, mm.campaign_id, %(trace_model)s, n.trace_res_id, a.email,
                   {_TRACE_STATUS}, a.sent_datetime, a.first_open_datetime, a.first_click_datetime,
                   CASE WHEN a.hard_bounced OR a.soft_bounced THEN 'mail_bounce' END,
                   'esp-' || a.mailing_id || '-' || a.id, now() at time zone 'UTC', now() at time zone 'UTC',
                   1, 1
              FROM a JOIN n ON n.email = a.email AND n.new_trace_id = a.trace_id
              JOIN mailing_mailing mm ON mm.id = a.mailing_id
         RETURNING id
        )
        SELECT a.id FROM a
         WHERE a.trace_id IS NOT NULL AND a.trace_id NOT IN (SELECT id FROM created)
        """  # noqa: S608
    # One array per column (no per-row formatting): the page is 13 parameters.
    columns = {name: [] for name in ("email", "remote", "opens", "clicks", "forwards", "unsubscribed", "hard",
                                     "soft", "sent", "first_open", "last_open", "first_click", "last_click")}
    (emails, remotes, opens, clicks, forwards, unsubscribed, hard, soft, sent, first_open, last_open, first_click,
     last_click) = columns.values()
    for email, row in rows.items():
        emails.append(email)
        remotes.append(None if row.contact_id is None else str(row.contact_id))
        opens.append(row.opens)
        clicks.append(row.clicks)
        forwards.append(row.forwards)
        unsubscribed.append(row.unsubscribed)
        hard.append(row.hard_bounced)
        soft.append(row.soft_bounced)
        sent.append(_naive(row.sent_at))
        first_open.append(_naive(row.first_open_at))
        last_open.append(_naive(row.last_open_at))
        first_click.append(_naive(row.first_click_at))
        last_click.append(_naive(row.last_click_at))
    mailing = binding.mailing_id
    # A mailing to a model and domain: its traces name the records (model, res_id), as Odoo's own send does.
    audience = mailing.esp_audience_list_id.id if mailing_audience.is_model_mailing(mailing) else None
    cr.execute(query, {"mailing": mailing.id, "account": binding.account_id.id, "audience": audience,
                       "trace_model": mailing.mailing_model_real if audience else "mailing.contact", **columns})
    updated = [row_id for (row_id,) in cr.fetchall()]
    if updated:
        _update_traces(cr, updated)
    _count_bounces(cr, binding, emails)
    return len(rows)


def _count_bounces(cr, binding, emails):
    """Each hard bounce of the page's recipients ``emails`` counts once on its contact's ``message_bounce``, as
    Odoo's bounce processing counts a bounce (the list's "% Bounce" counts the contacts with one). The row's
    flag, set in the same statement, makes a page read again or a read resumed after a crash count nothing twice.
    A mailing to a model and domain counts it on the record its trace names too (a partner's or a lead's
    ``message_bounce``, as Odoo counts a bounce of its own send to them).

    Only here: the list sync's suppression feed (account-wide, hard bounces included) opts out and
    blacklists, and does not count, since the same bounce comes through this mailing's activity.
    """
    cr.execute("""
        WITH counted AS (
            UPDATE esp_mailing_activity
               SET bounce_counted = TRUE
             WHERE mailing_id = %s AND email = ANY(%s) AND hard_bounced AND bounce_counted IS NOT TRUE
                   AND (contact_id IS NOT NULL OR trace_id IS NOT NULL)
         RETURNING contact_id, trace_id
        ), contacts AS (
            UPDATE mailing_contact c
               SET message_bounce = COALESCE(c.message_bounce, 0) + n.bounces
              FROM (SELECT contact_id, COUNT(*) AS bounces FROM counted GROUP BY contact_id) n
             WHERE c.id = n.contact_id
        )
        SELECT t.model, t.res_id, COUNT(*)
          FROM counted JOIN mailing_trace t ON t.id = counted.trace_id
         WHERE t.model != 'mailing.contact'
      GROUP BY t.model, t.res_id
        """, [binding.mailing_id.id, emails])
    rows = cr.fetchall()
    env = binding.env
    env["mailing.contact"].invalidate_model(["message_bounce"])
    by_model = {}
    for model, res_id, bounces in rows:
        by_model.setdefault(model, []).append((res_id, bounces))
    for model, counts in by_model.items():
        Model = env[model] if model in env else None
        field = Model._fields.get("message_bounce") if Model is not None else None
        if not field or not field.store or field.type != "integer":
            continue
        cr.execute(SQL(
            "UPDATE %s r SET message_bounce = COALESCE(r.message_bounce, 0) + u.bounces "
            "FROM unnest(%s::int[], %s::int[]) AS u(id, bounces) WHERE r.id = u.id",
            SQL.identifier(Model._table), [res_id for res_id, _n in counts], [n for _res_id, n in counts]))
        Model.invalidate_model(["message_bounce"])


def _write_clicks(cr, binding, clicks):
    """Widen the first and last click dates of one page of clicks, and their traces' click dates; clicks that
    name their link also reach the mailing's link trackers (``link_clicks``)."""
    if binding.account_id.support_click_urls:
        link_clicks.write_link_clicks(cr, binding, clicks)
    dates = {}
    for click in clicks:
        if click.email and click.clicked_at:
            email, at = click.email.lower(), _naive(click.clicked_at)
            first, last = dates.get(email, (at, at))
            dates[email] = (min(first, at), max(last, at))
    if not dates:
        return
    # The mailing id is an integer of ours; the rows are parameters.
    query = f"""
        UPDATE esp_mailing_activity a
           SET first_click_datetime = LEAST(a.first_click_datetime, v.first),
               last_click_datetime = GREATEST(a.last_click_datetime, v.last)
          FROM (SELECT (SELECT x.id FROM esp_mailing_activity x
                         WHERE x.mailing_id = {int(binding.mailing_id.id)} AND x.email = u.email) AS id,
                       u.first, u.last
                  FROM unnest(%s::varchar[], %s::timestamp[], %s::timestamp[]) AS u(email, first, last)) AS v
         WHERE a.id = v.id
     RETURNING a.id
        """  # noqa: S608
    cr.execute(query, [list(dates), [first for first, _last in dates.values()],
                       [last for _first, last in dates.values()]])
    ids = [row_id for (row_id,) in cr.fetchall()]
    if ids:
        _update_traces(cr, ids)


# Trace status of a recipient, as Odoo counts them: a bounce (hard or soft: the ESP does not count either as
# delivered), an open, or delivered.
_TRACE_STATUS = """CASE WHEN a.hard_bounced OR a.soft_bounced THEN 'bounce'
                        WHEN a.opens > 0 THEN 'open' ELSE 'sent' END"""


def _update_traces(cr, ids):
    """The traces of the activity rows ``ids`` follow them."""
    cr.execute(f"""
        UPDATE mailing_trace t
           SET trace_status = {_TRACE_STATUS},
               -- A model's record stays the one the trace was made for (its contact is the audience's).
               res_id = CASE WHEN t.model = 'mailing.contact' THEN COALESCE(a.contact_id, t.res_id) ELSE t.res_id END,
               sent_datetime = a.sent_datetime, open_datetime = a.first_open_datetime,
               links_click_datetime = a.first_click_datetime,
               failure_type = CASE WHEN a.hard_bounced OR a.soft_bounced THEN 'mail_bounce' END,
               write_date = now() at time zone 'UTC'
          FROM esp_mailing_activity a
         WHERE a.id = ANY(%(ids)s) AND t.id = a.trace_id
        """, {"ids": ids})  # noqa: S608 - fixed fragment
