"""Consent records and double opt-in run by the ESP (dotdigital v3): consent goes out and reads back, a broken
consent fails its member with the reason, a double opt-in subscriber is pending (neither counted nor mailed)
until the ESP confirms it, and an expired confirmation opts it out."""

from datetime import datetime

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import EspListSyncCommon

CONSENT = {"esp_consent_text": "Yes, send me the newsletter", "esp_consent_datetime": datetime(2024, 1, 26, 21, 29),
           "esp_consent_url": "https://shop.example.com/newsletter", "esp_consent_ip": "203.0.113.7",
           "esp_consent_user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}


@tagged("campaign_esp_connector", "esp_v3")
class TestConsentV3(EspListSyncCommon):
    sandbox_settings = {"v3_contacts": True}

    def _subscription(self, mailing_list, email):
        return self.env["mailing.subscription"].search([("list_id", "=", mailing_list.id),
                                                        ("contact_id.email", "=", email)])

    def test_consent_goes_out_and_reads_back(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"},
                                                    {"name": "Bob", "email": "bob@example.com"}])
        self._subscription(mailing_list, "ada@example.com").write(CONSENT)
        self._subscription(mailing_list, "bob@example.com").write({**CONSENT, "esp_consent_ip": False})
        self._sync_until_idle(mailing_list)
        members = self._members(mailing_list)
        self.assertEqual(members["ada@example.com"].state, "synced")
        # Never sent broken: failed with the reason, and not at the ESP.
        self.assertEqual(members["bob@example.com"].state, "failed")
        self.assertIn("IP address missing", members["bob@example.com"].failure_reason)
        self.assertNotIn("bob@example.com", self._book_state(mailing_list))
        ada = self._subscription(mailing_list, "ada@example.com")
        ada.action_esp_read_consent()
        self.assertIn("Yes, send me the newsletter", ada.esp_consent_at_esp)
        self.assertIn("https://shop.example.com/newsletter", ada.esp_consent_at_esp)
        self.assertIn("203.0.113.7", ada.esp_consent_at_esp)
        # Completed, it goes out.
        bob = self._subscription(mailing_list, "bob@example.com")
        bob._esp_set_consent("Yes", "https://shop.example.com/newsletter", "2001:db8::1", "Mozilla/5.0")
        self._bump_write_date(bob.contact_id)
        self.env["esp.list.member"].browse(members["bob@example.com"].id).action_retry()
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["bob@example.com"].state, "synced")
        bob.action_esp_read_consent()
        self.assertIn("2001:db8::1", bob.esp_consent_at_esp)

    def test_double_optin_pending_confirmed_then_sendable(self):
        mailing_list = self._create_connected_list([{"name": "Old", "email": "old@example.com"}])
        self._sync_until_idle(mailing_list)
        mailing_list.esp_double_optin = True
        new = self.env["mailing.contact"].create({"name": "New", "email": "new@example.com",
                                                  "list_ids": [(4, mailing_list.id)]})
        subscription = self._subscription(mailing_list, "new@example.com")
        self.assertTrue(subscription.esp_pending_optin)
        self.assertIn("Pending confirmation", subscription.esp_status_detail)
        mailing_list.invalidate_recordset()
        self.assertEqual((mailing_list.contact_count_email, mailing_list.esp_contact_count_pending_optin), (1, 1))
        mailing = self._create_mailing(mailing_list)
        self.assertIn("new@example.com", mailing_list._mailing_get_opt_out_list(mailing))
        self._sync_until_idle(mailing_list)
        imports = [entry for entry in self.sandbox.requests_log() if entry["path"] == "/contacts/v3/import"]
        self.assertTrue(imports)
        self.assertEqual(self._book_state(mailing_list)["new@example.com"]["status"], "PendingOptIn")
        self._sync(mailing_list)
        self.assertTrue(subscription.esp_pending_optin)  # still waiting
        self.sandbox.advance_clock(60)
        self.sandbox.confirm_optin("new@example.com")
        self._sync(mailing_list)
        self.assertFalse(subscription.esp_pending_optin)
        self.assertFalse(subscription.opt_out)
        mailing_list.invalidate_recordset()
        self.assertEqual((mailing_list.contact_count_email, mailing_list.esp_contact_count_pending_optin), (2, 0))
        self.assertNotIn("new@example.com", mailing_list._mailing_get_opt_out_list(mailing))
        self.assertTrue(new)

    def test_double_optin_expired_opts_out(self):
        self.sandbox.configure(optin_expiry_days=7)
        mailing_list = self._create_connected_list([])
        mailing_list.esp_double_optin = True
        self.env["mailing.contact"].create({"name": "Late", "email": "late@example.com",
                                            "list_ids": [(4, mailing_list.id)]})
        self._sync_until_idle(mailing_list)
        subscription = self._subscription(mailing_list, "late@example.com")
        self.assertTrue(subscription.esp_pending_optin)
        self.sandbox.advance_clock(8 * 86400)
        self._sync(mailing_list)
        self.assertFalse(subscription.esp_pending_optin)
        self.assertTrue(subscription.opt_out)
        self.assertIn("double opt-in not confirmed", self._members(mailing_list)["late@example.com"].failure_reason)


@tagged("campaign_esp_connector")
class TestConsentV2(EspListSyncCommon):
    def test_v2_sends_no_consent_and_offers_no_double_optin(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        mailing_list.subscription_ids.write(CONSENT)
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["ada@example.com"].state, "synced")
        self.assertFalse({key for key in self._sandbox_contact_data("ada@example.com") if "consent" in key.lower()})
        with self.assertRaises(ValidationError):
            mailing_list.esp_double_optin = True
            self.env.flush_all()
