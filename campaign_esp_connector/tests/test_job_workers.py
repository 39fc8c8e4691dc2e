"""The work spreads over workers: one API budget per account shared by every worker (separate database
transactions), lists of one account synced by two real worker processes at once without either syncing a list
the other holds, and the ESP Workers setting giving each job kind that many crons."""

import threading

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged

from .. import providers
from ..sync.job import SPREAD_KINDS
from .crash_common import TwoWorkersCase, _email

LIST_JOB = "esp.sync.job.list"


@tagged("campaign_esp_connector", "esp_sync_crash")
class TestJobWorkers(TwoWorkersCase):
    def _set_budget(self, limit, window=3600):
        with self._committed() as env:
            env.cr.execute("DELETE FROM esp_rate_budget WHERE account_id = %s", [self.account_id])
            env.cr.execute("""
                INSERT INTO esp_rate_budget (account_id, scope, call_limit, window_seconds, remaining, reset_at,
                                             source)
                VALUES (%s, 'account', %s, %s, %s, (now() AT TIME ZONE 'UTC') + make_interval(secs => %s),
                        'published')
            """, [self.account_id, limit, window, limit, window])

    def test_workers_in_separate_transactions_never_exceed_the_budget_together(self):
        self.sandbox.reset()
        self._set_budget(10)
        refused = []

        def worker():
            with self.registry.cursor() as cr:
                account = api.Environment(cr, SUPERUSER_ID, {})["esp.account"].browse(self.account_id)
                # A plain number: Odoo's test guard on outgoing HTTP reads the timeout as one.
                account = account.with_context(campaign_esp_connector_transport={"max_wait": 0, "timeout": 10})
                with account._esp_client() as client:
                    try:
                        for _call in range(20):
                            client.server_time()
                    except providers.RateLimited as error:
                        refused.append(error.retry_after)

        threads = [threading.Thread(target=worker) for _worker in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(len(refused), 3, "every worker ends refused by the shared budget")
        self.assertEqual(len([call for call in self.sandbox.requests_log() if call["status"]]), 10)
        with self._committed() as env:
            account = env["esp.account"].browse(self.account_id)
            self.assertEqual(account.rate_budget_ids.mapped("remaining"), [0])
            self.assertEqual(account.rate_capacity, 1)  # 10 calls an hour: one list at a time
        self._set_budget(2000)

    def test_the_esp_headers_feed_the_budget_per_tier(self):
        self.sandbox.reset()
        self.sandbox.configure(rate_limit={"mode": "tiered", "tiers": {"low": 35, "medium": 70, "high": 300}})
        with self._committed() as env:
            # Committed first: the budget rows are written by transactions of their own during the calls.
            env.cr.execute("DELETE FROM esp_rate_budget WHERE account_id = %s", [self.account_id])
        with self._committed() as env:
            env["esp.account"].browse(self.account_id).action_test_connection()
        with self._committed() as env:
            budgets = {budget.scope: budget for budget in env["esp.account"].browse(self.account_id).rate_budget_ids}
            self.assertEqual(budgets["high"].source, "headers")
            self.assertEqual((budgets["high"].call_limit, budgets["high"].window_seconds), (300, 60))
            self.assertEqual(budgets["account"].call_limit, 2000)
            self.assertEqual(budgets["account"].source, "published")
        self.sandbox.configure(rate_limit={"mode": "off"})

    def test_lists_of_one_account_are_synced_by_two_workers_at_once(self):
        """Two real worker processes run the list job together: each takes a slot of the account and claims a
        different list (the ESP answers each import slowly, so both are inside their run together)."""
        self.sandbox.reset()
        self._set_budget(2000)
        try:
            with self._committed() as env:
                account = env["esp.account"].browse(self.account_id)
                account.action_test_connection()
                list_ids = []
                for name in ("Crash test spread A", "Crash test spread B"):
                    mailing_list = env["mailing.list"].create({
                        "name": name,
                        "contact_ids": [(0, 0, {"name": f"{name} {i}", "email": _email(f"{name[-1].lower()}{i}")})
                                        for i in range(3)],
                    })
                    mailing_list._esp_connect(account._esp_create_address_book(name))
                    list_ids.append(mailing_list.id)
            self.sandbox.inject_fault("/v2/address-books/*/contacts/import", "slow", count=2, method="POST",
                                      seconds=3)
            self.worker.send(jobs=[LIST_JOB], crash_at=None, max_runs=1)
            self.other_worker.send(jobs=[LIST_JOB], crash_at=None, max_runs=1)
            answers = [self.worker.answer(), self.other_worker.answer()]
            for answer in answers:
                self.assertIsNone(answer["signal"], answer)
                self.assertNotIn("error", answer["result"], answer["result"].get("error"))
            with self._committed() as env:
                by_worker = [set(env["esp.sync.log"].browse(answer["result"]["runs"][0]["worked"]).list_id.ids)
                             for answer in answers]
            self.assertEqual(by_worker[0] | by_worker[1], set(list_ids), answers)
            self.assertFalse(by_worker[0] & by_worker[1], "a list synced by both workers")
            self.assertTrue(by_worker[0] and by_worker[1], "one worker did all the work")
            imports = self.sandbox.state()["imports"]
            self.assertEqual(len(imports), 2, "an import sent twice")
        finally:
            self._cleanup()


@tagged("campaign_esp_connector")
class TestWorkersSetting(TransactionCase):
    def test_esp_workers_gives_each_job_kind_that_many_crons(self):
        settings = self.env["res.config.settings"].create({"esp_workers": 3})
        settings.execute()
        for kind in SPREAD_KINDS:
            crons = self.env[kind]._esp_job_crons()
            self.assertEqual(len(crons), 3, kind)
            self.assertEqual(len(set(crons.mapped("interval_number"))), 1, kind)
        self.env["ir.cron.trigger"].search([]).unlink()
        self.env[LIST_JOB]._esp_job_come_back(self.env.cr.now())
        self.assertEqual(self.env["ir.cron.trigger"].search([]).cron_id, self.env[LIST_JOB]._esp_job_crons())
        self.env["res.config.settings"].create({"esp_workers": 1}).execute()
        for kind in SPREAD_KINDS:
            self.assertEqual(len(self.env[kind]._esp_job_crons()), 1, kind)
