from odoo.tests import tagged

from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncOptIn(EspListSyncCommon):
    """An ESP opt-out loses only to a person's re-subscription in Odoo made after it, on one clock."""

    def _subscription(self, mailing_list, email):
        return mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email_normalized == email)

    def _play(self):
        """ESP unsubscribes ``unrelated@`` and ``resub@``; in Odoo, only unrelated writes touch the first, a person
        re-subscribes the second. :return: ``(list, last run's log)``"""
        mailing_list = self._create_connected_list([], book_name="Clock list")
        self._sync_until_idle(mailing_list)  # the run measures the ESP's clock
        contacts = self.env["mailing.contact"].create([
            {"name": "Unrelated", "email": "unrelated@example.com"}, {"name": "Resub", "email": "resub@example.com"},
        ])
        # Subscribed by a person (new subscriptions): dated, on the ESP's clock.
        self.env["mailing.subscription"].create([{"contact_id": c.id, "list_id": mailing_list.id} for c in contacts])
        unrelated = self._subscription(mailing_list, "unrelated@example.com")
        resub = self._subscription(mailing_list, "resub@example.com")
        self.assertTrue(unrelated.esp_optin_datetime)
        self._sync_until_idle(mailing_list)
        book_id = int(mailing_list.esp_address_book_id.remote_id)
        self.sandbox.advance_clock(60)
        for email in ("unrelated@example.com", "resub@example.com"):
            self.sandbox.set_contact_status(email, "Unsubscribed", book_id=book_id)
        self.sandbox.advance_clock(120)

        # Unrelated writes after the ESP's opt-out: a name, a no-op opt_out, the list; the row's write date even
        # a day ahead of both clocks. None is a re-subscription.
        optin_before = unrelated.esp_optin_datetime
        unrelated.contact_id.name = "Renamed"
        unrelated.write({"opt_out": False})
        mailing_list.name = "Clock list (renamed)"
        self.env.flush_all()
        self.env.cr.execute("UPDATE mailing_subscription SET write_date = now() at time zone 'UTC' + interval '1 day' "
                            "WHERE id = %s", [unrelated.id])
        unrelated.invalidate_recordset()
        self.assertEqual(unrelated.esp_optin_datetime, optin_before)
        log = self._sync(mailing_list)
        self.assertEqual(log.opted_out, 2)
        self.assertTrue(unrelated.opt_out)
        self.assertTrue(resub.opt_out)

        # A person re-subscribes in Odoo after the ESP's opt-out: kept, reported, never re-subscribed at the ESP.
        resub.opt_out = False
        self.assertGreater(resub.esp_optin_datetime, optin_before)
        self.sandbox.clear_log()
        log = self._sync(mailing_list)
        return mailing_list, log

    def _check(self, mailing_list, log):
        self.assertTrue(self._subscription(mailing_list, "unrelated@example.com").opt_out)
        self.assertFalse(self._subscription(mailing_list, "resub@example.com").opt_out)
        self.assertEqual(log.line_ids.mapped("email"), ["resub@example.com"])
        self.assertIn("kept subscribed", log.line_ids.reason)
        book = self._book_state(mailing_list)
        self.assertEqual(book["resub@example.com"]["book_status"], "Unsubscribed")
        self.assertEqual(book["unrelated@example.com"]["book_status"], "Unsubscribed")
        self.assertFalse([c for c in self.sandbox.requests_log() if "resubscribe" in c["path"]])

    def test_only_a_resubscription_after_the_esp_opt_out_wins(self):
        self._check(*self._play())

    def test_esp_clock_ahead_of_odoo(self):
        self.sandbox.advance_clock(2 * 3600)
        self._check(*self._play())
        self.assertAlmostEqual(self.sandbox_account.clock_offset, 2 * 3600 + 180, delta=30)

    def test_esp_clock_behind_odoo(self):
        self.sandbox.reset(clock_offset=-86400)
        self._check(*self._play())
        self.assertAlmostEqual(self.sandbox_account.clock_offset, -86400 + 180, delta=30)

    def test_resubscription_dated_only_from_opted_out(self):
        mailing_list = self._create_connected_list([], book_name="Dates")
        self._sync(mailing_list)
        contact = self.env["mailing.contact"].create({"name": "A", "email": "a@example.com"})
        opted_out = self.env["mailing.subscription"].create(
            {"contact_id": contact.id, "list_id": mailing_list.id, "opt_out": True})
        self.assertFalse(opted_out.esp_optin_datetime)
        opted_out.write({"opt_out": False})
        self.assertTrue(opted_out.esp_optin_datetime)
