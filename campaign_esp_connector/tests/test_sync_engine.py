"""One regression test per defect of the sync engine found when tried from outside (issue #8)."""

from unittest.mock import patch

import requests

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import tagged, users
from odoo.tools import config, mute_logger

from ..sync import ListRun
from ..sync import runner as sync_runner
from .common import EspListSyncCommon, SandboxServer

RUNNER_LOGGER = "odoo.addons.campaign_esp_connector.sync.runner"
ACCOUNT_LOGGER = "odoo.addons.campaign_esp_connector.models.esp_account"
NO_WAIT = {"campaign_esp_connector_transport": {"max_wait": 0, "backoff_factor": 0, "max_retries": 0}}


@tagged("campaign_esp_connector", "esp_sync_engine")
class TestSyncEngine(EspListSyncCommon):
    def _auth(self):
        return (self.sandbox.api_user, self.sandbox.api_password)

    def _add_at_esp(self, mailing_list, email, **data_fields):
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        answer = requests.post(
            f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", auth=self._auth(), timeout=10,
            json={"email": email, "dataFields": [{"key": k, "value": v} for k, v in data_fields.items()]},
        )
        answer.raise_for_status()

    def _v2_calls(self, fragment):
        return [call for call in self._sandbox_api_calls() if fragment in call["path"]]

    # 1 -------------------------------------------------------------------------------------------------------
    def test_esp_contacts_added_while_an_import_is_in_flight_are_not_lost(self):
        mailing_list = self._create_connected_list(
            [{"name": f"First {i}", "email": f"first{i}@example.com"} for i in range(3)], create_contacts=True
        )
        self._sync_until_idle(mailing_list)
        # A second wave of Odoo contacts goes out; the ESP takes ten minutes to process it.
        self.sandbox.configure(import_delay=600)
        mailing_list.write({"contact_ids": [(0, 0, {"name": f"Second {i}", "email": f"second{i}@example.com"})
                                            for i in range(3)]})
        self._sync(mailing_list)
        self.assertEqual(self.env["esp.import.batch"].search_count(
            [("list_id", "=", mailing_list.id), ("state", "=", "posted")]), 1)
        # Meanwhile two contacts are added to the book at the ESP.
        self.sandbox.advance_clock(60)
        self._add_at_esp(mailing_list, "esp-one@example.com")
        self._add_at_esp(mailing_list, "esp-two@example.com")
        self.sandbox.advance_clock(900)
        for _run in range(4):
            self._sync(mailing_list)
        mailing_list.invalidate_recordset(["contact_ids"])
        emails = set(mailing_list.contact_ids.mapped("email"))
        self.assertLessEqual({"esp-one@example.com", "esp-two@example.com"}, emails)
        self.assertFalse(self.env["esp.import.batch"].search_count(
            [("list_id", "=", mailing_list.id), ("state", "=", "posted")]))

    # 2 -------------------------------------------------------------------------------------------------------
    def test_throttled_second_import_keeps_the_first(self):
        self.env["ir.config_parameter"].set_param("campaign_esp_connector.rows_per_file", "2")
        mailing_list = self._create_connected_list(
            [{"name": f"P{i}", "email": f"p{i}@example.com"} for i in range(5)]
        )
        # The first POST goes through (a zero-second "slow" answer), the second is throttled.
        self.sandbox.inject_fault("/v2/address-books/*/contacts/import", "slow", count=1, seconds=0)
        self.sandbox.inject_fault("/v2/address-books/*/contacts/import", "rate_limited", count=5, reset=3600)
        log = self._sync(mailing_list.with_context(**NO_WAIT))
        self.assertEqual(log.state, "throttled")
        accepted = self.sandbox.state()["imports"]
        self.assertEqual(len(accepted), 1)
        batches = self.env["esp.import.batch"].search([("list_id", "=", mailing_list.id)])
        self.assertEqual(batches.mapped("remote_id"), [accepted[0]["id"]])
        self.assertEqual(len(self._members(mailing_list)), 2)
        self.assertEqual(mailing_list.esp_sync_state, "retry")
        self.sandbox.clear_faults()
        mailing_list.esp_address_book_id.next_sync_datetime = False
        self._sync_until_idle(mailing_list, runs=4)
        self.assertEqual(len(self._book_state(mailing_list)), 5)
        self.assertEqual({m.state for m in self._members(mailing_list).values()}, {"synced"})

    # 3 -------------------------------------------------------------------------------------------------------
    @mute_logger(RUNNER_LOGGER, ACCOUNT_LOGGER)
    def test_broken_account_does_not_starve_healthy_ones(self):
        # Another dotdigital account (one remote account is one Odoo account): a sandbox of its own.
        other_sandbox = SandboxServer(account_id=515151).start()
        self.addCleanup(other_sandbox.stop)
        broken = self._create_esp_account(
            name="broken", api_endpoint=other_sandbox.url, api_user=other_sandbox.api_user,
            api_password=other_sandbox.api_password,
        )
        broken.action_test_connection()
        broken_list = self.env["mailing.list"].create({"name": "Broken list",
                                                       "contact_ids": [(0, 0, {"email": "x@example.com"})]})
        broken_list._esp_connect(broken._esp_create_address_book("Broken book"))
        healthy = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        broken.sudo().api_password = "wrong"  # voids the test: not connected any more
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(self._members(healthy)["a@example.com"].state, "exporting")
        healthy.esp_address_book_id.next_sync_datetime = False  # due again (imports take a minute)
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(self._members(healthy)["a@example.com"].state, "synced")
        # A wrong password found during a run stops that account (a person must fix it), and only it.
        broken.write({"state": "connected"})
        broken.sudo().flush_recordset()
        self.env.cr.execute("UPDATE esp_account SET api_password = 'wrong', state = 'connected' WHERE id = %s",
                            [broken.id])
        broken.invalidate_recordset()
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(broken.state, "error")
        self.assertEqual(self.sandbox_account.state, "connected")

    @mute_logger(ACCOUNT_LOGGER)
    def test_transient_catalogue_failure_keeps_the_account_connected(self):
        self.sandbox.inject_fault("/v2/address-books", "http_500", count=10)
        self.env["esp.account"].with_context(**NO_WAIT)._cron_sync_catalogue()
        self.assertEqual(self.sandbox_account.state, "connected")
        self.assertIn("internal error", self.sandbox_account.last_error)
        self.sandbox.clear_faults()
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")

    @mute_logger(RUNNER_LOGGER)
    def test_transient_sync_failure_is_retried_with_backoff(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.inject_fault("/v2/server-time", "http_500", count=10)
        self.env["mailing.list"].with_context(**NO_WAIT)._cron_esp_sync_contacts()
        binding = mailing_list.esp_address_book_id
        self.assertEqual(binding.sync_state, "retry")
        self.assertTrue(binding.next_sync_datetime)
        self.assertEqual(self.sandbox_account.state, "connected")

    # 4 -------------------------------------------------------------------------------------------------------
    def test_synchronize_button_queues_and_makes_no_call(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.clear_log()
        cron = self.env.ref("campaign_esp_connector.ir_cron_esp_sync_contacts")
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        action = mailing_list.with_user(self.user_marketing).action_esp_synchronize()
        self.assertEqual(action["params"]["type"], "info")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]))
        self.assertFalse(self._sandbox_api_calls())
        self.assertEqual(mailing_list.esp_sync_state, "queued")

    def test_run_skips_an_account_held_by_another_worker(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        with self.registry.cursor() as other_cr:
            other_cr.execute("SELECT pg_try_advisory_lock(%s, %s)",
                             [sync_runner.LOCK_NAMESPACE, self.sandbox_account.id])
            self.assertTrue(other_cr.fetchone()[0])
            self.sandbox.clear_log()
            self.assertFalse(mailing_list._esp_sync())
            self.assertFalse(self._sandbox_api_calls())
            other_cr.execute("SELECT pg_advisory_unlock(%s, %s)", [sync_runner.LOCK_NAMESPACE, self.sandbox_account.id])
        self.assertTrue(mailing_list._esp_sync())

    # 5 -------------------------------------------------------------------------------------------------------
    def test_account_suppression_feed_read_once_per_run(self):
        lists = [self._create_connected_list([{"name": "A", "email": f"a{i}@example.com"}], book_name=f"L{i}")
                 for i in range(3)]
        self.sandbox.clear_log()
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(len(self._v2_calls("suppressed-since")), 1)
        self.assertEqual(len(self._v2_calls("server-time")), 1)
        for mailing_list in lists:
            self.assertEqual(len(self._v2_calls(f"address-books/{mailing_list.esp_address_book_id.remote_id}/contacts/unsubscribed-since")), 1)

    # 6 -------------------------------------------------------------------------------------------------------
    def test_users_cannot_write_sync_bookkeeping(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync(mailing_list)
        member = self.env["esp.list.member"].search([("list_id", "=", mailing_list.id)])
        for user in (self.user_marketing, self.user_esp_manager):
            with self.assertRaises(AccessError), mute_logger("odoo.addons.base.models.ir_model"):
                member.with_user(user).write({"state": "synced", "confirmed_hash": "x"})
            self.assertTrue(member.with_user(user).read(["state"]))

    # 7 -------------------------------------------------------------------------------------------------------
    @users("user_esp_marketing_other")
    def test_other_company_sees_no_sync_records(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "bad-email"},
                                                    {"name": "B", "email": "b@example.com"}])
        self._sync(mailing_list.sudo())
        for model in ("esp.sync.log", "esp.sync.log.line", "esp.list.member", "esp.import.batch"):
            self.assertFalse(self.env[model].search([]), model)
            self.assertTrue(self.env[model].sudo().search([]), model)

    # 8 -------------------------------------------------------------------------------------------------------
    def test_failed_members_always_say_why(self):
        mailing_list = self._create_connected_list([
            {"name": "Broken", "email": "not-an-email"}, {"name": "Ok", "email": "ok@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        failed = self.env["esp.list.member"].search([("list_id", "=", mailing_list.id), ("state", "=", "failed")])
        self.assertEqual(failed.mapped("email"), ["not-an-email"])
        self.assertTrue(all(failed.mapped("failure_reason")))

    # 9 -------------------------------------------------------------------------------------------------------
    def test_run_budget_fits_the_cron_time_limit(self):
        self.patch(config, "options", dict(config.options, limit_time_real=120, limit_time_real_cron=-1))
        self.assertLessEqual(sync_runner.time_budget(), 60)
        self.patch(config, "options", dict(config.options, limit_time_real=120, limit_time_real_cron=30))
        self.assertLessEqual(sync_runner.time_budget(), 15)
        # One call, its in-line throttling wait included, fits in the other half of the limit.
        options = sync_runner.transport_options(60, testing=False)
        self.assertEqual(options["timeout"], (10, 50))
        self.assertLessEqual(options["max_wait"] * options["throttle_retries"], 15)

    @mute_logger(RUNNER_LOGGER)
    def test_poll_only_run_keeps_a_failed_list_failed(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync(mailing_list)  # one import in flight
        binding = mailing_list.esp_address_book_id
        binding.write({"sync_state": "failed", "last_error": "Something a person must see"})
        self.env["mailing.list"]._cron_esp_poll_imports()
        self.assertEqual(binding.sync_state, "failed")
        self.assertEqual(binding.last_error, "Something a person must see")
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")

    def test_run_reads_the_clock_once_and_writes_no_parameter(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.clear_log()
        params_before = self.env["ir.config_parameter"].search_count([])
        self.env["ir.config_parameter"].flush_model()
        self.env.cr.execute("SELECT max(write_date) FROM ir_config_parameter")
        written_before = self.env.cr.fetchone()[0]
        self._sync(mailing_list)
        self._sync(mailing_list)
        self.assertEqual(len(self._v2_calls("server-time")), 2)  # one per run
        self.env.cr.execute("SELECT max(write_date) FROM ir_config_parameter")
        self.assertEqual(self.env.cr.fetchone()[0], written_before)
        self.assertEqual(self.env["ir.config_parameter"].search_count([]), params_before)

    # 10 ------------------------------------------------------------------------------------------------------
    def test_esp_opt_out_leaves_evidence_on_the_contact(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "a@example.com")
        self._sync(mailing_list)
        contact = mailing_list.contact_ids
        subscription = mailing_list.subscription_ids
        self.assertTrue(subscription.opt_out)
        self.assertEqual(subscription.opt_out_reason_id,
                         self.env.ref("campaign_esp_connector.mailing_subscription_optout_esp"))
        self.assertTrue(subscription.opt_out_datetime)
        notes = contact.message_ids.filtered(lambda message: "Opted out" in (message.body or ""))
        self.assertEqual(len(notes), 1)
        self.assertIn(mailing_list.name, notes.body)
        self.assertIn("dotdigital", notes.body)

    # 11 ------------------------------------------------------------------------------------------------------
    def test_idle_list_plans_nothing(self):
        mailing_list = self._create_connected_list([{"name": f"P{i}", "email": f"p{i}@example.com"}
                                                    for i in range(20)])
        self._sync_until_idle(mailing_list)
        binding = mailing_list.esp_address_book_id
        self.assertFalse(binding._esp_change_mark())
        # Nothing changed: the export and the removal diff are not even planned.
        # (61: one progress write per step, the double opt-in step included, which makes no call here.)
        with self.assertQueryCount(__system__=61):
            log = self._sync(mailing_list)
        self.assertEqual(log.state, "done")
        self.assertNotIn("Import", log.steps or "")
        # A change to a mapped field is recorded and goes out.
        contact = mailing_list.contact_ids[:1]
        contact.name = "Renamed"
        self.assertTrue(binding._esp_change_mark())

    # 12 ------------------------------------------------------------------------------------------------------
    def test_members_searched_by_contact(self):
        mailing_list = self._create_connected_list([
            {"name": "Ada Lovelace", "email": "ada@example.com"}, {"name": "Grace Hopper", "email": "grace@example.com"},
        ])
        self._sync(mailing_list)
        ada = mailing_list.contact_ids.filtered(lambda c: c.email == "ada@example.com")
        Member = self.env["esp.list.member"]
        self.assertEqual(Member.search([("contact_id", "=", ada.id)]).mapped("email"), ["ada@example.com"])
        self.assertEqual(Member.search([("contact_id", "ilike", "grace")]).mapped("email"), ["grace@example.com"])

    def test_run_left_by_a_dead_worker_is_closed(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        dead = self.env["esp.sync.log"].create({"list_id": mailing_list.id, "account_id": self.sandbox_account.id})
        mailing_list.esp_address_book_id.sync_state = "running"
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(dead.state, "failed")
        self.assertIn("Interrupted", dead.message)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "exporting")


@tagged("campaign_esp_connector", "esp_sync_engine")
class TestListRemovals(EspListSyncCommon):
    """An email leaving a connected list leaves the book too, whatever road it took out of the list and even
    when Odoo never exported it (a person added it at the ESP, or an import whose answer was lost carried it)."""

    def _add_at_esp(self, mailing_list, email):
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        requests.post(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", timeout=10,
                      auth=(self.sandbox.api_user, self.sandbox.api_password),
                      json={"email": email}).raise_for_status()

    def test_every_road_out_of_the_list_reaches_the_book(self):
        emails = ["sub@example.com", "m2m@example.com", "list@example.com", "deleted@example.com",
                  "renamed@example.com", "stays@example.com"]
        mailing_list = self._create_connected_list([{"name": email, "email": email} for email in emails])
        for email in emails:
            self._add_at_esp(mailing_list, email)
        contacts = {contact.email: contact for contact in mailing_list.contact_ids}
        # Before any export, each leaves the list by another road.
        mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == "sub@example.com").unlink()
        contacts["m2m@example.com"].write({"list_ids": [Command.unlink(mailing_list.id)]})
        mailing_list.write({"contact_ids": [Command.unlink(contacts["list@example.com"].id)]})
        contacts["deleted@example.com"].unlink()
        contacts["renamed@example.com"].email = "new-address@example.com"
        self.env.flush_all()
        members = self._members(mailing_list)
        removed = set(emails) - {"stays@example.com"}
        self.assertEqual({email for email, member in members.items() if member.state == "removing"}, removed)
        self._sync_until_idle(mailing_list)
        book = self._book_state(mailing_list)
        self.assertFalse(removed & set(book), "removed in Odoo, still in the book")
        self.assertLessEqual({"stays@example.com", "new-address@example.com"}, set(book))
        self.assertFalse(removed & set(self._members(mailing_list)))

    def test_removed_then_added_again_goes_out(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        contact = mailing_list.contact_ids
        contact.write({"list_ids": [Command.unlink(mailing_list.id)]})
        self.assertEqual(self._members(mailing_list)["ada@example.com"].state, "removing")
        contact.write({"list_ids": [Command.link(mailing_list.id)]})
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["ada@example.com"].state, "synced")
        self.assertIn("ada@example.com", self._book_state(mailing_list))

    def test_removal_is_not_taken_for_a_contact_new_at_the_esp(self):
        mailing_list = self._create_connected_list(
            [{"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"}],
            create_contacts=True,
        )
        self._add_at_esp(mailing_list, "grace@example.com")
        mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == "grace@example.com").unlink()
        self.sandbox.advance_clock(60)
        self._sync_until_idle(mailing_list)
        self._sync(mailing_list)
        mailing_list.invalidate_recordset(["contact_ids"])
        self.assertEqual(mailing_list.contact_ids.mapped("email"), ["ada@example.com"])
        self.assertNotIn("grace@example.com", self._book_state(mailing_list))

    def test_deleting_a_connected_list_or_its_contacts_works(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        self._sync(mailing_list)
        mailing_list.contact_ids.unlink()
        mailing_list.unlink()
        self.env.flush_all()
        self.assertFalse(mailing_list.exists())

    def test_uninstall_drops_the_triggers(self):
        from .. import uninstall_hook
        from ..models.esp_list_member import REMOVAL_TRIGGERS

        names = [name for name, _table in REMOVAL_TRIGGERS]
        query = "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%s)"
        self.env.cr.execute(query, [names])
        self.assertEqual(self.env.cr.fetchone()[0], len(names))
        uninstall_hook(self.env)  # rolled back with the test
        self.env.cr.execute(query, [names])
        self.assertEqual(self.env.cr.fetchone()[0], 0)


@tagged("campaign_esp_connector", "esp_sync_engine")
class TestBookCheck(EspListSyncCommon):
    """The ESP reports no removal from a book: the book is read whole now and then, and a contact removed from
    it at the ESP while Odoo keeps it subscribed goes back (Odoo keeps the lists)."""

    def _delete_at_esp(self, mailing_list, email):
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        contact = requests.get(f"{self.sandbox.url}/v2/contacts/{email}", auth=auth, timeout=10).json()
        requests.delete(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts/{contact['id']}", auth=auth,
                        timeout=10).raise_for_status()

    def _set_hours(self, hours):
        self.env["ir.config_parameter"].sudo().set_param("campaign_esp_connector.book_check_hours", hours)

    def test_contact_removed_at_the_esp_goes_back(self):
        emails = [f"c{i}@example.com" for i in range(5)]
        mailing_list = self._create_connected_list([{"name": email, "email": email} for email in emails])
        self._sync_until_idle(mailing_list)
        binding = mailing_list.esp_address_book_id
        self.assertTrue(binding.book_checked_datetime, "the first run stamps the check (nothing to compare)")
        self._delete_at_esp(mailing_list, "c3@example.com")
        self.assertNotIn("c3@example.com", self._book_state(mailing_list))
        # Not due yet: a run does not read the book.
        calls = len(self._sandbox_api_calls())
        self._sync(mailing_list)
        self.assertFalse([call for call in self._sandbox_api_calls()[calls:]
                          if call["path"].endswith(f"address-books/{binding.remote_id}/contacts")])
        self._set_hours(0)
        log = self._sync(mailing_list)
        self.assertIn("1 removed at the ESP sent again", log.steps)
        self._sync_until_idle(mailing_list)
        self.assertIn("c3@example.com", self._book_state(mailing_list))
        self.assertEqual(self._members(mailing_list)["c3@example.com"].state, "synced")
        self.assertEqual(set(self._members(mailing_list)), set(emails))

    def test_reading_resumes_across_runs(self):
        emails = [f"r{i}@example.com" for i in range(7)]
        mailing_list = self._create_connected_list([{"name": email, "email": email} for email in emails])
        self._sync_until_idle(mailing_list)
        self._delete_at_esp(mailing_list, "r5@example.com")
        self._set_hours(0)
        binding = mailing_list.esp_address_book_id
        # Pages of 2 rows and a run out of time after each page: the reading goes on where it stopped.
        small = mailing_list.with_context(campaign_esp_connector_transport={"page_size": 2})
        with patch.object(ListRun, "out_of_time", lambda run: True):
            small._esp_sync(trigger="manual")
        self.assertTrue(binding.book_check_started)
        self.assertGreater(binding.book_check_skip, 0)
        for _run in range(6):
            small._esp_sync(trigger="manual")
            if not binding.book_check_started:
                break
        self.assertFalse(binding.book_check_started)
        self._sync_until_idle(mailing_list)
        self.assertIn("r5@example.com", self._book_state(mailing_list))
        self.assertEqual(self._members(mailing_list)["r5@example.com"].state, "synced")

    def test_opted_out_and_foreign_contacts_are_left_alone(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"},
                                                    {"name": "B", "email": "b@example.com"}])
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "b@example.com")
        self._sync(mailing_list)
        self.assertEqual(self._members(mailing_list)["b@example.com"].state, "opted_out")
        self._delete_at_esp(mailing_list, "b@example.com")
        self._set_hours(0)
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["b@example.com"].state, "opted_out")
        self.assertNotIn("b@example.com", self._book_state(mailing_list))
