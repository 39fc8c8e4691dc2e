from lxml import etree
from psycopg2 import IntegrityError

from odoo.exceptions import UserError
from odoo.tests import Form, tagged, users
from odoo.tools import mute_logger
from odoo.tools.safe_eval import safe_eval

from .common import EspSandboxCommon


@tagged("campaign_esp_connector", "esp_connect_wizard")
class TestEspConnectWizard(EspSandboxCommon):
    """The "Connect to ESP" / "Connection Settings" dialog of mailing lists, against the sandbox ESP."""

    def setUp(self):
        super().setUp()
        self.sandbox_account.action_test_connection()
        self.assertEqual(self.sandbox_account.state, "connected", self.sandbox_account.last_error)
        self.list_news = self.env["mailing.list"].create(
            {
                "name": "Newsletter",
                "contact_ids": [
                    (0, 0, {"name": "Ada Lovelace", "email": "ada@example.com"}),
                    (0, 0, {"name": "Grace Hopper", "email": "grace@example.com"}),
                ],
            }
        )
        self.list_events = self.env["mailing.list"].create({"name": "Events"})
        self.book_news = self.sandbox_account._esp_create_address_book("Odoo Newsletter")
        self.book_events = self.sandbox_account._esp_create_address_book("Odoo Events")
        self.books_system = self.env["esp.address.book"].search(
            [("account_id", "=", self.sandbox_account.id), ("is_system", "=", True)]
        )

    # ------------------------------------------------------------
    # TOOLS
    # ------------------------------------------------------------

    def _open_wizard(self, mailing_list):
        """The dialog as the list's button opens it (Connect to ESP or Connection Settings)."""
        action = mailing_list.with_env(self.env).action_esp_connect()
        self.assertEqual(action["res_model"], "esp.connect.wizard")
        self.assertEqual(action["target"], "new")
        return Form(self.env[action["res_model"]].with_context(action["context"]))

    def _selectable_books(self, wizard):
        """Books the dialog's address book field offers, evaluating the field's own domain.

        :param wizard: an ``esp.connect.wizard`` record or a ``Form`` of one
        """
        domain = safe_eval(
            self.env["esp.connect.wizard"]._fields["address_book_id"].domain,
            {"account_id": wizard.account_id.id, "mailing_list_id": wizard.mailing_list_id.id},
        )
        return self.env["esp.address.book"].search(domain)

    def _dialog_arch(self):
        """The dialog's form as the web client receives it for the current user."""
        return etree.fromstring(self.env["esp.connect.wizard"].get_view(view_type="form")["arch"])

    def _remote_book_emails(self, name):
        books = {book["name"]: book for book in self.sandbox.state(contacts_limit=1000)["books"]}
        return {contact["email"] for contact in books[name]["contacts"]}

    def _sandbox_book_names(self):
        return {book["name"] for book in self.sandbox.state(contacts_limit=0)["books"]}

    def assertConnected(self, mailing_list, book, create_contacts=False):
        mailing_list.invalidate_recordset()
        book.invalidate_recordset()
        self.assertRecordValues(
            mailing_list,
            [
                {
                    "esp_address_book_id": book.id,
                    "esp_account_id": book.account_id.id,
                    "esp_create_contacts": create_contacts,
                }
            ],
        )
        self.assertEqual(book.mailing_list_id, mailing_list)

    # ------------------------------------------------------------
    # TESTS
    # ------------------------------------------------------------

    def test_access_rights(self):
        acl = self.env["ir.model.access"].search([("model_id.model", "=", "esp.connect.wizard")])
        self.assertEqual(acl.group_id, self.env.ref("campaign_esp_connector.campaign_esp_connector_group_user"))
        self.assertTrue(all(acl.mapped("perm_create")) and all(acl.mapped("perm_write")))

    @users("user_esp_marketing")
    def test_connect_existing_book(self):
        mailing_list = self.list_news.with_env(self.env)
        with self._open_wizard(mailing_list) as wizard_form:
            # the only connected account is proposed, no book is chosen for the user
            self.assertEqual(wizard_form.mailing_list_id, mailing_list)
            self.assertEqual(wizard_form.account_id, self.sandbox_account)
            self.assertFalse(wizard_form.address_book_id)
            wizard_form.address_book_id = self.book_news
        wizard = wizard_form.record
        self.assertIn(self.book_news, self._selectable_books(wizard))
        action = wizard.action_connect()

        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(action["params"]["next"], {"type": "ir.actions.client", "tag": "soft_reload"})
        self.assertIn("Odoo Newsletter", action["params"]["message"])
        self.assertConnected(mailing_list, self.book_news)
        self.assertEqual(mailing_list.esp_sync_state, "queued")

    @users("user_esp_marketing")
    def test_connect_new_book_created_remotely(self):
        mailing_list = self.list_news.with_env(self.env)
        self.assertNotIn("Spring Newsletter", self._sandbox_book_names())
        with self._open_wizard(mailing_list) as wizard_form:
            wizard_form.new_address_book_name = "  Spring Newsletter "
            wizard_form.create_contacts = True
        wizard_form.record.action_connect()

        self.assertIn("Spring Newsletter", self._sandbox_book_names())
        book = mailing_list.esp_address_book_id
        self.assertRecordValues(
            book,
            [
                {
                    "name": "Spring Newsletter",
                    "account_id": self.sandbox_account.id,
                    "is_system": False,
                    "active": True,
                }
            ],
        )
        remote = {b["name"]: b for b in self.sandbox.state(contacts_limit=0)["books"]}["Spring Newsletter"]
        self.assertEqual(book.remote_id, str(remote["id"]))
        self.assertConnected(mailing_list, book, create_contacts=True)

    @users("user_esp_marketing")
    def test_existing_or_new_book_one_clears_the_other(self):
        with self._open_wizard(self.list_news) as wizard_form:
            wizard_form.address_book_id = self.book_news
            wizard_form.new_address_book_name = "Brand new"
            self.assertFalse(wizard_form.address_book_id)
            wizard_form.address_book_id = self.book_events
            self.assertFalse(wizard_form.new_address_book_name)

    @users("user_esp_marketing")
    @mute_logger("odoo.addons.campaign_esp_connector.models.esp_account")
    def test_both_name_and_book_or_neither_refused(self):
        Wizard = self.env["esp.connect.wizard"]
        books_before = self._sandbox_book_names()
        both = Wizard.create(
            {
                "mailing_list_id": self.list_news.id,
                "account_id": self.sandbox_account.id,
                "address_book_id": self.book_news.id,
                "new_address_book_name": "Another",
            }
        )
        with self.assertRaisesRegex(UserError, "not both"):
            both.action_connect()
        neither = Wizard.create({"mailing_list_id": self.list_news.id, "account_id": self.sandbox_account.id})
        with self.assertRaisesRegex(UserError, r"^Choose an address book or type a new book's name\.$"):
            neither.action_connect()
        blank_name = Wizard.create(
            {
                "mailing_list_id": self.list_news.id,
                "account_id": self.sandbox_account.id,
                "new_address_book_name": "   ",
            }
        )
        with self.assertRaisesRegex(UserError, "Choose an address book or type a new book's name"):
            blank_name.action_connect()
        self.assertEqual(self._sandbox_book_names(), books_before, "nothing may be created at the ESP")
        self.assertFalse(self.list_news.with_env(self.env).esp_address_book_id)

    @users("user_esp_marketing")
    def test_system_books_refused(self):
        self.assertEqual(set(self.books_system.mapped("name")), {"All Contacts", "Test"})
        wizard = self.env["esp.connect.wizard"].create(
            {
                "mailing_list_id": self.list_news.id,
                "account_id": self.sandbox_account.id,
            }
        )
        selectable = self._selectable_books(wizard)
        self.assertFalse(selectable & self.books_system, "system books are never offered")
        self.assertIn(self.book_news, selectable)
        for book in self.books_system:
            wizard.address_book_id = book
            with self.assertRaisesRegex(UserError, "managed by the ESP itself"):
                wizard.action_connect()
        self.assertFalse(self.list_news.with_env(self.env).esp_address_book_id)

    @users("user_esp_marketing")
    def test_book_connected_to_another_list_refused(self):
        with self._open_wizard(self.list_news) as wizard_form:
            wizard_form.address_book_id = self.book_news
        wizard_form.record.action_connect()

        with self._open_wizard(self.list_events) as wizard_form:
            self.assertNotIn(self.book_news, self._selectable_books(wizard_form))
            self.assertIn(self.book_events, self._selectable_books(wizard_form))
            wizard_form.address_book_id = self.book_news
        with self.assertRaisesRegex(UserError, "already connected to the mailing list “Newsletter”"):
            wizard_form.record.action_connect()
        self.assertFalse(self.list_events.with_env(self.env).esp_address_book_id)
        self.assertConnected(self.list_news.with_env(self.env), self.book_news)

    def test_book_connected_once_at_database_level(self):
        """The 1:1 link holds even for code that bypasses the dialog and ``_esp_connect``."""
        self.list_news._esp_connect(self.book_news)
        self.env.flush_all()
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            self.list_events.write({"esp_address_book_id": self.book_news.id})
            self.env.flush_all()
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            self.book_events.write({"mailing_list_id": self.list_news.id})
            self.env.flush_all()

    @users("user_esp_marketing")
    def test_connection_settings_switch_book(self):
        mailing_list = self.list_news.with_env(self.env)
        with self._open_wizard(mailing_list) as wizard_form:
            wizard_form.address_book_id = self.book_news
        wizard_form.record.action_connect()
        self.assertEqual(mailing_list.action_esp_connection_settings()["name"], "ESP Connection Settings")

        with self._open_wizard(mailing_list) as wizard_form:
            # the dialog opens on the current connection, and offers the list's own book
            self.assertEqual(wizard_form.account_id, self.sandbox_account)
            self.assertEqual(wizard_form.address_book_id, self.book_news)
            self.assertFalse(wizard_form.create_contacts)
            self.assertIn(self.book_news, self._selectable_books(wizard_form))
            wizard_form.address_book_id = self.book_events
            wizard_form.create_contacts = True
        wizard_form.record.action_connect()

        self.assertConnected(mailing_list, self.book_events, create_contacts=True)
        self.book_news.invalidate_recordset()
        self.assertFalse(self.book_news.mailing_list_id, "the previous book is free again")
        wizard_form = self._open_wizard(self.list_events)
        self.assertIn(self.book_news, self._selectable_books(wizard_form))
        self.assertNotIn(self.book_events, self._selectable_books(wizard_form))

    @users("admin")
    def test_disconnect_keeps_contacts_and_remote_book(self):
        mailing_list = self.list_news.with_env(self.env)
        contacts = mailing_list.contact_ids
        with self._open_wizard(mailing_list) as wizard_form:
            wizard_form.address_book_id = self.book_news
        wizard_form.record.action_connect()
        # two runs: the import is sent, then confirmed
        for _run in range(2):
            self.assertEqual(mailing_list.action_esp_synchronize()["params"]["type"], "info")
            self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(self._remote_book_emails("Odoo Newsletter"), {"ada@example.com", "grace@example.com"})
        self.assertTrue(self.env["esp.list.member"].search_count([("list_id", "=", mailing_list.id)]))

        mailing_list.action_esp_disconnect()

        mailing_list.invalidate_recordset()
        self.assertRecordValues(
            mailing_list,
            [
                {
                    "esp_address_book_id": False,
                    "esp_account_id": False,
                    "esp_create_contacts": False,
                    "esp_sync_state": "never",
                }
            ],
        )
        self.assertEqual(mailing_list.contact_ids, contacts)
        self.assertEqual(len(contacts.exists()), 2)
        self.assertFalse(self.env["esp.list.member"].search_count([("list_id", "=", mailing_list.id)]))
        book = self.book_news.with_env(self.env)
        book.invalidate_recordset()
        self.assertTrue(book.exists() and book.active)
        self.assertFalse(book.mailing_list_id)
        self.assertEqual(
            self._remote_book_emails("Odoo Newsletter"),
            {"ada@example.com", "grace@example.com"},
            "the remote book and its contacts stay as they are",
        )
        # the dialog offers the same connection again: its account, its book, its settings
        with self._open_wizard(mailing_list) as wizard_form:
            self.assertEqual(wizard_form.account_id, self.sandbox_account)
            self.assertEqual(wizard_form.address_book_id, self.book_news)
            self.assertIn(self.book_news, self._selectable_books(wizard_form))
        wizard_form.record.action_connect()
        self.assertConnected(mailing_list, book.with_env(self.env))

    @users("user_esp_marketing")
    def test_reconnect_offers_the_previous_book_and_its_settings(self):
        mailing_list = self.list_news.with_env(self.env)
        with self._open_wizard(mailing_list) as wizard_form:
            wizard_form.address_book_id = self.book_news
            wizard_form.create_contacts = True
        wizard_form.record.action_connect()
        mailing_list.action_esp_disconnect()
        with self._open_wizard(mailing_list) as wizard_form:
            self.assertEqual(wizard_form.address_book_id, self.book_news)
            self.assertTrue(wizard_form.create_contacts)
        # Taken by another list meanwhile: not offered again.
        self.list_events.with_env(self.env)._esp_connect(self.book_news.with_env(self.env))
        with self._open_wizard(mailing_list) as wizard_form:
            self.assertFalse(wizard_form.address_book_id)

    @users("user_esp_marketing")
    def test_disconnect_as_marketing_user(self):
        mailing_list = self.list_news.with_env(self.env)
        with self._open_wizard(mailing_list) as wizard_form:
            wizard_form.address_book_id = self.book_news
        wizard_form.record.action_connect()

        mailing_list.action_esp_disconnect()

        mailing_list.invalidate_recordset()
        self.assertFalse(mailing_list.esp_address_book_id)
        self.assertFalse(self.book_news.with_env(self.env).mailing_list_id)

    @users("user_esp_marketing")
    def test_default_get(self):
        Wizard = self.env["esp.connect.wizard"]
        wizard_form = Form(Wizard.with_context(active_model="mailing.list", active_id=self.list_events.id))
        self.assertEqual(wizard_form.mailing_list_id, self.list_events)
        with self.assertRaisesRegex(UserError, "only connect a mailing list"):
            Form(Wizard.with_context(active_model="mailing.contact", active_id=1))
        with self.assertRaisesRegex(UserError, "only connect a mailing list"):
            Wizard.with_context(active_model=False).default_get(["mailing_list_id"])

    @mute_logger("odoo.addons.campaign_esp_connector.models.esp_account")
    def test_only_connected_accounts(self):
        other = self._create_esp_account(name="Untested account")
        wizard = self.env["esp.connect.wizard"].create({"mailing_list_id": self.list_news.id})
        domain = safe_eval(wizard._fields["account_id"].domain, {})
        accounts = self.env["esp.account"].search(domain)
        self.assertIn(self.sandbox_account, accounts)
        self.assertNotIn(other, accounts)
        # a forced untested account is refused before anything is created at the ESP
        books_before = self._sandbox_book_names()
        wizard.write({"account_id": other.id, "new_address_book_name": "Never created"})
        with self.assertRaisesRegex(UserError, "Test the connection"):
            wizard.action_connect()
        self.assertEqual(self._sandbox_book_names(), books_before)

    # ------------------------------------------------------------
    # WHAT THE DIALOG SAYS
    # ------------------------------------------------------------

    @users("user_esp_marketing")
    def test_dialog_says_which_books_are_not_offered(self):
        self.list_events._esp_connect(self.book_events)
        with self._open_wizard(self.list_news) as wizard_form:
            self.assertEqual(
                wizard_form.book_hint,
                "Not offered: the ESP's system books (All Contacts and Test) and books connected to other lists "
                "(“Odoo Events”, connected to the list Events).",
            )
            self.assertTrue(wizard_form.free_book_count)
        # the list's own book is offered to it, so its dialog names only the system books
        with self._open_wizard(self.list_events) as wizard_form:
            self.assertEqual(wizard_form.book_hint, "Not offered: the ESP's system books (All Contacts and Test).")

    @users("user_esp_marketing")
    def test_dialog_says_when_no_book_is_free(self):
        self.list_news._esp_connect(self.book_news)
        self.list_events._esp_connect(self.book_events)
        third = self.env["mailing.list"].create({"name": "Third"})
        with self._open_wizard(third) as wizard_form:
            self.assertEqual(wizard_form.free_book_count, 0)
            self.assertFalse(self._selectable_books(wizard_form))
            self.assertIn("“Odoo Newsletter”, connected to the list Newsletter", wizard_form.book_hint)
        alert = self._dialog_arch().xpath("//div[hasclass('alert-warning')]")[0]
        self.assertIn("This account has no free address book", "".join(alert.itertext()))
        self.assertEqual(alert.get("invisible"), "not account_id or free_book_count or new_address_book_name or notice")

    @users("user_esp_marketing")
    def test_new_name_taken_by_a_free_book_selects_it(self):
        """The ESP refuses a duplicate name (ERROR_ADDRESSBOOK_DUPLICATE): the dialog selects that book instead."""
        store = self.sandbox.app.store
        with store.lock:  # made at the ESP since the last catalogue synchronization
            store.create_book("Made in dotdigital", "Private")
        mailing_list = self.list_news.with_env(self.env)
        with self._open_wizard(mailing_list) as wizard_form:
            wizard_form.new_address_book_name = "made in DOTDIGITAL"
        wizard = wizard_form.record
        action = wizard.action_connect()

        self.assertEqual((action["res_model"], action["res_id"], action["target"]), (wizard._name, wizard.id, "new"))
        book = wizard.address_book_id
        self.assertEqual((book.name, book.account_id, book.is_system), ("Made in dotdigital", self.sandbox_account,
                                                                         False))
        self.assertFalse(wizard.new_address_book_name)
        self.assertEqual(
            wizard.notice,
            "An address book named “Made in dotdigital” already exists at dotdigital and is not connected to another "
            "list: it is selected below. Press Connect to connect this list to it, or type another name.",
        )
        self.assertFalse(mailing_list.esp_address_book_id, "nothing is connected before the user confirms")
        self.assertEqual(sorted(self._sandbox_book_names()).count("Made in dotdigital"), 1)

        wizard.action_connect()
        self.assertConnected(mailing_list, book)

    @users("user_esp_marketing")
    def test_new_name_of_a_known_book(self):
        """Names Odoo's catalogue knows are answered without asking the ESP."""
        self.list_events._esp_connect(self.book_events)
        self.sandbox.clear_log()
        Wizard = self.env["esp.connect.wizard"]

        def connect(name):
            wizard = Wizard.create({"mailing_list_id": self.list_news.id, "account_id": self.sandbox_account.id,
                                    "new_address_book_name": name})
            return wizard, wizard.action_connect()

        with self.assertRaisesRegex(UserError, "“Odoo Events” already exists at dotdigital and is connected to the "
                                               "mailing list “Events”: type another name"):
            connect("odoo events")
        with self.assertRaisesRegex(UserError, "“Test” is a system address book of dotdigital"):
            connect("test")
        wizard, action = connect("Odoo Newsletter")
        self.assertEqual(action["res_id"], wizard.id)
        self.assertEqual(wizard.address_book_id, self.book_news)
        self.assertFalse(self._sandbox_api_calls(), "no create call the ESP would refuse")

    @users("user_esp_marketing")
    def test_connection_settings_button_says_save(self):
        mailing_list = self.list_news.with_env(self.env)
        with self._open_wizard(mailing_list) as wizard_form:
            self.assertFalse(wizard_form.settings_mode)
            wizard_form.address_book_id = self.book_news
        self.assertEqual(wizard_form.record.action_connect()["params"]["title"], "Connected to ESP")

        with self._open_wizard(mailing_list) as wizard_form:
            self.assertTrue(wizard_form.settings_mode)
            wizard_form.create_contacts = True
        action = wizard_form.record.action_connect()
        self.assertEqual(action["params"]["title"], "ESP connection saved")
        self.assertConnected(mailing_list, self.book_news, create_contacts=True)
        buttons = {button.get("string"): button.get("invisible")
                   for button in self._dialog_arch().xpath("//footer/button[@name='action_connect']")}
        self.assertEqual(buttons, {"Connect": "settings_mode", "Save": "not settings_mode"})
