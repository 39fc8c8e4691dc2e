from odoo.tests import tagged

from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_audience")
class TestEspAudienceOptOuts(EspListSyncCommon):
    """Opt-outs of a connected filter's records, which belong to no mailing list: the blacklist is theirs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.belgium = cls.env.ref("base.be")
        cls.tag = cls.env["res.partner.category"].create({"name": "ESP audience opt-outs"})
        cls.partner_model = cls.env["ir.model"]._get("res.partner")

    def _partners(self, rows):
        return self.env["res.partner"].create([{
            "name": name, "email": email, "country_id": self.belgium.id, "category_id": [(4, self.tag.id)],
        } for name, email in rows])

    def _connect_filter(self, name="Tagged customers"):
        mailing_list = self.env["mailing.list"].create({"name": name})
        book = self.sandbox_account._esp_create_address_book(name)
        mailing_list._esp_connect_source(self.partner_model, repr([("category_id", "in", [self.tag.id])]),
                                         "dynamic", book)
        return mailing_list

    def _notes(self, records):
        return self.env["mail.message"].search([
            ("model", "=", records._name), ("res_id", "in", records.ids), ("body", "ilike", "Blacklisted"),
        ]).mapped("body")

    def test_esp_opt_outs_blacklist_the_records_and_say_so(self):
        ada, bob, cy, ada_again = self._partners([
            ("Ada", "ada@example.com"), ("Bob", "bob@example.com"), ("Cy", "cy@example.com"),
            ("Ada at work", "ADA@example.com"),
        ])
        mailing_list = self._connect_filter()
        self._sync_until_idle(mailing_list)
        self.assertEqual(set(self._book_state(mailing_list)), {"ada@example.com", "bob@example.com", "cy@example.com"})

        self._esp_set_status(mailing_list, "ada@example.com")
        self._esp_set_status(mailing_list, "bob@example.com", "HardBounced", in_book=False)
        self._sync_until_idle(mailing_list)

        Blacklist = self.env["mail.blacklist"].with_context(active_test=False)
        entries = Blacklist.search([("email", "in", ["ada@example.com", "bob@example.com", "cy@example.com"])])
        self.assertEqual(set(entries.filtered("active").mapped("email")), {"ada@example.com", "bob@example.com"})
        account = self.sandbox_account.name
        for entry in entries:
            self.assertIn(account, " ".join(map(str, self._notes(entry))))
        # Both partners of the shared address are told, once each; Cy is not.
        for partner in (ada, ada_again, bob):
            notes = self._notes(partner)
            self.assertEqual(len(notes), 1, partner.name)
            self.assertIn("Blacklisted", str(notes[0]))
            self.assertIn(account, str(notes[0]))
        self.assertFalse(self._notes(cy))
        self.assertTrue(ada.is_blacklisted)

        # The opt-out is kept: the list's member stays opted out, and the ESP's contact is never re-subscribed,
        # even when a person takes the address off the blacklist in Odoo.
        Blacklist._remove("ada@example.com")
        self._touch(ada | ada_again)
        self.sandbox.clear_log()
        self._sync_until_idle(mailing_list)
        subscription = mailing_list.subscription_ids.filtered(
            lambda s: s.contact_id.email_normalized == "ada@example.com")
        self.assertTrue(subscription.opt_out)
        self.assertFalse([call for call in self._sandbox_api_calls() if "resubscribe" in call["path"]])
        self.assertNotEqual(self._book_state(mailing_list).get("ada@example.com", {}).get("book_status"), "Subscribed")

    def test_blacklisting_in_odoo_and_leaving_the_filter_reach_the_book(self):
        ada, bob, _cy = self._partners([("Ada", "ada@example.com"), ("Bob", "bob@example.com"),
                                        ("Cy", "cy@example.com")])
        mailing_list = self._connect_filter()
        self._sync_until_idle(mailing_list)
        self.env["mail.blacklist"]._add("ada@example.com")
        bob.category_id = [(3, self.tag.id)]
        self._touch(ada | bob)
        self.sandbox.clear_log()
        self._sync_until_idle(mailing_list)
        book = self._book_state(mailing_list)
        self.assertEqual(set(book), {"cy@example.com"})
        # The ids of the leavers were read in one call, not looked up one by one.
        paths = [call["path"] for call in self._sandbox_api_calls()]
        self.assertEqual(paths.count("/v2/contacts/retrieve-collection"), 1)
        self.assertFalse([path for path in paths if path.startswith("/v2/contacts/") and "@" in path])

    def _touch(self, partners):
        self.env.flush_all()
        self.env.cr.execute("UPDATE res_partner SET write_date = write_date + interval '1 second' WHERE id = ANY(%s)",
                            [partners.ids])
        partners.invalidate_recordset(["write_date"])
