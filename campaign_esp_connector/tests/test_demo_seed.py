"""The demo's story (scripts/demo_seed.py, issue #13), seeded at a small size against an in-process sandbox:
everything it shows is there and made by the product's engines, and a second run neither duplicates nor
loses anything."""

import importlib.util
from datetime import timedelta
from pathlib import Path

from odoo import fields
from odoo.tests import tagged

from ..sync.campaigns import CampaignRunner
from .common import EspSandboxCommon


def _load_seed_module():
    path = Path(__file__).resolve().parents[2] / "scripts" / "demo_seed.py"
    spec = importlib.util.spec_from_file_location("campaign_esp_connector_demo_seed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("campaign_esp_connector", "demo_seed")
class TestDemoSeed(EspSandboxCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.seed = _load_seed_module()
        cls.cm_account = cls._create_campaign_master_account()

    def _seeder(self):
        return self.seed.DemoSeed(self.env, self.sandbox.url, commit=lambda: None,
                                  accounts=(self.sandbox_account, self.cm_account), sizes=(60, 8, 8))

    def _counts(self):
        return {
            model: self.env[model].search_count([])
            for model in ("mailing.list", "mailing.contact", "mailing.mailing", "esp.campaign", "esp.address.book",
                          "esp.mailing.activity", "mailing.trace", "esp.field.mapping", "esp.data.field")
        }

    def test_story_is_seeded_once(self):
        line = self._seeder().run()
        self.assertIn("Demo story seeded", line)
        seed = self.seed
        newsletter = self.env.ref("mass_mailing.mailing_list_data")
        partners = self.env["mailing.list"].search([("name", "=", seed.PARTNERS)])
        leads = self.env["mailing.list"].search([("name", "=", seed.LEADS)])
        self.assertEqual(newsletter.esp_account_id, self.sandbox_account)
        self.assertEqual(partners.esp_account_id, self.cm_account)
        self.assertFalse(leads.esp_address_book_id)
        self.assertEqual(newsletter.esp_sync_state, "done")
        self.assertEqual(newsletter.esp_pending_count, 0)
        self.assertGreaterEqual(newsletter.esp_synced_count, 40)
        # Ordinary books to pick in the Connect dialog, and the company/country/mobile mapping.
        free = self.sandbox_account.address_book_ids.filtered(lambda b: not b.is_system and not b.mailing_list_id)
        self.assertTrue(set(seed.ORDINARY_BOOKS) <= set(free.mapped("name")))
        self.assertEqual(set(self.sandbox_account.field_mapping_ids.mapped("source")),
                         {"name", "first_name", "last_name", "company_name", "country", "mobile"})
        # Opt-outs and bounces came back from the ESP (dotdigital and Campaign Master).
        self.assertTrue(newsletter.subscription_ids.filtered("opt_out"))
        self.assertTrue(partners.subscription_ids.filtered("opt_out"))
        # The mailing sent days ago: the ESP's figures, each recipient's activity and Odoo's traces agree.
        sent = self.env["mailing.mailing"].search([("subject", "=", seed.SENT_SUBJECT)])
        self.assertEqual(sent.state, "done")
        self.assertEqual(sent.esp_campaign_state, "sent")
        self.assertGreater(sent.esp_stat_opens, 0)
        self.assertGreater(sent.esp_stat_sent, 40)
        self.assertEqual(sent.sent, sent.esp_stat_sent)
        self.assertEqual(sent.opened, sent.esp_stat_unique_opens)
        self.assertEqual(sent.clicked, sent.esp_stat_unique_clicks)
        self.assertEqual(sent.bounced, sent.esp_stat_hard_bounces + sent.esp_stat_soft_bounces)
        self.assertEqual(sent.esp_activity_count, sent.esp_stat_sent)
        self.assertLess(sent.sent_date, sent.create_date)
        # The campaign made in the ESP, imported; the draft, ready to sync and send.
        imported = self.env["esp.campaign"].search([("made_in_esp", "=", True),
                                                    ("account_id", "=", self.sandbox_account.id)])
        self.assertEqual(len(imported), 1)
        # Campaign Master's account imports the email campaigns sent in Campaign Master: the sandbox's one world
        # shows it every campaign sent, each one a mailing to Partners with its figures.
        from_cm = self.env["esp.campaign"].search([("made_in_esp", "=", True), ("account_id", "=", self.cm_account.id)])
        self.assertTrue(from_cm)
        self.assertEqual(from_cm.mailing_id.contact_list_ids, partners)
        self.assertEqual(imported.mailing_id.subject, seed.ESP_CAMPAIGN_NAME)
        self.assertGreater(imported.mailing_id.esp_stat_sent, 0)
        draft = self.env["mailing.mailing"].search([("subject", "=", seed.DRAFT_SUBJECT)])
        self.assertEqual((draft.state, draft.esp_account_id, draft.esp_campaign_state),
                         ("draft", self.sandbox_account, "draft"))
        self.assertTrue(draft.esp_from_address_id)
        # Issue 21: an A/B test ready to send through the ESP, as one split test.
        versions = self.env["mailing.mailing"].search([("subject", "in", (seed.AB_SUBJECT, seed.AB_SUBJECT_B))],
                                                      order="id")
        self.assertEqual(len(versions), 2)
        self.assertEqual(len(versions.campaign_id), 1)
        self.assertEqual(versions.esp_account_id, self.sandbox_account)
        self.assertFalse(any(versions.mapped("esp_ab_refusal")))
        self.assertIn("20 %", versions[0].esp_ab_summary)
        saved = self.env["mailing.filter"].search([("name", "=", seed.FRENCH_CUSTOMERS)])
        self.assertEqual(saved.mailing_model_name, "res.partner")
        # Issue 23: a dynamic filter on Contacts connected to a dotdigital book, and a mailing to Contacts sent
        # through the ESP to a list of its own, with its statistics on the partners' traces.
        uk = self.env["mailing.list"].search([("name", "=", seed.UK_CUSTOMERS)])
        self.assertEqual((uk.esp_source_kind, uk.esp_source_model_name, uk.esp_account_id),
                         ("dynamic", "res.partner", self.sandbox_account))
        self.assertEqual(uk.esp_sync_state, "done")
        self.assertTrue(uk.contact_ids)
        to_contacts = self.env["mailing.mailing"].search([("subject", "=", seed.CONTACTS_SUBJECT)])
        self.assertEqual((to_contacts.state, to_contacts.esp_campaign_state), ("done", "sent"))
        self.assertTrue(to_contacts.esp_audience_own)
        self.assertGreater(to_contacts.esp_stat_sent, len(uk.contact_ids))
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", to_contacts.id)])
        self.assertEqual(set(traces.mapped("model")), {"res.partner"})
        self.assertEqual(len(traces), to_contacts.esp_stat_sent)
        self.assertEqual(to_contacts.opened, to_contacts.esp_stat_unique_opens)
        # Issue 23: with CRM, a mailing to Leads (a model and a domain) sent through the ESP, its traces on the leads.
        if "crm.lead" in self.env:
            to_leads = self.env["mailing.mailing"].search([("subject", "=", seed.LEADS_SUBJECT)])
            self.assertEqual((to_leads.mailing_model_real, to_leads.state, to_leads.esp_campaign_state),
                             ("crm.lead", "done", "sent"))
            leads = self.env["crm.lead"].search([("tag_ids.name", "=", seed.LEAD_TAG)])
            self.assertEqual(len(leads), seed.LEAD_COUNT)
            # One asked never to be mailed; customers the ESP opted out are blacklisted too (a filter's opt-outs are).
            blacklisted = leads.filtered("is_blacklisted")
            never = leads.filtered(lambda lead: lead.email_from == seed.fake_people(seed.LEAD_COUNT - 4, 41, "show")[1]["email"])
            self.assertEqual(len(never & blacklisted), 1)
            customers = self.env["res.partner"].search([("category_id.name", "=", seed.CUSTOMER_TAG)])
            self.assertEqual(len(leads.filtered(lambda lead: lead.email_normalized in customers.mapped("email"))), 4)
            traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", to_leads.id)])
            self.assertEqual(set(traces.mapped("model")), {"crm.lead"})
            self.assertLessEqual(set(traces.mapped("res_id")), set((leads - never).ids))
            self.assertGreaterEqual(set(traces.mapped("res_id")), set((leads - blacklisted).ids))
            self.assertEqual(len(traces), to_leads.esp_stat_sent)
            self.assertEqual(to_leads.sent, to_leads.esp_stat_sent)
            self.assertGreater(to_leads.esp_stat_opens, 0)
            seeded_sends = sent | to_contacts | to_leads
        else:
            seeded_sends = sent | to_contacts
        # The sandbox's clock is back at wall time.
        self.assertLess(abs(self.sandbox.now()["offset"]), 60)
        # Issue 25: the story reads true whatever the clock. The sends made days ago are dated days ago, and so is
        # their chatter (never "Today"); the campaign made in the ESP is dated when the ESP sent it; so are the
        # opt-outs that came back from the ESP (test_esp_optout_clock: never in the future, whatever its clock).
        now = fields.Datetime.now()
        for mailing in seeded_sends | imported.mailing_id:
            self.assertLess(mailing.sent_date, now - timedelta(days=1), mailing.subject)
            messages = mailing.message_ids
            self.assertTrue(messages, mailing.subject)
            self.assertLess(max(messages.mapped("date")), now - timedelta(days=1), mailing.subject)
        self.assertEqual(set(imported.mailing_id.message_ids.mapped("date")), {imported.send_date})
        opted_out = self.env["mailing.subscription"].search([("opt_out", "=", True)])
        self.assertTrue(opted_out)
        self.assertLess(max(opted_out.mapped("opt_out_datetime")), now - timedelta(days=1))
        # The lists' first exports came before the first send, and the send's link trackers with its clicks.
        first_send = min(seeded_sends.mapped("sent_date"))
        logs = self.env["esp.sync.log"].search([("list_id", "in", sent.contact_list_ids.ids)], order="id")
        self.assertTrue(logs)
        self.assertLess(logs[0].start_datetime, first_send)
        trackers = self.env["link.tracker"].search([("mass_mailing_id", "=", sent.id)])
        self.assertTrue(trackers)
        self.assertLess(max(trackers.mapped("create_date")), now - timedelta(days=1))

        # Again: nothing added, no write at the ESP.
        counts = self._counts()
        self.sandbox.clear_log()
        self.assertIn("already in place", self._seeder().run())
        self.assertEqual(self._counts(), counts)
        self.assertFalse([call for call in self.sandbox.requests_log() if call["method"] != "GET"])

        # The draft syncs and goes out as it is.
        draft.action_esp_sync_campaign()
        draft.action_launch()
        CampaignRunner(self.env).run()
        self.sandbox.advance_clock(60)
        CampaignRunner(self.env).run()
        self.assertEqual((draft.esp_campaign_state, draft.state), ("sent", "done"))

        # The sandbox's data is gone while the database kept the story: said clearly.
        self.sandbox.reset()
        self.assertIn("gone", self._seeder().run())

    def test_database_with_its_own_esp_lists_is_left_alone(self):
        self.sandbox_account.action_test_connection()
        own = self.env["mailing.list"].create({"name": "Mine"})
        own._esp_connect(self.sandbox_account._esp_create_address_book("Mine"))
        self.assertIn("not seeded", self._seeder().run())
        self.assertFalse(self.env["mailing.mailing"].search([("subject", "=", self.seed.SENT_SUBJECT)]))
