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
        with self.assertRaisesRegex(UserError, "not a valid ESP data field name"):
            self.env["esp.data.field"].create({"account_id": account.id, "name": "has space"})
        with self.assertRaisesRegex(UserError, "not a valid ESP data field name"):
            self.env["esp.data.field"].create({"account_id": account.id, "name": "X" * 21})

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
        self.assertIn("Confirmation email sent: a@example.com", message)
        self.assertIn("Refused by the ESP: b@example.com", message)
        self.assertEqual(members["a@example.com"].state, "opted_out")
