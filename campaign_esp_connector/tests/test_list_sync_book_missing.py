import requests

from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from odoo.addons.campaign_esp_connector.sync.runner import ListSyncRunner

from .common import EspListSyncCommon

LOGGER = "odoo.addons.campaign_esp_connector.sync.runner"


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncBookMissing(EspListSyncCommon):
    """An address book deleted at the ESP is reported on its list, which waits for a person; nothing is lost."""

    def _delete_book_at_esp(self, mailing_list):
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        answer = requests.delete(f"{self.sandbox.url}/v2/address-books/{book_id}", timeout=10,
                                 auth=(self.sandbox.api_user, self.sandbox.api_password))
        self.assertEqual(answer.status_code, 200, answer.text)

    def _subscription(self, mailing_list, email):
        return mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email_normalized == email)

    def _assert_waits_for_a_person(self, mailing_list, book_name):
        self.assertEqual(mailing_list.esp_sync_state, "book_missing")
        self.assertIn(f"The address book “{book_name}” no longer exists at the ESP", mailing_list.esp_last_error)
        self.assertFalse(mailing_list.esp_next_sync_datetime)
        self.assertTrue(mailing_list.esp_needs_attention)
        # Never due: the cron leaves it alone, and Synchronize says why rather than queueing a run.
        self.assertNotIn(mailing_list.esp_address_book_id, ListSyncRunner(self.env).due_bindings())
        self.sandbox.clear_log()
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertFalse(self._sandbox_api_calls())
        with self.assertRaisesRegex(UserError, "no longer exists at the ESP"):
            mailing_list.with_user(self.user_marketing).action_esp_synchronize()
        self.assertEqual(mailing_list.esp_sync_state, "book_missing")

    def test_catalogue_reports_deleted_book_and_reconnection_sends_opt_outs(self):
        healthy = self._create_connected_list([{"name": "H", "email": "h@example.com"}], book_name="A healthy list")
        mailing_list = self._create_connected_list([
            {"name": "Ada", "email": "ada@example.com"},
            {"name": "Bob", "email": "bob@example.com"},
            {"name": "Cy", "email": "cy@example.com"},
        ], book_name="Newsletter")
        self._sync_until_idle(healthy)
        self._sync_until_idle(mailing_list)
        members_before = {email: member.state for email, member in self._members(mailing_list).items()}
        self.assertEqual(set(members_before.values()), {"synced"})

        self._delete_book_at_esp(mailing_list)
        self.sandbox_account.action_synchronize()
        self._assert_waits_for_a_person(mailing_list, "Newsletter")
        self.assertFalse(mailing_list.esp_address_book_id.active)
        # ESP Sync Health: the list needing a person comes first, before a healthy one sorted earlier by name.
        health = self.env["mailing.list"].search([("id", "in", (healthy | mailing_list).ids)],
                                                 order="esp_needs_attention desc, esp_failed_count desc, name")
        self.assertEqual(health.ids, [mailing_list.id, healthy.id])
        # A second catalogue run changes nothing (no new message, still waiting).
        self.sandbox_account.action_synchronize()
        self.assertEqual(mailing_list.esp_sync_state, "book_missing")

        # Meanwhile, opt-outs in Odoo: kept, as are the member rows.
        self._subscription(mailing_list, "bob@example.com").opt_out = True
        self.env["mail.blacklist"]._add("cy@example.com")
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual({email: member.state for email, member in self._members(mailing_list).items()},
                         members_before)
        self.assertTrue(self._subscription(mailing_list, "bob@example.com").opt_out)

        # Connection Settings offers the account's books, not the deleted one; the list is connected to another.
        action = mailing_list.action_esp_connection_settings()
        self.assertFalse(action["context"]["default_address_book_id"])
        self.assertEqual(action["context"]["default_account_id"], self.sandbox_account.id)
        with Form(self.env[action["res_model"]].with_context(action["context"])) as wizard_form:
            self.assertFalse(wizard_form.address_book_id)
            wizard_form.new_address_book_name = "Newsletter 2"
        wizard_form.record.action_connect()
        self.assertEqual(mailing_list.esp_address_book_id.name, "Newsletter 2")
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        self._sync_until_idle(mailing_list)

        # The Odoo opt-outs reached the new book: never exported as subscribed; nothing lost in Odoo.
        book = self._book_state(mailing_list)
        self.assertEqual(book["ada@example.com"]["book_status"], "Subscribed")
        for email in ("bob@example.com", "cy@example.com"):
            self.assertNotEqual(book.get(email, {}).get("book_status", "absent"), "Subscribed", email)
        self.assertEqual(len(mailing_list.subscription_ids), 3)
        self.assertTrue(self._subscription(mailing_list, "bob@example.com").opt_out)
        self.assertFalse(self._subscription(mailing_list, "ada@example.com").opt_out)
        self.assertEqual(mailing_list.esp_sync_state, "done")

    @mute_logger(LOGGER)
    def test_sync_meeting_a_deleted_book_waits_for_a_person(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Deleted soon")
        self._sync_until_idle(mailing_list)
        self._delete_book_at_esp(mailing_list)
        log = self._sync(mailing_list)
        self.assertEqual(log.state, "book_missing")
        self.assertIn("no longer exists at the ESP", log.message)
        self._assert_waits_for_a_person(mailing_list, "Deleted soon")
        self.assertEqual(self._members(mailing_list)["ada@example.com"].state, "synced")
        # Disconnect still works, and the list can be connected again.
        mailing_list.action_esp_disconnect()
        self.assertFalse(mailing_list.esp_address_book_id)

    def test_book_listed_again_syncs_again(self):
        """A book said missing that the ESP lists again was not deleted (a 404 or a listing that missed it)."""
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        self._sync_until_idle(mailing_list)
        mailing_list.esp_address_book_id._esp_book_missing()
        self.assertEqual(mailing_list.esp_sync_state, "book_missing")
        self.sandbox_account.action_synchronize()
        self.assertTrue(mailing_list.esp_address_book_id.active)
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        self.assertFalse(mailing_list.esp_last_error)
