from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged, users

from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_mailing_contact")
class TestContactEspTab(EspListSyncCommon):
    """The contact form's ESP tab: per connected list, what the ESP holds, and re-subscribing from there."""

    def setUp(self):
        super().setUp()
        self.list_news = self._create_connected_list([{"name": "Ada Lovelace", "email": "Ada@Example.com"}],
                                                     book_name="Newsletter")
        self.contact = self.list_news.contact_ids
        self.list_events = self._create_connected_list([], book_name="Events")
        self.list_plain = self.env["mailing.list"].create({"name": "Not connected"})
        self.contact.write({"list_ids": [(4, self.list_events.id), (4, self.list_plain.id)]})

    def _rows(self, contact=None):
        contact = (contact or self.contact).with_env(self.env)
        contact.invalidate_recordset()
        self.env["mailing.subscription"].invalidate_model()
        return {row.list_id.name: row for row in contact.esp_subscription_ids}

    def _contact_form_arch(self):
        return etree.fromstring(self.env["mailing.contact"].get_view(view_type="form")["arch"])

    @users("user_esp_marketing")
    def test_one_row_per_connected_list_with_what_the_esp_holds(self):
        rows = self._rows()
        self.assertEqual(set(rows), {"Newsletter", "Events"}, "lists not connected to an ESP are left out")
        self.assertRecordValues(rows["Newsletter"], [{
            "esp_address_book_id": self.list_news.esp_address_book_id.id,
            "esp_member_state": False,
            "esp_exported_datetime": False,
            "esp_status_detail": "Not exported yet: sent at the next synchronization",
        }])

        self._sync_until_idle(self.list_news.with_env(self.env))
        rows = self._rows()
        self.assertEqual(rows["Newsletter"].esp_member_state, "synced")
        self.assertTrue(rows["Newsletter"].esp_exported_datetime)
        self.assertFalse(rows["Newsletter"].esp_status_detail)
        self.assertFalse(rows["Events"].esp_member_state, "each list has its own state")

    def test_esp_opt_outs_show_the_esp_reason(self):
        self._sync_until_idle(self.list_news)
        self._esp_set_status(self.list_news, "ada@example.com")
        self._sync(self.list_news)
        row = self._rows()["Newsletter"]
        self.assertRecordValues(row, [{"opt_out": True, "esp_member_state": "opted_out",
                                       "esp_status_detail": "Unsubscribed"}])
        self.assertTrue(row.esp_opted_out_datetime)

        self._sync_until_idle(self.list_events)
        self._esp_set_status(self.list_events, "ada@example.com", "HardBounced", in_book=False)
        self._sync(self.list_events)
        row = self._rows()["Events"]
        self.assertEqual(row.esp_member_state, "opted_out")
        # In words for people, and no re-subscribe offered: the ESP never lifts a hard bounce that way.
        self.assertEqual(row.esp_status_detail, "Hard bounce (the address does not exist)")
        self.assertFalse(row.esp_support_resubscribe)
        self.assertTrue(self._rows()["Newsletter"].esp_support_resubscribe)

    @users("user_esp_manager")
    def test_resubscribe_from_the_contact(self):
        for mailing_list in (self.list_news, self.list_events):
            self._sync_until_idle(mailing_list)
        self._esp_set_status(self.list_news, "ada@example.com")
        self._sync(self.list_news)
        rows = self._rows()
        self.assertTrue(rows["Newsletter"].esp_support_resubscribe)
        with self.assertRaisesRegex(UserError, "Only a contact the ESP holds opted out"):
            rows["Events"].action_esp_resubscribe()

        result = rows["Newsletter"].action_esp_resubscribe()
        self.assertEqual(result["tag"], "display_notification")
        self.assertIn("The ESP emailed ada@example.com to confirm", result["params"]["message"])
        # the ESP asked the contact to confirm: nothing changes in Odoo until they do
        self.assertEqual(self._rows()["Newsletter"].esp_member_state, "opted_out")
        self.assertEqual(self._rows()["Newsletter"].esp_status_detail, "Confirmation email sent by the ESP")
        # The contact's chatter keeps who asked and what the ESP answered.
        note = self.contact.with_env(self.env).message_ids[:1]
        self.assertEqual(note.author_id, self.env.user.partner_id)
        self.assertIn("asked the ESP to re-subscribe this contact to the address book Newsletter", note.body)
        self.assertIn("confirmation email", note.body)

    def test_resubscribe_from_the_contact_is_for_esp_managers(self):
        self._sync_until_idle(self.list_news)
        self._esp_set_status(self.list_news, "ada@example.com")
        self._sync(self.list_news)
        row = self._rows()["Newsletter"].with_user(self.user_marketing)
        with self.assertRaisesRegex(AccessError, "Only an ESP manager can re-subscribe"):
            row.action_esp_resubscribe()
        self.assertEqual(self._rows()["Newsletter"].esp_member_state, "opted_out")

    @users("user_esp_manager")  # the button is an ESP manager's (see test_safety_nets)
    def test_form_shows_the_tab_the_button_and_the_activity(self):
        arch = self._contact_form_arch()
        page = arch.xpath("//notebook[@name='esp_notebook']/page[@name='esp']")
        self.assertTrue(page, "the contact form has an ESP tab")
        self.assertEqual(page[0].getparent().get("invisible"), "not esp_subscription_ids")
        button = arch.xpath("//field[@name='esp_subscription_ids']//button[@name='action_esp_resubscribe']")[0]
        # never silent (a confirmation first), never where the ESP's API cannot
        self.assertTrue(button.get("confirm"))
        self.assertEqual(button.get("invisible"), "esp_member_state != 'opted_out' or not esp_support_resubscribe")
        smart = arch.xpath("//div[@name='button_box']/button[@name='action_view_esp_activity']")[0]
        self.assertEqual(smart.get("invisible"), "not esp_activity_count and not esp_subscription_ids")

        action = self.contact.with_env(self.env).action_view_esp_activity()
        self.assertEqual((action["res_model"], action["domain"]),
                         ("esp.mailing.activity", [("contact_id", "=", self.contact.id)]))

    @users("user_esp_marketing")
    def test_contact_without_connected_list(self):
        contact = self.env["mailing.contact"].create({"name": "Plain", "email": "plain@example.com",
                                                     "list_ids": [(4, self.list_plain.id)]})
        self.assertFalse(contact.esp_subscription_ids)
        self.assertFalse(contact.subscription_ids.esp_status_detail)
