"""Campaign statistics come back (issue #11, first part): each ESP mailing carries its campaign's summary,
refreshed only for campaigns with new activity."""

import requests

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..sync import statistics
from ..sync.campaigns import CampaignRunner, import_esp_campaigns
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_statistics")
class TestEspStatistics(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self._create_engaged_readers()

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
        self.assertEqual(mailing.esp_stat_successful, mailing.esp_stat_delivered)
        self.assertEqual(sent, mailing.esp_stat_delivered + mailing.esp_stat_total_bounces + mailing.esp_stat_pending)
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
        """One press makes every figure on the page agree: the summary, the figures counted from the activity,
        and Odoo's own (its stat buttons, Clicked included)."""
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        self.assertEqual(mailing.esp_stat_sent, self._summary(mailing)["numTotalSent"])
        self.assertTrue(mailing.esp_stats_datetime)
        self._check_activity_equals_the_esps(mailing)
        activity = mailing.esp_activity_ids
        self.assertEqual(mailing.esp_stat_no_activity, len(activity.filtered(lambda row: not row.opens and not row.clicks)))
        self.assertGreater(mailing.clicked, 0)
        delivered_traces = mailing.sent - mailing.bounced
        self.assertAlmostEqual(mailing.clicks_ratio, round(100.0 * mailing.clicked / delivered_traces, 2))

    def test_fresh_sends_get_their_activity_with_the_30_minute_refresh(self):
        """While a send is within the settling window, the statistics cron reads its activity too, so Odoo's
        figures follow the summary within one run rather than the next day."""
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        statistics.refresh_all(self.env, lambda: None)
        self._check_activity_equals_the_esps(mailing)

    # -- per-contact activity and Odoo's own figures ---------------------------------------------------------

    def _check_activity_equals_the_esps(self, mailing):
        campaign = mailing.esp_campaign_remote_id
        remote = {row["email"].lower(): row for row in self._sandbox_get_all(f"campaigns/{campaign}/activities")}
        clicks = {}
        for click in self._sandbox_get_all(f"campaigns/{campaign}/clicks"):
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
            if left_out:
                self.assertIn(f"Left out because they opted out or are blacklisted: {len(left_out)}.", wizard.summary)
            else:
                self.assertNotIn("opted out", wizard.summary)
            action = wizard.action_create_list()
            new_list = self.env["mailing.list"].browse(action["res_id"])
            self.assertEqual(set(new_list.contact_ids), set(matching.contact_id) - left_out, criterion)

    # -- figures the ESP does not report, the settling window, and recipients outside Odoo's lists -------------

    def _api(self, method, path, **kwargs):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        response = requests.request(method, f"{self.sandbox.url}/v2/{path}", auth=auth, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def test_figures_the_esp_does_not_report_are_counted_from_the_activity(self):
        self.sandbox.configure(engagement={"forward": 0.5})
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        remote = self._sandbox_get_all(f"campaigns/{mailing.esp_campaign_remote_id}/activities")
        expected = (
            sum(1 for row in remote if row["numForwards"]),
            sum(1 for row in remote if row["numOpens"] or row["numClicks"]),
            sum(1 for row in remote if not row["numOpens"] and not row["numClicks"]),
        )
        self.assertTrue(all(expected), expected)
        figures = lambda: (mailing.esp_stat_unique_forwards, mailing.esp_stat_views,  # noqa: E731
                           mailing.esp_stat_no_activity)
        self.assertEqual(figures(), expected)
        # A summary refresh keeps them (the ESP's summary has none of the three).
        mailing.action_esp_refresh_statistics()
        self.assertEqual(mailing.esp_stat_sent, 30)
        self.assertEqual(figures(), expected)

    def test_bounces_of_a_recent_send_come_back_without_opens_or_clicks(self):
        # dotdigital's feed lists campaigns with "activity (e.g. clicks, opens)": a send whose recipients only
        # bounce may not be in it, so recent sends are read anyway.
        self.sandbox.configure(engagement={"open": 0.0, "hard_bounce": 0.3, "soft_bounce": 0.2})
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(1800)
        statistics.refresh_all(self.env, lambda: None)
        summary = self._summary(mailing)
        self.assertFalse(summary["numTotalOpens"])
        self.assertTrue(summary["numTotalHardBounces"])
        self.assertEqual((mailing.esp_stat_sent, mailing.esp_stat_hard_bounces, mailing.esp_stat_soft_bounces),
                         (summary["numTotalSent"], summary["numTotalHardBounces"], summary["numTotalSoftBounces"]))

    def test_activity_of_an_email_no_longer_in_the_list(self):
        # The first figures are read as the send ends; here the ESP fails them, so the activity is first read
        # later (and the send is Sent all the same).
        self.sandbox.inject_fault("/v2/campaigns/*/activities/since-date/*", "http_500", count=50)
        mailing = self._sent_mailing()
        self.assertEqual(mailing.esp_campaign_state, "sent")
        self.assertFalse(mailing.esp_activity_ids)
        self.sandbox.clear_faults()
        contacts = {contact.email: contact for contact in self.mailing_list.contact_ids}
        # Removed from the list after the send: still the contact of its activity.
        self.env["mailing.subscription"].search([("contact_id", "=", contacts["reader2@example.com"].id)]).unlink()
        # Deleted in Odoo before its activity came: an activity row without a contact, and no trace (a trace
        # must name its record), so Odoo's figures count one recipient fewer than the ESP's.
        contacts["reader3@example.com"].unlink()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        rows = {row.email: row for row in mailing.esp_activity_ids}
        self.assertEqual(len(rows), 30)
        self.assertEqual(rows["reader2@example.com"].contact_id, contacts["reader2@example.com"])
        self.assertTrue(rows["reader2@example.com"].trace_id)
        self.assertFalse(rows["reader3@example.com"].contact_id)
        self.assertFalse(rows["reader3@example.com"].trace_id)
        summary = self._summary(mailing)
        mailing.invalidate_recordset()
        self.assertEqual(mailing.sent, summary["numTotalSent"] - 1)
        # Deleted after its activity came: the row loses its contact, the trace keeps it, as Odoo's own do.
        gone = rows["reader4@example.com"]
        trace = gone.trace_id
        gone.contact_id.unlink()
        self.env["esp.mailing.activity"].invalidate_model()
        mailing.action_esp_import_activity()
        self.assertFalse(gone.contact_id)
        self.assertEqual(gone.trace_id, trace)
        self.assertEqual(trace.res_id, contacts["reader4@example.com"].id)
        mailing.invalidate_recordset()
        self.assertEqual(mailing.sent, summary["numTotalSent"] - 1)

    def test_campaigns_of_books_not_connected_to_odoo(self):
        book = self._api("POST", "address-books", json={"name": "Only at the ESP"})["id"]
        for index in range(3):
            self._api("POST", f"address-books/{book}/contacts", json={"email": f"outsider{index}@example.com"})
        from_address = self._api("GET", "custom-from-addresses")[0]["id"]
        campaign = self._api("POST", "campaigns", json={
            "name": "Made at the ESP", "subject": "Hello", "fromName": "Shop", "fromAddress": {"id": from_address},
            "htmlContent": "<a href='https://example.com'>x</a> <a href='http://$UNSUB$'>u</a>",
            "plainTextContent": "x http://$UNSUB$"})
        self._api("POST", "campaigns/send", json={"campaignId": campaign["id"], "addressBookIds": [book]})
        # Our own campaign goes to that book too, at the ESP: its outsiders are recipients without a contact.
        mailing = self._sent_mailing()
        self._api("POST", "campaigns/send", json={"campaignId": int(mailing.esp_campaign_remote_id),
                                                  "addressBookIds": [book]})
        self.sandbox.advance_clock(7200)
        import_esp_campaigns(self.env)
        self.sandbox.clear_log()
        statistics.refresh_all(self.env, lambda: None)
        summaries = [call["path"] for call in self._sandbox_api_calls() if call["path"].endswith("/summary")]
        self.assertEqual(summaries, [f"/v2/campaigns/{mailing.esp_campaign_remote_id}/summary"])
        self.assertFalse(self.env["esp.campaign"].search([("remote_id", "=", str(campaign["id"]))]))
        self.assertEqual(mailing.esp_stat_sent, 33)
        mailing.action_esp_import_activity()
        outsiders = mailing.esp_activity_ids.filtered(lambda row: row.email.startswith("outsider"))
        self.assertEqual(len(outsiders), 3)
        self.assertFalse(outsiders.contact_id or outsiders.trace_id)
        # Odoo's figures are those of its own contacts: the ESP's, minus the three outsiders.
        summary = self._summary(mailing)
        mailing.invalidate_recordset()
        self.assertEqual(mailing.sent, summary["numTotalSent"] - 3)
        contacts = mailing.esp_activity_ids - outsiders
        self.assertEqual((mailing.opened, mailing.clicked),
                         (len(contacts.filtered("opens")), len(contacts.filtered("clicks"))))

    def test_other_company_sees_no_activity(self):
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        Activity = self.env["esp.mailing.activity"]
        self.assertEqual(Activity.with_user(self.user_marketing).search_count([("mailing_id", "=", mailing.id)]), 30)
        self.assertFalse(Activity.with_user(self.user_marketing_other).search_count([]))
        self.assertFalse(self.env["esp.campaign"].with_user(self.user_marketing_other).search_count(
            [("account_id", "=", self.sandbox_account.id)]))

    def test_unsubscribes_and_hard_bounces_reach_the_lists_through_the_list_sync(self):
        self.sandbox.configure(engagement={"open": 1.0, "unsubscribe": 0.12, "hard_bounce": 0.08})  # under the guard
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        unsubscribed = mailing.esp_activity_ids.filtered("unsubscribed").contact_id
        bounced = mailing.esp_activity_ids.filtered("hard_bounced").contact_id
        self.assertTrue(unsubscribed and bounced)
        # The activity job itself changes no subscription...
        subscriptions = self.env["mailing.subscription"].search([("list_id", "=", self.mailing_list.id)])
        self.assertFalse(subscriptions.filtered("opt_out"))
        # ...the list sync does, from the ESP's own feeds, with its rules.
        self._sync_until_idle(self.mailing_list)
        subscriptions.invalidate_recordset()
        self.assertEqual(subscriptions.filtered("opt_out").contact_id, unsubscribed | bounced)
