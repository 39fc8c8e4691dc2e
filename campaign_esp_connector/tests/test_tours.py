"""Browser tours: the product used as a person uses it, in headless Chromium against a real Odoo HTTP server.

Each tour is a ``web_tour`` tour in ``static/tests/tours/``. What a cron would do between two clicks (a sync
run, the ESP finishing a send) is done here between two tours, exactly as the cron does it, so every button,
view and dialog on the way is the real one.
"""

import json
import logging
import os
import shutil
import unittest
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import quote

from odoo import fields
from odoo.tests import HttpCase, TransactionCase, tagged

from .common import EspListSyncCommon
from .test_esp_content import campaign_urls, relative_urls

_logger = logging.getLogger(__name__)

CHROMIUM_HINT = (
    "browser tours skipped: Chromium was not found (install it, e.g. `apt-get install chromium`, "
    "or put google-chrome / chromium on PATH)"
)


def _chromium_found():
    return any(shutil.which(name) for name in ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable"))


class EspTourCase(HttpCase, EspListSyncCommon):
    """A sandbox ESP and an HTTP server for the browser; skipped with a hint where Chromium is missing."""

    @classmethod
    def setUpClass(cls):
        if not _chromium_found():
            _logger.warning(CHROMIUM_HINT)
            raise unittest.SkipTest(CHROMIUM_HINT)
        super().setUpClass()
        # The first tour's page would compile the web client's bundles itself, tens of seconds on a loaded
        # machine, within the 60 s Odoo gives a page to be ready (a first tour failed so): compiled here.
        for bundle in ("web.assets_web", "web.assets_tests"):
            assets = cls.env["ir.qweb"]._get_asset_bundle(bundle)
            assets.js()
            assets.css()

    def _run_campaign_crons(self):
        """What the campaign crons do: send the queued mailings (the send cron), follow the sends (the follow-up
        cron)."""
        self.env["mailing.mailing"]._cron_esp_send_campaigns()
        self.env.ref("campaign_esp_connector.ir_cron_esp_follow_campaigns").method_direct_trigger()
        self.env.invalidate_all()

    def _campaign_crons_until_sent(self, mailing, runs=4, advance=120):
        """The campaign crons, the sandbox's clock ``advance`` seconds on between runs, until the ESP sent it."""
        for _run in range(runs):
            self._run_campaign_crons()
            if mailing.esp_campaign_state == "sent":
                return
            self.sandbox.advance_clock(advance)

    def _start_tour(self, tour, login, url="/odoo", timeout=120):
        cookies = {
            "esp_tour_sandbox_url": quote(self.sandbox.url, safe=""),
            "esp_tour_sandbox_user": quote(self.sandbox.api_user, safe=""),
            "esp_tour_sandbox_password": quote(self.sandbox.api_password, safe=""),
        }
        self.start_tour(url, tour, login=login, cookies=cookies, timeout=timeout)
        self.env.invalidate_all()


@tagged("post_install", "-at_install", "esp_tours")
class TestEspTours(EspTourCase):

    def _connected_account(self):
        self.sandbox_account.name = "Tour sandbox"
        self.sandbox_account.action_test_connection()
        self.assertEqual(self.sandbox_account.state, "connected", self.sandbox_account.last_error)
        return self.sandbox_account

    def _run_list_sync_cron(self, mailing_list, runs=4):
        """What the list-sync cron does between two clicks; the sandbox accepts an import a minute later."""
        for _run in range(runs):
            self.env.cr.execute(  # due now, as when its interval has passed
                "UPDATE esp_address_book SET next_sync_datetime = NULL WHERE id = %s",
                [mailing_list.esp_address_book_id.id],
            )
            self.env["mailing.list"]._cron_esp_sync_contacts()
            self.env.invalidate_all()
            if mailing_list.esp_sync_state == "done" and not mailing_list.esp_pending_count:
                return
            self.sandbox.advance_clock(300)

    def test_connect_a_list_and_synchronize(self):
        """A marketing user connects a list to a new book and synchronizes it; the cron does the run."""
        self._connected_account()
        mailing_list = self.env["mailing.list"].create({
            "name": "Tour Subscribers",
            "contact_ids": [(0, 0, {"name": f"Tour Contact {i}", "email": f"tour{i}@example.com"}) for i in range(3)],
        })
        self._start_tour("campaign_esp_connector_list_connect_tour", login=self.user_esp_manager.login)
        self.assertEqual(mailing_list.esp_address_book_id.name, "Tour Book")
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        self._run_list_sync_cron(mailing_list)
        self.assertEqual(mailing_list.esp_sync_state, "done")
        self._start_tour("campaign_esp_connector_list_synced_tour", login=self.user_esp_manager.login,
                         url=f"/odoo/action-mass_mailing.action_view_mass_mailing_lists/{mailing_list.id}")
        self.assertEqual(set(self._book_state(mailing_list)), {f"tour{i}@example.com" for i in range(3)})
        self.assertEqual(mailing_list.esp_sync_state, "queued")

    def test_account_wrong_password_then_fixed(self):
        """An admin creates an account with a wrong password, sees the error, fixes it and is connected."""
        # The sandbox is one remote account, which the fixtures' account holds: one Odoo account per remote account.
        self.sandbox_account.active = False
        self._start_tour("campaign_esp_connector_account_tour", login="admin")
        account = self.env["esp.account"].search([("name", "=", "Tour dotdigital")])
        self.assertEqual(account.state, "connected")

    def test_write_sync_test_send_and_read_results(self):
        """Write an ESP mailing, Sync with ESP, Test, Send; once sent, its statistics, activity and the next list."""
        self._connected_account()
        self.sandbox.configure(engagement={"open": 1.0})
        contacts = [{"name": f"Reader {i}", "email": f"reader{i}@example.com"} for i in range(5)]
        mailing_list = self._create_connected_list(contacts, book_name="Tour Newsletter")
        self._sync_until_idle(mailing_list)
        self.assertEqual(mailing_list.esp_sync_state, "done")
        self._start_tour("campaign_esp_connector_mailing_send_tour", login=self.user_marketing.login)
        mailing = self.env["mailing.mailing"].search([("subject", "=", "Tour Campaign")])
        self.assertEqual(mailing.state, "in_queue")
        self.assertTrue(mailing.esp_campaign_remote_id)
        # The Test dialog's send went through the ESP (a proof to the test address alone), which the mailing keeps.
        self.assertEqual(len(self.sandbox.state()["sends"]), 1)
        self.assertEqual(mailing.esp_test_address, "proof@example.com")

        # What the campaign crons do: sync the lists and send (the send cron), then follow the send until the
        # ESP finished it (the follow-up cron).
        self._campaign_crons_until_sent(mailing, advance=120)
        self.assertEqual(mailing.state, "done")
        self.sandbox.advance_clock(7200)  # the recipients open it
        self._start_tour("campaign_esp_connector_mailing_results_tour", login=self.user_marketing.login,
                         url=f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{mailing.id}")
        openers = self.env["mailing.list"].search([("name", "=", "Tour Openers")])
        self.assertEqual(openers.contact_count, 5)

    def test_scheduled_mailing_waits_in_odoo_then_is_locked(self):
        """A scheduled mailing: cancelled while it waits in Odoo; locked, with the reason, once the ESP holds it."""
        self._connected_account()
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Tour Scheduled")
        self._sync_until_idle(mailing_list)
        mailing = self._create_mailing(mailing_list, subject="Tour Scheduled")
        url = f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{mailing.id}"
        self.env["mailing.mailing.schedule.date"].create({
            "mass_mailing_id": mailing.id, "schedule_date": fields.Datetime.now() + timedelta(days=1),
        }).action_schedule_date()
        self._start_tour("campaign_esp_connector_schedule_waiting_tour", login=self.user_marketing.login, url=url)
        self.assertEqual(mailing.state, "draft")
        self.assertFalse(self.sandbox.state()["sends"])

        self.env["mailing.mailing.schedule.date"].create({
            "mass_mailing_id": mailing.id, "schedule_date": fields.Datetime.now() + timedelta(minutes=5),
        }).action_schedule_date()
        self.env["mailing.mailing"]._cron_esp_send_campaigns()  # its hand-over time has come
        self.env.invalidate_all()
        self.assertEqual(mailing.esp_campaign_state, "scheduled")
        self._start_tour("campaign_esp_connector_schedule_locked_tour", login=self.user_marketing.login, url=url)
        self.assertEqual((mailing.state, mailing.esp_campaign_state), ("in_queue", "scheduled"))

    def test_mixed_lists_mailing_refused_with_the_reason(self):
        """A connected list and an unconnected one: the form warns, the ESP tab says why, Send is refused."""
        self._connected_account()
        self._create_connected_list([{"name": "Reader", "email": "reader@example.com"}], book_name="Tour Newsletter")
        self.env["mailing.list"].create({"name": "Tour Leads",
                                         "contact_ids": [(0, 0, {"name": "Lead", "email": "lead@example.com"})]})
        self._start_tour("campaign_esp_connector_recipients_tour", login=self.user_marketing.login)
        mailing = self.env["mailing.mailing"].search([("subject", "=", "Tour Mixed Lists")])
        self.assertEqual(mailing.state, "draft")
        self.assertFalse(self.env["mail.mail"].sudo().search_count([("mailing_id", "=", mailing.id)]))
        self.assertFalse(self.sandbox.state()["campaigns"])

    def test_clicked_drills_down_to_the_clickers(self):
        """After an ESP send and a read of its activity, Clicked lists the clickers and Link Trackers the links."""
        self._connected_account()
        self.sandbox.configure(engagement={"open": 1.0, "click": 1.0})
        contacts = [{"name": f"Clicker {i}", "email": f"clicker{i}@example.com"} for i in range(3)]
        mailing_list = self._create_connected_list(contacts, book_name="Tour Clickers")
        self._sync_until_idle(mailing_list)
        body = ("<p>New: <a href='https://example.com/spring'>Spring</a> and "
                "<a href='https://example.com/summer'>Summer</a></p>")
        mailing = self._create_mailing(mailing_list, body=body, subject="Tour Clicks")
        mailing.action_launch()
        # What the crons do: send, follow the send, then (the clock two hours on) read the recipients' activity.
        self._campaign_crons_until_sent(mailing, advance=120)
        self.assertEqual(mailing.state, "done")
        self.sandbox.advance_clock(7200)
        self.env["mailing.mailing"]._cron_esp_sync_activity()
        self.env.invalidate_all()
        self.assertEqual(mailing.clicked, 3)
        self._start_tour("campaign_esp_connector_clicks_tour", login=self.user_marketing.login,
                         url=f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{mailing.id}")

    def test_field_mapping_creates_a_data_field_at_the_esp(self):
        """An ESP manager types a data field the ESP does not have: it is created there and mapped."""
        account = self._connected_account()
        self._start_tour("campaign_esp_connector_field_mapping_tour", login=self.user_esp_manager.login,
                         url=f"/odoo/action-campaign_esp_connector.esp_account_action/{account.id}")
        mapping = account.field_mapping_ids.filtered(lambda line: line.source == "company_name")
        self.assertEqual(mapping.data_field_id.name, "COMPANY")
        store = self.sandbox.app.store
        with store.lock:
            self.assertIn("COMPANY", {row["name"] for row in store.data_fields()})
        # The contact's tags, picked in the field selector.
        tags = account.field_mapping_ids.filtered(lambda line: line.source == "contact")
        self.assertRecordValues(tags, [{"source_path": "tag_ids", "data_field_name": "TAGS"}])

    def test_contact_esp_tab_and_resubscribe(self):
        """A contact unsubscribed at the ESP shows it on its ESP tab; re-subscribing there asks first."""
        self._connected_account()
        mailing_list = self._create_connected_list([{"name": "Ann", "email": "ann@example.com"}],
                                                   book_name="Tour Readers", create_contacts=False)
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "ann@example.com", "Unsubscribed")
        self._run_list_sync_cron(mailing_list)
        subscription = mailing_list.subscription_ids
        self.assertTrue(subscription.opt_out)
        # Re-subscribing lifts an opt-out the ESP holds: an ESP manager's button.
        self._start_tour("campaign_esp_connector_contact_tour", login=self.user_esp_manager.login,
                         url=f"/odoo/action-mass_mailing.action_view_mass_mailing_contacts/{subscription.contact_id.id}")
        # dotdigital (and the sandbox) email a contact who unsubscribed themselves to confirm first.
        self.assertEqual(subscription.esp_member_id.state, "opted_out")
        self.assertTrue([call for call in self._sandbox_api_calls() if call["path"].endswith("/resubscribe")])
        # The list's chatter keeps the consent action too.
        self.assertTrue(mailing_list.message_ids.filtered(
            lambda message: "asked the ESP to re-subscribe ann@example.com" in message.body))
        # ESP List Members opens on every tracked contact, grouped by status, not on the Failed filter.
        self._start_tour("campaign_esp_connector_list_members_tour", login=self.user_esp_manager.login,
                         url="/odoo/action-mass_mailing.mailing_mailing_action_mail")

    def test_image_mailing_campaign_html_has_absolute_urls(self):
        """A mailing with images written in the editor, synced: the campaign HTML the ESP holds has only absolute
        URLs (the theme's logo and signature, the icons the editor turned into images)."""
        self._connected_account()
        mailing_list = self._create_connected_list([{"name": "Ann Image", "email": "ann.image@example.com"}],
                                                   book_name="Tour Image Readers")
        self._sync_until_idle(mailing_list)
        self._start_tour("campaign_esp_connector_content_tour", login=self.user_marketing.login)
        mailing = self.env["mailing.mailing"].search([("subject", "=", "Tour Image Mailing")])
        self.assertTrue(mailing.esp_campaign_remote_id)
        store = self.sandbox.app.store
        with store.lock:
            row = store.db.execute("SELECT body FROM campaigns WHERE id = ?",
                                   (int(mailing.esp_campaign_remote_id),)).fetchone()
        html = json.loads(row["body"])["htmlContent"]
        urls = campaign_urls(html)
        self.assertFalse(relative_urls(urls), "relative URLs reached the ESP")
        base_url = mailing.get_base_url().rstrip("/")
        self.assertTrue([url for url in urls if url.startswith(f"{base_url}/mass_mailing/static/")], urls)

    def test_ab_mailing_through_the_esp(self):
        """Turn A/B testing on for an ESP mailing, read the ESP tab, add a version, send: one split test at the
        ESP; after the crons and the test period, the campaign is Sent and the ESP's winner is shown."""
        self._connected_account()
        contacts = [{"name": f"AB Reader {i}", "email": f"ab-reader{i}@example.com"} for i in range(6)]
        mailing_list = self._create_connected_list(contacts, book_name="Tour AB Readers")
        self._sync_until_idle(mailing_list)
        self._start_tour("campaign_esp_connector_ab_send_tour", login=self.user_marketing.login)
        versions = self.env["mailing.mailing"].search([("subject", "in", ("Tour A/B", "Tour A/B version B"))],
                                                      order="id")
        self.assertEqual(versions.mapped("state"), ["in_queue", "in_queue"])
        self.assertEqual(len(versions.campaign_id), 1)

        self._run_campaign_crons()
        campaigns = self.sandbox.state()["campaigns"]
        self.assertEqual(len(campaigns), 1, "one split test campaign for both versions")
        self.assertEqual(versions.mapped("state"), ["sending", "sending"])
        self.sandbox.advance_clock(25 * 3600)  # the test period passes at the ESP; it sends the winner
        self._run_campaign_crons()
        self.assertEqual(versions.mapped("state"), ["done", "done"])
        self.assertEqual(len(versions.filtered("esp_ab_winner")), 1)
        self._start_tour("campaign_esp_connector_ab_results_tour", login=self.user_marketing.login,
                         url=f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{versions[0].id}")

    def test_connect_a_filter_on_contacts_and_send_to_it(self):
        """Issue 23: connect a filter on Contacts to a new book, synchronize it (the cron), then send a mailing to
        the same filtered Contacts through the ESP: it goes to that book, its traces on the partners."""
        self._connected_account()
        tag = self.env["res.partner.category"].create({"name": "Tour customer"})
        uk, france = self.env.ref("base.uk"), self.env.ref("base.fr")
        partners = self.env["res.partner"].create([
            {"name": f"Tour Customer {i}", "email": f"customer{i}@example.com", "country_id": uk.id,
             "category_id": [(4, tag.id)]} for i in range(3)])
        self.env["res.partner"].create({"name": "Tour Client", "email": "client@example.com",
                                        "country_id": france.id, "category_id": [(4, tag.id)]})
        self.env["mailing.filter"].create({
            "name": "Tour customers", "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("category_id", "in", tag.ids), ("country_id", "=", uk.id)]),
        })
        self._start_tour("campaign_esp_connector_audience_connect_tour", login=self.user_esp_manager.login)
        connected = self.env["mailing.list"].search([("name", "=", "Tour UK customers")])
        self.assertEqual((connected.esp_source_model_name, connected.esp_address_book_id.name),
                         ("res.partner", "Tour Customers Book"))
        self._run_list_sync_cron(connected)
        self.assertEqual(set(self._book_state(connected)), set(partners.mapped("email")))

        self._start_tour("campaign_esp_connector_audience_send_tour", login=self.user_marketing.login)
        mailing = self.env["mailing.mailing"].search([("subject", "=", "Tour Contacts Campaign")])
        self.assertEqual((mailing.state, mailing.mailing_model_real), ("in_queue", "res.partner"))
        self._campaign_crons_until_sent(mailing, advance=60)
        self.assertEqual(mailing.esp_campaign_state, "sent", mailing.esp_last_error)
        self.assertEqual(mailing.esp_audience_list_id, connected)
        sends = self.sandbox.state()["sends"]
        self.assertEqual(len(sends), 1)
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual((set(traces.mapped("model")), set(traces.mapped("res_id"))), ({"res.partner"}, set(partners.ids)))

    def test_mailing_words_esp_tab_replied_and_list_badge(self):
        """Issue 25: an Odoo-sent mailing's ESP tab says why Odoo sends it; a sent ESP mailing has no Replied; a
        connected list's kanban card shows its ESP account and sync state."""
        self._connected_account()
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Tour Words")
        self._sync_until_idle(mailing_list)
        leads = self.env["mailing.list"].create({
            "name": "Tour Odoo Leads", "contact_ids": [(0, 0, {"name": "Lead", "email": "lead@example.com"})]})
        odoo_mailing = self._create_mailing(leads, subject="Tour Odoo Mailing")
        self.assertFalse(odoo_mailing.esp_account_id)
        odoo_mailing.write({"state": "done", "sent_date": fields.Datetime.now()})
        self._start_tour("campaign_esp_connector_odoo_mailing_esp_tab_tour", login=self.user_marketing.login,
                         url=f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{odoo_mailing.id}")
        esp_mailing = self._create_mailing(mailing_list, subject="Tour ESP Mailing")
        esp_mailing.action_launch()
        self._campaign_crons_until_sent(esp_mailing, advance=120)
        self.assertEqual(esp_mailing.state, "done")
        self._start_tour("campaign_esp_connector_esp_mailing_no_replied_tour", login=self.user_marketing.login,
                         url=f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{esp_mailing.id}")
        self.assertEqual(mailing_list.esp_sync_status, "Up to Date")
        self._start_tour("campaign_esp_connector_list_kanban_badge_tour", login=self.user_marketing.login,
                         url="/odoo/action-mass_mailing.action_view_mass_mailing_lists")

class TestTourPrerequisites(TransactionCase):

    def test_without_chromium_the_tours_are_skipped_saying_how_to_install_it(self):
        with patch.dict(os.environ, {"PATH": "/nonexistent"}), self.assertRaises(unittest.SkipTest) as skipped:
            EspTourCase.setUpClass()
        self.assertIn("apt-get install chromium", str(skipped.exception))
