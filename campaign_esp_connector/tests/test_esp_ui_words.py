"""What a person reads is true and in their words: re-subscribe answers, ESP List Members, sync log steps."""

import re
from datetime import datetime

from odoo.tests import tagged, users
from odoo.tools import format_datetime

from ..providers import records
from ..providers.campaign_master.provider import CampaignMasterProvider
from ..providers.dotdigital import DotdigitalProvider
from ..sync.words import _status_words, people_datetime, status_words
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_ui_words")
class TestEspStatusWords(EspListSyncCommon):
    def test_every_status_a_provider_knows_has_words(self):
        words = _status_words(self.env)
        for provider in (DotdigitalProvider, CampaignMasterProvider):
            for status, kind in provider.status_kinds.items():
                self.assertIn(kind, words, f"{provider.code}: {status} has no words")
        self.assertEqual(status_words(self.env, DotdigitalProvider, "HardBounced"),
                         "Hard bounce (the address does not exist)")
        self.assertEqual(status_words(self.env, DotdigitalProvider, "IspComplained"),
                         "Reported as spam by the recipient's mailbox provider")
        # A status no provider maps, or a reason already in words, is shown as it is.
        self.assertEqual(status_words(self.env, DotdigitalProvider, "SomethingNew"), "SomethingNew")
        self.assertEqual(words[records.STATUS_INACTIVE],
                         status_words(self.env, CampaignMasterProvider, "Inactive at Campaign Master (unsubscribed, "
                                                                        "bounced or complained)"))

    def test_people_datetime_in_their_time_zone_to_the_second(self):
        value = datetime(2026, 12, 4, 8, 28, 43, 668000)
        text = people_datetime(self.env, value, tz="Europe/Brussels")
        self.assertNotIn("668", text)
        self.assertIn("9:28:43", text)
        self.assertIn("Europe/Brussels", text)

    def test_esp_opt_out_note_and_log_in_words(self):
        """A hard bounce at the ESP: the contact's note and the run's opted-out line say it in words, and the run
        lists who it opted out."""
        mailing_list = self._create_connected_list([
            {"name": "Ann", "email": "ann@example.com"}, {"name": "Bob", "email": "bob@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "ann@example.com", "HardBounced", in_book=False)
        log = self._sync(mailing_list)
        self.assertEqual(log.opted_out, 1)
        self.assertRecordValues(log.opted_out_line_ids, [{
            "email": "ann@example.com", "reason": "Hard bounce (the address does not exist)", "kind": "opted_out"}])
        self.assertFalse(log.line_ids, "an opt-out is no contact problem")
        self.assertEqual(log.line_count, 0)
        contacts = self.env["mailing.contact"].search(log.action_view_opted_out_contacts()["domain"])
        self.assertEqual(contacts.mapped("email"), ["ann@example.com"])

        ann = contacts
        note = ann.message_ids.filtered(lambda message: "Opted out of the mailing list" in message.body)
        self.assertIn("Hard bounce (the address does not exist)", note.body)
        self.assertNotIn("HardBounced", note.body)
        self.assertFalse(re.search(r"\d\d:\d\d:\d\d\.\d", note.body), "no microseconds")
        # The member keeps the ESP's word (code compares it); people read the words.
        member = self._members(mailing_list)["ann@example.com"]
        self.assertEqual(member.failure_reason, "HardBounced")
        self.assertEqual(member.failure_reason_words, "Hard bounce (the address does not exist)")
        row = ann.subscription_ids.filtered(lambda subscription: subscription.list_id == mailing_list)
        self.assertEqual(row.esp_status_detail, "Hard bounce (the address does not exist)")

    def test_sync_steps_show_dates_in_the_readers_time_zone(self):
        mailing_list = self._create_connected_list([{"name": "Ann", "email": "ann@example.com"}],
                                                   create_contacts=True)
        first = self._sync_until_idle(mailing_list)
        self.assertIn("first reading of the address book", "".join(first.mapped("steps")))
        log = self._sync(mailing_list)
        match = re.search(r"since \[\[datetime:([0-9-]+ [0-9:]+)\]\]", log.steps)
        self.assertTrue(match, log.steps)
        since = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
        for tz in ("Europe/Brussels", "America/New_York"):
            shown = log.with_context(tz=tz).steps_display
            self.assertIn("since %s." % format_datetime(self.env, since, tz=tz), shown)
            self.assertNotIn("[[datetime:", shown)
        self.assertNotIn(match.group(1), log.with_context(tz="Europe/Brussels").steps_display)


@tagged("campaign_esp_connector", "esp_ui_words")
class TestEspResubscribeRecorded(EspListSyncCommon):
    @users("user_esp_manager")
    def test_resubscribe_reloads_and_is_recorded_on_contact_and_list(self):
        mailing_list = self._create_connected_list([
            {"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b@example.com"},
        ]).with_env(self.env)
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "a@example.com")
        self._esp_set_status(mailing_list, "b@example.com", "HardBounced", in_book=False)
        self._sync(mailing_list)
        members = self._members(mailing_list)
        result = (members["a@example.com"] | members["b@example.com"]).action_esp_resubscribe()
        # The contact's ESP rows show the answer without a page reload.
        self.assertEqual(result["params"]["next"], {"type": "ir.actions.client", "tag": "soft_reload"})
        notes = mailing_list.message_ids.filtered(lambda message: "asked the ESP to re-subscribe" in message.body)
        self.assertEqual(len(notes), 2)
        self.assertEqual(notes.author_id, self.env.user.partner_id)
        by_email = {email: note for note in notes for email in ("a@example.com", "b@example.com") if email in note.body}
        self.assertIn("confirmation email", by_email["a@example.com"].body)
        # Refused, with why in words (what the ESP holds against the address), never the API's word.
        self.assertIn("Hard bounce (the address does not exist)", by_email["b@example.com"].body)
        self.assertNotIn("ContactCannotBeUnsuppressed", by_email["b@example.com"].body)
        contact_b = mailing_list.contact_ids.filtered(lambda contact: contact.email == "b@example.com")
        self.assertIn("Hard bounce", contact_b.message_ids[:1].body)


@tagged("campaign_esp_connector", "esp_ui_words")
class TestEspListMembersAction(EspListSyncCommon):
    def _help(self, **context):
        action = self.env.ref("campaign_esp_connector.esp_list_member_action")
        return self.env["esp.list.member"].with_context(**context).get_empty_list_help(action.help)

    def test_action_opens_on_every_tracked_member_grouped_by_state(self):
        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.esp_list_member_action")
        self.assertNotIn("filter_failed", action["context"])
        self.assertIn("search_default_group_by_state", action["context"])
        self.assertFalse(action.get("domain"))

    def test_empty_state_says_what_is_true(self):
        self.env["esp.list.member"].search([]).unlink()
        self.assertIn("No contact is tracked at the ESP yet", self._help())
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        self.assertIn("No tracked contact matches these filters", self._help())
        self.assertIn("No failed contact: every tracked contact reached the ESP",
                      self._help(search_default_filter_failed=1))

    def test_failed_counter_opens_the_failed_filter(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        action = mailing_list.action_esp_view_failed_members()
        self.assertEqual(action["context"], {"search_default_filter_failed": 1})
        self.assertEqual(action["domain"], [("list_id", "=", mailing_list.id)])
        self.assertIn("No failed contact", action["help"])
