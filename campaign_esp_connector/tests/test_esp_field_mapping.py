from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from ..models.esp_field_mapping import format_e164, split_name
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_field_mapping")
class TestFieldMapping(EspListSyncCommon):
    def test_default_mappings(self):
        mapped = {m.data_field_name: m.source for m in self.sandbox_account.field_mapping_ids}
        self.assertEqual(mapped, {"FIRSTNAME": "first_name", "LASTNAME": "last_name", "FULLNAME": "name"})

    def test_new_data_field_is_created_at_the_esp_with_name_rules(self):
        account = self.sandbox_account
        field = self.env["esp.data.field"].create({"account_id": account.id, "name": "company", "field_type": "String"})
        self.assertEqual(field.name, "COMPANY")
        self.assertIn("COMPANY", account._esp_call(lambda client: [f.name for f in client.iter_data_fields()]))
        with self.assertRaisesRegex(UserError, "not a valid dotdigital data field name"):
            self.env["esp.data.field"].create({"account_id": account.id, "name": "has space"})
        with self.assertRaisesRegex(UserError, "not a valid dotdigital data field name"):
            self.env["esp.data.field"].create({"account_id": account.id, "name": "X" * 21})

    def _data_field_posts(self):
        return [call for call in self._sandbox_api_calls() if call["method"] == "POST" and call["path"] == "/v2/data-fields"]

    def test_typing_a_new_name_in_the_mapping_creates_it_at_the_esp(self):
        """The Field Mapping dropdown's "Create" calls name_create with the account in the context."""
        account = self.sandbox_account
        DataField = self.env["esp.data.field"].with_context(default_account_id=account.id)
        field_id, display_name = DataField.name_create(" company ")
        self.assertEqual(display_name, "COMPANY")
        self.assertRecordValues(self.env["esp.data.field"].browse(field_id),
                                [{"account_id": account.id, "name": "COMPANY", "field_type": "String", "active": True}])
        self.assertIn("COMPANY", account._esp_call(lambda client: [f.name for f in client.iter_data_fields()]))
        self.assertEqual(len(self._data_field_posts()), 1)
        mapping = self.env["esp.field.mapping"].create({"account_id": account.id, "data_field_id": field_id,
                                                        "source": "company_name"})
        self.assertEqual(mapping.data_field_name, "COMPANY")

        # a name Odoo knows, in any case, is taken as it is: nothing is created
        self.sandbox.clear_log()
        firstname = account.data_field_ids.filtered(lambda field: field.name == "FIRSTNAME")
        self.assertEqual(DataField.name_create("firstName"), (firstname.id, "FIRSTNAME"))
        self.assertFalse(self._data_field_posts())

    def test_new_name_created_at_the_esp_meanwhile_is_taken(self):
        account = self.sandbox_account
        store = self.sandbox.app.store
        with store.lock:  # made in dotdigital after the last synchronization
            store.create_data_field("LOYALTY", "Numeric", "Private", None)
        field_id, _name = self.env["esp.data.field"].with_context(default_account_id=account.id).name_create("loyalty")
        self.assertRecordValues(self.env["esp.data.field"].browse(field_id),
                                [{"name": "LOYALTY", "field_type": "Numeric"}])

    def test_field_gone_at_the_esp_is_created_again_on_the_same_record(self):
        account = self.sandbox_account
        gender = account.data_field_ids.filtered(lambda field: field.name == "GENDER")
        account._esp_call(lambda client: client.delete_data_field("GENDER"))
        account.action_synchronize()
        self.assertFalse(gender.active)
        field_id, _name = self.env["esp.data.field"].with_context(default_account_id=account.id).name_create("gender")
        self.assertEqual(field_id, gender.id)
        self.assertTrue(gender.active)
        self.assertIn("GENDER", account._esp_call(lambda client: [f.name for f in client.iter_data_fields()]))

    def test_typed_name_refused_before_any_call(self):
        account = self.sandbox_account
        DataField = self.env["esp.data.field"].with_context(default_account_id=account.id)
        self.sandbox.clear_log()
        for bad in ("has space", "X" * 21, "é", "  "):
            with self.assertRaisesRegex(UserError, "not a valid dotdigital data field name: use 1 to 20 letters"):
                DataField.name_create(bad)
        with self.assertRaisesRegex(UserError, "Save the ESP account first"):
            self.env["esp.data.field"].name_create("COMPANY")
        untested = self._create_esp_account(name="untested", api_endpoint=self.sandbox.url, api_password="x")
        with self.assertRaisesRegex(UserError, "Test the connection of the ESP account “untested”"):
            DataField.with_context(default_account_id=untested.id).name_create("COMPANY")
        self.assertFalse(self._sandbox_api_calls(), "no call for a name the ESP would refuse")

    def test_provider_without_data_field_creation_says_so(self):
        account = self._create_esp_account(
            name="Campaign Master", provider="campaign_master", api_client_id="1000",
            api_endpoint=f"{self.sandbox.url}/campaignmaster", api_password="x",
        )
        self.assertFalse(account.support_data_field_creation)
        self.sandbox.clear_log()
        with self.assertRaisesRegex(UserError, "Campaign Master cannot create data fields through its API: add "
                                               "“COMPANY” in Campaign Master itself"):
            self.env["esp.data.field"].with_context(default_account_id=account.id).name_create("company")
        self.assertFalse(self.sandbox.requests_log())

    def test_mapping_to_missing_data_field_refused(self):
        account = self.sandbox_account
        field = self.env["esp.data.field"].search([("account_id", "=", account.id), ("name", "=", "GENDER")])
        field.active = False  # gone at the ESP since the last synchronization
        with self.assertRaisesRegex(ValidationError, "no longer exists at the ESP"):
            self.env["esp.field.mapping"].create({"account_id": account.id, "data_field_id": field.id,
                                                  "source": "company_name"})

    def test_two_way_only_for_text_sources(self):
        account = self.sandbox_account
        field = self.env["esp.data.field"].search([("account_id", "=", account.id), ("name", "=", "POSTCODE")])
        with self.assertRaises(ValidationError):
            self.env["esp.field.mapping"].create({"account_id": account.id, "data_field_id": field.id,
                                                  "source": "mobile", "two_way": True})

    def test_helpers(self):
        self.assertEqual(split_name("Ada King Lovelace"), ("Ada", "King Lovelace"))
        self.assertEqual(split_name(""), ("", ""))
        self.assertEqual(format_e164("+44 7911 123456", None), "+447911123456")
        self.assertEqual(format_e164("0470 12 34 56", "be"), "+32470123456")
        self.assertIsNone(format_e164("12", "be"))
        self.assertIsNone(format_e164("not a number", "fr"))


@tagged("campaign_esp_connector", "esp_list_sync")
class TestResubscribe(EspListSyncCommon):
    def test_explicit_resubscribe_reports_challenge_and_refusal(self):
        mailing_list = self._create_connected_list([
            {"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "a@example.com")
        self._esp_set_status(mailing_list, "b@example.com", "HardBounced", in_book=False)
        self._sync(mailing_list)
        members = self._members(mailing_list)
        self.assertEqual({members["a@example.com"].state, members["b@example.com"].state}, {"opted_out"})
        result = (members["a@example.com"] | members["b@example.com"]).action_esp_resubscribe()
        message = result["params"]["message"]
        self.assertIn("The ESP emailed a@example.com to confirm: they stay unsubscribed until they confirm.", message)
        self.assertIn("Refused by the ESP (the contact's note says why): b@example.com.", message)
        self.assertEqual(members["a@example.com"].state, "opted_out")
