from odoo.exceptions import AccessError
from odoo.tests import tagged, users
from odoo.tools import mute_logger

from .common import EspCommon


@tagged("campaign_esp_connector", "esp_account")
class TestEspAccountSecurity(EspCommon):
    def test_groups_follow_host_groups(self):
        """Email Marketing users get the ESP user group, Settings administrators the manager group."""
        esp_user = self.env.ref("campaign_esp_connector.campaign_esp_connector_group_user")
        esp_manager = self.env.ref("campaign_esp_connector.campaign_esp_connector_group_manager")
        self.assertIn(esp_user, self.user_marketing.groups_id)
        self.assertNotIn(esp_manager, self.user_marketing.groups_id)
        self.assertIn(esp_manager, self.env.ref("base.user_admin").groups_id)

    @users("user_esp_marketing")
    def test_marketing_user_reads_account_but_not_password(self):
        account = self.esp_account.with_env(self.env)
        self.assertEqual(account.name, "dotdigital Europe")
        self.assertEqual(account.api_user, "apiuser-1@apiconnector.com")
        self.assertNotIn("api_password", account.fields_get())
        with self.assertRaises(AccessError):
            account.read(["api_password"])

    @users("user_esp_marketing")
    @mute_logger("odoo.addons.base.models.ir_model", "odoo.models")
    def test_marketing_user_cannot_write_create_or_delete(self):
        account = self.esp_account.with_env(self.env)
        with self.assertRaises(AccessError):
            account.write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.env["esp.account"].create({"name": "New", "api_user": "u", "api_endpoint": "https://x"})
        with self.assertRaises(AccessError):
            account.unlink()

    @users("user_esp_manager")
    def test_manager_manages_accounts_and_password(self):
        account = self.esp_account.with_env(self.env)
        self.assertEqual(account.api_password, self.esp_password)
        account.write({"name": "dotdigital EU", "api_password": "rotated-password"})
        self.assertEqual(account.api_password, "rotated-password")
        new_account = self.env["esp.account"].create(
            {
                "name": "dotdigital US",
                "api_user": "apiuser-2@apiconnector.com",
                "api_password": "other",
            }
        )
        self.assertEqual(new_account.company_id, self.company_main)
        self.assertEqual(new_account.api_endpoint, "https://r1-api.dotdigital.com")
        self.assertEqual(new_account.state, "not_tested")
        new_account.unlink()

    @users("user_esp_marketing_other")
    @mute_logger("odoo.addons.base.models.ir_rule")
    def test_other_company_cannot_see_account(self):
        self.assertFalse(self.env["esp.account"].search([]))
        with self.assertRaises(AccessError):
            self.esp_account.with_env(self.env).read(["name"])


@tagged("campaign_esp_connector", "esp_account")
class TestEspAccount(EspCommon):
    def test_password_never_in_tracking_or_messages(self):
        account = self.esp_account
        self._flush_tracking()
        account.write({"api_password": "rotated-Pa55word", "api_user": "apiuser-9@apiconnector.com", "name": "EU"})
        self._flush_tracking()
        messages = account.message_ids
        tracked_values = messages.tracking_value_ids
        self.assertTrue(tracked_values, "the change of tracked fields is logged")
        tracked_fields = set(tracked_values.field_id.mapped("name"))
        self.assertNotIn("api_password", tracked_fields)
        for secret in (self.esp_password, "rotated-Pa55word"):
            for value in tracked_values:
                self.assertNotIn(secret, str(value.old_value_char or "") + str(value.new_value_char or ""))
            for message in messages:
                self.assertNotIn(secret, str(message.body or ""))

    def test_copy_does_not_copy_password(self):
        copy = self.esp_account.copy()
        self.assertFalse(copy.api_password)
        self.assertEqual(copy.name, "dotdigital Europe (copy)")
        self.assertEqual(copy.state, "not_tested")

    def test_connection_change_resets_state(self):
        account = self.esp_account
        account.write({"state": "connected"})
        account.write({"name": "Renamed"})
        self.assertEqual(account.state, "connected")
        account.write({"api_endpoint": "https://r2-api.dotdigital.com"})
        self.assertEqual(account.state, "not_tested")

    def test_password_not_in_repr_or_display_name(self):
        self.assertNotIn(self.esp_password, repr(self.esp_account))
        self.assertNotIn(self.esp_password, self.esp_account.display_name)
