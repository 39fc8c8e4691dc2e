"""A/B tests through the ESP (issue #21, item 1): the versions are one split test campaign at the sandbox, sent
once with the options mapped from Odoo's; the ESP's winner comes back to the mailings; what the ESP cannot
judge, and Campaign Master, are refused on the form before Send; Odoo never sends a final mailing of its own."""

import json
from datetime import timedelta

import requests
from zeep.cache import InMemoryCache

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from ..sync.campaigns import CampaignRunner
from .common import EspListSyncCommon

BODY_A = "<div><p>Version A</p><p><a href='https://example.com/a'>Offer A</a></p></div>"
BODY_B = "<div><p>Version B</p><p><a href='https://example.com/b'>Offer B</a></p></div>"


@tagged("campaign_esp_connector", "esp_ab_testing")
class TestEspAbTesting(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self.sandbox.configure(engagement={"open": 0.6, "click": 0.4, "hard_bounce": 0, "soft_bounce": 0})
        self.mailing_list = self._create_connected_list(
            [{"name": f"Reader {index}", "email": f"ab{index}@example.com"} for index in range(40)])
        self._sync_until_idle(self.mailing_list)

    def _ab_mailings(self, pc=10, selection="opened_ratio", hours=24):
        version_a = self._create_mailing(
            self.mailing_list, body=BODY_A, subject="Spring A", ab_testing_enabled=True, ab_testing_pc=pc,
            ab_testing_winner_selection=selection,
            ab_testing_schedule_datetime=fields.Datetime.now() + timedelta(hours=hours))
        version_b = version_a.copy({"subject": "Spring B", "body_arch": BODY_B, "body_html": BODY_B})
        self.assertEqual(version_b.campaign_id, version_a.campaign_id)
        self.assertTrue(version_b.ab_testing_enabled and version_b.esp_account_id)
        return version_a, version_b

    def _get(self, path):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        return requests.get(f"{self.sandbox.url}/v2/{path}", auth=auth, timeout=10).json()

    def _send_bodies(self):
        store = self.sandbox.app.store
        with store.lock:
            return [json.loads(row[0]) for row in store.db.execute("SELECT body FROM sends")]

    def _mailings_of(self, campaign):
        return self.env["mailing.mailing"].with_context(active_test=False).search([("campaign_id", "=", campaign.id)])

    def test_two_versions_are_one_split_test_sent_once_and_the_winner_comes_back(self):
        version_a, version_b = self._ab_mailings(pc=15)
        self.assertFalse(version_a.esp_ab_refusal)
        self.assertIn("30 %", version_a.esp_ab_summary)
        self.assertIn("Odoo sends no final mailing", version_b.esp_ab_summary)
        self.assertEqual(version_b.esp_ab_lead_id, version_a)
        self.assertFalse(version_a.esp_ab_lead_id)

        version_b.action_put_in_queue()  # Send on either version sends both
        self.assertEqual((version_a.state, version_b.state), ("in_queue", "in_queue"))
        self.assertEqual((version_a.esp_campaign_state, version_b.esp_campaign_state), ("queued", "queued"))
        self.assertFalse(version_b.esp_campaign_ids, "one ESP campaign, on the first version")
        CampaignRunner(self.env).run()

        campaigns = self._get("campaigns")
        self.assertEqual(len(campaigns), 1)
        self.assertTrue(campaigns[0]["isSplitTest"])
        self.assertEqual(str(campaigns[0]["id"]), version_a.esp_campaign_remote_id)
        results = self._get(f"campaigns/{campaigns[0]['id']}/split-test")
        self.assertEqual([version["subjectLine"] for version in results["versions"]], ["Spring A", "Spring B"])
        self.assertIn("Version B", results["versions"][1]["htmlContent"])
        self.assertIn("$UNSUB$", results["versions"][1]["htmlContent"])
        sends = self._send_bodies()
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0]["splitTestOptions"], {"testMetric": "Opens", "testPercentage": 30,
                                                        "testPeriodHours": 24})
        self.assertEqual(sends[0]["addressBookIds"], [int(self.mailing_list.esp_address_book_id.remote_id)])
        self.assertEqual((version_a.state, version_b.state), ("sending", "sending"))
        binding = version_a.esp_campaign_id
        self.assertEqual((binding.split_test_metric, binding.split_test_percentage, binding.split_test_period_hours),
                         ("opens", 30, 24))
        # The follow-up comes back when the test period ends, not every minute of it.
        follow = self.env.ref("campaign_esp_connector.ir_cron_esp_follow_campaigns")
        call_ats = self.env["ir.cron.trigger"].search([("cron_id", "=", follow.id)]).mapped("call_at")
        self.assertGreaterEqual(max(call_ats), fields.Datetime.now() + timedelta(hours=23))

        # Odoo's A/B cron passes "Send Final On": it sends nothing, the ESP does.
        version_a.campaign_id.ab_testing_schedule_datetime = fields.Datetime.now() - timedelta(minutes=1)
        self.env["utm.campaign"]._cron_process_mass_mailing_ab_testing()
        self.assertEqual(len(self._mailings_of(version_a.campaign_id)), 2)
        self.assertFalse(version_a.ab_testing_completed)
        with self.assertRaises(UserError):
            version_a.action_send_winner_mailing()

        self.sandbox.advance_clock(25 * 3600)
        CampaignRunner(self.env).run()
        self.assertEqual((version_a.state, version_b.state), ("done", "done"))
        self.assertEqual(len(self._send_bodies()), 1, "sent once")
        winners = (version_a | version_b).filtered("esp_ab_winner")
        self.assertEqual(len(winners), 1)
        self.assertEqual(version_a.campaign_id.ab_testing_winner_mailing_id, winners)
        self.assertTrue(winners.ab_testing_is_winner_mailing and version_a.ab_testing_completed)
        self.assertEqual({version_a.esp_ab_version, version_b.esp_ab_version}, {"A", "B"})
        self.assertGreaterEqual(winners.esp_ab_result, ((version_a | version_b) - winners).esp_ab_result)
        self.assertIn("as the winner of the A/B test", winners.message_ids[:1].body)
        self.assertEqual(version_a.esp_stat_sent, 40)  # the ESP's one campaign: every recipient, on version A
        self.env["utm.campaign"]._cron_process_mass_mailing_ab_testing()
        self.assertEqual(len(self._mailings_of(version_a.campaign_id)), 2)

    def test_scheduled_send_gives_the_period_from_the_send_date(self):
        version_a, version_b = self._ab_mailings(pc=10, selection="clicks_ratio", hours=30)
        # Handed to the ESP 7 hours ahead of its date (not the default 15 minutes), so the send goes out now.
        self.env["ir.config_parameter"].sudo().set_param("campaign_esp_connector.schedule_lead_minutes", "420")
        version_a.write({"schedule_type": "scheduled", "schedule_date": fields.Datetime.now() + timedelta(hours=6)})
        version_a.action_put_in_queue()
        self.assertEqual(version_b.schedule_date, version_a.schedule_date)
        CampaignRunner(self.env).run()
        options = self._send_bodies()[0]["splitTestOptions"]
        self.assertEqual(options, {"testMetric": "Clicks", "testPercentage": 20, "testPeriodHours": 24})

    def test_what_the_esp_cannot_judge_is_refused_on_the_form(self):
        version_a, version_b = self._ab_mailings()
        cases = [
            ({"ab_testing_winner_selection": "manual"}, "not “Manual”"),
            ({"ab_testing_winner_selection": "replied_ratio"}, "Highest Reply Rate"),
        ]
        for values, reason in cases:
            version_a.write(values)
            self.assertIn(reason, version_a.esp_ab_refusal)
            for action in (version_a.action_esp_sync_campaign, version_a.action_put_in_queue,
                           version_b.action_put_in_queue):
                with self.assertRaises(UserError) as refused:
                    action()
                self.assertIn(reason, str(refused.exception))
        version_a.ab_testing_winner_selection = "opened_ratio"
        version_b.ab_testing_pc = 20
        self.assertIn("same percentage (now 10, 20 %)", version_b.esp_ab_refusal)
        version_b.ab_testing_pc = 60
        version_a.ab_testing_pc = 60
        self.assertIn("add up to 120 %", version_a.esp_ab_refusal)
        version_a.ab_testing_pc = version_b.ab_testing_pc = 10
        other_list = self._create_connected_list([{"name": "Other", "email": "other@example.com"}], "Other list")
        version_b.contact_list_ids = other_list
        self.assertIn("Spring B", version_a.esp_ab_refusal)
        with self.assertRaises(UserError):
            version_a.action_put_in_queue()
        version_b.ab_testing_enabled = False
        self.assertIn("two versions at least", version_a.esp_ab_refusal)
        self.assertFalse(self._get("campaigns"), "nothing reached the ESP")
        self.assertEqual(version_a.state, "draft")

    def test_the_form_warns_as_soon_as_ab_testing_is_on(self):
        version_a = self._create_mailing(self.mailing_list, body=BODY_A)
        with Form(version_a) as form:
            self.assertFalse(form.esp_ab_refusal)
            form.ab_testing_enabled = True
            self.assertIn("open rate or the click rate", form.esp_ab_refusal)
            form.ab_testing_winner_selection = "manual"
            self.assertIn("not “Manual”", form.esp_ab_refusal)
            form.ab_testing_winner_selection = "clicks_ratio"
            form.ab_testing_schedule_datetime = fields.Datetime.now() + timedelta(days=1)
            self.assertIn("two versions at least", form.esp_ab_refusal)

    def test_turning_ab_testing_off_after_a_sync_makes_a_plain_campaign(self):
        version_a, version_b = self._ab_mailings()
        version_a.action_esp_sync_campaign()
        self.assertTrue(self._get("campaigns")[0]["isSplitTest"])
        version_a.action_esp_sync_campaign()  # a split test cannot be changed: made again, never twice
        self.assertEqual(len(self._get("campaigns")), 1)
        version_b.unlink()
        version_a.ab_testing_enabled = False
        version_a.action_esp_sync_campaign()
        campaigns = self._get("campaigns")
        self.assertEqual(len(campaigns), 1)
        self.assertFalse(campaigns[0]["isSplitTest"])
        self.assertFalse(version_a.esp_campaign_id.split_test)

    def test_a_lost_answer_to_the_split_send_is_looked_up_never_sent_twice(self):
        version_a, version_b = self._ab_mailings()
        version_a.action_put_in_queue()
        self.sandbox.inject_fault("/v2/campaigns/send", "lost_answer", method="POST")
        CampaignRunner(self.env).run()
        self.assertEqual(version_a.esp_campaign_state, "posting")
        CampaignRunner(self.env).run()
        self.assertEqual(version_a.esp_campaign_state, "sending")
        self.assertEqual((version_a.state, version_b.state), ("sending", "sending"))
        self.assertEqual(len(self._send_bodies()), 1, "sent twice")


@tagged("campaign_esp_connector", "esp_ab_testing")
class TestCampaignMasterAbTesting(EspListSyncCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cm_account = cls._create_campaign_master_account()

    def test_campaign_master_refuses_ab_testing_at_once(self):
        self.sandbox.configure(cm_extended=True)  # a service with lists and campaigns (the assumed extension)
        InMemoryCache._cache.clear()  # zeep keeps service descriptions an hour, for every client of the process
        self.cm_account.action_test_connection()
        mailing_list = self.env["mailing.list"].create({
            "name": "CM readers", "contact_ids": [(0, 0, {"name": "Reader", "email": "cm@example.com"})]})
        mailing_list._esp_connect(self.cm_account._esp_create_address_book("CM readers"))
        mailing = self._create_mailing(mailing_list, body=BODY_A, esp_description="Spring")
        self.assertEqual(mailing.esp_account_id, self.cm_account)
        self.assertFalse(mailing.esp_ab_refusal)
        mailing.ab_testing_enabled = True
        self.assertIn("Campaign Master has no split test", mailing.esp_ab_refusal)
        for action in (mailing.action_esp_sync_campaign, mailing.action_put_in_queue):
            with self.assertRaises(UserError) as refused:
                action()
            self.assertIn("has no split test", str(refused.exception))
        self.assertEqual(mailing.state, "draft")
