"""Scheduled ESP mailings and Odoo's Test dialog (issue #21, items 7 and 8).

A scheduled mailing stays queued in Odoo until its hand-over time (``SCHEDULE_LEAD_MINUTES`` before its date):
cancelled, edited or rescheduled there, nothing reaches the sandbox until the send job hands it over with the
latest content. Then the sandbox holds the scheduled send, and the mailing is locked: Cancel and ORM writes of
what the ESP holds are refused with the reason. Test opens Odoo's dialog, and its Send goes through the ESP.
"""

from datetime import timedelta

import requests

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged, users

from odoo.addons.base.tests.test_ir_cron import CronMixinCase

from ..sync.campaigns import SCHEDULE_LEAD_MINUTES, CampaignRunner
from .common import EspListSyncCommon

BODY = "<div><p>Hello from Odoo</p></div>"
SEND_CRON = "campaign_esp_connector.ir_cron_esp_send_campaigns"


@tagged("campaign_esp_connector", "esp_schedule")
class TestEspSchedule(EspListSyncCommon, CronMixinCase):
    def setUp(self):
        super().setUp()
        self.mailing_list = self._create_connected_list(
            [{"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"}]
        )
        self._sync_until_idle(self.mailing_list)
        self.now = fields.Datetime.now()

    def _get(self, path):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        return requests.get(f"{self.sandbox.url}{path}", auth=auth, timeout=10).json()

    def _sends(self):
        return [self._get(f"/v2/campaigns/send/{send['id']}") for send in self.sandbox.state()["sends"]]

    def _scheduled(self, minutes, **values):
        """A mailing scheduled ``minutes`` from now, as Odoo's Schedule dialog queues it."""
        mailing = self._create_mailing(self.mailing_list, body=BODY, **values)
        wizard = self.env["mailing.mailing.schedule.date"].create({
            "mass_mailing_id": mailing.id, "schedule_date": self.now + timedelta(minutes=minutes)})
        wizard.action_schedule_date()
        return mailing

    def test_queued_in_odoo_until_its_handover(self):
        with self.capture_triggers(SEND_CRON) as capture:
            mailing = self._scheduled(60 * 24)
        handover = mailing.schedule_date - timedelta(minutes=SCHEDULE_LEAD_MINUTES)
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("in_queue", "queued"))
        self.assertEqual(mailing.esp_handover_datetime, handover)
        self.assertFalse(mailing.esp_send_locked)
        # The send cron is asked to come at the hand-over moment, not before.
        self.assertEqual(capture.records.mapped("call_at"), [handover])
        CampaignRunner(self.env).run()
        self.assertEqual(mailing.esp_campaign_state, "queued")
        self.assertFalse(self._get("/v2/campaigns"), "nothing at the ESP before the hand-over")
        self.assertFalse(self.sandbox.state()["sends"])
        # Claimed directly (a queue job, another worker): the job still leaves it alone.
        self.assertFalse(self.env["esp.sync.job.campaign.send"]._esp_job_run(mailing.esp_campaign_id))
        self.assertEqual(mailing.esp_campaign_state, "queued")

    def test_cancel_before_handover_puts_it_back_to_draft(self):
        mailing = self._scheduled(60 * 24)
        mailing.action_cancel()
        self.assertEqual((mailing.state, mailing.schedule_type), ("draft", "now"))
        self.assertNotEqual(mailing.esp_campaign_state, "queued")
        CampaignRunner(self.env).run()
        self.assertFalse(self._get("/v2/campaigns"))
        self.assertFalse(self.sandbox.state()["sends"])

    def test_edits_and_reschedule_before_handover_are_what_the_esp_receives(self):
        mailing = self._scheduled(60 * 24)
        mailing.write({"subject": "Edited while queued", "body_arch": "<div><p>Edited body</p></div>",
                       "body_html": "<div><p>Edited body</p></div>", "esp_from_name": "Edited Sender"})
        when = self.now + timedelta(minutes=SCHEDULE_LEAD_MINUTES - 5)
        with self.capture_triggers(SEND_CRON) as capture:
            mailing.write({"schedule_date": when})  # rescheduled: due for its hand-over at once
        self.assertTrue(capture.records)
        self.assertLessEqual(max(capture.records.mapped("call_at")), fields.Datetime.now())
        CampaignRunner(self.env).run()
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("in_queue", "scheduled"))
        campaign = self._get(f"/v2/campaigns/{mailing.esp_campaign_remote_id}")
        self.assertEqual((campaign["subject"], campaign["fromName"]), ("Edited while queued", "Edited Sender"))
        self.assertIn("Edited body", campaign["htmlContent"])
        sends = self._sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0]["status"], "Scheduled")
        self.assertEqual(sends[0]["sendDate"][:19], fields.Datetime.to_string(when).replace(" ", "T"))

    def test_a_handover_time_already_past_sends_at_once(self):
        mailing = self._scheduled(60)
        mailing.schedule_date = self.now - timedelta(minutes=1)  # the cron came late
        CampaignRunner(self.env).run()
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        self.assertEqual(len(self.sandbox.state()["sends"]), 1)

    def test_locked_once_the_esp_holds_the_send(self):
        mailing = self._scheduled(SCHEDULE_LEAD_MINUTES - 5)
        CampaignRunner(self.env).run()
        self.assertEqual(mailing.esp_campaign_state, "scheduled")
        self.assertTrue(mailing.esp_send_locked)
        with self.assertRaises(UserError) as refused:
            mailing.action_cancel()
        self.assertIn("cancel the send in the ESP itself", str(refused.exception))
        self.assertEqual(mailing.state, "in_queue")
        for values in ({"subject": "Too late"}, {"body_arch": "<p>Too late</p>"},
                       {"esp_from_name": "Too late"}, {"schedule_date": self.now + timedelta(days=1)},
                       {"contact_list_ids": [fields.Command.clear()]}):
            with self.subTest(values=values), self.assertRaises(UserError) as refused:
                mailing.write(values)
            self.assertIn("The ESP holds this mailing's scheduled send", str(refused.exception))
        # What does not reach the ESP, or does not change, is still written.
        mailing.write({"subject": mailing.subject, "esp_test_address": "qa@example.com"})
        self.assertEqual(mailing.esp_test_address, "qa@example.com")
        self.assertEqual(len(self.sandbox.state()["sends"]), 1)

    @users("user_esp_marketing")
    def test_marketing_user_schedules_and_cancels(self):
        mailing = self._scheduled(60).with_user(self.env.user)
        self.assertEqual(mailing.esp_campaign_state, "queued")
        mailing.action_cancel()
        self.assertEqual(mailing.state, "draft")

    # -- Test -------------------------------------------------------------------------------------------------

    def test_test_opens_odoo_dialog_prefilled_and_sends_through_the_esp(self):
        mailing = self._create_mailing(self.mailing_list, body=BODY,
                                       esp_test_address="qa@example.com, boss@example.com")
        action = mailing.action_test()
        self.assertEqual((action["res_model"], action["target"]), ("mailing.mailing.test", "new"))
        self.assertFalse(self.sandbox.state()["sends"], "Test only opens the dialog")
        wizard_form = Form(self.env["mailing.mailing.test"].with_context(action["context"]))
        self.assertEqual(wizard_form.email_to, "qa@example.com\nboss@example.com")
        self.assertEqual(wizard_form.esp_account_id, mailing.esp_account_id)
        self.assertIn("o_esp_test_note", self.env["mailing.mailing.test"].get_view()["arch"])
        wizard_form.email_to = "proof@example.com\nother@example.com"
        result = wizard_form.save().send_mail_test()
        self.assertIn("Test sent by the ESP to proof@example.com, other@example.com", result["params"]["message"])
        sends = self._sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual((sends[0]["addressBookIds"], len(sends[0]["contactIds"])), ([], 2))
        self.assertFalse(self.env["mail.mail"].search_count([("mailing_id", "=", mailing.id)]))
        # Kept for the next Test.
        self.assertEqual(mailing.esp_test_address, "proof@example.com, other@example.com")
        self.assertEqual(Form(self.env["mailing.mailing.test"].with_context(mailing.action_test()["context"]))
                         .email_to, "proof@example.com\nother@example.com")

    def test_test_dialog_refuses_bad_addresses(self):
        mailing = self._create_mailing(self.mailing_list, body=BODY)
        for email_to, reason in (("not-an-address", "not valid email addresses: not-an-address"),
                                 ("\n".join(f"qa{index}@example.com" for index in range(11)), "at most 10")):
            wizard = self.env["mailing.mailing.test"].create({"mass_mailing_id": mailing.id, "email_to": email_to})
            with self.subTest(email_to=email_to), self.assertRaises(UserError) as refused:
                wizard.send_mail_test()
            self.assertIn(reason, str(refused.exception))
        self.assertFalse(self.sandbox.state()["sends"])

    def test_test_of_an_odoo_mailing_is_odoo_own(self):
        plain = self.env["mailing.list"].create({"name": "Not connected",
                                                 "contact_ids": [fields.Command.create({"email": "z@example.com"})]})
        mailing = self._create_mailing(plain, body=BODY, esp_test_address="qa@example.com")
        self.assertFalse(mailing.esp_account_id)
        action = mailing.action_test()
        self.assertNotIn("default_email_to", action["context"])
        wizard = self.env["mailing.mailing.test"].create({"mass_mailing_id": mailing.id,
                                                          "email_to": "odoo-test@example.com"})
        self.assertIs(wizard.send_mail_test(), True)
        self.assertFalse(self.sandbox.state()["sends"])
