import json

import requests

from odoo.exceptions import UserError
from odoo.tests import Form, tagged, users
from odoo.tools import html2plaintext

from ..sync import ListSyncRunner
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncViews(EspListSyncCommon):
    """What a marketing user reads about a connected list: counters, states, notifications, history, overview."""

    def _cron(self, *lists):
        """One cron run, with ``lists`` due now (a partial run comes back a minute later)."""
        for mailing_list in lists:
            mailing_list.esp_address_book_id.next_sync_datetime = False
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.env.flush_all()
        self.env.invalidate_all()

    def _bus_notifications(self, user):
        """The simple notifications sent to ``user`` (the run's commit points are savepoints under tests: they
        write the bus rows a commit would)."""
        self.env.cr.precommit.run()
        channel = [self.env.cr.dbname, "res.partner", user.partner_id.id]
        messages = []
        for bus in self.env["bus.bus"].sudo().search([("id", ">", self.bus_last_id)], order="id"):
            message = json.loads(bus.message)
            if json.loads(bus.channel) == channel and message["type"] == "simple_notification":
                messages.append(message["payload"])
        return messages

    def setUp(self):
        super().setUp()
        self.bus_last_id = self.env["bus.bus"].sudo()._bus_last_id()

    def _import_calls(self):
        return [call for call in self._sandbox_api_calls() if call["path"].endswith("/import")]

    # -- 1. counters tell the truth ------------------------------------------------------------------------

    def test_blacklisted_subscribers_are_not_pending(self):
        self.env["mail.blacklist"]._add("blocked@example.com")
        mailing_list = self._create_connected_list([
            {"name": "Ada", "email": "ada@example.com"},
            {"name": "Grace", "email": "grace@example.com"},
            {"name": "Blocked", "email": "blocked@example.com"},
            {"name": "No email", "email": False},
        ])
        self.assertRecordValues(mailing_list, [{"esp_pending_count": 2, "esp_synced_count": 0,
                                                "esp_not_sent_count": 2, "esp_sendable_count": 2}])
        self._sync_until_idle(mailing_list)
        mailing_list.invalidate_recordset()
        self.assertRecordValues(mailing_list, [{
            "esp_sync_state": "done", "esp_pending_count": 0, "esp_exporting_count": 0, "esp_synced_count": 2,
            "esp_failed_count": 0, "esp_not_sent_count": 2, "esp_sync_status": "Up to Date",
            "esp_needs_attention": False,
        }])
        self.assertEqual(set(self._book_state(mailing_list)), {"ada@example.com", "grace@example.com"})

        # A change made after the run is said, next to the state of the last run.
        mailing_list.write({"contact_ids": [(0, 0, {"name": "New", "email": "new@example.com"})]})
        mailing_list.invalidate_recordset()
        self.assertEqual(mailing_list.esp_pending_count, 1)
        self.assertEqual(mailing_list.esp_sync_status, "Up to Date, 1 to send at the next run")

    # -- 2. failed members need attention ------------------------------------------------------------------

    def test_failed_members_show_a_warning_and_retry_from_the_list(self):
        mailing_list = self._create_connected_list([
            {"name": "Ada", "email": "ada@example.com"}, {"name": "Broken", "email": "not-an-email"},
        ])
        healthy = self._create_connected_list([{"name": "Grace", "email": "grace@example.com"}], book_name="Healthy")
        self._sync_until_idle(mailing_list)
        self._sync_until_idle(healthy)
        mailing_list.invalidate_recordset()
        self.assertRecordValues(mailing_list, [{
            "esp_sync_state": "done", "esp_failed_count": 1, "esp_sync_status": "Up to Date, 1 failed",
            "esp_needs_attention": True,
        }])
        self.assertIn("invalid email address: 1", mailing_list.esp_failed_summary)
        self.assertIn("Retry Failed", mailing_list.esp_failed_summary)
        self.assertFalse(healthy.esp_needs_attention)
        self.assertFalse(healthy.esp_failed_summary)

        as_user = mailing_list.with_user(self.user_marketing)
        Lists = self.env["mailing.list"].with_user(self.user_marketing)
        attention = Lists.search([("esp_needs_attention", "=", True)])
        self.assertIn(mailing_list, attention)
        self.assertNotIn(healthy, attention)
        self.assertEqual(Lists.search([("id", "in", (mailing_list | healthy).ids), ("esp_failed_count", "=", 0)]),
                         healthy)

        # The form shows the banner with its two buttons only when members failed.
        arch = as_user.get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="esp_failed_banner"', arch)
        self.assertIn("action_esp_retry_failed", arch)
        self.assertIn("action_esp_view_failed_members", arch)
        with Form(as_user) as form:
            self.assertEqual(form.esp_failed_count, 1)
            self.assertEqual(form.esp_sync_status, "Up to Date, 1 failed")

        result = as_user.action_esp_retry_failed()
        self.assertIn("1 contact(s)", result["params"]["message"])
        self.assertEqual(self._members(mailing_list)["not-an-email"].state, "pending")
        self.assertEqual(mailing_list.esp_sync_state, "queued")

    # -- 3. a manual Synchronize reports how the list stands ------------------------------------------------

    def test_manual_synchronize_after_a_cron_run_reports_the_list(self):
        mailing_list = self._create_connected_list([
            {"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(5)
        ])
        for _run in range(2):  # the import is sent, then confirmed
            self._cron(mailing_list)
        self.assertEqual(mailing_list.esp_synced_count, 5)
        self.assertEqual(mailing_list.esp_sync_state, "done")

        as_user = mailing_list.with_user(self.user_marketing)
        result = as_user.action_esp_synchronize()
        self.assertIn("notified", result["params"]["message"])
        self.assertEqual(mailing_list.esp_address_book_id.sync_requested_by_id, self.user_marketing)
        self._cron()

        log = self.env["esp.sync.log"].search([("list_id", "=", mailing_list.id)], limit=1)
        self.assertRecordValues(log, [{
            "trigger": "manual", "state": "done", "exported": 0, "list_counted": True, "list_synced_count": 5,
            "list_pending_count": 0, "list_failed_count": 0,
        }])
        self.assertIn("The list now has 5 contacts synced, 0 pending export and 0 failed.", log._summary())
        self.assertFalse(mailing_list.esp_address_book_id.sync_requested_by_id)
        notifications = self._bus_notifications(self.user_marketing)
        self.assertEqual(len(notifications), 1)
        self.assertEqual(notifications[0]["type"], "success")
        self.assertIn("5 contacts synced", notifications[0]["message"])
        self.assertIn(mailing_list.name, notifications[0]["title"])

    def test_manual_synchronize_waits_for_the_import_before_telling(self):
        mailing_list = self._create_connected_list([
            {"name": "Ada", "email": "ada@example.com"}, {"name": "Broken", "email": "not-an-email"},
        ])
        mailing_list.with_user(self.user_marketing).action_esp_synchronize()
        self._cron()
        # The import is in flight: no word yet, the run that confirms it tells.
        self.assertFalse(self._bus_notifications(self.user_marketing))
        first = self.env["esp.sync.log"].search([("list_id", "=", mailing_list.id)], limit=1)
        self.assertRecordValues(first, [{"state": "partial", "trigger": "manual", "list_exporting_count": 1}])
        self._cron(mailing_list)
        notifications = self._bus_notifications(self.user_marketing)
        self.assertEqual(len(notifications), 1)
        self.assertEqual(notifications[0]["type"], "warning", "a failed member is worth a look")
        self.assertIn("1 contacts synced, 0 pending export and 1 failed", notifications[0]["message"])

    # -- 4. disconnecting keeps what a reconnection to the same book needs --------------------------------

    def test_reconnect_to_the_same_book_loses_nothing_and_resubscribes_nothing(self):
        mailing_list = self._create_connected_list([
            {"name": "Ada", "email": "ada@example.com"},
            {"name": "Grace", "email": "grace@example.com"},
            {"name": "Quits", "email": "quits@example.com"},
            {"name": "Broken", "email": "not-an-email"},
        ])
        logs = self._sync_until_idle(mailing_list)
        failed_log = logs.filtered(lambda log: "not-an-email" in log.line_ids.mapped("email"))
        self._esp_set_status(mailing_list, "quits@example.com")
        self._sync(mailing_list)
        before = {email: member.state for email, member in self._members(mailing_list).items()}
        self.assertEqual(before, {"ada@example.com": "synced", "grace@example.com": "synced",
                                  "quits@example.com": "opted_out", "not-an-email": "failed"})
        book = mailing_list.esp_address_book_id

        mailing_list.with_user(self.user_marketing).action_esp_disconnect()
        self.assertFalse(mailing_list.esp_address_book_id)
        self.assertEqual({email: member.state for email, member in self._members(mailing_list).items()}, before)
        with self.assertRaisesRegex(UserError, "no longer connected"):
            failed_log.with_user(self.user_marketing).action_retry_failed()

        mailing_list._esp_connect(book)
        self.sandbox.clear_log()
        self._sync_until_idle(mailing_list)
        self.assertFalse(self._import_calls(), "what the ESP already holds is not sent again")
        self.assertFalse([call for call in self.sandbox.requests_log() if "resubscribe" in call["path"]])
        self.assertEqual({email: member.state for email, member in self._members(mailing_list).items()}, before)
        self.assertEqual(self._book_state(mailing_list)["quits@example.com"]["book_status"], "Unsubscribed")
        self.assertEqual(mailing_list.esp_synced_count, 2)
        self.assertEqual(mailing_list.esp_failed_count, 1)

        # The old run's Retry Failed works again.
        result = failed_log.with_user(self.user_marketing).action_retry_failed()
        self.assertIn("1 contact(s)", result["params"]["message"])
        self.assertEqual(self._members(mailing_list)["not-an-email"].state, "pending")

    def test_reconnect_resends_imports_left_in_flight_and_new_changes(self):
        mailing_list = self._create_connected_list([
            {"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        mailing_list.write({"contact_ids": [(0, 0, {"name": "New", "email": "new@example.com"})]})
        self._sync(mailing_list)  # its import is in flight
        self.assertEqual(self._members(mailing_list)["new@example.com"].state, "exporting")
        book = mailing_list.esp_address_book_id
        mailing_list.action_esp_disconnect()
        self.assertEqual(self._members(mailing_list)["new@example.com"].state, "pending")
        self.assertFalse(self.env["esp.import.batch"].search_count([("list_id", "=", mailing_list.id)]))
        grace = mailing_list.contact_ids.filtered(lambda contact: contact.email == "grace@example.com")
        grace.name = "Grace Brewster Hopper"
        self._bump_write_date(grace)

        mailing_list._esp_connect(book)
        self.sandbox.clear_log()
        self._sync_until_idle(mailing_list)
        imported = self._import_calls()
        self.assertEqual(len(imported), 1, "one import: the contact left in flight and the changed one")
        self.assertEqual({member.state for member in self._members(mailing_list).values()}, {"synced"})
        self.assertEqual(self._sandbox_contact_data("grace@example.com")["FULLNAME"], "Grace Brewster Hopper")
        self.assertEqual(set(self._book_state(mailing_list)),
                         {"ada@example.com", "grace@example.com", "new@example.com"})

    def test_connect_to_another_book_starts_afresh(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        self._sync_until_idle(mailing_list)
        first_book = mailing_list.esp_address_book_id
        mailing_list.action_esp_disconnect()
        other_book = self.sandbox_account._esp_create_address_book("Another book")
        mailing_list._esp_connect(other_book)
        self.assertFalse(self._members(mailing_list))
        self.assertFalse(mailing_list.esp_previous_address_book_id)
        self._sync_until_idle(mailing_list)
        self.assertEqual(set(self._book_state(mailing_list)), {"ada@example.com"})

        # Another list now syncs with the first book: the states this list kept of it would be stale.
        mailing_list.action_esp_disconnect()
        self.assertEqual(mailing_list.esp_previous_address_book_id, other_book)
        second = self.env["mailing.list"].create({"name": "Second"})
        second._esp_connect(other_book)
        self.assertFalse(self._members(mailing_list))
        self.assertFalse(mailing_list.esp_previous_address_book_id)
        self.assertTrue(first_book.exists())

    # -- 5. display names ----------------------------------------------------------------------------------

    @users("user_esp_marketing")
    def test_records_have_readable_names(self):
        mailing_list = self._create_connected_list([{"name": "Broken", "email": "not-an-email"},
                                                    {"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Newsletter")
        log = self._sync(mailing_list.sudo())
        log = log.with_user(self.env.user)
        self.assertRegex(log.display_name, r"^Newsletter — manual sync, \d{1,2} \w{3} \d\d:\d\d$")
        self.assertNotIn("esp.sync.log", log.display_name)
        self.assertEqual(log.line_ids.display_name, "not-an-email: invalid email address")
        member = self.env["esp.list.member"].search([("list_id", "=", mailing_list.id),
                                                     ("email", "=", "ada@example.com")])
        self.assertEqual(member.display_name, "ada@example.com (Newsletter)")
        batch = self.env["esp.import.batch"].search([("list_id", "=", mailing_list.id)])
        self.assertEqual(batch.display_name, f"Import {batch.remote_id} — Newsletter (1 contacts)")

    # -- 6. the sync-health overview -----------------------------------------------------------------------

    def test_sync_health_overview_lists_connected_lists_those_needing_attention_first(self):
        healthy = self._create_connected_list([{"name": "A", "email": "a@example.com"}], book_name="Aardvark")
        failing = self._create_connected_list([{"name": "B", "email": "not-an-email"}], book_name="Zebra")
        stopped = self._create_connected_list([{"name": "C", "email": "c@example.com"}], book_name="Yak")
        unconnected = self.env["mailing.list"].create({"name": "Not connected"})
        for mailing_list in healthy | failing | stopped:
            self._sync_until_idle(mailing_list)
        stopped.esp_address_book_id._esp_finish_run("failed", "Something broke", transient=True)

        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.mailing_list_action_esp_health")
        view = self.env.ref("campaign_esp_connector.mailing_list_view_list_esp_health")
        self.assertEqual(action["view_id"] and action["view_id"][0] or action["views"][0][0], view.id)
        Lists = self.env["mailing.list"].with_user(self.user_marketing)
        order = "esp_needs_attention desc, esp_failed_count desc, name"
        self.assertIn(f'default_order="{order}"', view.arch_db)
        found = Lists.search(action["domain"] and eval(action["domain"]), order=order)  # noqa: S307 - our own action
        ours = found.filtered(lambda mailing_list: mailing_list in (healthy | failing | stopped))
        self.assertNotIn(unconnected, found)
        self.assertEqual(ours.ids, [failing.id, stopped.id, healthy.id])
        rows = Lists.browse(ours.ids).read(["esp_sync_status", "esp_failed_count", "esp_pending_count",
                                            "esp_next_sync_datetime", "esp_last_sync_datetime"])
        self.assertEqual([row["esp_sync_status"] for row in rows],
                         ["Up to Date, 1 failed", "Waiting to Retry", "Up to Date"])
        self.assertTrue(Lists.fields_get(["esp_failed_count"], ["sortable"])["esp_failed_count"]["sortable"])
        # The view renders for a marketing user, with the menu under Mailing Lists.
        Lists.get_views([(view.id, "list")])
        menu = self.env.ref("campaign_esp_connector.esp_sync_health_menu")
        self.assertEqual(menu.parent_id, self.env.ref("mass_mailing.mass_mailing_mailing_list_menu"))
        self.assertIn(menu, self.env["ir.ui.menu"].with_user(self.user_marketing).search([("id", "=", menu.id)]))

    # -- 7. progress while a sync runs ---------------------------------------------------------------------

    def test_progress_of_a_running_sync(self):
        mailing_list = self._create_connected_list([
            {"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(4)
        ])
        self.env["ir.config_parameter"].set_param("campaign_esp_connector.rows_per_file", "3")
        self.assertRecordValues(mailing_list, [{"esp_sendable_count": 4, "esp_processed_count": 0}])
        self._sync(mailing_list)
        mailing_list.invalidate_recordset()
        # Both imports are in flight: everything is sent, nothing confirmed yet, and the list is still running.
        self.assertRecordValues(mailing_list, [{"esp_sendable_count": 4, "esp_processed_count": 0,
                                                "esp_exporting_count": 4, "esp_pending_count": 0,
                                                "esp_sync_state": "running"}])
        self.assertEqual(mailing_list.esp_sync_status, "Running: 0 of 4 contacts processed")
        self.assertRegex(mailing_list.esp_sync_progress_text,
                         r"^Synchronizing since \d\d:\d\d: waiting for the ESP to import 4 contacts$")
        # The sync-health row says the same.
        row = mailing_list.with_user(self.user_marketing).read(["esp_sync_status", "esp_sync_progress_text"])[0]
        self.assertEqual(row["esp_sync_status"], "Running: 0 of 4 contacts processed")
        self.assertIn("waiting for the ESP to import 4 contacts", row["esp_sync_progress_text"])
        self._sync(mailing_list)
        mailing_list.invalidate_recordset()
        self.assertRecordValues(mailing_list, [{"esp_processed_count": 4, "esp_exporting_count": 0,
                                                "esp_sync_state": "done", "esp_sync_status": "Up to Date",
                                                "esp_sync_progress_text": False}])
        book = mailing_list.esp_address_book_id
        book._esp_start_run()
        book.sync_progress = "Step 5 of 5: sending contacts"
        mailing_list.invalidate_recordset()
        self.assertRegex(mailing_list.esp_sync_progress_text,
                         r"^Synchronizing since \d\d:\d\d: Step 5 of 5: sending contacts$")
        arch = mailing_list.with_user(self.user_marketing).get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="esp_processed_count"', arch)
        self.assertIn("progressbar", arch)

    # -- Refresh Data Fields says what it did ---------------------------------------------------------------

    @users("user_esp_marketing")
    def test_refresh_data_fields_tells_what_the_esp_has(self):
        mailing_list = self._create_connected_list(
            [{"name": "Ada Lovelace", "email": "ada@example.com"}], book_name="Refreshed"
        ).with_user(self.env.user)
        self._sync_until_idle(mailing_list)
        store = self.sandbox.app.store
        with store.lock:
            store.create_data_field("LOYALTY", "String", "Private", None)
        action = mailing_list.action_esp_refresh_data_fields()
        self.assertEqual(action["tag"], "display_notification")
        message = action["params"]["message"]
        self.assertIn("1 new", message)
        self.assertIn("Every contact of Refreshed is sent again at the next synchronization.", message)
        self.assertTrue(self.env["esp.data.field"].sudo().search_count(
            [("account_id", "=", self.sandbox_account.id), ("name", "=", "LOYALTY")]))
        self.assertEqual(mailing_list.esp_sync_state, "queued")

    def test_counters_add_up_to_the_recipients(self):
        """Synced, pending, being exported, failed, not sent and opted out: every recipient is in one of them."""
        mailing_list = self._create_connected_list([
            {"name": f"Reader {index}", "email": f"reader{index}@example.com"} for index in range(5)
        ] + [{"name": "No Email", "email": False}], book_name="Counted")
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "reader0@example.com", "Unsubscribed")
        self._sync(mailing_list)
        mailing_list.invalidate_recordset()
        self.assertEqual(mailing_list.esp_opted_out_count, 1)
        self.assertEqual(
            mailing_list.esp_synced_count + mailing_list.esp_pending_count + mailing_list.esp_exporting_count
            + mailing_list.esp_failed_count + mailing_list.esp_not_sent_count + mailing_list.esp_opted_out_count,
            mailing_list.contact_count,
        )

    # -- what a person sees of a run tells the truth ---------------------------------------------------------

    def test_scheduled_run_adding_existing_contacts_is_kept_and_counted(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Pulled", create_contacts=True)
        grace = self.env["mailing.contact"].create({"name": "Grace", "email": "grace@example.com"})
        self._sync_until_idle(mailing_list)
        self.sandbox.advance_clock(600)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        requests.post(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", json={"email": "grace@example.com"},
                      auth=(self.sandbox.api_user, self.sandbox.api_password), timeout=10).raise_for_status()
        log = mailing_list._esp_sync(trigger="cron")
        self.assertTrue(log, "a scheduled run that changed the list stays in its history")
        # Odoo's contact has a name the ESP's lacks: it goes out (an import in flight), so both hold "Grace".
        self.assertRecordValues(log, [{"trigger": "cron", "state": "partial", "created": 0, "added": 1}])
        mailing_list.invalidate_recordset(["contact_ids"])
        self.assertIn(grace, mailing_list.contact_ids)
        self.assertIn("1 existing Odoo contacts joined the list from the ESP.", log._summary())
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._sandbox_contact_data("grace@example.com")["FULLNAME"], "Grace")
        # Nothing new next time: that run leaves no row.
        self.assertFalse(mailing_list._esp_sync(trigger="cron"))

    def test_requester_is_told_after_the_final_state_is_recorded(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        self._sync_until_idle(mailing_list)
        mailing_list.with_user(self.user_marketing).action_esp_synchronize()

        told = []

        class Runner(ListSyncRunner):
            def _notify_requester(self, user, log):
                # What the person's form reads when the notice arrives.
                book = log.list_id.esp_address_book_id
                told.append((book.sync_state, book.sync_progress, log.state, log.list_counted))
                return super()._notify_requester(user, log)

        Runner(self.env).run()
        self.assertEqual(told, [("done", False, "done", True)])
        self.assertFalse(mailing_list.esp_address_book_id.sync_requested_by_id)
        [notification] = self._bus_notifications(self.user_marketing)
        self.assertIn("1 contacts synced", notification["message"])

    def test_archived_list_stops_syncing_and_says_so(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Archived book")
        self._sync_until_idle(mailing_list)
        mailing_list.action_archive()
        mailing_list.write({"contact_ids": [(0, 0, {"name": "New", "email": "new@example.com"})]})
        self.sandbox.clear_log()
        self._cron(mailing_list)
        self.assertFalse(self._sandbox_api_calls(), "an archived list is never due")
        mailing_list.invalidate_recordset()
        self.assertRecordValues(mailing_list, [{"esp_sync_status": "Archived: not synchronized",
                                                "esp_needs_attention": False}])
        health = self.env["mailing.list"].with_user(self.user_marketing).with_context(active_test=False)
        self.assertEqual(health.browse(mailing_list.id).esp_sync_status, "Archived: not synchronized")
        with self.assertRaisesRegex(UserError, "archived"):
            mailing_list.with_user(self.user_marketing).action_esp_synchronize()

        mailing_list.action_unarchive()
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        self.assertFalse(mailing_list.esp_next_sync_datetime)
        self._cron(mailing_list)
        self._cron(mailing_list)
        self.assertEqual(set(self._book_state(mailing_list)), {"ada@example.com", "new@example.com"})

    def test_deleting_a_connected_list_says_what_stays_at_the_esp(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}],
                                                   book_name="Kept at the ESP")
        self._sync_until_idle(mailing_list)
        book = mailing_list.esp_address_book_id
        mailing_list.with_user(self.user_marketing).name = "Deleted list"
        mailing_list.with_user(self.user_marketing).unlink()

        self.assertFalse(mailing_list.exists())
        self.assertRecordValues(book, [{"mailing_list_id": False, "sync_state": "never", "pull_watermark": False}])
        self.assertEqual(set(self._book_state_of(book)), {"ada@example.com"}, "the book keeps its contacts")
        note = self.sandbox_account.message_ids[:1]
        self.assertEqual(note.author_id, self.user_marketing.partner_id)
        text = html2plaintext(note.body)
        self.assertIn("Marketing Martha deleted the mailing list “Deleted list”", text)
        self.assertIn("“Kept at the ESP”, which stays at the ESP with its contacts", text)
        # The book is free for another list, which starts afresh.
        other = self.env["mailing.list"].create({"name": "Next"})
        other._esp_connect(book)
        self.assertEqual(other.esp_sync_state, "queued")
        # The form says it near Disconnect.
        arch = self.env["mailing.list"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("The address book and its contacts stay at the ESP", arch)

    def _book_state_of(self, book):
        books = {row["id"]: row for row in self.sandbox.state(contacts_limit=1000)["books"]}
        return {contact["email"]: contact for contact in books[int(book.remote_id)]["contacts"]}
