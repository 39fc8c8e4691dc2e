import sys
from pathlib import Path

import requests

from odoo import fields
from odoo.tests import TransactionCase

try:
    from esp_sandbox.testing import SandboxServer
except ImportError:  # run by odoo-bin rather than pytest: the sandbox sits at the repository root
    sys.path.append(str(Path(__file__).resolve().parents[2]))
    from esp_sandbox.testing import SandboxServer

from odoo.addons.mail.tests.common import mail_new_test_user

from ..sync.campaigns import import_esp_campaigns

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

    # Settings of the class's sandbox (``SandboxConfig`` fields); ``{"v3_contacts": True}`` runs a class on the
    # hybrid dotdigital provider (v3 contacts), as Test Connection then chooses.
    sandbox_settings = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = SandboxServer(**cls.sandbox_settings).start()
        cls.addClassCleanup(cls.sandbox.stop)
        cls.sandbox_account = cls._create_esp_account(
            name="dotdigital sandbox",
            api_endpoint=cls.sandbox.url,
            api_user=cls.sandbox.api_user,
            api_password=cls.sandbox.api_password,
        )

    @classmethod
    def _create_campaign_master_account(cls, name="Campaign Master sandbox"):
        """An account on the sandbox's Campaign Master service (not connected yet)."""
        return cls._create_esp_account(
            name=name, provider="campaign_master", api_endpoint=f"{cls.sandbox.url}/campaignmaster",
            api_client_id="1000", api_user=cls.sandbox.api_user, api_password=cls.sandbox.api_password,
        )

    def setUp(self):
        super().setUp()
        self.sandbox.reset()

    def _sandbox_api_calls(self):
        return [entry for entry in self.sandbox.requests_log() if entry["path"].startswith("/v2/")]

    def _sandbox_get_all(self, path):
        """Every row of a v2 listing of the sandbox, page by page, as a third-party client reads it."""
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        rows, skip = [], 0
        while True:
            page = requests.get(f"{self.sandbox.url}/v2/{path}", params={"select": 1000, "skip": skip}, auth=auth,
                                timeout=10).json()
            rows += page
            if len(page) < 1000:
                return rows
            skip += 1000

    def _seed_sandbox_books(self, count, prefix="Book"):
        store = self.sandbox.app.store
        with store.lock:
            for index in range(count):
                store.create_book(f"{prefix} {index:05d}", "Private")


class EspListSyncCommon(EspSandboxCommon):
    """A connected account, and builders for mailing lists connected to sandbox address books."""

    def _create_mailing(self, mailing_lists, body="<div><p>Hello from Odoo</p></div>", **values):
        """A mailing to ``mailing_lists`` (connected: its ESP tab fills itself in)."""
        return self.env["mailing.mailing"].create({
            "subject": "Spring news",
            "body_arch": body,
            "body_html": body,
            "mailing_model_id": self.env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [fields.Command.set(mailing_lists.ids)],
            "email_from": "Shop <shop@example.com>",
            **values,
        })

    def _create_engaged_readers(self):
        """30 readers in a list connected to a new book, synced, at an ESP where most of them open and click."""
        self.sandbox.configure(engagement={"open": 0.8, "click": 0.5})
        self.mailing_list = self._create_connected_list(
            [{"name": f"Reader {index}", "email": f"reader{index}@example.com"} for index in range(30)]
        )
        self._sync_until_idle(self.mailing_list)

    def setUp(self):
        super().setUp()
        self.sandbox_account.action_test_connection()
        self.assertEqual(self.sandbox_account.state, "connected", self.sandbox_account.last_error)

    def _create_connected_list(self, contacts, book_name="Odoo list", create_contacts=False):
        """Create a mailing list with ``contacts`` (list of value dicts) connected to a new sandbox book."""
        mailing_list = self.env["mailing.list"].create({
            "name": book_name,
            "contact_ids": [(0, 0, values) for values in contacts],
        })
        book = self.sandbox_account._esp_create_address_book(book_name)
        mailing_list._esp_connect(book, create_contacts=create_contacts)
        return mailing_list

    def _sync(self, mailing_list, **kwargs):
        log = mailing_list._esp_sync(trigger="manual", **kwargs)
        self.env.flush_all()
        return log

    def _sync_until_idle(self, mailing_list, runs=3):
        """Sync until nothing is pending or exporting (imports are confirmed one run after being sent)."""
        logs = self.env["esp.sync.log"]
        for _run in range(runs):
            logs |= self._sync(mailing_list)
            if not self.env["esp.list.member"].search_count(
                [("list_id", "=", mailing_list.id), ("state", "in", ("pending", "exporting"))]
            ):
                break
        return logs

    def _esp_set_status(self, mailing_list, email, status="Unsubscribed", in_book=True):
        """Change a contact at the ESP a minute later, as a person would in dotdigital (in the list's book, or
        account-wide with ``in_book=False``)."""
        self.sandbox.advance_clock(60)
        book_id = int(mailing_list.esp_address_book_id.remote_id) if in_book else None
        self.sandbox.set_contact_status(email, status, book_id=book_id)

    def _book_state(self, mailing_list):
        """The sandbox's view of the list's book: ``{email: contact dict with status/book_status}``."""
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        books = {book["id"]: book for book in self.sandbox.state(contacts_limit=100000)["books"]}
        return {contact["email"]: contact for contact in books[book_id]["contacts"]}

    def _sandbox_contact_data(self, email):
        import json

        for contact in self.sandbox.state(contacts_limit=100000)["contacts"]:
            if contact["email"] == email:
                return json.loads(contact["data"] or "{}")
        return None

    def _campaign_made_in_the_esp(self, mailing_list):
        """A campaign made and sent in the ESP (not by Odoo) to ``mailing_list``'s book, then imported twice, as
        the campaign cron would; :return: ``(the ESP's campaign, the mailings Odoo imported for it)``."""
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        campaign = requests.post(f"{self.sandbox.url}/v2/campaigns", auth=auth, timeout=10, json={
            "name": "Made at the ESP", "subject": "From dotdigital", "fromName": "Shop", "fromAddress": {"id": 1},
            "htmlContent": "<p>Hi</p><a href='http://$UNSUB$'>u</a>", "plainTextContent": "Hi http://$UNSUB$",
        }).json()
        requests.post(f"{self.sandbox.url}/v2/campaigns/send", auth=auth, timeout=10,
                      json={"campaignId": campaign["id"], "addressBookIds": [book_id]}).raise_for_status()
        self.sandbox.advance_clock(60)
        import_esp_campaigns(self.env)
        import_esp_campaigns(self.env)
        imported = self.env["mailing.mailing"].search([("esp_campaign_remote_id", "=", str(campaign["id"]))])
        return campaign, imported

    def _members(self, mailing_list):
        return {
            member.email: member
            for member in self.env["esp.list.member"].search([("list_id", "=", mailing_list.id)])
        }

    def _bump_write_date(self, contacts):
        """Make Odoo changes look committed later than the last sync, as separate transactions would be
        (within one test transaction every write_date is the same timestamp)."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE mailing_contact SET write_date = write_date + interval '1 second' WHERE id = ANY(%s)",
            [contacts.ids],
        )
        contacts.invalidate_recordset(["write_date"])


class CampaignMasterCommon(EspSandboxCommon):
    """A Campaign Master account on the sandbox (``cm_account``); Campaign Master confirms an import once its
    job ran, on the sandbox clock."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cm_account = cls._create_campaign_master_account()

    def _sync_until_idle(self, mailing_list, runs=4):
        for _run in range(runs):
            mailing_list._esp_sync(trigger="manual")
            self.env.flush_all()
            if not self.env["esp.list.member"].search_count(
                    [("list_id", "=", mailing_list.id), ("state", "in", ("pending", "exporting"))]):
                return
            self.sandbox.advance_clock(60)


class EspAudienceCommon(EspListSyncCommon):
    """Partners of Belgium carrying a tag of the class's own (``TAG_NAME``), for filters on Contacts."""

    TAG_NAME = "ESP audience customers"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.belgium = cls.env.ref("base.be")
        cls.france = cls.env.ref("base.fr")
        cls.tag = cls.env["res.partner.category"].create({"name": cls.TAG_NAME})
        cls.partner_model = cls.env["ir.model"]._get("res.partner")

    def _partners(self, rows, country=None):
        """Tagged partners, one per ``(name, email)`` of ``rows``, of Belgium unless ``country``."""
        return self.env["res.partner"].create([{
            "name": name, "email": email, "country_id": (country or self.belgium).id,
            "category_id": [(4, self.tag.id)],
        } for name, email in rows])
