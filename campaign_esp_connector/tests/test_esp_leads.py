"""A mailing to Leads (Recipients: Lead/Opportunity and a domain) sent through the ESP (issue 23): the add-on does not
depend on CRM, and with CRM installed a mailing to ``crm.lead`` goes out as one to Contacts does, to exactly the leads
Odoo would mail, with its statistics on traces of the leads themselves. Skipped when CRM is not installed."""

from odoo.tests import tagged

from ..sync.campaigns import CampaignRunner
from .common import EspListSyncCommon

BODY = "<div><p>Thank you for visiting our stand</p><p><a href='https://example.com/catalogue'>Catalogue</a></p></div>"


@tagged("campaign_esp_connector", "esp_leads")
class TestEspLeads(EspListSyncCommon):

    def setUp(self):
        if "crm.lead" not in self.env:
            self.skipTest("CRM (crm) is not installed in this database")
        super().setUp()

    def _leads(self, rows, tag=None):
        return self.env["crm.lead"].create([{
            "name": f"{name}: trade show visit", "type": "lead", "contact_name": name, "email_from": email,
            "tag_ids": [(4, tag.id)] if tag else [],
        } for name, email in rows])

    def test_mailing_to_leads_goes_through_the_esp_with_traces_on_the_leads(self):
        self.sandbox.configure(engagement={"open": 1.0, "click": 0.5})
        tag = self.env["crm.tag"].create({"name": "ESP trade show"})
        good = self._leads([("Ada", "ada@example.com"), ("Bob", "Bob@Example.com"), ("Cy", "cy@example.com")], tag)
        # A lead who is a customer already: one email, mailed once, as the lead Odoo would mail.
        self.env["res.partner"].create({"name": "Customer Cy", "email": "cy@example.com"})
        first, _second = self._leads([("First Dup", "dup@example.com"), ("Second Dup", "DUP@example.com")], tag)
        self._leads([("Blacky", "black@example.com"), ("Broken", "not-an-email")], tag)
        self._leads([("Untagged", "untagged@example.com")])
        self.env["mail.blacklist"]._add("black@example.com")
        expected = good | first

        mailing = self.env["mailing.mailing"].create({
            "subject": "Thank you for visiting",
            "body_arch": BODY,
            "body_html": BODY,
            "mailing_model_id": self.env["ir.model"]._get_id("crm.lead"),
            "mailing_domain": repr([("tag_ids", "in", tag.ids)]),
            "email_from": "Shop <shop@example.com>",
            "esp_account_id": self.sandbox_account.id,
        })
        self.assertFalse(mailing.esp_recipients_warning)
        mailing.action_launch()
        for _run in range(4):
            CampaignRunner(self.env).run()
            if mailing.esp_campaign_state not in ("queued", "posting"):
                break
        self.sandbox.advance_clock(60)
        CampaignRunner(self.env).run()
        self.assertEqual((mailing.esp_campaign_state, mailing.state), ("sent", "done"), mailing.esp_last_error)

        # A list of its own on leads, its book holding exactly the emails Odoo would mail.
        own = mailing.esp_audience_list_id
        self.assertEqual((own.esp_source_kind, own.esp_source_model_name), ("on_demand", "crm.lead"))
        self.assertEqual(set(self._book_state(own)), set(expected.mapped("email_normalized")))
        self.assertEqual(set(own.contact_ids.mapped("esp_source_res_id")), set(expected.ids))

        # The ESP's statistics land on traces of the leads (model crm.lead, res_id), as Odoo's own send has them.
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual(set(traces.mapped("model")), {"crm.lead"})
        self.assertEqual(set(traces.mapped("res_id")), set(expected.ids))
        self.assertEqual(mailing.sent, len(expected))
        self.assertEqual(mailing.sent, mailing.esp_stat_sent)
        self.assertEqual(mailing.opened, mailing.esp_stat_unique_opens)
        self.assertTrue(mailing.opened)
        action = mailing.action_view_opened()
        self.assertEqual(action["res_model"], "crm.lead")
        opened = traces.filtered(lambda trace: trace.trace_status in ("open", "reply"))
        self.assertEqual(set(self.env["crm.lead"].search(action["domain"]).ids), set(opened.mapped("res_id")))
