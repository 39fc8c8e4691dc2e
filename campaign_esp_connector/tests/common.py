import sys
from pathlib import Path

from odoo.tests import TransactionCase

try:
    from esp_sandbox.testing import SandboxServer
except ImportError:  # run by odoo-bin rather than pytest: the sandbox sits at the repository root
    sys.path.append(str(Path(__file__).resolve().parents[2]))
    from esp_sandbox.testing import SandboxServer

from odoo.addons.mail.tests.common import mail_new_test_user

MANAGER_GROUP = "campaign_esp_connector.campaign_esp_connector_group_manager"


class EspCommon(TransactionCase):
    """Users of both companies and one ESP account, shared by the add-on's test classes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_main = cls.env.company
        cls.company_other = cls.env["res.company"].create({"name": "ESP Other Company"})
        cls.user_marketing = mail_new_test_user(
            cls.env,
            login="user_esp_marketing",
            name="Marketing Martha",
            groups="base.group_user,mass_mailing.group_mass_mailing_user",
        )
        cls.user_esp_manager = mail_new_test_user(
            cls.env,
            login="user_esp_manager",
            name="ESP Manager Max",
            groups=f"base.group_user,mass_mailing.group_mass_mailing_user,{MANAGER_GROUP}",
        )
        cls.user_marketing_other = mail_new_test_user(
            cls.env,
            login="user_esp_marketing_other",
            name="Other Company Olga",
            groups="base.group_user,mass_mailing.group_mass_mailing_user",
            company_id=cls.company_other.id,
            company_ids=[(6, 0, cls.company_other.ids)],
        )
        cls.esp_password = "s3cr3t-Pa55word-never-shown"
        cls.esp_account = cls._create_esp_account(name="dotdigital Europe", api_password=cls.esp_password)

    @classmethod
    def _create_esp_account(cls, **values):
        return cls.env["esp.account"].create(
            {
                "name": "ESP account",
                "provider": "dotdigital",
                "api_user": "apiuser-1@apiconnector.com",
                "api_endpoint": "https://r1-api.dotdigital.com",
                **values,
            }
        )

    def _flush_tracking(self):
        """Write pending tracking values now, as a commit would (creation in the same transaction discards them)."""
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.invalidate_all()


class EspSandboxCommon(EspCommon):
    """Adds a sandbox ESP served from this process over real HTTP, and an account pointing at it.

    The sandbox is started once per class and reset before each test (seeded account, no faults, empty request
    log). Its ``app.store`` is reachable for bulk seeding that is not what a test measures.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = SandboxServer().start()
        cls.addClassCleanup(cls.sandbox.stop)
        cls.sandbox_account = cls._create_esp_account(
            name="dotdigital sandbox",
            api_endpoint=cls.sandbox.url,
            api_user=cls.sandbox.api_user,
            api_password=cls.sandbox.api_password,
        )

    def setUp(self):
        super().setUp()
        self.sandbox.reset()

    def _sandbox_api_calls(self):
        return [entry for entry in self.sandbox.requests_log() if entry["path"].startswith("/v2/")]

    def _seed_sandbox_books(self, count, prefix="Book"):
        store = self.sandbox.app.store
        with store.lock:
            for index in range(count):
                store.create_book(f"{prefix} {index:05d}", "Private")
