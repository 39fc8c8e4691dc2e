import requests

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import EspListSyncCommon

LOGGER = "odoo.addons.campaign_esp_connector.models.mailing_list"


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncExport(EspListSyncCommon):
    def test_export_round_trip(self):
        mailing_list = self._create_connected_list([
            {"name": "Ada Lovelace", "email": "Ada@Example.com"},
            {"name": "Grace Hopper", "email": "grace@example.com", "company_name": "=HYPERLINK(\"x\")"},
            {"name": "N" * 10000, "email": "long@example.com"},
            {"name": "Broken", "email": "not-an-email"},
        ])
        first = self._sync(mailing_list)
        # The import is in flight: the run is partial, the list is still running and comes back shortly.
        self.assertEqual(first.state, "partial", first.message)
        self.assertEqual(mailing_list.esp_sync_state, "running")
        self.assertTrue(mailing_list.esp_next_sync_datetime)
        members = self._members(mailing_list)
        self.assertEqual(members["ada@example.com"].state, "exporting")
        self.assertEqual(members["not-an-email"].state, "failed")
        self.assertIn("not-an-email", first.line_ids.mapped("email"))

        second = self._sync(mailing_list)
        self.assertEqual(second.exported, 3)
        members = self._members(mailing_list)
        self.assertEqual({m.state for e, m in members.items() if e != "not-an-email"}, {"synced"})
        book = self._book_state(mailing_list)
        self.assertEqual(set(book), {"ada@example.com", "grace@example.com", "long@example.com"})
        self.assertEqual(self._sandbox_contact_data("ada@example.com")["FIRSTNAME"], "Ada")
        self.assertEqual(self._sandbox_contact_data("ada@example.com")["LASTNAME"], "Lovelace")
        self.assertEqual(len(self._sandbox_contact_data("long@example.com")["FULLNAME"]), 255)
        self.assertEqual(mailing_list.esp_sync_state, "done")
        self.assertEqual(mailing_list.esp_pending_count, 0)
        self.assertEqual(mailing_list.esp_failed_count, 1)

    def test_values_starting_with_formula_characters_arrive_verbatim(self):
        account = self.sandbox_account
        company = self.env["esp.data.field"].search([("account_id", "=", account.id), ("name", "=", "POSTCODE")])
        self.env["esp.field.mapping"].create({"account_id": account.id, "data_field_id": company.id,
                                              "source": "company_name"})
        values = ["=1+2", "+cmd", "-2", "@SUM(A1)", 'quote " and, comma\nnewline']
        mailing_list = self._create_connected_list([
            {"name": f"C{index}", "email": f"c{index}@example.com", "company_name": value}
            for index, value in enumerate(values)
        ])
        self._sync_until_idle(mailing_list)
        for index, value in enumerate(values):
            self.assertEqual(self._sandbox_contact_data(f"c{index}@example.com")["POSTCODE"], value)

    def test_mobile_exported_in_e164_and_invalid_reported(self):
        account = self.sandbox_account
        field = self.env["esp.data.field"].search([("account_id", "=", account.id), ("name", "=", "POSTCODE")])
        self.env["esp.field.mapping"].create({"account_id": account.id, "data_field_id": field.id, "source": "mobile"})
        belgium = self.env.ref("base.be")
        mailing_list = self._create_connected_list([
            {"name": "Valid", "email": "valid@example.com", "mobile": "0470 12 34 56", "country_id": belgium.id},
            {"name": "Invalid", "email": "invalid@example.com", "mobile": "12", "country_id": belgium.id},
        ])
        logs = self._sync_until_idle(mailing_list)
        self.assertEqual(self._sandbox_contact_data("valid@example.com")["POSTCODE"], "+32470123456")
        self.assertEqual(self._sandbox_contact_data("invalid@example.com").get("POSTCODE") or "", "")
        self.assertIn("invalid mobile number 12", logs.line_ids.mapped("reason"))

    def test_noop_sync_is_cheap_and_changes_go_out(self):
        mailing_list = self._create_connected_list([
            {"name": f"Contact {index}", "email": f"contact{index}@example.com"} for index in range(30)
        ])
        self._sync_until_idle(mailing_list)
        self.sandbox.clear_log()
        noop = self._sync(mailing_list)
        self.assertEqual(noop.exported, 0)
        self.assertLessEqual(len(self._sandbox_api_calls()), 5)
        self.assertEqual(noop.api_calls, len(self._sandbox_api_calls()))

        contact = mailing_list.contact_ids.filtered(lambda c: c.email == "contact3@example.com")
        contact.name = "Renamed Person"
        self._bump_write_date(contact)
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._sandbox_contact_data("contact3@example.com")["FULLNAME"], "Renamed Person")

    def test_refresh_data_fields_resends_everyone(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        mailing_list.action_esp_refresh_data_fields()
        logs = self._sync_until_idle(mailing_list)
        self.assertEqual(sum(logs.mapped("exported")), 1)

    def test_rows_per_file(self):
        self.env["ir.config_parameter"].set_param("campaign_esp_connector.rows_per_file", "10")
        mailing_list = self._create_connected_list([
            {"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(25)
        ])
        self._sync(mailing_list)
        self.assertEqual(self.env["esp.import.batch"].search_count([("list_id", "=", mailing_list.id)]), 3)
        self._sync(mailing_list)
        self.assertEqual(len(self._book_state(mailing_list)), 25)


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncFaults(EspListSyncCommon):
    def test_suppressed_contact_is_opted_out_before_export(self):
        requests.post(f"{self.sandbox.url}/v2/contacts", json={"email": "bounced@example.com"},
                      auth=(self.sandbox.api_user, self.sandbox.api_password), timeout=10)
        self.sandbox.set_contact_status("bounced@example.com", "HardBounced")
        mailing_list = self._create_connected_list([
            {"name": "Ok", "email": "ok@example.com"}, {"name": "Bounced", "email": "bounced@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        subscription = mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == "bounced@example.com")
        self.assertTrue(subscription.opt_out)
        self.assertEqual(set(self._book_state(mailing_list)), {"ok@example.com"})

    def test_fault_rows_opt_out_suppressed_contacts(self):
        """A contact suppressed at the ESP long before (out of the feeds' reach) is refused by the import."""
        requests.post(f"{self.sandbox.url}/v2/contacts", json={"email": "bounced@example.com"},
                      auth=(self.sandbox.api_user, self.sandbox.api_password), timeout=10)
        self.sandbox.set_contact_status("bounced@example.com", "HardBounced")
        self.sandbox.advance_clock(3600)
        mailing_list = self._create_connected_list([{"name": "Ok", "email": "ok@example.com"}])
        self._sync_until_idle(mailing_list)
        self.env["ir.config_parameter"].set_param("campaign_esp_connector.blacklist_suppressed", False)
        mailing_list.write({"contact_ids": [(0, 0, {"name": "Bounced", "email": "bounced@example.com"})]})
        self._sync_until_idle(mailing_list)
        subscription = mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == "bounced@example.com")
        self.assertTrue(subscription.opt_out)
        self.assertEqual(self._members(mailing_list)["bounced@example.com"].state, "opted_out")
        self.assertEqual(self._members(mailing_list)["ok@example.com"].state, "synced")
        batches = self.env["esp.import.batch"].search([("list_id", "=", mailing_list.id)])
        self.assertEqual(sum(batches.mapped("fault_count")), 1)

    @mute_logger(LOGGER)
    def test_watchdog_rejection_is_never_resent(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.inject_import_fault("RejectedByWatchdog")
        self._sync(mailing_list)
        log = self._sync(mailing_list)
        self.assertEqual(log.state, "rejected")
        self.assertEqual(mailing_list.esp_sync_state, "rejected")
        self.assertIn("watchdog", mailing_list.esp_last_error)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "rejected")
        # The cron leaves rejected lists alone; a manual sync does not resend either.
        self.sandbox.clear_log()
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertFalse([c for c in self._sandbox_api_calls() if c["path"].endswith("/import")])
        mailing_list.action_esp_retry_rejected()
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")

    def test_stuck_import_gives_up_and_resends(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.inject_import_fault("NotFinished")
        self._sync(mailing_list)
        batch = self.env["esp.import.batch"].search([("list_id", "=", mailing_list.id)])
        batch.poll_count = 29
        log = self._sync(mailing_list)
        self.assertEqual(batch.state, "timeout")
        self.assertIn("gave up", log.steps)
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")

    @mute_logger(LOGGER)
    def test_throttled_mid_run_then_resumes(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self.sandbox.inject_fault("/v2/address-books/*/contacts/import", "rate_limited", count=5, reset=3600)
        log = self._sync(mailing_list.with_context(campaign_esp_connector_transport={"max_wait": 0}))
        self.assertEqual(log.state, "throttled")
        self.assertIn("throttling", log.message)
        self.assertEqual(self._members(mailing_list).get("a@example.com", None), None)
        self.sandbox.clear_faults()
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")

    def test_crash_between_import_post_and_commit(self):
        """A run whose transaction dies after the ESP accepted its import loses nothing and duplicates nothing."""
        mailing_list = self._create_connected_list([
            {"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(5)
        ])
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self._sync(mailing_list)
            self.assertEqual(len(self.sandbox.state()["imports"]), 1)
            raise RuntimeError("worker killed before commit")
        self.env.invalidate_all()
        self.assertFalse(self._members(mailing_list))
        self._sync_until_idle(mailing_list)
        self.assertEqual(len(self._book_state(mailing_list)), 5)
        self.assertEqual(len(self.sandbox.state()["contacts"]), 5)
        self.assertEqual({m.state for m in self._members(mailing_list).values()}, {"synced"})

    def test_account_locked_by_another_worker_is_skipped(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        with self.registry.cursor() as other_cr:
            other_cr.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [0x45535043, self.sandbox_account.id])
            self.assertTrue(other_cr.fetchone()[0])
            self.sandbox.clear_log()
            self.env["mailing.list"]._cron_esp_sync_contacts()
            self.assertFalse(self._sandbox_api_calls())
            other_cr.rollback()
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertTrue(self._members(mailing_list))


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncTwoWay(EspListSyncCommon):
    def _subscription(self, mailing_list, email):
        return mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email_normalized == email)

    def test_esp_unsubscribe_becomes_odoo_opt_out(self):
        mailing_list = self._create_connected_list([
            {"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "a@example.com")
        log = self._sync(mailing_list)
        self.assertEqual(log.opted_out, 1)
        subscription = self._subscription(mailing_list, "a@example.com")
        self.assertTrue(subscription.opt_out)
        self.assertEqual(subscription.opt_out_reason_id,
                         self.env.ref("campaign_esp_connector.mailing_subscription_optout_esp"))
        self.assertFalse(self._subscription(mailing_list, "b@example.com").opt_out)
        self.assertFalse(self.env["mail.blacklist"].search([("email", "=", "a@example.com")]))

    def test_esp_suppression_blacklists(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        self._esp_set_status(mailing_list, "a@example.com", "HardBounced", in_book=False)
        self._sync(mailing_list)
        self.assertTrue(self._subscription(mailing_list, "a@example.com").opt_out)
        self.assertTrue(self.env["mail.blacklist"].search([("email", "=", "a@example.com")]))

    def test_newer_odoo_resubscription_is_kept_and_reported(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        # The ESP's opt-out is dated one day earlier than a person's re-subscription in Odoo (on the ESP's clock).
        self.sandbox.set_contact_status("a@example.com", "Unsubscribed", book_id=book_id)
        subscription = self._subscription(mailing_list, "a@example.com")
        self.env.cr.execute("UPDATE mailing_subscription SET esp_optin_datetime = now() at time zone 'UTC' "
                            "+ interval '1 day' WHERE id = %s", [subscription.id])
        log = self._sync(mailing_list)
        self.assertFalse(subscription.opt_out)
        self.assertIn("kept subscribed", " ".join(log.line_ids.mapped("reason")))

    def test_odoo_opt_out_unsubscribes_at_esp_and_never_resubscribes(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        subscription = self._subscription(mailing_list, "a@example.com")
        subscription.opt_out = True
        self._sync(mailing_list)
        self.assertEqual(self._book_state(mailing_list)["a@example.com"]["book_status"], "Unsubscribed")
        # Re-subscribing in Odoo does not re-subscribe at the ESP by itself.
        subscription.opt_out = False
        self._sync_until_idle(mailing_list)
        self.assertEqual(self._book_state(mailing_list)["a@example.com"]["book_status"], "Unsubscribed")
        self.assertFalse([c for c in self.sandbox.requests_log() if "resubscribe" in c["path"]])

    def test_removed_members_leave_the_book_but_foreign_contacts_stay(self):
        mailing_list = self._create_connected_list([
            {"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b@example.com"},
        ])
        self._sync_until_idle(mailing_list)
        # A contact added at the ESP, unknown to Odoo (the list does not create contacts).
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        self.sandbox.app.store  # noqa: B018 - the in-process store is used only to seed
        requests.post(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts",
                      json={"email": "foreign@example.com"},
                      auth=(self.sandbox.api_user, self.sandbox.api_password), timeout=10)
        mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == "b@example.com").unlink()
        log = self._sync(mailing_list)
        self.assertEqual(log.removed, 1)
        self.assertEqual(set(self._book_state(mailing_list)), {"a@example.com", "foreign@example.com"})
        self.assertNotIn("b@example.com", self._members(mailing_list))

    def test_create_new_contacts_and_two_way_fields(self):
        mailing_list = self._create_connected_list([{"name": "Ada Lovelace", "email": "ada@example.com"}],
                                                   create_contacts=True)
        mapping = self.sandbox_account.field_mapping_ids.filtered(lambda m: m.data_field_name == "FULLNAME")
        mapping.two_way = True
        self._sync_until_idle(mailing_list)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        self.sandbox.advance_clock(600)
        requests.post(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", auth=auth, timeout=10, json={
            "email": "new@example.com", "dataFields": [{"key": "FULLNAME", "value": "New Person"}]})
        requests.post(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", auth=auth, timeout=10, json={
            "email": "ada@example.com", "dataFields": [{"key": "FULLNAME", "value": "Augusta Ada King"}]})
        log = self._sync(mailing_list)
        self.assertEqual(log.created, 1)
        self.assertEqual(log.updated, 1)
        mailing_list.invalidate_recordset(["contact_ids"])
        new_contact = mailing_list.contact_ids.filtered(lambda c: c.email == "new@example.com")
        self.assertEqual(new_contact.name, "New Person")
        self.assertEqual(mailing_list.contact_ids.filtered(lambda c: c.email == "ada@example.com").name,
                         "Augusta Ada King")
        # What came from the ESP is not sent back.
        self.sandbox.clear_log()
        self._sync(mailing_list)
        self.assertFalse([c for c in self._sandbox_api_calls() if c["path"].endswith("/import")])

    def test_contact_odoo_already_held_added_at_the_esp_ends_equal_on_both_sides(self):
        # Found by the property test: the ESP adds an address Odoo holds outside the list, under another name.
        # Odoo re-subscribes its contact; recording it "synced" with Odoo's values claimed the ESP held them,
        # and the two names differed for good. Now it goes out, and both sides hold one name.
        mailing_list = self._create_connected_list([{"name": "Ada Lovelace", "email": "ada@example.com"}],
                                                   create_contacts=True)
        self.env["mailing.contact"].create({"name": "Barbara Liskov", "email": "barbara@example.com"})
        self._sync_until_idle(mailing_list)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        auth = (self.sandbox.api_user, self.sandbox.api_password)
        self.sandbox.advance_clock(600)
        requests.post(f"{self.sandbox.url}/v2/address-books/{book_id}/contacts", auth=auth, timeout=10, json={
            "email": "barbara@example.com", "dataFields": [{"key": "FULLNAME", "value": "Grace Hopper"}]})
        self._sync_until_idle(mailing_list)
        mailing_list.invalidate_recordset(["contact_ids"])
        contact = mailing_list.contact_ids.filtered(lambda c: c.email == "barbara@example.com")
        self.assertEqual(len(contact), 1)
        self.assertEqual(self._sandbox_contact_data("barbara@example.com")["FULLNAME"], contact.name)

    @mute_logger(LOGGER)
    def test_guard_stops_mass_unsubscribe_until_confirmed(self):
        mailing_list = self._create_connected_list([
            {"name": f"P{index}", "email": f"p{index}@example.com"} for index in range(40)
        ])
        self._sync_until_idle(mailing_list)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        self.sandbox.advance_clock(60)
        for index in range(15):
            self.sandbox.set_contact_status(f"p{index}@example.com", "Unsubscribed", book_id=book_id)
        log = self._sync(mailing_list)
        self.assertEqual(log.state, "guard")
        self.assertEqual(mailing_list.esp_sync_state, "guard")
        self.assertIn("15 opt-outs from the ESP", mailing_list.esp_last_error)
        self.assertFalse(mailing_list.subscription_ids.filtered("opt_out"))
        mailing_list.action_esp_confirm_guard()
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        self._sync(mailing_list)
        self.assertEqual(len(mailing_list.subscription_ids.filtered("opt_out")), 15)
        self.assertEqual(mailing_list.esp_sync_state, "done")

    def test_disconnect_keeps_contacts_and_book(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        self._sync_until_idle(mailing_list)
        book = mailing_list.esp_address_book_id
        mailing_list.action_esp_disconnect()
        self.assertFalse(mailing_list.esp_address_book_id)
        self.assertFalse(book.mailing_list_id)
        self.assertEqual(len(mailing_list.contact_ids), 1)
        self.assertEqual(len(self._book_state_by_id(int(book.remote_id))), 1)

    def _book_state_by_id(self, book_id):
        books = {book["id"]: book for book in self.sandbox.state()["books"]}
        return books[book_id]["contacts"]


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncRights(EspListSyncCommon):
    def test_marketing_user_synchronizes_and_disconnects(self):
        mailing_list = self._create_connected_list([{"name": "A", "email": "a@example.com"}])
        as_user = mailing_list.with_user(self.user_marketing)
        # The second press finds the first run still running (its import in flight): it is due again at once.
        for state in ("queued", "running"):
            result = as_user.action_esp_synchronize()
            self.assertEqual(result["params"]["type"], "info", result["params"]["message"])
            self.assertEqual(as_user.esp_sync_state, state)
            self.assertFalse(as_user.esp_next_sync_datetime)
            self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(self._members(mailing_list)["a@example.com"].state, "synced")
        self.assertEqual(mailing_list.esp_sync_log_count, 2)
        as_user.action_esp_disconnect()
        self.assertFalse(mailing_list.esp_address_book_id)
