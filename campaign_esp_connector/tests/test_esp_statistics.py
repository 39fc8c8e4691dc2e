"""Campaign statistics come back (issue #11, first part): each ESP mailing carries its campaign's summary,
refreshed only for campaigns with new activity."""

import requests

from odoo import fields
from odoo.tests import tagged

from ..sync import statistics
from ..sync.campaigns import CampaignRunner
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_statistics")
class TestEspStatistics(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self.sandbox.configure(engagement={"open": 0.8, "click": 0.5})
        self.mailing_list = self._create_connected_list(
            [{"name": f"Reader {index}", "email": f"reader{index}@example.com"} for index in range(30)]
        )
        self._sync_until_idle(self.mailing_list)

    def _sent_mailing(self, subject="Statistics"):
        mailing = self.env["mailing.mailing"].create({
            "subject": subject,
            "body_arch": "<p>Hi <a href='https://example.com/a'>a</a></p>",
            "body_html": "<p>Hi <a href='https://example.com/a'>a</a></p>",
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [fields.Command.set(self.mailing_list.ids)],
            "email_from": "Shop <shop@example.com>",
        })
        mailing.action_launch()
        CampaignRunner(self.env).run()
        return mailing

    def _summary(self, mailing):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        return requests.get(f"{self.sandbox.url}/v2/campaigns/{mailing.esp_campaign_remote_id}/summary",
                            auth=auth, timeout=10).json()

    def test_summary_equals_the_esps_and_refreshes_incrementally(self):
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)  # the simulated engagement happens
        statistics.refresh_all(self.env, lambda: None)
        summary = self._summary(mailing)
        self.assertGreater(summary["numTotalOpens"], 0)
        self.assertEqual(
            [mailing.esp_stat_sent, mailing.esp_stat_delivered, mailing.esp_stat_hard_bounces,
             mailing.esp_stat_soft_bounces, mailing.esp_stat_unsubscribes, mailing.esp_stat_complaints,
             mailing.esp_stat_opens, mailing.esp_stat_unique_opens, mailing.esp_stat_clicks,
             mailing.esp_stat_unique_clicks, mailing.esp_stat_forwards],
            [summary["numTotalSent"], summary["numTotalDelivered"], summary["numTotalHardBounces"],
             summary["numTotalSoftBounces"], summary["numTotalUnsubscribes"], summary["numTotalIspComplaints"],
             summary["numTotalOpens"], summary["numTotalUniqueOpens"], summary["numTotalClicks"],
             summary["numRecipientsClicked"], summary["numForwards"]],
        )
        self.assertAlmostEqual(mailing.esp_stat_esp_open_rate, summary["percentageUniqueOpens"])
        sent = mailing.esp_stat_sent
        self.assertEqual(mailing.esp_stat_total_bounces, mailing.esp_stat_hard_bounces + mailing.esp_stat_soft_bounces)
        self.assertEqual(mailing.esp_stat_successful, sent - mailing.esp_stat_total_bounces)
        self.assertAlmostEqual(mailing.esp_stat_open_rate, 100.0 * mailing.esp_stat_opens / sent)
        self.assertAlmostEqual(mailing.esp_stat_click_rate, 100.0 * mailing.esp_stat_clicks / sent)
        self.assertAlmostEqual(mailing.esp_stat_unsubscribe_rate, 100.0 * mailing.esp_stat_unsubscribes / sent)
        # Nothing happened since: the next refresh reads the clock and the activity feed, no summary.
        self.sandbox.advance_clock(3 * 24 * 3600)
        statistics.refresh_all(self.env, lambda: None)
        self.sandbox.clear_log()
        statistics.refresh_all(self.env, lambda: None)
        paths = [call["path"] for call in self._sandbox_api_calls()]
        self.assertFalse([path for path in paths if path.endswith("/summary")], paths)
        self.assertLessEqual(len(paths), 3, paths)

    def test_refresh_button(self):
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        self.assertEqual(mailing.esp_stat_sent, self._summary(mailing)["numTotalSent"])
        self.assertTrue(mailing.esp_stats_datetime)
