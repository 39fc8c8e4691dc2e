"""Campaign Master end to end in Odoo on an account whose service offers only the v1.1 operations the public
evidence shows (the sandbox's default): the account says what it supports, a list syncs both ways with the
account's recipients through recipients and import jobs, a cut answer moves no watermark, a campaign made and
sent in Campaign Master is imported with its statistics, and the mailing's buttons say where campaigns are
made."""

import requests
from zeep.cache import InMemoryCache

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..sync import campaigns as campaign_sync
from ..sync import statistics
from .common import CampaignMasterCommon

MAIN = "/campaignmaster/v1.1/CampaignMasterService.svc"
HTML = '<html><body><p>Hi</p><a href="https://example.com/a">A</a> <a href="http://$UNSUB$">U</a></body></html>'


@tagged("campaign_esp_connector", "campaign_master")
class TestCampaignMasterEvidenced(CampaignMasterCommon):
    def setUp(self):
        super().setUp()
        InMemoryCache._cache.clear()  # zeep keeps service descriptions an hour, for every client of the process
        self.cm_account.action_test_connection()
        self.assertEqual(self.cm_account.state, "connected", self.cm_account.last_error)

    def _connected_list(self, count=5):
        book = self.cm_account.address_book_ids
        self.assertEqual(book.mapped("name"), ["All recipients"])
        mailing_list = self.env["mailing.list"].create({
            "name": "CM readers",
            "contact_ids": [(0, 0, {"name": f"Reader {index}", "email": f"cm{index}@example.com"})
                            for index in range(count)],
        })
        mailing_list._esp_connect(book)
        self._sync_until_idle(mailing_list)
        return mailing_list

    def _sandbox_contacts(self):
        return {contact["email"]: contact for contact in self.sandbox.state(contacts_limit=100000)["contacts"]}

    def test_what_the_account_supports(self):
        account = self.cm_account
        self.assertTrue(account.support_list_sync and account.support_reports and account.support_campaign_import)
        self.assertFalse(account.support_campaigns or account.support_test_send)
        self.assertTrue(account.support_list_at_send and account.support_client_id)
        self.assertFalse(account.template_count or account.from_address_count)
        self.assertNotIn(account, self.env["esp.account"].search([("support_campaigns", "=", True)]))

    def test_list_sync_both_ways_with_the_accounts_recipients(self):
        mailing_list = self._connected_list()
        contacts = self._sandbox_contacts()
        self.assertTrue({f"cm{index}@example.com" for index in range(5)} <= set(contacts))
        self.assertEqual(mailing_list.esp_synced_count, 5)
        # Made inactive at Campaign Master: opted out in Odoo.
        self.sandbox.advance_clock(60)
        self.sandbox.set_contact_status("cm1@example.com", "Unsubscribed")
        self._sync_until_idle(mailing_list)
        subscription = mailing_list.subscription_ids.filtered(lambda sub: sub.contact_id.email == "cm1@example.com")
        self.assertTrue(subscription.opt_out)
        # Opted out in Odoo: made inactive there, the others untouched.
        mailing_list.subscription_ids.filtered(lambda sub: sub.contact_id.email == "cm2@example.com").opt_out = True
        self._sync_until_idle(mailing_list)
        contacts = self._sandbox_contacts()
        self.assertEqual(contacts["cm2@example.com"]["status"], "Unsubscribed")
        self.assertEqual(contacts["cm3@example.com"]["status"], "Subscribed")

    def test_a_cut_answer_moves_no_watermark(self):
        mailing_list = self._connected_list(3)
        book = mailing_list.esp_address_book_id
        # Contacts made at Campaign Master join the list: the pull feed is read too.
        book.create_contacts = True
        self._sync_until_idle(mailing_list)
        self.sandbox.advance_clock(600)
        pull, optout = book.pull_watermark, book.optout_watermark
        self.assertTrue(pull and optout)
        self.sandbox.set_contact_status("cm0@example.com", "Unsubscribed")
        # Every read of recipients answered in half: the run fails, nothing it read counts.
        self.sandbox.inject_fault(MAIN, "truncated_answer", count=50, operation="GetRecipients")
        mailing_list._esp_sync(trigger="manual")
        self.env.flush_all()
        book.invalidate_recordset()
        self.assertEqual((book.pull_watermark, book.optout_watermark), (pull, optout))
        self.assertFalse(mailing_list.subscription_ids.filtered("opt_out"))
        # Whole answers again: the opt-out is read, the watermarks move.
        self.sandbox.clear_faults()
        self.sandbox.advance_clock(600)
        self._sync_until_idle(mailing_list)
        book.invalidate_recordset()
        self.assertGreater(book.pull_watermark, pull)
        self.assertGreater(book.optout_watermark, optout)
        self.assertEqual(mailing_list.subscription_ids.filtered("opt_out").contact_id.mapped("email"),
                         ["cm0@example.com"])

    def test_campaign_sent_in_campaign_master_is_imported_with_its_statistics(self):
        mailing_list = self._connected_list(20)
        # Made and sent in Campaign Master's own UI (the sandbox's one world does it through its v2 API).
        self.sandbox.configure(engagement={"open": 0.8, "click": 0.5, "hard_bounce": 0.1, "soft_bounce": 0.1})
        api = self.sandbox.url + "/v2"
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        book = requests.post(f"{api}/address-books", json={"name": "Chosen at send time"}, auth=auth,
                             timeout=10).json()["id"]
        for email in self._sandbox_contacts():
            requests.post(f"{api}/address-books/{book}/contacts", json={"email": email}, auth=auth, timeout=10)
        body = {"name": "Flash sale", "subject": "Flash sale", "fromName": "Shop", "htmlContent": HTML,
                "plainTextContent": "Hi http://$UNSUB$"}
        campaign_id = requests.post(f"{api}/campaigns", json=body, auth=auth, timeout=10).json()["id"]
        sent = requests.post(f"{api}/campaigns/send", json={"campaignId": campaign_id, "addressBookIds": [book]},
                             auth=auth, timeout=10)
        self.assertEqual(sent.status_code, 202, sent.text)
        self.sandbox.advance_clock(7200)
        with self.cm_account._esp_client() as client:
            mailings = campaign_sync.import_account_campaigns(self.cm_account, client)
        self.assertEqual(len(mailings), 1)
        self.assertEqual((mailings.subject, mailings.contact_list_ids), ("Flash sale", mailing_list))
        statistics.refresh_all(self.env, lambda: None)
        mailings.action_esp_import_activity()
        with self.cm_account._esp_client() as client:
            summary = client.get_campaign_summary(campaign_id)
        self.assertEqual(summary.sent, 20)
        self.assertEqual(
            (mailings.esp_stat_sent, mailings.esp_stat_unique_opens, mailings.esp_stat_hard_bounces,
             mailings.esp_stat_soft_bounces),
            (summary.sent, summary.unique_opens, summary.hard_bounces, summary.soft_bounces))
        self.assertEqual(len(mailings.esp_activity_ids), 20)
        self.assertTrue(all(mailings.esp_activity_ids.filtered("opens").mapped("first_open_datetime")))

    def test_mailing_buttons_say_where_campaigns_are_made(self):
        mailing_list = self._connected_list(2)
        mailing = self.env["mailing.mailing"].create({
            "subject": "Spring", "body_arch": "<p>Hi</p>", "body_html": "<p>Hi</p>",
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [fields.Command.set(mailing_list.ids)], "email_from": "Shop <shop@example.com>",
            "esp_description": "Spring offers", "esp_test_address": "qa@example.com",
        })
        self.assertEqual(mailing.esp_account_id, self.cm_account)
        for action in (mailing.action_esp_sync_campaign, mailing.action_test, mailing.action_put_in_queue):
            with self.assertRaises(UserError) as refused:
                action()
            self.assertIn("make the campaign in the ESP itself and choose the list when you send it there",
                          str(refused.exception))
        self.assertEqual(mailing.state, "draft")
