"""Issue 25, the account's part: contact fields in the Field Mapping, the region in the provider's words, the
address book's count after a sync, and the connector's crons without developer mode."""

from urllib.parse import urlsplit

import requests

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_field_mapping")
class TestContactFieldMapping(EspListSyncCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        contact_model = cls.env["ir.model"]._get_id("mailing.contact")
        cls.env["ir.model.fields"].create([
            {"model_id": contact_model, "name": "x_segment", "field_description": "Segment", "ttype": "char",
             "state": "manual"},
            {"model_id": contact_model, "name": "x_loyalty", "field_description": "Loyalty", "ttype": "integer",
             "state": "manual"},
        ])
        cls.vip = cls.env["res.partner.category"].create({"name": "VIP"})
        cls.press = cls.env["res.partner.category"].create({"name": "Press"})
        cls.madam = cls.env["res.partner.title"].create({"name": "Madam"})

    def _data_field(self, name, kind="String"):
        store = self.sandbox.app.store
        with store.lock:
            store.create_data_field(name, kind, "Private", None)
        field_id, _name = self.env["esp.data.field"].with_context(
            default_account_id=self.sandbox_account.id).name_create(name)
        return self.env["esp.data.field"].browse(field_id)

    def _map(self, data_field, path, source="contact", **values):
        return self.env["esp.field.mapping"].create({
            "account_id": self.sandbox_account.id, "data_field_id": data_field.id, "source": source,
            "source_path": path, **values})

    def test_related_and_custom_contact_fields_go_out(self):
        tags = self._map(self._data_field("TAGS"), "tag_ids")
        self._map(self._data_field("TITLE"), "title_id")
        self._map(self._data_field("COUNTRYCODE"), "country_id.code")
        self._map(self._data_field("SEGMENT"), "x_segment")
        self._map(self._data_field("LOYALTY", "Numeric"), "x_loyalty")
        self.assertEqual(tags.source_path_model, "mailing.contact")
        mailing_list = self._create_connected_list([
            {"name": "Ada Lovelace", "email": "ada@example.com", "title_id": self.madam.id,
             "country_id": self.env.ref("base.be").id, "tag_ids": [(6, 0, (self.vip | self.press).ids)],
             "x_segment": "gold", "x_loyalty": 42},
            {"name": "Bob", "email": "bob@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        data = self._sandbox_contact_data("ada@example.com")
        self.assertEqual(
            (data["TAGS"], data["TITLE"], data["COUNTRYCODE"], data["SEGMENT"], data["LOYALTY"]),
            ("Press, VIP", "Madam", "BE", "gold", 42))
        self.assertFalse(self._sandbox_contact_data("bob@example.com").get("SEGMENT"))

        # A change of a mapped field of the contact goes out at the next sync.
        ada = mailing_list.contact_ids.filtered(lambda contact: contact.email == "ada@example.com")
        ada.write({"tag_ids": [(3, self.press.id)], "x_segment": "silver"})
        self._bump_write_date(ada)
        self._sync_until_idle(mailing_list)
        data = self._sandbox_contact_data("ada@example.com")
        self.assertEqual((data["TAGS"], data["SEGMENT"]), ("VIP", "silver"))

    def test_two_way_contact_field_comes_back_from_the_esp(self):
        self._map(self._data_field("SEGMENT"), "x_segment", two_way=True)
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com", "x_segment": "gold"}])
        self._sync_until_idle(mailing_list)
        self.sandbox.advance_clock(600)
        requests.post(
            f"{self.sandbox.url}/v2/address-books/{mailing_list.esp_address_book_id.remote_id}/contacts",
            auth=(self.sandbox.api_user, self.sandbox.api_password), timeout=10,
            json={"email": "ada@example.com", "dataFields": [{"key": "SEGMENT", "value": "platinum"}]})
        log = self._sync(mailing_list)
        self.assertEqual(log.updated, 1)
        self.assertEqual(mailing_list.contact_ids.x_segment, "platinum")

    def test_type_of_the_field_must_fit_the_data_field(self):
        date_field = self._data_field("LASTVISIT", "Date")
        number_field = self._data_field("SCORE", "Numeric")
        yes_no_field = self._data_field("MEMBER", "Boolean")
        for data_field, path in ((date_field, "x_segment"), (number_field, "tag_ids"),
                                 (yes_no_field, "x_loyalty"), (number_field, "country_id")):
            with self.assertRaisesRegex(ValidationError, f"The ESP data field {data_field.name} holds a"), \
                    self.env.cr.savepoint():
                self._map(data_field, path)
        with self.assertRaisesRegex(ValidationError, "holds a Date, but Company gives a Text"), self.env.cr.savepoint():
            self._map(date_field, False, source="company_name")
        with self.assertRaisesRegex(ValidationError, "“x_nothing” is not a stored field of the mailing contact"), self.env.cr.savepoint():
            self._map(self._data_field("NOTHING"), "x_nothing")
        # Fields of the right type, and any field in a text data field, are taken.
        self._map(date_field, "create_date")
        self._map(number_field, "x_loyalty")
        self._map(self._data_field("LOYALTYTEXT"), "x_loyalty")
        # Two-way only for a field of the contact people may write.
        self._map(self._data_field("SEGMENT"), "x_segment", two_way=True)
        with self.assertRaisesRegex(ValidationError, "cannot be updated from the ESP"), self.env.cr.savepoint():
            self._map(self._data_field("TITLE"), "title_id.name", two_way=True)


@tagged("campaign_esp_connector", "esp_account")
class TestAccountWords(EspListSyncCommon):
    def test_region_in_the_providers_words(self):
        account = self.sandbox_account
        self.assertTrue(account.support_regions)
        self.assertEqual(account.region_label, f"No region of the ESP's: endpoint {urlsplit(self.sandbox.url).netloc}")
        account.region = "r2"
        self.assertEqual(account.region_label, "North America (r2)")
        campaign_master = self._create_esp_account(
            name="Campaign Master", provider="campaign_master", api_client_id="1000",
            api_endpoint=f"{self.sandbox.url}/campaignmaster", api_password="x")
        self.assertFalse(campaign_master.support_regions)
        self.assertFalse(campaign_master.region_label)

    def test_book_count_read_when_a_sync_ends(self):
        mailing_list = self._create_connected_list(
            [{"name": f"Reader {index}", "email": f"reader{index}@example.com"} for index in range(3)])
        book = mailing_list.esp_address_book_id
        self.assertEqual(book.contact_count, 0)
        self.sandbox.clear_log()
        logs = self._sync_until_idle(mailing_list)
        self.assertEqual(book.contact_count, 3)
        reads = [call for call in self._sandbox_api_calls()
                 if call["method"] == "GET" and call["path"] == f"/v2/address-books/{book.remote_id}"]
        self.assertEqual(len(reads), len(logs.filtered(lambda log: log.exported or log.removed)))
        self.assertLessEqual(len(reads), len(logs))
        # A run that changed nothing at the ESP spends no call on it.
        self.sandbox.clear_log()
        self._sync(mailing_list)
        self.assertFalse([call for call in self._sandbox_api_calls()
                          if call["path"] == f"/v2/address-books/{book.remote_id}"])

    def test_scheduled_actions_button_opens_the_connectors_crons(self):
        action = self.sandbox_account.action_view_scheduled_actions()
        crons = self.env["ir.cron"].with_context(active_test=False).search(action["domain"])
        self.assertIn(self.env.ref("campaign_esp_connector.ir_cron_esp_sync_contacts"), crons)
        self.assertIn(self.env.ref("campaign_esp_connector.ir_cron_esp_sync_catalogue"), crons)
        modules = set(crons.get_external_id().values())
        self.assertTrue(all(xmlid.startswith("campaign_esp_connector") for xmlid in modules), modules)
        with self.assertRaises(AccessError):
            self.sandbox_account.with_user(self.user_esp_manager).action_view_scheduled_actions()
