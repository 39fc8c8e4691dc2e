"""An ESP opt-out is dated on Odoo's clock whatever the ESP's (issue 25): a sandbox moved two hours ahead must not
date an unsubscribe in Odoo's future. Opens and clicks keep the ESP's dates (the limit the README states)."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from ..sync.campaigns import CampaignRunner
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_optout_clock")
class TestEspOptOutClock(EspListSyncCommon):

    def _unsubscribed_at_esp(self, clock_moved):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        self._sync_until_idle(mailing_list)
        self.sandbox.advance_clock(clock_moved)
        self._esp_set_status(mailing_list, "ada@example.com")
        self._sync(mailing_list)
        subscription = mailing_list.subscription_ids
        self.assertTrue(subscription.opt_out)
        return subscription

    def test_esp_clock_ahead_never_dates_an_opt_out_in_the_future(self):
        subscription = self._unsubscribed_at_esp(7200)  # the README's jump
        now = fields.Datetime.now()
        self.assertAlmostEqual(self.sandbox_account.clock_offset, 7260, delta=60)
        self.assertLessEqual(subscription.opt_out_datetime, now)
        self.assertGreater(subscription.opt_out_datetime, now - timedelta(minutes=5))
        note = subscription.contact_id.message_ids.filtered(lambda message: "Opted out" in (message.body or ""))
        self.assertNotIn(fields.Datetime.to_string(now + timedelta(hours=2))[:13], note.body)

    def test_esp_clock_behind_keeps_the_esp_date(self):
        # The demo's story: a sandbox four days behind wall time dates what happened four days ago.
        self.sandbox.reset(clock_offset=-4 * 86400)
        self.sandbox_account.action_test_connection()
        subscription = self._unsubscribed_at_esp(0)
        now = fields.Datetime.now()
        self.assertLess(subscription.opt_out_datetime, now - timedelta(days=3, hours=23))

    def test_opens_keep_the_esp_date_even_when_its_clock_runs_ahead(self):
        # The limit the README states: activity rows are read again and again and compared as the ESP gave them,
        # so an ESP two hours ahead shows opens up to two hours in Odoo's future; the opt-outs do not.
        mailing_list = self._create_connected_list(
            [{"name": f"Reader {index}", "email": f"reader{index}@example.com"} for index in range(4)])
        self._sync_until_idle(mailing_list)
        self.sandbox.configure(engagement={"open": 1.0, "hard_bounce": 0.0, "soft_bounce": 0.0})
        mailing = self._create_mailing(mailing_list, subject="Clock")
        mailing.action_launch()
        CampaignRunner(self.env).run()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        opens = [date for date in mailing.esp_activity_ids.mapped("first_open_datetime") if date]
        self.assertTrue(opens)
        self.assertGreater(max(opens), fields.Datetime.now())
