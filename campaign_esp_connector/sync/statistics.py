"""Statistics job: campaign summaries back onto their mailings, only for campaigns whose figures moved.

The account's statistics watermark is the ESP's clock read before the feed (``campaigns/with-activity-since``)
and stored only once every campaign it listed was refreshed, so an account with thousands of old campaigns
costs one feed call plus one call per campaign with new activity.
"""

import logging
from datetime import timedelta

from odoo import fields

from .. import providers
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


def write_summary(binding, summary):
    """Store the provider's totals on the binding's mailing."""
    values = {fname: getattr(summary, attribute) for fname, attribute in SUMMARY_FIELDS.items()}
    values.update(esp_stat_esp_open_rate=summary.open_rate or 0.0, esp_stats_datetime=fields.Datetime.now())
    binding.mailing_id.sudo().write(values)


def refresh_mailing(binding, client):
    write_summary(binding, client.get_campaign_summary(int(binding.remote_id)))


def refresh_account(account, client, commit):
    """Refresh the summaries of the account's campaigns with activity since its statistics watermark.

    :return: number of mailings refreshed
    """
    server_now = utc_naive(client.server_time())
    overlap = timedelta(seconds=client.limits.feed_overlap_seconds)
    since = (account.stats_watermark - overlap) if account.stats_watermark else client.limits.feed_epoch
    bindings = {
        binding.remote_id: binding
        for binding in account.env["esp.campaign"].sudo().search(
            [("account_id", "=", account.id), ("remote_id", "!=", False)])
    }
    refreshed = 0
    for campaign in client.iter_campaigns_with_activity_since(since):
        binding = bindings.get(str(campaign.id))
        if binding is None:
            continue  # a campaign of no Odoo mailing (not sent to a connected book)
        refresh_mailing(binding, client)
        refreshed += 1
        commit()
    account.sudo().stats_watermark = server_now
    commit()
    return refreshed


def refresh_all(env, commit):
    for account in env["esp.account"].sudo().search([("state", "=", "connected")]):
        if not account.support_reports:
            continue
        try:
            with account._esp_client() as client:
                refresh_account(account, client, commit)
        except providers.EspError as error:
            _logger.warning("ESP account %s: statistics not refreshed: %s", account.id,
                            account._esp_error_message(error))
