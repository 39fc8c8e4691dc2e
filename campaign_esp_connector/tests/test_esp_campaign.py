"""Campaigns through the ESP (issue #10): a mailing becomes one campaign at the sandbox, test-sent, sent or
scheduled there, and never by Odoo's own mail queue."""

from datetime import timedelta

import requests

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged, users

from ..sync import statistics
from ..sync.campaigns import SUBJECT_REQUIRED, CampaignRunner
from .common import EspListSyncCommon

BODY = "<div><p>Hello from Odoo</p><p><a href='https://example.com/offer'>Offer</a></p></div>"


@tagged("campaign_esp_connector", "esp_campaign")
class TestEspCampaign(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self.mailing_list = self._create_connected_list(
            [{"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"}]
        )
        self._sync_until_idle(self.mailing_list)

    def _mailing(self, **values):
        return self._create_mailing(self.mailing_list, body=BODY, **values)

    def _state(self):
        return self.sandbox.state(contacts_limit=1000)

    def _sends(self):
        """Every send the sandbox received, with its recipients as the ESP answers them."""
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        return [requests.get(f"{self.sandbox.url}/v2/campaigns/send/{send['id']}", auth=auth, timeout=10).json()
                for send in self._state()["sends"]]

    def _remote_campaigns(self):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        return requests.get(f"{self.sandbox.url}/v2/campaigns", auth=auth, timeout=10).json()

    def test_defaults_from_the_connected_lists(self):
        mailing = self._mailing()
        self.assertEqual(mailing.esp_account_id, self.sandbox_account)
        self.assertEqual(mailing.esp_from_name, "Shop")
        self.assertTrue(mailing.esp_from_address_id)
        self.assertEqual(mailing.esp_campaign_state, "draft")

    def test_blank_subject_gives_the_seed_message(self):
        mailing = self._mailing(subject=" ")
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertEqual(str(refused.exception), SUBJECT_REQUIRED)
        self.assertFalse(self._remote_campaigns())

    def test_lists_not_connected_are_named(self):
        other = self.env["mailing.list"].create({"name": "Not connected"})
        mailing = self._mailing(contact_list_ids=[fields.Command.set((self.mailing_list | other).ids)],
                                esp_account_id=self.sandbox_account.id)
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertIn("Not connected", str(refused.exception))

    def test_from_address_required(self):
        mailing = self._mailing()
        mailing.esp_from_address_id = False
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertIn("from address", str(refused.exception))

    def test_one_campaign_per_mailing_even_after_a_lost_commit(self):
        mailing = self._mailing()
        mailing.action_esp_sync_campaign()
        remote_id = mailing.esp_campaign_remote_id
        self.assertTrue(remote_id)
        campaign = next(c for c in self._remote_campaigns() if str(c["id"]) == remote_id)
        self.assertEqual(campaign["subject"], "Spring news")
        self.assertIn("$UNSUB$", campaign["htmlContent"])
        self.assertIn("$UNSUB$", campaign["plainTextContent"])
        mailing.subject = "Spring news, updated"
        mailing.action_esp_sync_campaign()
        self.assertEqual(mailing.esp_campaign_remote_id, remote_id)
        # The transaction that recorded the remote id died after the ESP created the campaign: the next sync
        # finds that campaign again instead of creating a second one.
        mailing.esp_campaign_id.unlink()
        mailing.invalidate_recordset()
        mailing.action_esp_sync_campaign()
        self.assertEqual(mailing.esp_campaign_remote_id, remote_id)
        self.assertEqual(len(self._remote_campaigns()), 1)
        self.assertEqual(self._remote_campaigns()[0]["subject"], "Spring news, updated")
        self.assertTrue(mailing.esp_template_locked)

    def test_content_refused_by_the_esp_is_explained(self):
        mailing = self._mailing()
        mailing.esp_from_address_id.sudo().remote_id = "999"  # not a from address of the account
        with self.assertRaises(UserError) as refused:
            mailing.action_esp_sync_campaign()
        self.assertIn("refused the campaign", str(refused.exception))

    def test_test_send_goes_to_the_test_addresses_only(self):
        mailing = self._mailing(esp_test_address="qa@example.com, boss@example.com")
        mailing.action_esp_test_send()  # what the Test dialog's Send does (test_esp_schedule.py)
        sends = self._sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0]["addressBookIds"], [])
        self.assertEqual(len(sends[0]["contactIds"]), 2)
        self.assertFalse(self.env["mail.mail"].search_count([("mailing_id", "=", mailing.id)]))
        # The mailing's own campaign is still a draft at the ESP: it can be changed and sent after the test.
        main = next(c for c in self._remote_campaigns() if str(c["id"]) == mailing.esp_campaign_remote_id)
        self.assertEqual(main["status"], "Unsent")
        mailing.subject = "Changed after the test"
        mailing.action_esp_sync_campaign()
        mailing.action_launch()
        CampaignRunner(self.env).run()
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        self.assertEqual(len(self._sends()), 2)

    def test_send_goes_to_the_books_and_odoo_sends_nothing(self):
        mailing = self._mailing()
        mailing.action_launch()
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("in_queue", "queued"))
        # Odoo's own queue cron runs: it must neither send nor move the mailing.
        self.env["mailing.mailing"]._process_mass_mailing_queue()
        self.assertEqual(mailing.state, "in_queue")
        CampaignRunner(self.env).run()
        book_id = int(self.mailing_list.esp_address_book_id.remote_id)
        sends = self._sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual((sends[0]["addressBookIds"], sends[0]["contactIds"]), ([book_id], []))
        self.sandbox.advance_clock(60)
        CampaignRunner(self.env).run()
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("done", "sent"))
        self.env["mailing.mailing"]._process_mass_mailing_queue()
        self.assertFalse(self.env["mail.mail"].search_count([("mailing_id", "=", mailing.id)]))
        # The traces follow what the ESP reports (read as the send ends), never a mail Odoo sent.
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertFalse(traces.filtered("mail_mail_id_int"))
        self.assertEqual(len(traces), len(self.mailing_list.contact_ids))
        self.assertEqual(mailing.esp_stat_sent, len(self.mailing_list.contact_ids))
        self.assertEqual(mailing.sent, len(self.mailing_list.contact_ids))
        with self.assertRaises(UserError):
            mailing.action_esp_sync_campaign()  # read-only once sent

    def _send_posts(self):
        return [entry for entry in self.sandbox.requests_log()
                if entry["method"] == "POST" and entry["path"] == "/v2/campaigns/send"]

    def test_a_lost_answer_to_the_send_is_looked_up_never_sent_twice(self):
        """The ESP carried out the send and its answer was lost: the mailing never goes back to draft, and the
        next run finds the send at the ESP instead of sending again."""
        mailing = self._mailing()
        mailing.action_launch()
        self.sandbox.clear_log()
        self.sandbox.inject_fault("/v2/campaigns/send", "lost_answer", method="POST")
        CampaignRunner(self.env).run()
        self.assertEqual(len(self._state()["sends"]), 1)  # the ESP has it
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("in_queue", "posting"))
        self.assertIn("asked whether it has the send", mailing.esp_last_error)
        CampaignRunner(self.env).run()
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        self.assertEqual(len(self._state()["sends"]), 1, "sent twice")
        self.assertEqual(len(self._send_posts()), 1)
        self.sandbox.advance_clock(120)
        CampaignRunner(self.env).run()  # followed through the campaign: the lost answer carried the send's id
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("done", "sent"))
        self.assertEqual(mailing.esp_stat_sent, len(self.mailing_list.contact_ids))

    def test_a_send_the_esp_never_received_is_sent_again_once(self):
        mailing = self._mailing()
        mailing.action_launch()
        self.sandbox.clear_log()
        self.sandbox.inject_fault("/v2/campaigns/send", "drop_connection", method="POST")
        CampaignRunner(self.env).run()
        self.assertFalse(self._state()["sends"])
        self.assertEqual(mailing.esp_campaign_state, "posting")
        CampaignRunner(self.env).run()  # the ESP has no send of it: asked again
        self.assertEqual(len(self._state()["sends"]), 1)
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        CampaignRunner(self.env).run()
        self.assertEqual(len(self._state()["sends"]), 1)

    def test_a_lost_answer_to_a_scheduled_send_is_found_by_its_date(self):
        mailing = self._mailing()
        # Within the hand-over lead time: the ESP holds the scheduled send at once (test_esp_schedule.py).
        later = fields.Datetime.now() + timedelta(minutes=10)
        mailing.write({"schedule_type": "scheduled", "schedule_date": later})
        mailing.action_schedule()
        self.sandbox.inject_fault("/v2/campaigns/send", "lost_answer", method="POST")
        CampaignRunner(self.env).run()
        self.assertEqual(mailing.esp_campaign_state, "posting")
        CampaignRunner(self.env).run()
        self.assertEqual(mailing.esp_campaign_state, "scheduled")
        self.assertEqual(mailing.state, "in_queue")
        self.assertEqual(len(self._state()["sends"]), 1, "scheduled twice")

    def test_a_refused_send_goes_back_to_draft_with_the_reason(self):
        mailing = self._mailing()
        mailing.action_launch()
        self.mailing_list.esp_address_book_id.sudo().remote_id = "999999"  # a book the ESP does not have
        CampaignRunner(self.env).run()
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("draft", "failed"))
        self.assertTrue(mailing.esp_last_error)
        self.assertFalse(self._state()["sends"])

    def test_schedule_uses_the_esp_send_date(self):
        mailing = self._mailing()
        # Within the hand-over lead time: the ESP holds the scheduled send at once (test_esp_schedule.py).
        later = fields.Datetime.now() + timedelta(minutes=10)
        mailing.write({"schedule_type": "scheduled", "schedule_date": later})
        mailing.action_schedule()
        CampaignRunner(self.env).run()
        self.assertEqual(mailing.esp_campaign_state, "scheduled")
        self.assertEqual(mailing.state, "in_queue")
        self.assertEqual(self._state()["sends"][0]["status"], "Scheduled")

    def test_send_refused_while_a_list_waits_for_a_person(self):
        self.mailing_list.esp_address_book_id.sync_state = "guard"
        mailing = self._mailing()
        with self.assertRaises(UserError) as refused:
            mailing.action_launch()
        self.assertIn(self.mailing_list.name, str(refused.exception))
        self.assertFalse(self._state()["sends"])

    def test_send_refused_while_a_list_has_lost_its_book(self):
        self.mailing_list.esp_address_book_id.sync_state = "book_missing"
        mailing = self._mailing()
        with self.assertRaises(UserError) as refused:
            mailing.action_launch()
        self.assertIn("no longer exists at the ESP", str(refused.exception))
        self.assertFalse(self._state()["sends"])

    def test_pending_contacts_go_out_before_the_send(self):
        self.mailing_list.write({"contact_ids": [fields.Command.create({"name": "Late", "email": "late@example.com"})]})
        mailing = self._mailing()
        mailing.action_launch()
        CampaignRunner(self.env).run()
        # The refresh posted an import the ESP has not confirmed yet: the send waits for the next run.
        for _run in range(4):
            if mailing.esp_campaign_state not in ("queued", "failed"):
                break
            self.sandbox.advance_clock(60)
            if mailing.esp_campaign_state == "failed":
                mailing.action_launch()
            CampaignRunner(self.env).run()
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        self.assertIn("late@example.com", self._book_state(self.mailing_list))

    def test_campaign_made_in_the_esp_is_imported_once(self):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        campaign, imported = self._campaign_made_in_the_esp(self.mailing_list)
        self.assertEqual(len(imported), 1)
        self.assertEqual((imported.subject, imported.state), ("From dotdigital", "done"))
        self.assertTrue(imported.esp_made_in_esp)
        self.assertEqual(imported.contact_list_ids, self.mailing_list)
        # Its first statistics refresh reads it (no activity yet) and brings the ESP's send date.
        statistics.refresh_all(self.env, lambda: None)
        summary = requests.get(f"{self.sandbox.url}/v2/campaigns/{campaign['id']}/summary", auth=auth,
                               timeout=10).json()
        self.assertEqual(imported.esp_stat_sent, summary["numTotalSent"])
        self.assertEqual(fields.Datetime.to_string(imported.sent_date), summary["dateSent"][:19].replace("T", " "))

    @users("user_esp_marketing")
    def test_marketing_user_can_sync_and_send(self):
        mailing = self._mailing().with_user(self.env.user)
        mailing.action_esp_sync_campaign()
        mailing.action_launch()
        self.assertEqual(mailing.esp_campaign_state, "queued")

    def test_bad_input_is_handled(self):
        mailing = self._mailing(subject="🌸 Spring ünïcode " + "x" * 10000)
        mailing.action_esp_sync_campaign()
        campaign = self._remote_campaigns()[0]
        self.assertLessEqual(len(campaign["name"]), 255)
        self.assertTrue(campaign["subject"].startswith("🌸 Spring ünïcode"))
        empty = self._mailing(body_arch="<div><br></div>", body_html="<div><br></div>")
        with self.assertRaises(UserError):
            empty.action_esp_sync_campaign()

    def test_mailings_odoo_sent_stay_odoo_mailings(self):
        plain = self.env["mailing.list"].create({"name": "Later connected",
                                                 "contact_ids": [fields.Command.create({"email": "z@example.com"})]})
        old = self._mailing(contact_list_ids=[fields.Command.set(plain.ids)])
        old.write({"state": "done"})
        self.assertFalse(old.esp_account_id)
        plain._esp_connect(self.sandbox_account._esp_create_address_book("Later connected"))
        old.invalidate_recordset()
        self.assertFalse(old.esp_account_id)
