"""Campaign Master (issue #12) end to end in Odoo, against the sandbox's SOAP services with the assumed
extension (lists, campaign create/test/send: ``cm_extended``): the account, list sync both ways within its
capabilities, a campaign synced, tested and sent, its statistics and activity. An account offering only the
evidenced v1.1 is ``test_campaign_master_evidenced.py``."""

import requests
from zeep.cache import InMemoryCache

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..sync import statistics
from ..sync.campaigns import CampaignRunner
from .common import CampaignMasterCommon


@tagged("campaign_esp_connector", "campaign_master")
class TestCampaignMaster(CampaignMasterCommon):
    def setUp(self):
        super().setUp()
        self.sandbox.configure(cm_extended=True)
        InMemoryCache._cache.clear()  # zeep keeps service descriptions an hour, for every client of the process
        self.cm_account.action_test_connection()
        self.assertEqual(self.cm_account.state, "connected", self.cm_account.last_error)

    def _connected_list(self, count=5, name="CM readers"):
        mailing_list = self.env["mailing.list"].create({
            "name": name,
            "contact_ids": [(0, 0, {"name": f"Reader {index}", "email": f"cm{index}@example.com"})
                            for index in range(count)],
        })
        mailing_list._esp_connect(self.cm_account._esp_create_address_book(name))
        self._sync_until_idle(mailing_list)
        return mailing_list

    def _book_emails(self, mailing_list):
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        books = {book["id"]: book for book in self.sandbox.state(contacts_limit=100000)["books"]}
        return {contact["email"] for contact in books[book_id]["contacts"]}

    def test_account_login_catalogue_and_capabilities(self):
        account = self.cm_account
        self.assertEqual(account._get_provider_label(), "Campaign Master")
        self.assertTrue(account.from_address_count)
        self.assertTrue(account.support_client_id and account.support_test_send and account.support_campaigns)
        self.assertFalse(account.support_book_removal or account.support_suppressions or account.support_resubscribe)
        self.assertTrue(account.support_campaign_description and account.support_list_at_send)
        # A wrong password says so, and never shows it.
        account.api_password = "wrong-password-123"
        account.action_test_connection()
        self.assertEqual(account.state, "error")
        self.assertIn("refused", account.last_error)
        self.assertNotIn("wrong-password-123", account.last_error)

    def test_client_id_is_needed(self):
        account = self.cm_account.copy({"api_client_id": False, "api_password": self.sandbox.api_password})
        with self.assertRaises(UserError):
            account.action_test_connection()

    def test_list_sync_both_ways_within_the_capabilities(self):
        mailing_list = self._connected_list()
        self.assertEqual(self._book_emails(mailing_list), {f"cm{index}@example.com" for index in range(5)})
        self.assertEqual(mailing_list.esp_synced_count, 5)
        # Unsubscribed at Campaign Master (isActive false): opted out in Odoo, with the ESP's evidence.
        self.sandbox.advance_clock(60)
        self.sandbox.set_contact_status("cm1@example.com", "Unsubscribed")
        self._sync_until_idle(mailing_list)
        subscription = mailing_list.subscription_ids.filtered(lambda sub: sub.contact_id.email == "cm1@example.com")
        self.assertTrue(subscription.opt_out)
        # Opted out in Odoo: made inactive there.
        other = mailing_list.subscription_ids.filtered(lambda sub: sub.contact_id.email == "cm2@example.com")
        other.opt_out = True
        self._sync_until_idle(mailing_list)
        contacts = {contact["email"]: contact for contact in self.sandbox.state(contacts_limit=1000)["contacts"]}
        self.assertNotIn(contacts["cm2@example.com"]["status"], ("Subscribed", "SoftBounced"))
        # Removed in Odoo: Campaign Master cannot remove through its API; the sync log says what to do.
        mailing_list.subscription_ids.filtered(lambda sub: sub.contact_id.email == "cm3@example.com").unlink()
        self._sync_until_idle(mailing_list)
        lines = self.env["esp.sync.log.line"].search([("log_id.list_id", "=", mailing_list.id)])
        self.assertIn("cannot be removed at Campaign Master: do it in its UI",
                      " ".join(lines.filtered(lambda line: line.email == "cm3@example.com").mapped("reason")))

    def _mailing(self, mailing_list, **values):
        return self.env["mailing.mailing"].create({
            "subject": "Spring at Campaign Master",
            "body_arch": "<p>Hi <a href='https://example.com/a'>a</a></p>",
            "body_html": "<p>Hi <a href='https://example.com/a'>a</a></p>",
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [fields.Command.set(mailing_list.ids)],
            "email_from": "Shop <shop@example.com>",
            **values,
        })

    def test_campaign_synced_tested_sent_and_its_figures(self):
        self.sandbox.configure(engagement={"open": 0.8, "click": 0.5, "unsubscribe": 0.1})
        mailing_list = self._connected_list(30)
        mailing = self._mailing(mailing_list)
        self.assertEqual(mailing.esp_account_id, self.cm_account)
        self.assertTrue(mailing.esp_support_list_at_send)
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertIn("Campaign description is required", str(refused.exception))
        mailing.esp_description = "Spring offers for readers"
        mailing.action_esp_sync_campaign()
        self.assertTrue(mailing.esp_campaign_remote_id)
        remote_id = mailing.esp_campaign_remote_id
        mailing.esp_test_address = "qa@example.com"
        mailing.action_esp_test_send()
        self.assertEqual(mailing.esp_campaign_remote_id, remote_id)
        mailing.action_launch()
        CampaignRunner(self.env).run()
        self.sandbox.advance_clock(7200)
        CampaignRunner(self.env).run()
        self.assertEqual(mailing.esp_campaign_state, "sent")
        statistics.refresh_all(self.env, lambda: None)
        mailing.action_esp_import_activity()
        with self.cm_account._esp_client() as client:
            summary = client.get_campaign_summary(int(remote_id))
        self.assertEqual(summary.sent, 30)
        self.assertEqual(
            (mailing.esp_stat_sent, mailing.esp_stat_unique_opens, mailing.esp_stat_opens,
             mailing.esp_stat_unique_clicks, mailing.esp_stat_hard_bounces, mailing.esp_stat_soft_bounces),
            (summary.sent, summary.unique_opens, summary.opens, summary.unique_clicks, summary.hard_bounces,
             summary.soft_bounces))
        self.assertEqual(len(mailing.esp_activity_ids), 30)
        self.assertEqual(sum(mailing.esp_activity_ids.mapped("opens")), summary.opens)
        # Views are counted from the results (the evidenced summary has no such figure); open dates come from
        # the opens listing.
        viewers = mailing.esp_activity_ids.filtered(lambda row: row.opens or row.clicks)
        self.assertEqual(mailing.esp_stat_views, len(viewers))
        opened = mailing.esp_activity_ids.filtered("opens")
        self.assertTrue(opened and all(opened.mapped("first_open_datetime")))
        # Campaign Master names no link clicked: no link tracker is made (Clicked lists the clickers its results
        # give).
        self.assertFalse(mailing.esp_support_click_urls)
        self.assertFalse(mailing.link_trackers_count)
        mailing.invalidate_recordset()
        self.assertEqual((mailing.sent, mailing.opened, mailing.clicked),
                         (summary.sent, summary.unique_opens, summary.unique_clicks))
        # The same world seen through dotdigital's API: the figures add up the same.
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        v2 = requests.get(f"{self.sandbox.url}/v2/campaigns/{remote_id}/summary", auth=auth, timeout=10).json()
        self.assertEqual((summary.sent, summary.unique_opens, summary.unique_clicks, summary.unsubscribes),
                         (v2["numTotalSent"], v2["numTotalUniqueOpens"], v2["numRecipientsClicked"],
                          v2["numTotalUnsubscribes"]))
        # The template cannot change once the campaign exists.
        self.assertTrue(mailing.esp_template_locked)
        # Unsubscribed from the campaign (inactive at Campaign Master): opted out of the list in Odoo, through the
        # list sync's evidence (the results show no unsubscribes).
        inactive = {contact["email"] for contact in self.sandbox.state(contacts_limit=1000)["contacts"]
                    if contact["status"] == "Unsubscribed"}
        self.assertTrue(inactive)
        self._sync_until_idle(mailing_list)
        opted_out = set(mailing_list.subscription_ids.filtered("opt_out").contact_id.mapped("email"))
        self.assertEqual(opted_out, inactive)

    def test_views_and_buttons_follow_the_capabilities(self):
        with self.assertRaises(AssertionError):
            with Form(self.env["esp.account"]) as form:
                form.name = "No client id"
                form.provider = "campaign_master"
                form.api_user = "someone"
        mailing_list = self._connected_list(3)
        mailing_list.subscription_ids[:1].opt_out = True
        self._sync_until_idle(mailing_list)
        member = self.env["esp.list.member"].search([("list_id", "=", mailing_list.id), ("state", "=", "opted_out")])
        self.assertTrue(member)
        self.assertFalse(member.support_resubscribe)
        with self.assertRaises(UserError) as refused:
            member.action_esp_resubscribe()
        self.assertIn("cannot re-subscribe", str(refused.exception))
        mailing = self._mailing(mailing_list)
        with Form(mailing) as form:
            self.assertTrue(form.esp_support_campaign_description)
            form.esp_description = "Filled in the form"
