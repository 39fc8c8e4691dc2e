from lxml import etree

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import html2plaintext, mute_logger

from .common import EspListSyncCommon

LOGGER = "odoo.addons.campaign_esp_connector.sync.runner"


@tagged("campaign_esp_connector", "esp_list_sync")
class TestSafetyNets(EspListSyncCommon):
    """Confirm Changes, Retry Rejected and Re-subscribe at ESP lift a safety net: ESP managers only (the server
    refuses anyone else, whatever the views show), and each use is in the chatter with who, when and what."""

    def _notes(self, record):
        """The record's chatter notes, newest first, as plain text with their authors."""
        record.invalidate_recordset(["message_ids"])
        return [(message.author_id, html2plaintext(message.body or ""), message.date)
                for message in record.message_ids.filtered(lambda message: message.message_type == "comment")]

    @mute_logger(LOGGER)
    def _guarded_list(self):
        mailing_list = self._create_connected_list(
            [{"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(40)], book_name="Guarded")
        self._sync_until_idle(mailing_list)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        self.sandbox.advance_clock(60)
        for index in range(15):
            self.sandbox.set_contact_status(f"p{index}@example.com", "Unsubscribed", book_id=book_id)
        self.assertEqual(self._sync(mailing_list).state, "guard")
        return mailing_list

    # -- the mass-change guard ------------------------------------------------------------------------------

    def test_confirm_changes_is_for_managers_and_recorded(self):
        mailing_list = self._guarded_list()
        with self.assertRaisesRegex(AccessError, "Only an ESP manager can confirm"):
            mailing_list.with_user(self.user_marketing).action_esp_confirm_guard()
        self.assertEqual(mailing_list.esp_sync_state, "guard")
        self.assertFalse(self._notes(mailing_list))

        mailing_list.with_user(self.user_esp_manager).action_esp_confirm_guard()
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        [(author, body, date)] = self._notes(mailing_list)
        self.assertEqual(author, self.user_esp_manager.partner_id)
        self.assertTrue(date)
        self.assertIn("ESP Manager Max confirmed the mass change the guard stopped for the address book Guarded",
                      body)
        self.assertIn("15 opt-outs from the ESP, 0 unsubscribes to send to the ESP and 0 removals", body)
        self._sync(mailing_list)
        self.assertEqual(len(mailing_list.subscription_ids.filtered("opt_out")), 15)

    # -- the ESP's watchdog ---------------------------------------------------------------------------------

    @mute_logger(LOGGER)
    def test_retry_rejected_is_for_managers_and_recorded(self):
        mailing_list = self._create_connected_list(
            [{"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b@example.com"}], book_name="Watched")
        self.sandbox.inject_import_fault("RejectedByWatchdog")
        self._sync(mailing_list)
        self._sync(mailing_list)
        self.assertEqual(mailing_list.esp_sync_state, "rejected")
        with self.assertRaisesRegex(AccessError, "Only an ESP manager can send again"):
            mailing_list.with_user(self.user_marketing).action_esp_retry_rejected()
        self.assertEqual({member.state for member in self._members(mailing_list).values()}, {"rejected"})

        mailing_list.with_user(self.user_esp_manager).action_esp_retry_rejected()
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        [(author, body, _date)] = self._notes(mailing_list)
        self.assertEqual(author, self.user_esp_manager.partner_id)
        self.assertIn("ESP Manager Max retried the import", body)
        self.assertIn("2 contacts are sent again to the address book Watched", body)
        self._sync_until_idle(mailing_list)
        self.assertEqual({member.state for member in self._members(mailing_list).values()}, {"synced"})

    # -- what each person sees ------------------------------------------------------------------------------

    def test_views_show_the_buttons_to_managers_and_why_to_others(self):
        def arch(model, user, view_type="form"):
            return self.env[model].with_user(user).get_views([(False, view_type)])["views"][view_type]["arch"]

        for_user = arch("mailing.list", self.user_marketing)
        self.assertNotIn("action_esp_confirm_guard", for_user)
        self.assertNotIn("action_esp_retry_rejected", for_user)
        self.assertIn("An ESP manager must confirm these changes.", for_user)
        self.assertIn("An ESP manager must retry the rejected import", for_user)
        for_manager = arch("mailing.list", self.user_esp_manager)
        self.assertIn("action_esp_confirm_guard", for_manager)
        self.assertIn("action_esp_retry_rejected", for_manager)
        self.assertNotIn("An ESP manager must confirm", for_manager)

        contact_user = etree.fromstring(arch("mailing.contact", self.user_marketing))
        self.assertFalse(contact_user.xpath("//button[@name='action_esp_resubscribe']"))
        self.assertTrue(contact_user.xpath("//p[@name='esp_resubscribe_managers_only']"))
        contact_manager = etree.fromstring(arch("mailing.contact", self.user_esp_manager))
        self.assertTrue(contact_manager.xpath("//button[@name='action_esp_resubscribe']"))
        self.assertFalse(contact_manager.xpath("//p[@name='esp_resubscribe_managers_only']"))
        for view_type in ("list", "form"):
            self.assertNotIn("action_esp_resubscribe", arch("esp.list.member", self.user_marketing, view_type))
            self.assertIn("action_esp_resubscribe", arch("esp.list.member", self.user_esp_manager, view_type))

    # -- re-subscribing at the ESP --------------------------------------------------------------------------

    def test_resubscribe_handles_each_contact_on_its_own(self):
        emails = ["a-error@example.com", "b-added@example.com", "c-challenged@example.com", "d-refused@example.com"]
        mailing_list = self._create_connected_list(
            [{"name": email.split("@")[0], "email": email} for email in emails], book_name="Readers")
        self._sync_until_idle(mailing_list)
        for email in emails[:3]:
            self._esp_set_status(mailing_list, email, "Unsubscribed")
        self._esp_set_status(mailing_list, "d-refused@example.com", "HardBounced", in_book=False)
        self._sync(mailing_list)
        # b asked the ESP itself to be back (after Odoo read the unsubscribe): the ESP adds it at once.
        self._esp_set_status(mailing_list, "b-added@example.com", "Subscribed")
        members = self.env["esp.list.member"].search([("list_id", "=", mailing_list.id)], order="email")
        self.assertEqual(members.mapped("state"), ["opted_out"] * 4)

        self.sandbox.clear_log()
        with self.assertRaisesRegex(AccessError, "Only an ESP manager can re-subscribe"):
            members.with_user(self.user_marketing).action_esp_resubscribe()
        subscription = mailing_list.subscription_ids.filtered(lambda sub: sub.contact_id.email == emails[1])
        with self.assertRaises(AccessError):
            subscription.with_user(self.user_marketing).action_esp_resubscribe()
        self.assertFalse([call for call in self.sandbox.requests_log() if "resubscribe" in call["path"]])

        # The first contact's call fails at the ESP: the others go on, and nothing raises.
        self.sandbox.inject_fault("/v2/address-books/*/contacts/resubscribe", "http_500", method="POST")
        result = members.with_user(self.user_esp_manager).action_esp_resubscribe()
        message = result["params"]["message"]
        self.assertEqual(result["params"]["type"], "warning")
        self.assertIn("Re-subscribed at the ESP: b-added@example.com.", message)
        self.assertIn("The ESP emailed c-challenged@example.com to confirm", message)
        self.assertIn("Refused by the ESP (the contact's note says why): d-refused@example.com.", message)
        self.assertRegex(message, r"Not re-subscribed, nothing changed for them: a-error@example\.com \(.+\)\.")
        self.assertNotIn("b-added", message.split("Not re-subscribed")[1])

        # Odoo follows what the ESP did, contact by contact.
        members.invalidate_recordset()
        self.assertEqual(members.mapped("state"), ["opted_out", "pending", "opted_out", "opted_out"])
        self.assertFalse(subscription.opt_out)
        self.assertEqual(members[0].failure_reason, "Unsubscribed", "a failed call leaves the ESP's reason")
        self.assertEqual(self._book_state(mailing_list)["b-added@example.com"]["book_status"], "Subscribed")

        # Each contact's chatter says who asked and what the ESP answered.
        expected = {
            "a-error@example.com": "which failed:",
            "b-added@example.com": "the ESP added the contact back; the subscription is active again",
            "c-challenged@example.com": "the ESP sent the contact a confirmation email",
            "d-refused@example.com": "The ESP refuses to re-subscribe this address, which it holds as: Hard bounce",
        }
        for contact in mailing_list.contact_ids:
            notes = [(author, body) for author, body, _date in self._notes(contact)
                     if "re-subscribe this contact" in body]
            self.assertEqual(len(notes), 1, contact.email)
            author, body = notes[0]
            self.assertEqual(author, self.user_esp_manager.partner_id)
            self.assertIn("ESP Manager Max asked the ESP to re-subscribe this contact to the address book Readers",
                          body)
            self.assertIn(expected[contact.email], body)
