"""Activity job: each recipient's opens, clicks, bounces and unsubscribes of an ESP mailing, in bulk, and
Odoo's own ``mailing.trace`` rows following them, so Odoo's figures for the mailing are the ESP's.

Incremental per campaign: the binding's activity watermark is the ESP's clock read before the feeds, stored
only once both feeds (activities and clicks) were read whole. Activity counts are cumulative in the feed, so a
row read twice is simply written again; click dates only ever widen. ESP unsubscribes and hard bounces reach
the contacts through the list sync's own feeds and rules, never through this job.
"""

from datetime import timedelta

from psycopg2.extras import execute_values

from .common import utc_naive

CHUNK = 1000


def _naive(moment):
    return utc_naive(moment) if moment else None


def import_activity(binding, client):
    """Read the campaign's activity since the binding's watermark and write it; return rows written."""
    env = binding.env
    cr = env.cr
    server_now = utc_naive(client.server_time())
    overlap = timedelta(seconds=client.limits.feed_overlap_seconds)
    since = (binding.activity_watermark - overlap) if binding.activity_watermark else client.limits.feed_epoch
    campaign_id = int(binding.remote_id)
    env.flush_all()
    written, chunk = 0, []
    for row in client.iter_campaign_activities_since(campaign_id, since):
        if row.email:
            chunk.append(row)
        if len(chunk) >= CHUNK:
            written += _upsert(cr, binding, chunk)
            chunk = []
    if chunk:
        written += _upsert(cr, binding, chunk)
    clicks = {}
    for click in () if client.click_dates_in_activity else client.iter_campaign_clicks_since(campaign_id, since):
        if click.email and click.clicked_at:
            first, last = clicks.get(click.email.lower(), (None, None))
            at = _naive(click.clicked_at)
            clicks[click.email.lower()] = (min(first or at, at), max(last or at, at))
    if clicks:
        # The mailing id is an integer of ours; the rows are parameters.
        query = f"""
            UPDATE esp_mailing_activity a
               SET first_click_datetime = LEAST(a.first_click_datetime, v.first),
                   last_click_datetime = GREATEST(a.last_click_datetime, v.last)
              FROM (VALUES %s) AS v(email, first, last)
             WHERE a.mailing_id = {int(binding.mailing_id.id)} AND a.email = v.email
            """  # noqa: S608
        execute_values(cr, query, [(email, first, last) for email, (first, last) in clicks.items()],
                       template="(%s, %s::timestamp, %s::timestamp)", page_size=CHUNK)
    _match_contacts(cr, binding)
    _sync_traces(cr, binding)
    env["esp.mailing.activity"].invalidate_model()
    env["mailing.trace"].invalidate_model()
    binding.activity_watermark = server_now
    return written


def _upsert(cr, binding, rows):
    execute_values(cr, """
        INSERT INTO esp_mailing_activity (mailing_id, account_id, email, remote_contact_id, opens, clicks, forwards,
                                          unsubscribed, hard_bounced, soft_bounced, sent_datetime,
                                          first_open_datetime, last_open_datetime, first_click_datetime,
                                          last_click_datetime)
        VALUES %s
        ON CONFLICT (mailing_id, email) DO UPDATE
           SET remote_contact_id = EXCLUDED.remote_contact_id, opens = EXCLUDED.opens, clicks = EXCLUDED.clicks,
               forwards = EXCLUDED.forwards, unsubscribed = EXCLUDED.unsubscribed,
               hard_bounced = EXCLUDED.hard_bounced, soft_bounced = EXCLUDED.soft_bounced,
               sent_datetime = COALESCE(EXCLUDED.sent_datetime, esp_mailing_activity.sent_datetime),
               first_open_datetime = COALESCE(EXCLUDED.first_open_datetime, esp_mailing_activity.first_open_datetime),
               last_open_datetime = COALESCE(EXCLUDED.last_open_datetime, esp_mailing_activity.last_open_datetime),
               first_click_datetime = LEAST(EXCLUDED.first_click_datetime, esp_mailing_activity.first_click_datetime),
               last_click_datetime = GREATEST(EXCLUDED.last_click_datetime, esp_mailing_activity.last_click_datetime)
        """, [
        (binding.mailing_id.id, binding.account_id.id, row.email.lower(),
         None if row.contact_id is None else str(row.contact_id), row.opens, row.clicks, row.forwards,
         row.unsubscribed, row.hard_bounced, row.soft_bounced, _naive(row.sent_at), _naive(row.first_open_at),
         _naive(row.last_open_at), _naive(row.first_click_at), _naive(row.last_click_at))
        for row in {row.email.lower(): row for row in rows}.values()
    ], template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::timestamp, %s::timestamp, %s::timestamp, "
                "%s::timestamp, %s::timestamp)",
        page_size=CHUNK)
    return len(rows)


def _match_contacts(cr, binding):
    """The mailing list contact of each email: in the mailing's lists (the lowest id when several), otherwise
    any contact of that email (one removed from the list since the send still has its activity)."""
    params = {"mailing": binding.mailing_id.id}
    cr.execute("""
        UPDATE esp_mailing_activity a SET contact_id = m.contact_id
          FROM (SELECT DISTINCT ON (c.email_normalized) c.email_normalized AS email, c.id AS contact_id
                  FROM mail_mass_mailing_list_rel r
                  JOIN mailing_subscription s ON s.list_id = r.mailing_list_id
                  JOIN mailing_contact c ON c.id = s.contact_id
                 WHERE r.mailing_mailing_id = %(mailing)s AND c.email_normalized IS NOT NULL
              ORDER BY c.email_normalized, c.id) m
         WHERE a.mailing_id = %(mailing)s AND a.email = m.email AND a.contact_id IS DISTINCT FROM m.contact_id
        """, params)
    cr.execute("""
        UPDATE esp_mailing_activity a SET contact_id = m.contact_id
          FROM (SELECT DISTINCT ON (c.email_normalized) c.email_normalized AS email, c.id AS contact_id
                  FROM mailing_contact c
                 WHERE c.email_normalized IN (SELECT email FROM esp_mailing_activity
                                               WHERE mailing_id = %(mailing)s AND contact_id IS NULL)
              ORDER BY c.email_normalized, c.id) m
         WHERE a.mailing_id = %(mailing)s AND a.contact_id IS NULL AND a.email = m.email
        """, params)


# Trace status of a recipient, as Odoo counts them: a bounce (hard or soft: the ESP does not count either as
# delivered), an open, or delivered.
_TRACE_STATUS = """CASE WHEN a.hard_bounced OR a.soft_bounced THEN 'bounce'
                        WHEN a.opens > 0 THEN 'open' ELSE 'sent' END"""


def _sync_traces(cr, binding):
    """One ``mailing.trace`` per recipient known to Odoo, following the activity rows (new ones created, others
    updated). A trace must name its record: a recipient no contact of Odoo has that email (added at the ESP
    outside Odoo's lists, or deleted in Odoo before its activity came) keeps its activity row and counts in the
    ESP's figures, not in Odoo's. A trace whose contact was deleted later keeps it, as Odoo's own traces do."""
    params = {"mailing": binding.mailing_id.id}
    cr.execute(f"""
        UPDATE mailing_trace t
           SET trace_status = {_TRACE_STATUS}, res_id = COALESCE(a.contact_id, t.res_id),
               sent_datetime = a.sent_datetime, open_datetime = a.first_open_datetime,
               links_click_datetime = a.first_click_datetime,
               failure_type = CASE WHEN a.hard_bounced OR a.soft_bounced THEN 'mail_bounce' END,
               write_date = now() at time zone 'UTC'
          FROM esp_mailing_activity a
         WHERE a.mailing_id = %(mailing)s AND t.id = a.trace_id
        """, params)  # noqa: S608 - fixed fragment
    cr.execute(f"""
        WITH created AS (
            INSERT INTO mailing_trace (trace_type, mass_mailing_id, campaign_id, model, res_id, email,
                                       trace_status, sent_datetime, open_datetime, links_click_datetime,
                                       failure_type, message_id, create_date, write_date, create_uid, write_uid)
            SELECT 'mail', a.mailing_id, mm.campaign_id, 'mailing.contact', a.contact_id, a.email,
                   {_TRACE_STATUS}, a.sent_datetime, a.first_open_datetime, a.first_click_datetime,
                   CASE WHEN a.hard_bounced OR a.soft_bounced THEN 'mail_bounce' END,
                   'esp-' || a.mailing_id || '-' || a.id, now() at time zone 'UTC', now() at time zone 'UTC',
                   1, 1
              FROM esp_mailing_activity a JOIN mailing_mailing mm ON mm.id = a.mailing_id
             WHERE a.mailing_id = %(mailing)s AND a.trace_id IS NULL AND a.contact_id IS NOT NULL
         RETURNING id, message_id
        )
        UPDATE esp_mailing_activity a SET trace_id = created.id
          FROM created WHERE created.message_id = 'esp-' || a.mailing_id || '-' || a.id
        """, params)  # noqa: S608 - fixed fragment
