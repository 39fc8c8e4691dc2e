"""A campaign is sent exactly once, proven with real Odoo worker processes (``crash_worker.py``): two workers
racing on one queued mailing, and a worker killed with SIGKILL at every commit point of the send, follow-up,
statistics and activity jobs (right after the send's POST included), each followed by reruns that must end
where an uninterrupted run ends."""

import signal

from odoo.tests import tagged

from .crash_common import TwoWorkersCase, _email

SEND = "esp.sync.job.campaign.send"
FOLLOW = "esp.sync.job.campaign.follow"
STATISTICS = "esp.sync.job.statistics"
ACTIVITY = "esp.sync.job.activity"
CONTACTS = 6
# Commit points of each job the scenario reaches (see run.commit(...) in sync/campaign_jobs.py and the steps'
# commits of the job base, "<kind>:<step>"), and "campaign:posted": right after the send's POST was answered,
# before Odoo recorded the answer.
SEND_LABELS = ["campaign:_esp_step_look_up", "campaign:_esp_step_refresh_lists", "campaign:_esp_step_check",
               "campaign:pushed", "campaign:_esp_step_push", "campaign:posting", "campaign:posted",
               "campaign:sent", "campaign:created"]
AFTER_SEND_LABELS = ["campaign:polled", "campaign:_esp_step_poll", "campaign:_esp_step_first_figures",
                     "statistics:_esp_step_import_campaigns", "statistics:_esp_step_summaries",
                     "activity:_esp_step_read_activity"]


@tagged("campaign_esp_connector", "esp_sync_crash")
class TestCampaignJobsCrash(TwoWorkersCase):
    def _prepare(self):
        """Commit a connected, synced list and a mailing to it, queued for sending; return the mailing's id."""
        self.sandbox.reset()
        self.sandbox.configure(engagement={"open": 0.5, "click": 0.3})
        with self._committed() as env:
            account = env["esp.account"].browse(self.account_id)
            account.action_test_connection()
            mailing_list = env["mailing.list"].create({
                "name": "Crash test campaign",
                "contact_ids": [(0, 0, {"name": f"Reader {i}", "email": _email(f"reader{i}")})
                                for i in range(CONTACTS)],
            })
            mailing_list._esp_connect(account._esp_create_address_book("Crash test campaign"))
            list_id = mailing_list.id
            mailing_list._esp_sync(trigger="manual")
        self.sandbox.state()  # the ESP applies the import
        with self._committed() as env:
            env["mailing.list"].browse(list_id)._esp_sync(trigger="manual")
            mailing = env["mailing.mailing"].create({
                "subject": "Crash test campaign", "body_arch": "<p>Hi</p>", "body_html": "<p>Hi</p>",
                "mailing_model_id": env["ir.model"]._get_id("mailing.list"),
                "contact_list_ids": [(6, 0, [list_id])], "email_from": "Shop <shop@example.com>",
            })
            mailing.action_launch()
            return mailing.id

    def _run(self, jobs, crash_at=None, max_runs=1, worker=None):
        answer = (worker or self.worker).run(jobs=jobs, crash_at=crash_at, max_runs=max_runs)
        if crash_at:
            self.assertEqual(answer["signal"], signal.SIGKILL,
                             f"the worker was not killed at {crash_at} (commit point not reached?): {answer}")
        else:
            self.assertIsNone(answer["signal"], answer)
            self.assertNotIn("error", answer["result"], answer["result"].get("error"))
        return answer

    def _scenario(self, label):
        """Prepare, run every campaign job as the crons do (killed at ``label``, then rerun), and return what
        an uninterrupted run must equal."""
        try:
            mailing_id = self._prepare()
            self._run([SEND], crash_at=label if label in SEND_LABELS else None)
            self._run([SEND], max_runs=2)
            self.sandbox.advance_clock(7200)  # delivered, opened, clicked
            later = [FOLLOW, STATISTICS, ACTIVITY]
            if label in AFTER_SEND_LABELS:
                self._run(later, crash_at=label)
            self._run(later, max_runs=2)
            return self._inspect(mailing_id)
        finally:
            self._cleanup()

    def _inspect(self, mailing_id):
        state = self.sandbox.state(contacts_limit=100)
        posts = [call for call in self.sandbox.requests_log()
                 if call["method"] == "POST" and call["path"] == "/v2/campaigns/send"]
        with self._committed() as env:
            mailing = env["mailing.mailing"].browse(mailing_id)
            activity = env["esp.mailing.activity"].search([("mailing_id", "=", mailing_id)])
            traces = env["mailing.trace"].search([("mass_mailing_id", "=", mailing_id)])
            return {
                "campaigns": len(state["campaigns"]),
                "sends": len(state["sends"]),
                "send_posts": len(posts),
                "mailing": (mailing.state, mailing.esp_campaign_state, mailing.esp_last_error or False),
                "figures": (mailing.esp_stat_sent, mailing.esp_stat_delivered, mailing.esp_stat_unique_opens,
                            mailing.esp_stat_unique_clicks),
                "activity": sorted((row.email, row.opens > 0, row.clicks > 0) for row in activity),
                "traces": sorted((trace.email, trace.trace_status) for trace in traces),
                "mails_by_odoo": env["mail.mail"].search_count([("mailing_id", "=", mailing_id)]),
            }

    @classmethod
    def _baseline(cls, case):
        if getattr(cls, "_baseline_result", None) is None:
            cls._baseline_result = case._scenario(None)
        return cls._baseline_result

    def test_end_state_without_crash(self):
        result = self._baseline(self)
        self.assertEqual((result["campaigns"], result["sends"], result["send_posts"]), (1, 1, 1), result)
        self.assertEqual(result["mailing"], ("done", "sent", False))
        self.assertEqual(result["figures"][0], CONTACTS)
        self.assertEqual(len(result["activity"]), CONTACTS)
        self.assertEqual(len(result["traces"]), CONTACTS)
        self.assertFalse(result["mails_by_odoo"])

    def test_two_workers_racing_on_one_queued_mailing_send_it_once(self):
        """Two real worker processes run the send job at once on one queued mailing (the ESP answers the send
        slowly, so both are inside the job together): one sends, the other leaves it alone."""
        try:
            mailing_id = self._prepare()
            self.sandbox.clear_log()
            self.sandbox.inject_fault("/v2/campaigns/send", "slow", method="POST", seconds=3)
            self.worker.send(jobs=[SEND, SEND], crash_at=None, max_runs=1)
            self.other_worker.send(jobs=[SEND, SEND], crash_at=None, max_runs=1)
            answers = [self.worker.answer(), self.other_worker.answer()]
            for answer in answers:
                self.assertIsNone(answer["signal"], answer)
                self.assertNotIn("error", answer["result"], answer["result"].get("error"))
            result = self._inspect(mailing_id)
            self.assertEqual((result["sends"], result["send_posts"]), (1, 1), f"{result} {answers}")
            self.assertEqual(result["mailing"][1], "sending")
            self.assertEqual(result["mailing"][0], "sending")
        finally:
            self._cleanup()


def _label_test(label):
    def test(self):
        expected = self._baseline(self)
        result = self._scenario(label)
        # Sent once, nothing lost: the end state is exactly an uninterrupted run's.
        self.assertEqual(result, expected, f"killed at {label}")

    test.__name__ = f"test_crash_at_{label.replace(':', '_')}"
    test.__doc__ = f"A worker killed at {label}, then reruns: sent once, ends where a run without crash ends."
    return test


for _label in SEND_LABELS + AFTER_SEND_LABELS:
    setattr(TestCampaignJobsCrash, _label_test(_label).__name__, _label_test(_label))
