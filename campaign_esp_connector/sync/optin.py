"""Consent records and double opt-in run by the ESP: what the export sends for them, and the job that reads the
ESP's confirmations (and expiries) of pending subscribers back into Odoo."""

import ipaddress
from urllib.parse import urlsplit

from psycopg2.extras import execute_values

from .common import Job
from .optouts import apply_esp_opt_outs
from .words import status_words

# The ESP's statuses of a confirmed subscriber.
CONFIRMED = ("Subscribed", "SoftBounced")
STILL_PENDING = "PendingOptIn"


def consent_record(text, when, url, ip_address, user_agent, env):
    """``(cells, problem)``: the five consent cells the export writes (text, ISO 8601 UTC time, URL, IP address,
    user agent) and why they cannot go out (a translated reason naming what is missing or wrong), or
    ``(None, None)`` without a consent."""
    values = [(text or "").strip(), when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "", (url or "").strip(),
              (ip_address or "").strip(), (user_agent or "").strip()]
    if not any(values):
        return None, None
    labels = [env._("text"), env._("date"), env._("URL"), env._("IP address"), env._("user agent")]
    missing = [label for label, value in zip(labels, values, strict=True) if not value]
    if missing:
        return values, env._("consent record incomplete: %(missing)s missing", missing=", ".join(missing))
    parts = urlsplit(values[2])
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return values, env._("consent record: the URL %(url)s is not a web address", url=values[2])
    try:
        ipaddress.ip_address(values[3])
    except ValueError:
        return values, env._("consent record: %(ip)s is not an IP address", ip=values[3])
    return values, None


def subscription_extras(env, list_id, contact_ids):
    """``{contact id: (consent cells or None, consent problem or None, pending opt-in)}`` of the list's
    subscriptions of these contacts: one query per page of the export."""
    env.cr.execute(
        """
        SELECT contact_id, esp_consent_text, esp_consent_datetime, esp_consent_url, esp_consent_ip,
               esp_consent_user_agent, esp_pending_optin
          FROM mailing_subscription WHERE list_id = %s AND contact_id = ANY(%s)
        """,
        [list_id, list(contact_ids)],
    )
    extras = {}
    for contact_id, text, when, url, ip_address, agent, pending in env.cr.fetchall():
        cells, problem = consent_record(text, when, url, ip_address, agent, env)
        extras[contact_id] = (cells, problem, bool(pending))
    return extras


class DoubleOptInJob(Job):
    """Owns the opt-in watermark: reads the list's change feed for the subscribers pending confirmation.

    Confirmed at the ESP (subscribed) -> no longer pending. Anything else but still pending (the confirmation
    expired, or the person unsubscribed or bounced) -> opted out of the list in Odoo, with the ESP's status as
    the reason, so they are never mailed. Lists without double opt-in, or with nobody pending, make no call.
    """

    name = "optin"

    def execute(self):
        run, binding = self.run, self.binding
        if not binding.double_optin:
            return None
        pending = self._pending()
        if not pending:
            # Nobody waits: whoever is exported pending from now on changes at the ESP after this moment.
            binding.optin_watermark = max(run.server_now, binding.optin_watermark or run.limits.feed_epoch)
            return None
        since = run.since(binding.optin_watermark)
        confirmed, refused = [], []
        for contact in run.client.iter_book_contacts_modified_since(binding.remote_id, since, with_full_data=False):
            email = (contact.email or "").strip().lower()
            if email not in pending or contact.status == STILL_PENDING:
                continue
            if contact.status in CONFIRMED:
                confirmed.append(email)
            else:
                refused.append((email, contact.status))
            if run.out_of_time():
                self._apply(pending, confirmed, refused)
                run.log._add_step(self.env._("Time budget used up while reading double opt-in confirmations."))
                return "partial"
        self._apply(pending, confirmed, refused)
        binding.optin_watermark = max(run.server_now, binding.optin_watermark or run.limits.feed_epoch)
        run.commit("optin:done")
        return None

    def _pending(self):
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT c.email_normalized, array_agg(s.id)
              FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = %s AND s.esp_pending_optin AND s.opt_out IS NOT TRUE AND c.email_normalized IS NOT NULL
          GROUP BY 1
            """,
            [self.list_id],
        )
        return dict(self.env.cr.fetchall())

    def _apply(self, pending, confirmed, refused):
        run, env = self.run, self.env
        done = [subscription_id for email in [*confirmed, *(email for email, _status in refused)]
                for subscription_id in pending[email]]
        if not done:
            return
        apply_esp_opt_outs(run, [
            (email, env._("double opt-in not confirmed (%(status)s)",
                          status=status_words(env, run.client, status) or "?"),
             None, False)
            for email, status in refused
        ])
        execute_values(env.cr, "UPDATE mailing_subscription s SET esp_pending_optin = FALSE FROM (VALUES %s) AS v(id) "
                               "WHERE s.id = v.id", [(subscription_id,) for subscription_id in done])
        env["mailing.subscription"].invalidate_model(["esp_pending_optin"])
        run.log._add_step(env._("Double opt-in: %(confirmed)s subscribers confirmed at the ESP, %(refused)s not "
                                "(opted out).", confirmed=len(confirmed), refused=len(refused)))
