"""The list sync on the hybrid dotdigital provider (v3 contacts, v2 for the rest): the same guarantees as on v2.

The v2 classes run again here against a sandbox whose API user may use v3 (Test Connection then chooses it):
the property test, the crash test and the list-sync tests hold unchanged. Their modules are imported as
modules, so their v2 classes are not collected twice. Then what only v3 brings: contacts matched by the Odoo id
through a custom identifier, so an email changed in Odoo updates the same ESP contact.
"""

import requests

from odoo.tests import tagged

from .. import providers
from . import test_list_sync, test_list_sync_book_missing, test_sync_crash, test_sync_properties
from .common import EspListSyncCommon

V3 = {"v3_contacts": True}
# The property test's fault targets, as the v3 provider's calls are named.
V3_FAULT_PATHS = {
    **test_sync_properties.FAULT_PATHS,
    "any": "/*",
    "import_post": "/contacts/v3/import",
    "import_poll": "/contacts/v3/import/*",
    "import_faults": "/contacts/v3/import/*",
    "book_modified": "/contacts/v3",
    "lookup": "/contacts/v3/email/*",
}


class V3AccountMixin:
    sandbox_settings = V3

    def setUp(self):
        super().setUp()
        self.assertEqual(self.sandbox_account.contacts_api, "v3")


@tagged("campaign_esp_connector", "esp_v3")
class TestSyncPropertiesV3(V3AccountMixin, test_sync_properties.TestSyncProperties):
    def _fault_path(self, key):
        return V3_FAULT_PATHS[key]


@tagged("campaign_esp_connector", "esp_sync_crash", "esp_v3")
class TestSyncCrashV3(test_sync_crash.TestSyncCrash):
    sandbox_settings = V3

    def _prepare(self, label):
        prepared = super()._prepare(label)
        with self._committed() as env:
            self.assertEqual(env["esp.account"].browse(self.account_id).contacts_api, "v3")
        self.assertIn(("PUT", "/contacts/v3/import"),
                      {(entry["method"], entry["path"]) for entry in self.sandbox.requests_log()})
        return prepared


@tagged("campaign_esp_connector", "esp_v3")
class TestListSyncExportV3(V3AccountMixin, test_list_sync.TestListSyncExport):
    pass


@tagged("campaign_esp_connector", "esp_v3")
class TestListSyncFaultsV3(V3AccountMixin, test_list_sync.TestListSyncFaults):
    # The two tests that name the v2 import call, with the v3 one.

    def test_throttled_mid_run_then_resumes(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.inject_fault("/contacts/v3/import", "rate_limited", count=5, method="PUT", reset=3600)
        log = self._sync(mailing_list.with_context(campaign_esp_connector_transport={"max_wait": 0}))
        self.assertEqual(log.state, "throttled")
        self.assertIsNone(self._members(mailing_list).get("a@example.com"))
        self.sandbox.clear_faults()
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")

    def test_crash_between_import_post_and_commit(self):
        mailing_list = self._create_connected_list([
            {"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(5)
        ])
        self.sandbox.clear_log()
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self._sync(mailing_list)
            self.assertEqual(len([entry for entry in self.sandbox.requests_log()
                                  if (entry["method"], entry["path"]) == ("PUT", "/contacts/v3/import")]), 1)
            raise RuntimeError("worker killed before commit")
        self.env.invalidate_all()
        self.assertFalse(self._members(mailing_list))
        self._sync_until_idle(mailing_list)
        self.assertEqual(len(self._book_state(mailing_list)), 5)
        self.assertEqual(len(self.sandbox.state()["contacts"]), 5)
        self.assertEqual({m.state for m in self._members(mailing_list).values()}, {"synced"})


@tagged("campaign_esp_connector", "esp_v3")
class TestListSyncTwoWayV3(V3AccountMixin, test_list_sync.TestListSyncTwoWay):
    pass


@tagged("campaign_esp_connector", "esp_v3")
class TestListSyncBookMissingV3(V3AccountMixin, test_list_sync_book_missing.TestListSyncBookMissing):

    def test_book_check_of_a_deleted_book_waits_for_a_person(self):
        """v3's feed answers an empty page for a deleted list: the book check asks for the book first."""
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Deleted soon")
        self._sync_until_idle(mailing_list)
        self._delete_book_at_esp(mailing_list)
        with self.sandbox_account._esp_client() as client, self.assertRaises(providers.BookNotFound):
            client.book_contacts_page(int(mailing_list.esp_address_book_id.remote_id))


class EmailChangeMixin:
    def _change_email(self):
        """A list of two synced contacts; then Ada's email changes in Odoo and the list syncs again."""
        mailing_list = self._create_connected_list([
            {"name": "Ada Lovelace", "email": "ada@example.com"},
            {"name": "Grace Hopper", "email": "grace@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        before = self._book_state(mailing_list)["ada@example.com"]
        ada = mailing_list.contact_ids.filtered(lambda contact: contact.email == "ada@example.com")
        ada.email = "ada.lovelace@example.com"
        self._bump_write_date(ada)
        self._sync_until_idle(mailing_list)
        return mailing_list, before

    def _account_contacts(self):
        return {contact["email"]: contact for contact in self.sandbox.state(contacts_limit=100000)["contacts"]}


@tagged("campaign_esp_connector", "esp_v3")
class TestListSyncIdentityV3(V3AccountMixin, EmailChangeMixin, EspListSyncCommon):
    sandbox_settings = {**V3, "custom_identifiers": ["odooId"]}

    def test_account_shows_the_api_and_the_identifier(self):
        self.assertEqual(self.sandbox_account.contact_identifier, "odooId")

    def test_email_change_updates_the_same_esp_contact(self):
        mailing_list, before = self._change_email()
        book = self._book_state(mailing_list)
        self.assertEqual(set(book), {"ada.lovelace@example.com", "grace@example.com"})
        # The same contact (its id, so its history), renamed: no duplicate, nothing left under the old address.
        self.assertEqual(book["ada.lovelace@example.com"]["id"], before["id"])
        self.assertNotIn("ada@example.com", self._account_contacts())
        members = self._members(mailing_list)
        self.assertEqual(members["ada.lovelace@example.com"].state, "synced")
        self.assertNotIn("ada@example.com", {email for email, member in members.items() if member.state != "removed"})

    def test_contact_known_by_email_only_gets_the_identifier(self):
        """A contact the ESP holds without the Odoo id (exported through v2, or added by a person) collides by
        email at the first v3 export: the provider gives it the id and the member goes out again, matched."""
        requests.post(f"{self.sandbox.url}/v2/contacts", json={"email": "ada@example.com"}, timeout=10,
                      auth=(self.sandbox.api_user, self.sandbox.api_password)).raise_for_status()
        known = self._account_contacts()["ada@example.com"]["id"]
        mailing_list, _before = self._change_email()
        book = self._book_state(mailing_list)
        self.assertEqual(book["ada.lovelace@example.com"]["id"], known)
        self.assertEqual(self._members(mailing_list)["ada.lovelace@example.com"].state, "synced")


    def test_one_email_held_by_two_odoo_contacts_is_one_esp_contact(self):
        first = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}], book_name="First")
        second = self._create_connected_list([{"name": "Ada again", "email": "ada@example.com"}],
                                             book_name="Second")
        self._sync_until_idle(first)
        self._sync_until_idle(second)
        self.assertEqual(self._book_state(first)["ada@example.com"]["id"],
                         self._book_state(second)["ada@example.com"]["id"])
        self.assertEqual(self._members(second)["ada@example.com"].state, "synced")


@tagged("campaign_esp_connector", "esp_v3")
class TestListSyncEmailChangeByEmail(V3AccountMixin, EmailChangeMixin, EspListSyncCommon):
    """Without a custom identifier contacts are matched by email, on v3 as on v2: what the README says of an
    email change."""

    def test_email_change_is_a_new_esp_contact(self):
        self.assertFalse(self.sandbox_account.contact_identifier)
        mailing_list, before = self._change_email()
        book = self._book_state(mailing_list)
        self.assertEqual(set(book), {"ada.lovelace@example.com", "grace@example.com"})
        # A new contact in the book; the old one left the book and stays in the account with its history.
        self.assertNotEqual(book["ada.lovelace@example.com"]["id"], before["id"])
        self.assertEqual(self._account_contacts()["ada@example.com"]["id"], before["id"])
