from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import EspAudienceCommon, EspListSyncCommon


@tagged("campaign_esp_connector", "esp_audience")
class TestEspAudienceOptOuts(EspAudienceCommon):
    """Opt-outs of a connected filter's records, which belong to no mailing list: the blacklist is theirs."""

    TAG_NAME = "ESP audience opt-outs"

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


@tagged("campaign_esp_connector", "esp_audience")
class TestEspAudienceFields(EspListSyncCommon):
    """Mappings of fields of a connected filter's records, related fields included, read in SQL by the refresh."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.belgium = cls.env.ref("base.be")
        cls.france = cls.env.ref("base.fr")
        cls.tag = cls.env["res.partner.category"].create({"name": "Mapped audience"})
        cls.vip = cls.env["res.partner.category"].create({"name": "A VIP"})
        cls.partner_model = cls.env["ir.model"]._get("res.partner")
        cls.company = cls.env["res.partner"].create({"name": "Analytical Engines Ltd", "is_company": True})

    def setUp(self):
        super().setUp()
        account = self.sandbox_account
        DataField = self.env["esp.data.field"].with_context(default_account_id=account.id)
        self.mappings = self.env["esp.field.mapping"]
        for name, path in (("COUNTRY", "country_id.name"), ("COMPANY", "parent_id.name"), ("TAGS", "category_id"),
                           ("PHONE", "phone"), ("CITY", "city")):
            field_id, _name = DataField.name_create(name)
            self.mappings |= self.env["esp.field.mapping"].create({
                "account_id": account.id, "data_field_id": field_id, "source": "record",
                "source_model_id": self.partner_model.id, "source_path": path})

    def _partner(self, name, email, **values):
        return self.env["res.partner"].create({"name": name, "email": email, "country_id": self.belgium.id,
                                               "category_id": [(4, self.tag.id)], **values})

    def _connect_filter(self, name="Mapped customers"):
        mailing_list = self.env["mailing.list"].create({"name": name})
        book = self.sandbox_account._esp_create_address_book(name)
        mailing_list._esp_connect_source(self.partner_model, repr([("category_id", "in", [self.tag.id])]),
                                         "dynamic", book)
        return mailing_list

    def test_related_fields_go_out_and_follow_the_record(self):
        ada = self._partner("Ada", "ada@example.com", parent_id=self.company.id, phone="0470 12 34 56",
                            city="Brussels", category_id=[(4, self.tag.id), (4, self.vip.id)])
        # Several records, one email: the lowest id's values win, mapped fields included.
        self._partner("Ada again", "ADA@example.com", city="Ghent", country_id=self.france.id)
        self._partner("Bad phone", "bad@example.com", phone="12")
        mailing_list = self._connect_filter()
        self._sync_until_idle(mailing_list)
        data = self._sandbox_contact_data("ada@example.com")
        self.assertEqual((data["COUNTRY"], data["COMPANY"], data["TAGS"], data["PHONE"], data["CITY"]),
                         ("Belgium", "Analytical Engines Ltd", "A VIP, Mapped audience", "+32470123456", "Brussels"))
        self.assertFalse(self._sandbox_contact_data("bad@example.com").get("PHONE"))
        logs = self.env["esp.sync.log"].search([("list_id", "=", mailing_list.id)])
        self.assertIn("invalid phone number 12", " ".join(logs.line_ids.mapped("reason")))

        # A change of a mapped field of the record goes out at the next dynamic refresh.
        ada.write({"country_id": self.france.id, "city": "Paris"})
        self._touch(ada)
        self._sync_until_idle(mailing_list)
        data = self._sandbox_contact_data("ada@example.com")
        self.assertEqual((data["COUNTRY"], data["CITY"]), ("France", "Paris"))

    def test_lists_of_other_records_do_not_carry_the_columns(self):
        mailing_list = self._create_connected_list([{"name": "Eve", "email": "eve@example.com"}])
        self._sync_until_idle(mailing_list)
        self.assertFalse(self.mappings._esp_for_list(mailing_list))
        self.assertFalse(self._sandbox_contact_data("eve@example.com").get("COUNTRY"))

    def test_two_way_only_for_fields_people_may_write(self):
        country, company, _tags, phone, city = self.mappings
        self.assertIn("One-way", country.source_note)
        self.assertIn("Two-way allowed", city.source_note)
        city.two_way = True
        for mapping in (country, company, phone):
            with self.assertRaisesRegex(ValidationError, "cannot be updated from the ESP"):
                mapping.two_way = True
        with self.assertRaisesRegex(ValidationError, "is not a stored field"):
            country.source_path = "country_id.nowhere"

    def test_create_records_only_when_two_way_covers_required_fields(self):
        self._partner("Zed", "zed@example.com")
        mailing_list = self._connect_filter()
        # res.partner requires nothing beyond its email and defaults: allowed.
        self.assertFalse(mailing_list.esp_source_create_reason)
        mailing_list.esp_source_create_records = True
        # Mailing lists require a name no two-way mapping gives: the option is refused, with the reason.
        other = self.env["mailing.list"].create({
            "name": "Lists of lists", "esp_source_kind": "on_demand",
            "esp_source_model_id": self.env["ir.model"]._get("mailing.list").id, "esp_source_domain": "[]"})
        self.assertIn("missing", other.esp_source_create_reason)
        with self.assertRaisesRegex(ValidationError, "missing"):
            other.esp_source_create_records = True

    def _touch(self, partners):
        self.env.flush_all()
        self.env.cr.execute("UPDATE res_partner SET write_date = write_date + interval '1 second' WHERE id = ANY(%s)",
                            [partners.ids])
        partners.invalidate_recordset(["write_date"])
