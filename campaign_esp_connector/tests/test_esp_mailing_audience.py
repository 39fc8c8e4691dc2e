"""A mailing whose recipients are a model and a domain (issue 23, item 2): sent through the ESP to the book of a
connected filter, or of a list of its own made at send time, with traces on the records themselves."""

import requests

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..sync.campaigns import CampaignRunner
from .common import EspAudienceCommon

BODY = "<div><p>Hello from Odoo</p><p><a href='https://example.com/offer'>Offer</a></p></div>"


@tagged("campaign_esp_connector", "esp_mailing_audience")
class TestEspMailingAudience(EspAudienceCommon):

    TAG_NAME = "ESP mailing customers"

    def _filter(self):
        return [("category_id", "in", [self.tag.id]), ("country_id", "=", self.belgium.id)]

    def _mailing(self, domain=None, **values):
        mailing = self.env["mailing.mailing"].create({
            "subject": "Belgian offer",
            "body_arch": BODY,
            "body_html": BODY,
            "mailing_model_id": self.partner_model.id,
            "mailing_domain": repr(self._filter() if domain is None else domain),
            "email_from": "Shop <shop@example.com>",
            "esp_account_id": self.sandbox_account.id,
            **values,
        })
        return mailing

    def _send(self, mailing, runs=4):
        mailing.action_launch()
        for _run in range(runs):
            CampaignRunner(self.env).run()
            if mailing.esp_campaign_state not in ("queued", "posting"):
                break
        self.sandbox.advance_clock(60)
        CampaignRunner(self.env).run()

    def _sends(self):
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        return [requests.get(f"{self.sandbox.url}/v2/campaigns/send/{send['id']}", auth=auth, timeout=10).json()
                for send in self.sandbox.state(contacts_limit=10)["sends"]]

    def _odoo_would_mail(self, mailing):
        """The partners Odoo's own send would mail: its recipients domain, without blacklisted, invalid or
        duplicate emails (the first record of each email, as the composer's seen list keeps it)."""
        partners = self.env["res.partner"].search(mailing._get_recipients_domain(), order="id")
        blacklist = set(self.env["mail.blacklist"].search([]).mapped("email"))
        kept, seen = self.env["res.partner"], set()
        for partner in partners:
            email = partner.email_normalized
            if email and email not in blacklist and email not in seen:
                seen.add(email)
                kept |= partner
        return kept

    def test_a_list_of_its_own_with_exactly_whom_odoo_would_mail(self):
        self.sandbox.configure(engagement={"open": 1.0, "click": 0.5})
        good = self._partners([("Ada", "ada@example.com"), ("Bob", "Bob@Example.com"), ("Cy", "cy@example.com")])
        first, _second = self._partners([("First Dup", "dup@example.com"), ("Second Dup", "DUP@example.com")])
        self._partners([("Blacky", "black@example.com"), ("Broken", "not-an-email")])
        self._partners([("Francois", "francois@example.com")], country=self.france)
        self._partners([("Archived", "archived@example.com")]).action_archive()
        self.env["mail.blacklist"]._add("black@example.com")

        mailing = self._mailing()
        self.assertFalse(mailing.esp_audience_filter_id)
        self.assertFalse(mailing.esp_recipients_warning)
        expected = good | first
        self.assertEqual(self._odoo_would_mail(mailing), expected)
        lists_before = self.env["mailing.list"].search_count([])
        self._send(mailing)
        self.assertEqual(mailing.esp_campaign_state, "sent", mailing.esp_last_error)
        self.assertEqual(mailing.state, "done")

        # A list of its own, named after the mailing, connected to a new book holding exactly those emails.
        own = mailing.esp_audience_list_id
        self.assertTrue(mailing.esp_audience_own)
        self.assertEqual(self.env["mailing.list"].search_count([]), lists_before + 1)
        self.assertIn("Belgian offer", own.name)
        self.assertIn("ESP recipients", own.name)
        self.assertEqual(own.esp_address_book_id.name, own.name)
        self.assertEqual((own.esp_source_kind, own.esp_source_model_name), ("on_demand", "res.partner"))
        self.assertEqual(set(self._book_state(own)), set(expected.mapped("email_normalized")))
        self.assertEqual(set(own.contact_ids.mapped("esp_source_res_id")), set(expected.ids))
        # One send, to that book only.
        sends = self._sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0]["addressBookIds"], [int(own.esp_address_book_id.remote_id)])

        # The activity lands on traces of the partners themselves.
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual(set(traces.mapped("model")), {"res.partner"})
        self.assertEqual(set(traces.mapped("res_id")), set(expected.ids))
        self.assertEqual(mailing.sent, len(expected))
        # Odoo's Opened lists the partners who opened.
        opened = traces.filtered(lambda trace: trace.trace_status == "open")
        self.assertTrue(opened)
        action = mailing.action_view_opened()
        self.assertEqual(action["res_model"], "res.partner")
        self.assertEqual(set(self.env["res.partner"].search(action["domain"]).ids), set(opened.mapped("res_id")))
        # The activity read again changes no record a trace names.
        mailing.action_esp_import_activity()
        self.assertEqual(set(traces.mapped("res_id")), set(expected.ids))

    def test_a_connected_filter_is_used_and_no_list_is_made(self):
        self._partners([("Ada", "ada@example.com"), ("Bob", "bob@example.com")])
        connected = self.env["mailing.list"].create({"name": "Belgian customers"})
        book = self.sandbox_account._esp_create_address_book("Belgian customers")
        connected._esp_connect_source(self.partner_model, repr(self._filter()), "dynamic", book)
        self._sync_until_idle(connected)

        # Odoo's default domain adds "not blacklisted": the same audience.
        domain = ["&", ("is_blacklisted", "=", False), *self._filter()]
        mailing = self._mailing(domain=domain)
        self.assertEqual(mailing.esp_audience_filter_id, connected)
        lists_before = self.env["mailing.list"].search_count([])
        self._send(mailing)
        self.assertEqual(mailing.esp_campaign_state, "sent", mailing.esp_last_error)
        self.assertEqual(self.env["mailing.list"].search_count([]), lists_before)
        self.assertEqual((mailing.esp_audience_list_id, mailing.esp_audience_own), (connected, False))
        sends = self._sends()
        self.assertEqual(len(sends), 1)
        self.assertEqual(sends[0]["addressBookIds"], [int(book.remote_id)])

    def test_refusals_say_what_to_do(self):
        self._partners([("Ada", "ada@example.com")])
        mailing = self._mailing(esp_account_id=False)
        with self.assertRaisesRegex(UserError, "Choose the ESP account"):
            mailing.action_esp_sync_campaign()
        nobody = self._mailing(domain=[("email", "=", "nobody@nowhere.example")])
        with self.assertRaisesRegex(UserError, "match nobody Odoo would mail"):
            nobody.action_esp_sync_campaign()
        with self.assertRaisesRegex(UserError, "match nobody Odoo would mail"):
            nobody.action_launch()
        self.assertEqual(nobody.state, "draft")
        broken = self._mailing(domain=[("email", "=", "x")])
        broken.mailing_domain = "[('email', '=',"
        with self.assertRaisesRegex(UserError, "not a valid domain"):
            broken.action_esp_sync_campaign()
        self.assertFalse(self.sandbox.state(contacts_limit=10)["sends"])

    # -- what Odoo shows of partners mailed through the ESP ------------------------------------------------------

    def _trace_filter(self, name):
        """The domain of a filter of Odoo's own search view of mailing traces ("Opened", "Clicked", ...)."""
        from lxml import etree

        from odoo.tools.safe_eval import safe_eval

        arch = etree.fromstring(self.env.ref("mass_mailing.mailing_trace_view_search").arch)
        return safe_eval(arch.xpath(f"//filter[@name='{name}']")[0].get("domain"))

    def _partners_mailed(self):
        self.sandbox.configure(engagement={"open": 0.6, "click": 0.4, "hard_bounce": 0.25, "soft_bounce": 0.1})
        partners = self._partners([(f"Reader {index}", f"reader{index}@example.com") for index in range(24)])
        mailing = self._mailing()
        self._send(mailing)
        self.assertEqual(mailing.esp_campaign_state, "sent", mailing.esp_last_error)
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual((set(traces.mapped("model")), set(traces.mapped("res_id"))), ({"res.partner"}, set(partners.ids)))
        return mailing, partners, traces

    def test_partners_in_odoo_stat_buttons_and_trace_filters(self):
        mailing, _partners, traces = self._partners_mailed()
        opened = traces.filtered(lambda trace: trace.trace_status in ("open", "reply"))
        clicked = traces.filtered("links_click_datetime")
        bounced = traces.filtered(lambda trace: trace.trace_status == "bounce")
        delivered = traces.filtered(lambda trace: trace.trace_status in ("sent", "open", "reply"))
        self.assertTrue(opened and clicked and bounced and delivered)
        # Odoo's stat buttons of the mailing list the partners themselves.
        for button, expected in (("action_view_opened", opened), ("action_view_clicked", clicked),
                                 ("action_view_bounced", bounced), ("action_view_delivered", delivered)):
            action = getattr(mailing, button)()
            self.assertEqual(action["res_model"], "res.partner", button)
            self.assertEqual(set(self.env["res.partner"].search(action["domain"]).ids),
                             set(expected.mapped("res_id")), button)
        # Sent lists the traces; each opens its partner ("Open Recipient").
        action = mailing.action_view_traces_sent()
        self.assertEqual(action["context"]["search_default_mass_mailing_id"], mailing.id)
        recipient = traces[0].action_view_contact()
        self.assertEqual((recipient["res_model"], recipient["res_id"]), ("res.partner", traces[0].res_id))
        # The trace list's own filters find "partners who opened (clicked, bounced) mailing X".
        Trace = self.env["mailing.trace"]
        # (Odoo's "Delivered" filter counts every trace sent that did not fail, bounced ones included.)
        for name, expected in (("filter_opened", opened), ("filter_clicked", clicked),
                               ("filter_bounced", bounced), ("filter_delivered", traces.filtered("sent_datetime")),
                               ("filter_sent", traces.filtered("sent_datetime"))):
            found = Trace.search([*self._trace_filter(name), ("mass_mailing_id", "=", mailing.id)])
            self.assertEqual(found, expected, name)
            self.assertEqual(set(found.mapped("model")), {"res.partner"}, name)

    def test_hard_bounces_count_once_on_the_partners(self):
        mailing, partners, _traces = self._partners_mailed()
        hard = mailing.esp_activity_ids.filtered("hard_bounced")
        self.assertTrue(hard)
        hard_partners = self.env["res.partner"].browse(hard.trace_id.mapped("res_id"))

        def check():
            self.env.invalidate_all()
            self.assertEqual({partner.email: partner.message_bounce for partner in partners},
                             {partner.email: 1 if partner in hard_partners else 0 for partner in partners})

        check()
        # Read again: each bounce still counts once.
        mailing.action_esp_refresh_statistics()
        mailing.action_esp_import_activity()
        check()
