"""The activity import resumes inside a campaign (issue #20, item 3): a run stopped by its budget keeps its page,
the next run goes on from it, and the rows end as one uninterrupted run leaves them."""

from urllib.parse import parse_qs

import requests

from odoo import fields
from odoo.tests import tagged

from ..sync.activity import MAX_PAGES_KEY
from . import test_esp_statistics
from .common import EspListSyncCommon

# Not imported under a Test* name: pytest would collect its tests again in this module.
_Statistics = test_esp_statistics.TestEspStatistics

# Pages of 4 recipients overlapping by 1: the 30 recipients take 10 pages, their clicks a few more.
SMALL_PAGES = {"campaign_esp_connector_transport": {"page_size": 4, "page_overlap": 1}}


@tagged("campaign_esp_connector", "esp_statistics")
class TestEspActivityResume(EspListSyncCommon):
    # The statistics tests' set-up (30 connected readers, engaged) and checks, without running their tests again.
    def setUp(self):
        super().setUp()
        self._create_engaged_readers()

    _sent_mailing = _Statistics._sent_mailing
    _summary = _Statistics._summary
    _check_activity_equals_the_esps = _Statistics._check_activity_equals_the_esps

    def _activity_rows(self, mailing):
        return sorted(
            (row.email, row.opens, row.clicks, row.forwards, row.unsubscribed, row.hard_bounced, row.soft_bounced,
             row.sent_datetime, row.first_open_datetime, row.last_open_datetime, row.first_click_datetime,
             row.last_click_datetime, row.contact_id.id, row.trace_id.trace_status,
             row.trace_id.links_click_datetime)
            for row in self.env["esp.mailing.activity"].search([("mailing_id", "=", mailing.id)]))

    def _feed_calls(self):
        """``(path, skip)`` of the activity and click pages the sandbox answered, in order."""
        return [(call["path"], parse_qs(call["query"]).get("skip", ["0"])[0]) for call in self._sandbox_api_calls()
                if "/activities/" in call["path"] or "/clicks/" in call["path"]]

    def _sent_unread_mailing(self):
        """A sent mailing whose activity was never read (the ESP failed its first figures)."""
        self.sandbox.inject_fault("/v2/campaigns/*/activities/since-date/*", "http_500", count=50)
        mailing = self._sent_mailing()
        self.sandbox.clear_faults()
        self.assertFalse(mailing.esp_activity_ids)
        self.sandbox.advance_clock(7200)
        return mailing

    def test_a_run_out_of_budget_stops_at_a_page_and_the_next_goes_on(self):
        mailing = self._sent_unread_mailing()
        binding = mailing.esp_campaign_id
        cron = self.env.ref("campaign_esp_connector.ir_cron_esp_sync_activity")
        Mailing = self.env["mailing.mailing"].with_context(**SMALL_PAGES, **{MAX_PAGES_KEY: 3})
        self.sandbox.clear_log()
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

        Mailing._cron_esp_sync_activity()
        # Three pages read and committed, the position of the fourth stored, the cron asked back soon.
        self.assertEqual((binding.activity_feed, binding.activity_skip), ("activities", 9))
        self.assertTrue(binding.activity_pass_started)
        self.assertTrue(binding.activity_queued)
        self.assertFalse(binding.activity_watermark, "the watermark moves only once the read is whole")
        self.assertEqual(len(mailing.esp_activity_ids), 10)
        self.assertEqual(len(mailing.esp_activity_ids.trace_id), 10)
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers)

        runs = 1
        while binding.activity_queued and runs < 20:
            Mailing._cron_esp_sync_activity()
            runs += 1
        self.assertFalse(binding.activity_queued)
        self.assertGreater(runs, 4)
        self.assertFalse(binding.activity_pass_started)
        self.assertTrue(binding.activity_watermark)
        self._check_activity_equals_the_esps(mailing)
        resumed = self._activity_rows(mailing)
        calls = self._feed_calls()
        self.assertEqual(len(calls), len(set(calls)), f"a page read twice: {calls}")
        clock_calls = [call for call in self._sandbox_api_calls() if call["path"].endswith("/server-time")]
        self.assertLessEqual(len(clock_calls), 1, "the read started once, and went on")

        # One uninterrupted read of the same campaign from scratch leaves exactly the same rows and traces.
        self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)]).unlink()
        mailing.esp_activity_ids.sudo().unlink()
        binding.sudo().write({"activity_watermark": False})
        self.env.flush_all()
        self.sandbox.clear_log()
        self.env["mailing.mailing"].with_context(**SMALL_PAGES)._cron_esp_sync_activity()
        self.assertFalse(binding.activity_queued)
        self.assertEqual(self._activity_rows(mailing), resumed)
        self.assertEqual(len(self._feed_calls()), len(calls))

    def test_a_button_out_of_budget_leaves_the_rest_to_the_cron(self):
        mailing = self._sent_unread_mailing()
        action = mailing.with_context(**SMALL_PAGES, **{MAX_PAGES_KEY: 2}).action_esp_import_activity()
        self.assertIn("the rest is read in the background", action["params"]["message"])
        binding = mailing.esp_campaign_id
        self.assertTrue(binding.activity_queued)
        self.assertEqual((binding.activity_feed, binding.activity_skip), ("activities", 6))
        # The cron's next run takes only the unfinished read and ends it.
        self.env["mailing.mailing"].with_context(**SMALL_PAGES)._cron_esp_sync_activity()
        self.assertFalse(binding.activity_queued)
        self.assertFalse(binding.activity_pass_started)
        self._check_activity_equals_the_esps(mailing)

    def test_a_failed_page_keeps_the_position(self):
        mailing = self._sent_unread_mailing()
        binding = mailing.esp_campaign_id
        Mailing = self.env["mailing.mailing"].with_context(**SMALL_PAGES)
        Mailing.with_context(**{MAX_PAGES_KEY: 2})._cron_esp_sync_activity()
        self.assertEqual(binding.activity_skip, 6)
        # The ESP refuses the next page: the position stays, the error is shown, the next round goes on.
        self.sandbox.inject_fault("/v2/campaigns/*/activities/since-date/*", "http_500", count=50)
        Mailing._cron_esp_sync_activity()
        self.assertEqual((binding.activity_feed, binding.activity_skip), ("activities", 6))
        self.assertTrue(binding.last_error)
        self.assertFalse(binding.activity_queued)
        self.sandbox.clear_faults()
        Mailing._cron_esp_sync_activity()
        self.assertFalse(binding.activity_pass_started)
        self._check_activity_equals_the_esps(mailing)

    # -- Pages overlap by one verified row: contacts deleted at the ESP between two page reads move the feed's
    # later rows up, and the read steps back to where it was instead of skipping them.

    def _feed(self, mailing, feed):
        return self._sandbox_get_all(f"campaigns/{mailing.esp_campaign_remote_id}/{feed}")

    def _delete_at_the_esp(self, contact_ids):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        for contact_id in contact_ids:
            requests.delete(f"{self.sandbox.url}/v2/contacts/{contact_id}", auth=auth, timeout=10).raise_for_status()

    def _read_deleting(self, feed, skip, positions):
        """Read page by page until the read is at ``skip`` of ``feed``, delete the contacts of that feed's rows at
        ``positions`` at the ESP, then read to the end; return the mailing and the deleted emails."""
        mailing = self._sent_unread_mailing()
        binding = mailing.esp_campaign_id
        Mailing = self.env["mailing.mailing"].with_context(**SMALL_PAGES, **{MAX_PAGES_KEY: 1})
        for _page in range(40):
            Mailing._cron_esp_sync_activity()
            if (binding.activity_feed, binding.activity_skip) == (feed, skip):
                break
        self.assertEqual((binding.activity_feed, binding.activity_skip), (feed, skip))
        self.assertTrue(binding.activity_anchor)
        rows = self._feed(mailing, feed)
        gone = {rows[position]["contactId"]: rows[position]["email"].lower() for position in positions}
        self._delete_at_the_esp(gone)
        self.sandbox.clear_log()
        runs = 0
        while binding.activity_queued and runs < 60:
            Mailing._cron_esp_sync_activity()
            runs += 1
        self.assertFalse(binding.activity_queued)
        self.assertFalse(binding.activity_pass_started)
        return mailing, set(gone.values())

    def _check_nothing_skipped(self, mailing, deleted):
        """Every row the ESP still has was read, with its figures and click dates; the deleted contacts' rows,
        read before, stay."""
        remote = {row["email"].lower(): row for row in self._feed(mailing, "activities")}
        clicks = {}
        for click in self._feed(mailing, "clicks"):
            clicks.setdefault(click["email"].lower(), []).append(click["dateClicked"][:19].replace("T", " "))
        self.assertTrue(clicks)
        rows = {row.email: row for row in mailing.esp_activity_ids}
        self.assertFalse(set(remote) - set(rows), "rows skipped")
        self.assertLessEqual(set(rows) - set(remote), deleted)
        for email, expected in remote.items():
            row = rows[email]
            self.assertEqual((row.opens, row.clicks, row.hard_bounced, row.soft_bounced),
                             (expected["numOpens"], expected["numClicks"], expected["hardBounced"],
                              expected["softBounced"]), email)
            if email in clicks:
                self.assertEqual(fields.Datetime.to_string(row.first_click_datetime), min(clicks[email]), email)
                self.assertEqual(fields.Datetime.to_string(row.last_click_datetime), max(clicks[email]), email)
            else:
                self.assertFalse(row.first_click_datetime, email)
            self.assertEqual(row.trace_id.links_click_datetime, row.first_click_datetime, email)

    def _stepped_back(self):
        skips = [int(skip) for _path, skip in self._feed_calls()]
        return any(later < earlier for earlier, later in zip(skips, skips[1:], strict=False))

    def test_rows_deleted_before_the_position_are_not_skipped(self):
        # Pages of 4 at skips 0, 3, 6: the next page at 9 must start with the row at 9; two rows read before go.
        mailing, deleted = self._read_deleting("activities", 9, [2, 4])
        self.assertTrue(self._stepped_back())
        self._check_nothing_skipped(mailing, deleted)

    def test_the_previous_page_deleted_whole_reads_again_from_the_start(self):
        # Every row the anchor knows (the last page read: 6 to 9) and more before it: no position is left to find.
        mailing, deleted = self._read_deleting("activities", 9, [3, 4, 5, 6, 7, 8, 9])
        self.assertIn("0", [skip for path, skip in self._feed_calls() if "/activities/" in path])
        self._check_nothing_skipped(mailing, deleted)

    def test_clicks_deleted_before_the_position_are_not_skipped(self):
        mailing, deleted = self._read_deleting("clicks", 6, [0, 5])
        self.assertTrue(self._stepped_back())
        self._check_nothing_skipped(mailing, deleted)
