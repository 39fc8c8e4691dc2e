import requests

from odoo.tests import tagged

from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_audience")
class TestEspAudienceCreateRecords(EspListSyncCommon):
    """Create New Records on a connected filter: contacts added at the ESP become records of the filter's model,
    two-way mapped fields changed at the ESP update the records."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.belgium = cls.env.ref("base.be")
        cls.tag = cls.env["res.partner.category"].create({"name": "ESP created records"})
        cls.partner_model = cls.env["ir.model"]._get("res.partner")

    def setUp(self):
        super().setUp()
        DataField = self.env["esp.data.field"].with_context(default_account_id=self.sandbox_account.id)
        Mapping = self.env["esp.field.mapping"]
        for name, path, two_way in (("CITY", "city", True), ("STREET", "street", True),
                                    ("COUNTRY", "country_id.name", False)):
            field_id, _name = DataField.name_create(name)
            Mapping.create({"account_id": self.sandbox_account.id, "data_field_id": field_id, "source": "record",
                            "source_model_id": self.partner_model.id, "source_path": path, "two_way": two_way})
        self.ada = self.env["res.partner"].create({
            "name": "Ada", "email": "ada@example.com", "city": "Ghent", "country_id": self.belgium.id,
            "category_id": [(4, self.tag.id)]})
        self.bob = self.env["res.partner"].create({
            "name": "Bob", "email": "bob@example.com", "city": "Ghent", "category_id": [(4, self.tag.id)]})

    def _connect_filter(self, kind="dynamic", create_records=True):
        mailing_list = self.env["mailing.list"].create({"name": "Tagged or in Brussels"})
        book = self.sandbox_account._esp_create_address_book("Tagged or in Brussels")
        domain = ["|", ("category_id", "in", [self.tag.id]), ("city", "=", "Brussels")]
        mailing_list._esp_connect_source(self.partner_model, repr(domain), kind, book)
        mailing_list.esp_source_create_records = create_records
        self._sync_until_idle(mailing_list)
        self.sandbox.advance_clock(600)
        return mailing_list

    def _esp_add(self, mailing_list, email, **data):
        """A person adds (or edits) a contact of the book in the ESP."""
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        response = requests.post(
            f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", timeout=10,
            auth=(self.sandbox.api_user, self.sandbox.api_password),
            json={"email": email, "dataFields": [{"key": key, "value": value} for key, value in data.items()]})
        response.raise_for_status()

    def _partners(self, email):
        return self.env["res.partner"].with_context(active_test=False).search([("email", "=ilike", email)])

    def _member_res_ids(self, mailing_list):
        mailing_list.invalidate_recordset(["contact_ids"])
        return set(mailing_list.contact_ids.mapped("esp_source_res_id"))

    def test_contacts_added_at_the_esp_create_records(self):
        mailing_list = self._connect_filter()
        self._esp_add(mailing_list, "new.brussels@example.com", CITY="Brussels", STREET="Rue Neuve 1")
        self._esp_add(mailing_list, "new.paris@example.com", CITY="Paris")
        # Bob already exists in Odoo, outside the book: nobody is created for him.
        self._esp_add(mailing_list, "Carol@Example.com", CITY="Paris")
        carol = self.env["res.partner"].create({"name": "Carol", "email": "carol@example.com"})
        self.sandbox.clear_log()
        log = self._sync(mailing_list)

        self.assertEqual(log.created, 2)
        brussels, paris = self._partners("new.brussels@example.com"), self._partners("new.paris@example.com")
        self.assertEqual(len(brussels), 1)
        self.assertEqual((brussels.name, brussels.city, brussels.street),
                         ("new.brussels@example.com", "Brussels", "Rue Neuve 1"))
        self.assertEqual((len(paris), paris.city), (1, "Paris"))
        self.assertEqual(self._partners("carol@example.com"), carol)
        # The record the filter matches joins the list; the other one stays out, and the run says so.
        self.assertEqual(self._member_res_ids(mailing_list), {self.ada.id, self.bob.id, brussels.id})
        self.assertIn("do not match the filter", log.steps)
        self.assertIn("new.paris@example.com", log.steps)
        # What came from the ESP is not sent back to it.
        self.assertFalse([call for call in self._sandbox_api_calls() if call["path"].endswith("/import")])
        self.assertEqual(self._members(mailing_list)["new.brussels@example.com"].state, "synced")

        # Edited again at the ESP, the contact whose record is outside the filter creates nothing more.
        self.sandbox.advance_clock(600)
        self._esp_add(mailing_list, "new.paris@example.com", CITY="Lyon")
        log = self._sync(mailing_list)
        self.assertEqual(log.created, 0)
        self.assertEqual(len(self._partners("new.paris@example.com")), 1)

    def test_two_way_fields_changed_at_the_esp_update_the_records(self):
        mailing_list = self._connect_filter()
        subscriptions = sorted(mailing_list.subscription_ids.mapped(lambda s: (s.contact_id.email, s.opt_out)))
        self._esp_add(mailing_list, "ada@example.com", CITY="Antwerp", COUNTRY="France")
        self._esp_add(mailing_list, "bob@example.com", CITY="Bruges")
        self.sandbox.clear_log()
        log = self._sync(mailing_list)

        self.assertEqual(log.updated, 2)
        self.assertEqual((self.ada.city, self.ada.country_id), ("Antwerp", self.belgium))
        self.assertEqual(self.bob.city, "Bruges")
        reasons = " ".join(log.line_ids.mapped("reason"))
        self.assertIn("updated from the ESP: City = Antwerp", reasons)
        self.assertIn("updated from two-way fields changed at the ESP: 2", log.steps)
        # Subscriptions are untouched, nobody is re-subscribed, and nothing is sent back.
        calls = self._sandbox_api_calls()
        self.assertFalse([call for call in calls if "resubscribe" in call["path"]])
        self.assertFalse([call for call in calls if call["path"].endswith("/import")])
        mailing_list.invalidate_recordset(["subscription_ids"])
        self.assertEqual(sorted(mailing_list.subscription_ids.mapped(lambda s: (s.contact_id.email, s.opt_out))),
                         subscriptions)

    def test_without_the_option_nothing_comes_back(self):
        mailing_list = self._connect_filter(create_records=False)
        self._esp_add(mailing_list, "new.brussels@example.com", CITY="Brussels")
        self._esp_add(mailing_list, "ada@example.com", CITY="Antwerp")
        log = self._sync(mailing_list)
        self.assertEqual((log.created, log.updated), (0, 0))
        self.assertFalse(self._partners("new.brussels@example.com"))
        self.assertEqual(self.ada.city, "Ghent")

    def test_on_demand_records_join_at_the_next_refresh(self):
        mailing_list = self._connect_filter(kind="on_demand")
        self._esp_add(mailing_list, "new.brussels@example.com", CITY="Brussels")
        log = self._sync(mailing_list)
        self.assertEqual(log.created, 1)
        self.assertIn("next Refresh from Filter", log.steps)
        brussels = self._partners("new.brussels@example.com")
        self.assertNotIn(brussels.id, self._member_res_ids(mailing_list))
        mailing_list.action_esp_refresh_source()
        self.assertIn(brussels.id, self._member_res_ids(mailing_list))
