"""Statistics job: campaign summaries back onto their mailings, only for campaigns whose figures moved.

The account's statistics watermark is the ESP's clock read before the feed (``campaigns/with-activity-since``)
and stored only once every campaign it listed was refreshed, so an account with thousands of old campaigns
costs one feed call plus one call per campaign with new activity. Campaigns sent within the provider's
settling window are read on every run as well: the feed may list opens and clicks only, and a send's bounces
and unsubscribes arrive in its first hours. For those recent sends the run also reads the recipients' activity,
so Odoo's own figures (its traces) follow the summary within one run while a send is fresh; older campaigns'
activity is read by the daily activity job, and a person's Refresh from ESP reads both at once.
"""

import logging
from datetime import timedelta

from odoo import fields

from .. import providers
from . import activity, split_test
from .common import utc_naive

_logger = logging.getLogger(__name__)

# Summary fields of mailing.mailing and the provider's figure each one holds.
SUMMARY_FIELDS = {
    "esp_stat_sent": "sent",
    "esp_stat_delivered": "delivered",
    "esp_stat_hard_bounces": "hard_bounces",
    "esp_stat_soft_bounces": "soft_bounces",
    "esp_stat_unsubscribes": "unsubscribes",
    "esp_stat_complaints": "complaints",
    "esp_stat_opens": "opens",
    "esp_stat_unique_opens": "unique_opens",
    "esp_stat_clicks": "clicks",
    "esp_stat_unique_clicks": "unique_clicks",
    "esp_stat_forwards": "forwards",
}


# Summary fields some providers do not report, the figure's attribute and the activity rows that count it.
DERIVED_FIELDS = {
    "esp_stat_unique_forwards": ("unique_forwards", "forwards > 0"),
    "esp_stat_views": ("views", "opens > 0 OR clicks > 0"),
    "esp_stat_no_activity": ("no_activity", "opens = 0 AND clicks = 0"),
}


def _derived_values(binding, derived):
    """The fields of ``DERIVED_FIELDS`` whose figure is in ``derived``, counted from the activity rows."""
    fnames = [fname for fname, (attribute, _where) in DERIVED_FIELDS.items() if attribute in derived]
    if not fnames:
        return {}
    binding.env["esp.mailing.activity"].flush_model()
    # The conditions are constants of this module.
    counts = ", ".join(f"COUNT(*) FILTER (WHERE {DERIVED_FIELDS[fname][1]})" for fname in fnames)
    binding.env.cr.execute(f"SELECT {counts} FROM esp_mailing_activity WHERE mailing_id = %s",  # noqa: S608
                           (binding.mailing_id.id,))
    return dict(zip(fnames, binding.env.cr.fetchone(), strict=True))


def open_rate(unique_opens, delivered):
    """Recipients who opened per delivered, in %, to two decimals."""
    return round(100.0 * unique_opens / delivered, 2) if delivered else 0.0


def write_summary(binding, summary, derived=frozenset()):
    """Store the provider's totals on the binding's mailing; figures in ``derived`` come from the activity."""
    values = {fname: getattr(summary, attribute) for fname, attribute in SUMMARY_FIELDS.items()}
    values.update({fname: getattr(summary, attribute) or 0 for fname, (attribute, _where) in DERIVED_FIELDS.items()
                   if attribute not in derived})
    values.update(_derived_values(binding, derived))
    # The rate from the same read as its parts, so the tab's figures agree with each other (the ESP's own
    # percentage may be rounded, or counted on another base).
    values.update(esp_stat_esp_open_rate=open_rate(summary.unique_opens, summary.delivered),
                  esp_stats_datetime=fields.Datetime.now())
    if summary.date_sent and not binding.send_date:
        # A campaign made in the ESP was imported without its send date: the summary has it.
        binding.send_date = utc_naive(summary.date_sent)
        if binding.made_in_esp:
            values["sent_date"] = binding.send_date
    binding.mailing_id.sudo().write(values)


def write_derived(binding, derived):
    """Count again, after an activity import, the summary figures the provider does not report."""
    values = _derived_values(binding, derived)
    if values:
        binding.mailing_id.sudo().write(values)


def refresh_mailing(binding, client, with_activity=False, commit=None, budget=None):
    """Read the campaign's summary; with ``with_activity``, its recipients' activity first, so the summary,
    the figures counted from the activity and Odoo's traces agree (a read of a big campaign the budget cuts
    short goes on in the activity cron; ``commit`` and ``budget`` as :func:`.activity.import_activity`)."""
    if with_activity:
        activity.import_activity(binding, client, commit=commit, budget=budget)
    write_summary(binding, client.get_campaign_summary(int(binding.remote_id)), client.derived_summary_figures)
    if binding.split_test and binding.state in ("sending", "sent"):
        # The versions' results, and the winner once the ESP picked it after the test period.
        split_test.record_results(binding, client.get_split_test_results(int(binding.remote_id)))


def read_activity(binding, client, commit=None, budget=None):
    """Read the recipients' activity, then, once it was read whole, count again the summary figures the
    provider does not report. :return: the rows written"""
    written = activity.import_activity(binding, client, commit=commit, budget=budget)
    if not binding.activity_pass_started:
        write_derived(binding, client.derived_summary_figures)
    return written


def refresh_account(account, client, commit, budget=None):
    """Refresh the summaries of the account's campaigns with activity since its statistics watermark, of
    those sent within the provider's settling window (whose bounces may not count as activity), and of those
    never read yet (campaigns just imported from the ESP). The activity of the sends within the settling
    window is read within ``budget`` (default: the worker's time budget), committed page by page; what the
    budget leaves is read by the activity cron.

    :return: number of mailings refreshed
    """
    budget = budget or activity.Budget.for_env(account.env)

    def read(binding):
        refresh_mailing(binding, client, with_activity=binding.remote_id in fresh,
                        commit=lambda label=None: commit(), budget=budget)

    server_now = utc_naive(client.server_time())
    overlap = timedelta(seconds=client.limits.feed_overlap_seconds)
    since = (account.stats_watermark - overlap) if account.stats_watermark else client.limits.feed_epoch
    Binding = account.env["esp.campaign"].sudo()
    bindings = {
        binding.remote_id: binding
        for binding in Binding.search([("account_id", "=", account.id), ("remote_id", "!=", False)])
    }
    settle_from = server_now - timedelta(hours=client.limits.stats_settle_hours)
    due = {
        binding.remote_id
        for binding in Binding.search([
            ("account_id", "=", account.id), ("remote_id", "!=", False), ("state", "in", ("sending", "sent")),
            "|", ("send_date", ">=", settle_from), ("mailing_id.esp_stats_datetime", "=", False)])
    }
    fresh = {remote_id for remote_id in due
             if bindings[remote_id].send_date and bindings[remote_id].send_date >= settle_from}
    refreshed = 0
    for campaign in client.iter_campaigns_with_activity_since(since):
        binding = bindings.get(str(campaign.id))
        if binding is None:
            continue  # a campaign of no Odoo mailing (not sent to a connected book)
        read(binding)
        due.discard(binding.remote_id)
        refreshed += 1
        commit()
    for remote_id in sorted(due):
        read(bindings[remote_id])
        refreshed += 1
        commit()
    account.sudo().stats_watermark = server_now
    commit()
    return refreshed


def refresh_all(env, commit):
    budget = activity.Budget.for_env(env)
    for account in env["esp.account"].sudo().search([("state", "=", "connected")]):
        if not account.support_reports:
            continue
        try:
            with account._esp_client() as client:
                refresh_account(account, client, commit, budget)
        except providers.EspError as error:
            _logger.warning("ESP account %s: statistics not refreshed: %s", account.id,
                            account._esp_error_message(error))
