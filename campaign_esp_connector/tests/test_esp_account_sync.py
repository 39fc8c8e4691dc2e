import logging
import socket
from urllib.parse import urlsplit

from odoo.exceptions import AccessError
from odoo.tests import tagged, users
from odoo.tools import mute_logger

from .common import EspSandboxCommon

NO_WAIT = {"max_wait": 0, "backoff_factor": 0}


@tagged("campaign_esp_connector", "esp_account")
class TestEspAccountConnection(EspSandboxCommon):
    def test_connection_detects_region_and_imports_catalogue(self):
        account = self.sandbox_account
        result = account.action_test_connection()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertEqual(account.state, "connected")
        self.assertFalse(account.last_error)
        self.assertEqual(account.detected_endpoint, self.sandbox.url)
        # The sandbox names no region (dotdigital's r1/r2/r3 come from the endpoint's host): it says so.
        self.assertFalse(account.region)
        self.assertEqual(account.region_label, f"No region of the ESP's: endpoint {urlsplit(self.sandbox.url).netloc}")
        self.assertTrue(account.remote_account_ref)
        self.assertIn(account.remote_account_ref, result["params"]["message"])
        self.assertIn(f"(region {account.region_label}, {self.sandbox.url})", result["params"]["message"])
        self.assertTrue(result["params"]["message"].endswith(
            "Imported: 2 address books, 6 data fields, 1 template, and 2 from addresses."), result["params"]["message"])
        # The first successful test brings the catalogue in.
        self.assertTrue(account.catalogue_sync_datetime)
        books = account.address_book_ids
        self.assertEqual(set(books.filtered("is_system").mapped("name")), {"All Contacts", "Test"})
        self.assertIn("FIRSTNAME", account.data_field_ids.mapped("name"))
        self.assertTrue(account.template_ids)
        self.assertTrue(account.from_address_ids)
        # Every call counts, the v3 probe included (this API user has no v3: the account stays on v2).
        self.assertEqual(account.api_calls_today, len(self.sandbox.requests_log()))
        self.assertEqual(account.contacts_api, "v2")
        self.assertFalse(account.contact_identifier)

    def test_bad_password(self):
        account = self._create_esp_account(
            name="wrong password", api_endpoint=self.sandbox.url, api_user=self.sandbox.api_user,
            api_password="not-the-password",
        )
        with self.assertLogs("odoo.addons.campaign_esp_connector", level=logging.WARNING) as logs:
            result = account.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertEqual(account.state, "error")
        self.assertIn("refused the API user or password", account.last_error)
        self.assertNotIn("not-the-password", account.last_error)
        self.assertFalse(any("not-the-password" in line for line in logs.output))
        self.assertFalse(account.address_book_ids)

    @mute_logger("odoo.addons.campaign_esp_connector.models.esp_account")
    def test_unreachable_host(self):
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        account = self._create_esp_account(
            name="unreachable", api_endpoint=f"http://127.0.0.1:{port}", api_user="u", api_password="p"
        )
        account.with_context(campaign_esp_connector_transport=NO_WAIT).action_test_connection()
        self.assertEqual(account.state, "error")
        self.assertIn("Could not reach", account.last_error)

    @mute_logger("odoo.addons.campaign_esp_connector.models.esp_account")
    def test_wrong_endpoint_html_page(self):
        self.sandbox.inject_fault("/v2/account-info", "html_502", count=10)
        self.sandbox_account.with_context(campaign_esp_connector_transport=NO_WAIT).action_test_connection()
        self.assertEqual(self.sandbox_account.state, "error")
        self.assertIn("dotdigital", self.sandbox_account.last_error)
        self.assertNotIn("<html", self.sandbox_account.last_error.lower())

    @mute_logger("odoo.addons.campaign_esp_connector.models.esp_account")
    def test_throttled(self):
        self.sandbox.inject_fault("/v2/account-info", "rate_limited", count=5, reset=3600)
        account = self.sandbox_account.with_context(campaign_esp_connector_transport=NO_WAIT)
        account.action_test_connection()
        self.assertEqual(account.state, "error")
        self.assertIn("throttling", account.last_error)
        self.assertTrue(account.last_throttle_datetime)
        # Once the ESP lets calls through again, the next test recovers.
        self.sandbox.clear_faults()
        account.action_test_connection()
        self.assertEqual(account.state, "connected")

    def test_non_loopback_http_refused(self):
        account = self._create_esp_account(
            name="plain http", api_endpoint="http://esp.example.com", api_user="u", api_password="p"
        )
        with self.assertRaisesRegex(Exception, "misconfigured"):
            account.action_test_connection()

    @users("user_esp_marketing")
    @mute_logger("odoo.models", "odoo.addons.base.models.ir_model")
    def test_marketing_user_cannot_test_or_sync(self):
        account = self.sandbox_account.with_env(self.env)
        with self.assertRaises(AccessError):
            account.action_test_connection()


@tagged("campaign_esp_connector", "esp_account")
class TestEspAccountCatalogue(EspSandboxCommon):
    def setUp(self):
        super().setUp()
        self.sandbox_account.action_test_connection()
        self.assertEqual(self.sandbox_account.state, "connected")

    def test_synchronize_pages_over_many_books_and_archives_deleted_ones(self):
        account = self.sandbox_account
        self._seed_sandbox_books(2500)
        self.sandbox.clear_log()
        account.action_synchronize()
        books = account.address_book_ids
        self.assertEqual(len(books), 2502)
        self.assertEqual(len(set(books.mapped("remote_id"))), 2502)
        # 3 pages of books (1000 + overlap), then data fields, templates, from-addresses: no per-book call.
        self.assertLessEqual(len(self._sandbox_api_calls()), 8)

        # A book deleted remotely is archived, not deleted; the others are unchanged.
        victim = books.filtered(lambda book: book.name == "Book 00042")
        self.assertEqual(len(victim), 1)
        store = self.sandbox.app.store
        with store.lock:
            store.delete_book(int(victim.remote_id))
        account.action_synchronize()
        self.assertFalse(victim.active)
        self.assertTrue(victim.exists())
        self.assertEqual(len(account.address_book_ids), 2501)

    def test_synchronize_says_what_is_new(self):
        account = self.sandbox_account
        message = account.action_synchronize()["params"]["message"]
        self.assertEqual(message, "dotdigital sandbox: Up to date, nothing new: 2 address books, 6 data fields, "
                                  "1 template, and 2 from addresses.")
        store = self.sandbox.app.store
        with store.lock:
            store.create_book("Made in dotdigital", "Private")
            store.save_template({"name": "Second", "subject": "Hello", "fromName": "Us", "htmlContent": "<p>Hi</p>",
                                 "plainTextContent": "Hi"})
        message = account.action_synchronize()["params"]["message"]
        self.assertEqual(message, "dotdigital sandbox: Imported: 3 address books (1 new), 6 data fields, 2 templates "
                                  "(1 new), and 2 from addresses.")
        book = account.address_book_ids.filtered(lambda book: book.name == "Made in dotdigital")
        with store.lock:
            store.delete_book(int(book.remote_id))
        message = account.action_synchronize()["params"]["message"]
        self.assertEqual(message, "dotdigital sandbox: Synchronized: 2 address books (1 removed at the ESP), 6 data "
                                  "fields, 2 templates, and 2 from addresses.")

    @users("user_esp_marketing")
    def test_refresh_data_fields_says_how_many_are_new(self):
        account = self.sandbox_account.with_env(self.env)
        mailing_list = self.env["mailing.list"].create({"name": "Newsletter"})
        params = account._esp_refresh_data_fields(lists=mailing_list)["params"]
        self.assertEqual((params["type"], params["title"]), ("success", "Data fields"))
        self.assertEqual(params["message"], "dotdigital sandbox: 6 data fields, up to date, nothing new.\n"
                                            "Every contact of Newsletter is sent again at the next synchronization.")
        store = self.sandbox.app.store
        with store.lock:  # made in dotdigital
            store.create_data_field("LOYALTY", "Numeric", "Private", None)
        self.assertEqual(account._esp_refresh_data_fields()["params"]["message"],
                         "dotdigital sandbox: 7 data fields, 1 new.")
        self.assertIn("LOYALTY", account.data_field_ids.mapped("name"))

    def test_refresh_data_fields_failure_is_a_warning(self):
        self.sandbox.inject_fault("/v2/data-fields", "http_500", count=10)
        account = self.sandbox_account.with_context(campaign_esp_connector_transport=NO_WAIT)
        with mute_logger("odoo.addons.campaign_esp_connector.models.esp_account"):
            params = account.action_refresh_data_fields()["params"]
        self.assertEqual(params["type"], "warning")
        self.assertIn("internal error", params["message"])
        self.assertEqual(len(account.data_field_ids), 6, "the data fields Odoo knows stay")

    def test_catalogue_refresh_is_idempotent(self):
        account = self.sandbox_account
        before = {book.remote_id: book.id for book in account.address_book_ids}
        account.action_synchronize()
        after = {book.remote_id: book.id for book in account.address_book_ids}
        self.assertEqual(before, after)

    def test_cron_refreshes_connected_accounts(self):
        account = self.sandbox_account
        self._seed_sandbox_books(3, prefix="Cron book")
        self.env["esp.account"]._cron_sync_catalogue()
        self.assertEqual(len(account.address_book_ids.filtered(lambda b: b.name.startswith("Cron book"))), 3)

    @users("user_esp_marketing")
    def test_marketing_user_reads_catalogue(self):
        books = self.env["esp.address.book"].search([("account_id", "=", self.sandbox_account.id)])
        self.assertTrue(books)
        self.assertTrue(self.env["esp.data.field"].search([("account_id", "=", self.sandbox_account.id)]))
