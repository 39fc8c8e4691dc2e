"""The ESP jobs as queue jobs: the crons queue one job per due unit in its provider's channel, the jobs do the
work the crons did, and throttling comes back as queue_job retries at the ESP's reset time."""


from odoo import fields
from odoo.tests import tagged

from odoo.addons.campaign_esp_connector.sync.job import LOCK_NAMESPACES
from odoo.addons.queue_job.exception import RetryableJobError

from ..models.esp_sync_job import HELD_RETRY_SECONDS
from .common import EspQueueCommon

BODY = "<div><p>Hello from Odoo</p></div>"


@tagged("campaign_esp_connector_queue", "esp_queue")
class TestEspQueueDispatch(EspQueueCommon):
    def setUp(self):
        super().setUp()
        self.list_a = self._create_connected_list(
            [{"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"}],
            book_name="Queue list A")
        self.list_b = self._create_connected_list(
            [{"name": "Alan", "email": "alan@example.com"}], book_name="Queue list B")

    def _list_jobs(self):
        return self._jobs("esp.sync.job.list")

    def test_list_cron_queues_one_job_per_due_list_once(self):
        self.env["mailing.list"]._cron_esp_sync_contacts()
        jobs = self._list_jobs()
        books = (self.list_a | self.list_b).esp_address_book_id
        self.assertEqual(len(jobs), 2)
        self.assertEqual(set(jobs.mapped("channel")), {"root.esp.dotdigital"})
        self.assertEqual(set(jobs.mapped("method_name")), {"_esp_queue_run"})
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(sorted(jobs.mapped("identity_key")),
                         sorted(f"esp.sync.job.list:esp.address.book:{book.id}" for book in books))
        self.assertEqual({job.args[0] for job in jobs}, set(books))
        # Nothing ran in the cron: the books are still empty at the ESP.
        self.assertFalse(self._book_state(self.list_a))
        # The cron again while the jobs are pending: no second job of a list.
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(self._list_jobs(), jobs)
        # The related action opens the list.
        action = jobs[0].open_related_action()
        self.assertEqual((action["res_model"], action["res_id"]), ("mailing.list", jobs[0].args[0].mailing_list_id.id))

    def test_queued_list_jobs_sync_the_lists(self):
        self.env["mailing.list"]._cron_esp_sync_contacts()
        for job in self._list_jobs():
            retry = self._perform(job)
            # Imports in flight: the job comes back to confirm them (a planned come-back, not a failed try).
            self.assertIsInstance(retry, RetryableJobError)
            self.assertTrue(retry.ignore_retry)
            self.assertEqual(job.state, "pending")
            self.assertTrue(job.eta)
        self.assertEqual(set(self._book_state(self.list_a)), {"ada@example.com", "grace@example.com"})
        self.assertEqual(set(self._book_state(self.list_b)), {"alan@example.com"})
        # At the retry time the jobs confirm the imports and end.
        (self.list_a | self.list_b).esp_address_book_id.write({"next_sync_datetime": fields.Datetime.now()})
        for job in self._list_jobs():
            self.assertIsNone(self._perform(job))
            self.assertEqual(job.state, "done")
        self.assertEqual({m.state for m in self._members(self.list_a).values()}, {"synced"})
        self.assertEqual(self.list_a.esp_sync_state, "done")

    def test_throttled_list_is_retried_at_the_esp_reset_time(self):
        self.sandbox.inject_fault("/v2/address-books/*/contacts/import", "rate_limited", count=5, reset=3600)
        self.env["mailing.list"]._cron_esp_sync_contacts()
        job = self._list_jobs().filtered(lambda job: job.args[0] == self.list_a.esp_address_book_id)
        retry = self._perform(job)
        self.assertIsInstance(retry, RetryableJobError)
        self.assertFalse(retry.ignore_retry)  # a throttled try counts as a retry
        self.assertAlmostEqual(retry.seconds, 3600, delta=1)
        self.assertEqual(self.list_a.esp_sync_state, "retry")
        self.assertEqual((job.state, job.retry), ("pending", 1))
        self.assertIn("throttling", job.result)

    def test_list_of_an_account_held_elsewhere_comes_back_soon(self):
        """Another worker syncs the account: the job leaves the list to it and comes back shortly, a planned
        come-back that does not count as a failed try."""
        self.env["mailing.list"]._cron_esp_sync_contacts()
        job = self._list_jobs().filtered(lambda job: job.args[0] == self.list_a.esp_address_book_id)
        with self.registry.cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACES["account"], self.sandbox_account.id])
            try:
                retry = self._perform(job)
            finally:
                other.execute("SELECT pg_advisory_unlock(%s, %s)",
                              [LOCK_NAMESPACES["account"], self.sandbox_account.id])
        self.assertIsInstance(retry, RetryableJobError)
        self.assertEqual(retry.seconds, HELD_RETRY_SECONDS)
        self.assertTrue(retry.ignore_retry)
        self.assertEqual((job.state, job.retry), ("pending", 0))
        self.assertFalse(self._book_state(self.list_a))

    def test_no_delay_runs_the_cron_inline(self):
        self.env["mailing.list"].with_context(queue_job__no_delay=True)._cron_esp_sync_contacts()
        self.assertFalse(self._list_jobs())
        self.assertEqual(set(self._book_state(self.list_a)), {"ada@example.com", "grace@example.com"})
        # A direct run is never queued either.
        self.list_b._esp_sync()
        self.assertFalse(self._list_jobs())

    def test_channel_capacity_from_the_account_rate_budget(self):
        channels = self.env["esp.account"]._esp_queue_sync_channels()
        self.assertEqual(set(channels.mapped("complete_name")), {"root.esp.dotdigital", "root.esp.campaign_master"})
        dotdigital = channels.filtered(lambda channel: channel.complete_name == "root.esp.dotdigital")
        # dotdigital's published limit (2,000 calls an hour, about 33 a minute): 3 lists at once.
        self.assertEqual(dotdigital.capacity, 3)
        # The ESP's headers said its low tier allows 20 calls a minute: 2 at once.
        self.env.cr.execute("""
            INSERT INTO esp_rate_budget (account_id, scope, call_limit, window_seconds, remaining, reset_at, source)
            VALUES (%s, 'low', 20, 60, 20, now() AT TIME ZONE 'UTC', 'headers')
        """, [self.sandbox_account.id])
        self.env["mailing.list"]._cron_esp_sync_contacts()
        self.assertEqual(dotdigital.capacity, 2)  # the one connected dotdigital account's budget


@tagged("campaign_esp_connector_queue", "esp_queue")
class TestEspQueueCampaigns(EspQueueCommon):
    def setUp(self):
        super().setUp()
        self.mailing_list = self._create_connected_list(
            [{"name": "Ada", "email": "ada@example.com"}, {"name": "Grace", "email": "grace@example.com"}])
        self._sync_until_idle(self.mailing_list)
        self.mailing = self._create_mailing(self.mailing_list, body=BODY)

    def _sends(self):
        return self.sandbox.state(contacts_limit=10)["sends"]

    def test_send_cron_queues_the_mailing_and_its_job_sends_once(self):
        self.mailing.action_launch()
        self.assertEqual(self.mailing.esp_campaign_state, "queued")
        self.env["mailing.mailing"]._cron_esp_send_campaigns()
        self.env["mailing.mailing"]._cron_esp_send_campaigns()
        job = self._jobs("esp.sync.job.campaign.send")
        self.assertEqual(len(job), 1)
        self.assertEqual(job.channel, "root.esp.dotdigital")
        self.assertEqual(job.identity_key, f"esp.sync.job.campaign.send:esp.campaign:{self.mailing.esp_campaign_id.id}")
        self.assertFalse(self._sends())
        self.assertIsNone(self._perform(job))
        self.assertEqual(job.state, "done")
        self.assertEqual(len(self._sends()), 1)
        self.assertIn(self.mailing.esp_campaign_state, ("sending", "sent"))
        # Sent: the send cron has nothing more to queue, the follow-up cron takes over.
        self.env["mailing.mailing"]._cron_esp_send_campaigns()
        self.assertEqual(self._jobs("esp.sync.job.campaign.send"), job)
        self.sandbox.advance_clock(120)
        self.env["esp.sync.job.campaign.follow"]._esp_job_cron()
        follow = self._jobs("esp.sync.job.campaign.follow")
        self.assertEqual(len(follow), 1)
        self.assertIsNone(self._perform(follow))
        self.assertEqual((self.mailing.state, self.mailing.esp_campaign_state), ("done", "sent"))
        self.assertEqual(len(self._sends()), 1)

    def test_throttled_follow_up_is_retried_at_the_esp_reset_time(self):
        self.mailing.action_launch()
        self.mailing.esp_campaign_id.flush_recordset()
        self.env["mailing.mailing"]._cron_esp_send_campaigns()
        self._perform(self._jobs("esp.sync.job.campaign.send"))
        self.sandbox.inject_fault("/v2/campaigns/send/*", "rate_limited", count=5, reset=1800, method="GET")
        self.env["esp.sync.job.campaign.follow"]._esp_job_cron()
        follow = self._jobs("esp.sync.job.campaign.follow")
        retry = self._perform(follow)
        self.assertIsInstance(retry, RetryableJobError)
        self.assertEqual(retry.seconds, 1800)
        self.assertFalse(retry.ignore_retry)
        self.assertIn("throttling", self.mailing.esp_campaign_id.last_error)
        self.assertEqual(follow.state, "pending")
