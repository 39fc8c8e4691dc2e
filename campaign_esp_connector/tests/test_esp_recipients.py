"""The right people (issue #21, items 2, 5 and 9): a mailing whose lists mix an ESP and Odoo's own mail server, or
two ESP accounts, says so on its form and is sent by nobody until a person decides; one remote ESP account is one
Odoo account, so no book is offered twice and no campaign is imported twice."""

import requests

from odoo.exceptions import UserError
from odoo.tests import Form, tagged, users
from odoo.tools import mute_logger

from ..sync.campaigns import CampaignRunner, campaign_marker, import_account_campaigns, import_esp_campaigns
from .common import EspListSyncCommon, SandboxServer

ACCOUNT_LOGGER = "odoo.addons.campaign_esp_connector.models.esp_account"
SECOND_USER, SECOND_PASSWORD = "second@apiconnector.com", "second-password"


class EspRecipientsCommon(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self.connected = self._create_connected_list(
            [{"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"}],
            book_name="Newsletter")
        self._sync_until_idle(self.connected)
        self.unconnected = self.env["mailing.list"].create({
            "name": "Event leads",
            "contact_ids": [(0, 0, {"name": "Lin", "email": "lin@example.com"})],
        })

    def _mail_count(self, mailing):
        return self.env["mail.mail"].sudo().search_count([("mailing_id", "=", mailing.id)])


@tagged("campaign_esp_connector", "esp_recipients")
class TestEspMixedLists(EspRecipientsCommon):

    @users("user_esp_marketing")
    def test_mixed_lists_warn_on_the_form_and_no_send_path_sends(self):
        lists = (self.connected | self.unconnected).with_user(self.env.user)
        with Form(self.env["mailing.mailing"]) as form:
            form.subject = "Mixed"
            form.mailing_model_id = self.env.ref("mass_mailing.model_mailing_list")
            form.contact_list_ids.add(lists[0])
            self.assertFalse(form.esp_recipients_warning)
            form.contact_list_ids.add(lists[1])
            # As soon as the lists are chosen, before any save or button: the first list chose the account.
            self.assertEqual(form.esp_account_id, self.sandbox_account)
            self.assertIn("Not every list of this mailing is connected to the ESP account “dotdigital sandbox”",
                          form.esp_recipients_warning)
            self.assertIn("Event leads: not connected to an ESP account", form.esp_recipients_warning)
            form.body_arch = "<p>Hello</p>"
        mailing = form.record
        for action in (mailing.action_launch, mailing.action_put_in_queue, mailing.action_schedule,
                       mailing.action_test, mailing.action_esp_sync_campaign):
            with self.subTest(action=action.__name__), self.assertRaises(UserError) as refusal:
                action()
            self.assertIn("Event leads: not connected to an ESP account", str(refusal.exception))
        # Without the ESP account (removed by hand, or lists chosen the other way round): Odoo's path refuses too.
        mailing.esp_account_id = False
        self.assertIn("The lists of this mailing cannot all be sent the same way", mailing.esp_recipients_warning)
        self.assertIn("Newsletter: connected to the ESP account “dotdigital sandbox”", mailing.esp_recipients_warning)
        for action in (mailing.action_launch, mailing.action_put_in_queue, mailing.action_schedule,
                       mailing.action_test, mailing.action_send_mail, mailing._action_send_mail):
            with self.subTest(action=action.__name__), self.assertRaises(UserError) as refusal:
                action()
            self.assertIn("“Mixed” cannot be sent yet.", str(refusal.exception))
            self.assertIn("Event leads: not connected to an ESP account", str(refusal.exception))
        self.assertEqual(mailing.state, "draft")
        self.assertEqual(self._mail_count(mailing), 0)
        self.assertFalse(mailing.esp_campaign_id.remote_id)

    def test_odoo_queue_never_mails_a_connected_list_even_by_cron(self):
        mailing = self._create_mailing(self.connected | self.unconnected, subject="Queued by hand")
        # Queued without the buttons (a script, or lists connected after it was queued).
        mailing.write({"state": "in_queue"})
        self.env["mailing.mailing"]._process_mass_mailing_queue()
        self.assertEqual(self._mail_count(mailing), 0)
        self.assertEqual(mailing.state, "draft")
        self.assertIn("Not sent by Odoo's mail server and put back to draft", mailing.message_ids[0].body)
        self.assertIn("Event leads", mailing.message_ids[0].body)
        # The same lists all connected to one account, but the ESP account removed from the mailing by hand.
        esp_only = self._create_mailing(self.connected, subject="Cleared")
        self.assertEqual(esp_only.esp_account_id, self.sandbox_account)
        esp_only.esp_account_id = False
        self.assertIn("connected to the ESP account “dotdigital sandbox”, but the mailing is not sent through it",
                      esp_only.esp_recipients_warning)
        with self.assertRaises(UserError):
            esp_only.action_launch()
        esp_only.write({"state": "in_queue"})
        self.env["mailing.mailing"]._process_mass_mailing_queue()
        self.assertEqual((esp_only.state, self._mail_count(esp_only)), ("draft", 0))

    def test_explicit_choice_lets_odoo_send_and_is_recorded(self):
        mailing = self._create_mailing(self.connected | self.unconnected, subject="Chosen")
        self.assertTrue(mailing.esp_recipients_warning)
        self._flush_tracking()  # the creation's own tracking first, as its commit would
        mailing.with_user(self.user_marketing).esp_send_through_odoo = True
        self._flush_tracking()
        self.assertFalse(mailing.esp_account_id)
        tracked = mailing.message_ids.tracking_value_ids.filtered(
            lambda value: value.field_id.name == "esp_send_through_odoo")
        self.assertTrue(tracked, "the choice is recorded in the mailing's chatter")
        self.assertEqual(tracked.mail_message_id.author_id, self.user_marketing.partner_id)
        mailing.action_launch()
        self.assertEqual(mailing.state, "in_queue")
        self.env["mailing.mailing"]._process_mass_mailing_queue()
        self.assertEqual(mailing.state, "done")
        self.assertEqual(self._mail_count(mailing), 3, "Odoo's server mails every contact of both lists")
        self.assertFalse(self.sandbox.state()["campaigns"], "nothing went to the ESP")

    def test_lists_of_two_accounts_say_which_account(self):
        other_sandbox = SandboxServer(account_id=515151).start()
        self.addCleanup(other_sandbox.stop)
        other = self._create_esp_account(name="Second dotdigital", api_endpoint=other_sandbox.url,
                                         api_user=other_sandbox.api_user, api_password=other_sandbox.api_password)
        other.action_test_connection()
        self.assertEqual(other.state, "connected", other.last_error)
        partners = self.env["mailing.list"].create({"name": "Partners",
                                                    "contact_ids": [(0, 0, {"email": "p@example.com"})]})
        partners._esp_connect(other._esp_create_address_book("Partners"))
        mailing = self._create_mailing(self.connected | partners, subject="Two accounts")
        self.assertFalse(mailing.esp_account_id, "no account is picked for lists of two accounts")
        self.assertIn("Partners: connected to the ESP account “Second dotdigital”", mailing.esp_recipients_warning)
        # Choosing one account: the other's list is named as connected elsewhere, never as "not connected".
        mailing.esp_account_id = self.sandbox_account
        expected = "Partners: connected to the ESP account “Second dotdigital”, not “dotdigital sandbox”"
        self.assertIn(expected, mailing.esp_recipients_warning)
        self.assertNotIn("Partners: not connected", mailing.esp_recipients_warning)
        for action in (mailing.action_esp_sync_campaign, mailing.action_esp_test_send, mailing.action_launch,
                       mailing.action_schedule):
            with self.subTest(action=action.__name__), self.assertRaisesRegex(UserError, expected):
                mailing.esp_test_address = "proof@example.com"
                action()
        # The choice of Odoo's server does not let the ESP send mixed lists; it takes the mailing from the ESP.
        mailing.esp_send_through_odoo = True
        self.assertFalse(mailing.esp_account_id)
        mailing.action_launch()
        CampaignRunner(self.env).run()
        self.assertFalse(self.sandbox.state()["campaigns"])
        self.assertFalse(mailing.esp_campaign_id)


@tagged("campaign_esp_connector", "esp_recipients")
class TestEspOneRemoteAccount(EspRecipientsCommon):

    def _second_account(self, **values):
        return self._create_esp_account(**{
            "name": "Same account, another API user", "api_endpoint": self.sandbox.url, "api_user": SECOND_USER,
            "api_password": SECOND_PASSWORD, **values})

    @mute_logger(ACCOUNT_LOGGER)
    def test_second_account_on_the_same_remote_account_is_refused(self):
        self.assertEqual(self.sandbox_account.remote_account_key, "424242")
        second = self._second_account()
        result = second.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(second.state, "error")
        self.assertIn("which the ESP account “dotdigital sandbox” (company", second.last_error)
        self.assertIn("One dotdigital account is one ESP account in Odoo", second.last_error)
        self.assertFalse(second.remote_account_key)
        self.assertFalse(second.address_book_ids, "no catalogue is imported for it")
        # Across companies: said, without the other company's account or company name.
        self.sandbox_account.flush_recordset()
        self.env.cr.execute("UPDATE esp_account SET company_id = %s WHERE id = %s",
                            [self.company_other.id, self.sandbox_account.id])
        self.env.invalidate_all()
        third = self._second_account(name="Third")
        # An ESP manager of the main company only.
        self.user_esp_manager.write({"company_ids": [(6, 0, self.company_main.ids)]})
        third.with_user(self.user_esp_manager).action_test_connection()
        self.assertIn("an ESP account of another company already connects", third.last_error)
        self.assertNotIn("dotdigital sandbox", third.last_error)
        self.assertNotIn(self.company_other.name, third.last_error)
        # Archived, the first account can be replaced.
        self.sandbox_account.active = False
        third.action_test_connection()
        self.assertEqual(third.state, "connected", third.last_error)

    def test_book_of_another_account_never_offered_and_never_connected(self):
        # A database from before the rule: two Odoo accounts on one remote account, both connected.
        second = self._second_account()
        second.write({"state": "connected", "remote_account_key": "424242"})
        second.action_synchronize()
        twin = second.address_book_ids.filtered(lambda book: book.name == "Newsletter")
        self.assertTrue(twin)
        self.assertEqual(twin.connected_elsewhere_id, self.connected.esp_address_book_id)
        wizard = Form(self.env["esp.connect.wizard"].with_context(active_model="mailing.list",
                                                                 active_id=self.unconnected.id))
        wizard.account_id = second
        self.assertNotIn(twin, self.env["esp.address.book"].search(
            [("account_id", "=", second.id), ("connected_elsewhere_id", "=", False)]))
        self.assertIn("books connected to a list through another Odoo account of the same ESP account (Newsletter)",
                      wizard.book_hint)
        with self.assertRaisesRegex(UserError, "already connected to the mailing list “Newsletter” through the ESP "
                                               "account “dotdigital sandbox”"):
            self.unconnected._esp_connect(twin)
        wizard.new_address_book_name = "Newsletter"
        with self.assertRaisesRegex(UserError, "already connected to the mailing list “Newsletter”"):
            wizard.save().action_connect()

    def test_no_phantom_import_of_odoo_sends(self):
        mailing = self._create_mailing(self.connected, subject="Sent by Odoo")
        mailing.action_launch()
        CampaignRunner(self.env).run()
        self.sandbox.advance_clock(120)
        CampaignRunner(self.env).run()
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        remote_id = mailing.esp_campaign_remote_id
        # The binding lost (a restore, a crash before the commit): the marker still says it is Odoo's.
        before = self.env["mailing.mailing"].search_count([])
        mailing.esp_campaign_id.sudo().remote_id = False
        import_esp_campaigns(self.env)
        self.assertEqual(self.env["mailing.mailing"].search_count([]), before)
        mailing.esp_campaign_id.sudo().remote_id = remote_id
        # Another Odoo account on the same remote account (from before the rule) imports nothing either,
        # even a campaign without the marker that the first account knows.
        second = self._second_account()
        second.write({"state": "connected", "remote_account_key": "424242"})
        second.action_synchronize()
        auth = (SECOND_USER, SECOND_PASSWORD)
        made = requests.post(f"{self.sandbox.url}/v2/campaigns", auth=auth, timeout=10, json={
            "name": "Made at the ESP", "subject": "From dotdigital", "fromName": "Shop", "fromAddress": {"id": 1},
            "htmlContent": "<p>Hi</p><a href='http://$UNSUB$'>u</a>", "plainTextContent": "Hi http://$UNSUB$",
        }).json()
        book_id = int(self.connected.esp_address_book_id.remote_id)
        requests.post(f"{self.sandbox.url}/v2/campaigns/send", auth=auth, timeout=10,
                      json={"campaignId": made["id"], "addressBookIds": [book_id]}).raise_for_status()
        self.sandbox.advance_clock(60)
        import_esp_campaigns(self.env)  # the first account imports the ESP's campaign once
        twin = second.address_book_ids.filtered(lambda book: book.remote_id == str(book_id))
        twin_list = self.env["mailing.list"].create({"name": "Twin"})
        twin.sudo().mailing_list_id = twin_list  # as the old database had it
        with second._esp_client() as client:
            phantoms = import_account_campaigns(second, client)
        self.assertFalse(phantoms)
        self.assertEqual(self.env["mailing.mailing"].search_count(
            [("esp_campaign_remote_id", "in", [remote_id, str(made["id"])])]), 2)
        self.assertTrue(campaign_marker(self.env, mailing).startswith("[odoo "))

    @mute_logger(ACCOUNT_LOGGER)
    def test_migration_keeps_the_first_account_and_archives_the_others(self):
        second = self._second_account()
        second.write({"state": "connected", "remote_account_ref": "424242",
                      "detected_endpoint": self.sandbox.url})
        self.env["esp.account"].sudo().search([]).write({"remote_account_key": False})
        partners = self.env["mailing.list"].create({"name": "Partners"})
        second.action_synchronize()
        partners._esp_connect(second._esp_create_address_book("Partners"))
        # A phantom: the first account's campaign imported again through the second one.
        mailing = self._create_mailing(self.connected, subject="Original")
        mailing.action_launch()
        CampaignRunner(self.env).run()
        phantom = self.env["mailing.mailing"].create({
            "subject": "Original", "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [(6, 0, self.connected.ids)], "state": "done"})
        self.env["esp.campaign"].sudo().create({
            "mailing_id": phantom.id, "account_id": second.id, "remote_id": mailing.esp_campaign_remote_id,
            "state": "sent", "made_in_esp": True})
        disabled = self.env["esp.account"]._esp_disable_same_remote_accounts()
        self.assertEqual(disabled, second)
        self.assertEqual(self.sandbox_account.remote_account_key, "424242")
        self.assertTrue(self.sandbox_account.active)
        self.assertEqual((second.active, second.state), (False, "error"))
        self.assertIn("as “dotdigital sandbox”", second.last_error)
        self.assertIn("Partners", second.message_ids[0].body)
        self.assertIn("was archived", self.sandbox_account.message_ids[0].body)
        self.assertEqual(partners.esp_address_book_id.account_id, second, "nothing deleted, nothing moved")
        self.assertFalse(phantom.active)
        self.assertTrue(mailing.active)
        self.assertIn("imported again", phantom.message_ids[0].body)
