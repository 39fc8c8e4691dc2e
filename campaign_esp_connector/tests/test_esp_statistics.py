"""Campaign statistics come back (issue #11, first part): each ESP mailing carries its campaign's summary,
refreshed only for campaigns with new activity."""

import requests

from odoo import fields
from odoo.exceptions import AccessError
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

    # -- per-contact activity and Odoo's own figures ---------------------------------------------------------

    def _get(self, path):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        rows, skip = [], 0
        while True:
            page = requests.get(f"{self.sandbox.url}/v2/{path}", params={"select": 1000, "skip": skip}, auth=auth,
                                timeout=10).json()
            rows += page
            if len(page) < 1000:
                return rows
            skip += 1000

    def _check_activity_equals_the_esps(self, mailing):
        campaign = mailing.esp_campaign_remote_id
        remote = {row["email"].lower(): row for row in self._get(f"campaigns/{campaign}/activities")}
        clicks = {}
        for click in self._get(f"campaigns/{campaign}/clicks"):
            clicks.setdefault(click["email"].lower(), []).append(click["dateClicked"][:19].replace("T", " "))
        rows = {row.email: row for row in mailing.esp_activity_ids}
        self.assertEqual(set(rows), set(remote))
        for email, row in rows.items():
            expected = remote[email]
            self.assertEqual((row.opens, row.clicks, row.hard_bounced, row.soft_bounced, row.unsubscribed),
                             (expected["numOpens"], expected["numClicks"], expected["hardBounced"],
                              expected["softBounced"], expected["unsubscribed"]), email)
            first_open = None if expected["dateFirstOpened"].startswith("0001") else expected["dateFirstOpened"]
            self.assertEqual(fields.Datetime.to_string(row.first_open_datetime) if row.first_open_datetime else None,
                             first_open and first_open[:19].replace("T", " "), email)
            if email in clicks:
                self.assertEqual(fields.Datetime.to_string(row.first_click_datetime), min(clicks[email]), email)
                self.assertEqual(fields.Datetime.to_string(row.last_click_datetime), max(clicks[email]), email)
            self.assertEqual(row.contact_id.email_normalized, email)
        # Odoo's own figures for the mailing are the ESP's.
        summary = self._summary(mailing)
        mailing.invalidate_recordset()
        self.assertEqual(
            (mailing.sent, mailing.delivered, mailing.opened, mailing.clicked, mailing.bounced),
            (summary["numTotalSent"], summary["numTotalDelivered"], summary["numTotalUniqueOpens"],
             summary["numRecipientsClicked"], summary["numTotalHardBounces"] + summary["numTotalSoftBounces"]),
        )

    def test_activity_and_odoo_figures_equal_the_esps_after_incremental_runs(self):
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(600)  # part of the engagement has happened
        mailing.action_esp_import_activity()
        self.assertEqual(len(mailing.esp_activity_ids), 30)
        self._check_activity_equals_the_esps(mailing)
        self.sandbox.advance_clock(7200)  # the rest of it
        mailing.action_esp_import_activity()
        self._check_activity_equals_the_esps(mailing)
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual(len(traces), 30)
        self.assertFalse(traces.filtered(lambda trace: trace.trace_status in ("outgoing", "pending", "process")))
        # Again with nothing new: the same rows, the same traces.
        self.env["mailing.mailing"]._cron_esp_sync_activity()
        self.assertEqual(len(mailing.esp_activity_ids), 30)
        self.assertEqual(self.env["mailing.trace"].search_count([("mass_mailing_id", "=", mailing.id)]), 30)
        self._check_activity_equals_the_esps(mailing)
        self.assertFalse(self.env["mail.mail"].search_count([("mailing_id", "=", mailing.id)]))
        # The contact shows its activity, and Odoo's domain editor can reach it.
        opener = mailing.esp_activity_ids.filtered(lambda row: row.opens)[:1].contact_id
        self.assertEqual(opener.esp_activity_count, 1)
        self.assertIn(opener, self.env["mailing.contact"].search(
            [("esp_activity_ids.mailing_id", "=", mailing.id), ("esp_activity_ids.opens", ">=", 1)]))

    def test_marketing_user_reads_activity_but_cannot_write_it(self):
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        rows = self.env["esp.mailing.activity"].with_user(self.user_marketing).search(
            [("mailing_id", "=", mailing.id)])
        self.assertEqual(len(rows), 30)
        with self.assertRaises(AccessError):
            rows[:1].write({"opens": 99})

    def test_next_list_from_engagement(self):
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        rows = mailing.esp_activity_ids
        expected = {
            "opened": rows.filtered(lambda row: row.opens),
            "not_opened": rows.filtered(lambda row: not row.opens and not row.hard_bounced and not row.soft_bounced),
            "clicked": rows.filtered(lambda row: row.clicks),
            "not_clicked": rows.filtered(lambda row: not row.clicks and not row.hard_bounced
                                         and not row.soft_bounced),
            "bounced": rows.filtered(lambda row: row.hard_bounced or row.soft_bounced),
        }
        self.assertTrue(expected["opened"] and expected["not_opened"])
        # One opener opted out of the list in Odoo, another is blacklisted: both are left out and counted.
        opted_out, blacklisted = expected["opened"][0].contact_id, expected["opened"][1].contact_id
        self.env["mailing.subscription"].search(
            [("contact_id", "=", opted_out.id), ("list_id", "=", self.mailing_list.id)]).opt_out = True
        self.env["mail.blacklist"]._add(blacklisted.email)
        Wizard = self.env["esp.engagement.list.wizard"]
        for criterion, matching in expected.items():
            wizard = Wizard.create({"mailing_id": mailing.id, "criterion": criterion})
            left_out = {opted_out, blacklisted} & set(matching.contact_id)
            self.assertIn(f"{len(left_out)} matching contacts are left out", wizard.summary)
            action = wizard.action_create_list()
            new_list = self.env["mailing.list"].browse(action["res_id"])
            self.assertEqual(set(new_list.contact_ids), set(matching.contact_id) - left_out, criterion)
