"""Crash tests of the activity import (issue #20, item 3): a cron worker killed with SIGKILL at each commit
point of a campaign's activity read, then reruns, must end with exactly the rows and traces an uninterrupted
read leaves, the campaign's watermark moved once, and nothing left queued.

As in test_sync_crash.py, the worker (``crash_worker.py``) needs committed data: this class commits an ESP
account on a sandbox served by this process, a connected list of engaged recipients and a mailing sent to it,
once; each scenario then clears the mailing's activity in Odoo (rows, traces, the binding's read) and commits,
has a worker killed at one commit point, and reruns the cron, in runs of a few pages each, until its round is
finished. Everything committed is deleted afterwards.
"""

import signal
import uuid

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..sync.activity import MAX_PAGES_KEY
from ..sync.campaigns import CampaignRunner
from .common import SandboxServer
from .crash_common import CrashWorker, committed

DOMAIN = "activity-crash.example.com"
ACCOUNT_PREFIX = "Activity crash sandbox"
SUBJECT = "Activity crash test"
RECIPIENTS = 20
# Pages of 4 overlapping by 1: the recipients and their clicks take several pages each.
SMALL_PAGES = {"campaign_esp_connector_transport": {"page_size": 4, "page_overlap": 1}}
# Every commit point of an activity round (see the commit("activity:...") calls in sync/activity.py).
LABELS = ["activity:_esp_step_read_activity", "activity:started", "activity:activities_page", "activity:activities_read",
          "activity:clicks_page", "activity:done"]
RECOVERY_RUNS = 20


@tagged("campaign_esp_connector", "esp_sync_crash")
class TestActivityCrash(TransactionCase):
    maxDiff = None

    @classmethod
    def _committed(cls):
        """A cursor of its own, committed on leaving the block (the test's transaction stays untouched)."""
        return committed(cls.registry)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._cleanup()  # leftovers of an interrupted run
        cls.sandbox = SandboxServer().start()
        cls.addClassCleanup(cls.sandbox.stop)
        cls.addClassCleanup(cls._cleanup)
        cls.sandbox.configure(engagement={"open": 0.8, "click": 0.5})
        with cls._committed() as env:
            account = env["esp.account"].create({
                "name": f"{ACCOUNT_PREFIX} {uuid.uuid4().hex[:8]}", "provider": "dotdigital",
                "api_endpoint": cls.sandbox.url, "api_user": cls.sandbox.api_user,
                "api_password": cls.sandbox.api_password,
            })
            account.action_test_connection()
            mailing_list = env["mailing.list"].create({
                "name": SUBJECT,
                "contact_ids": [(0, 0, {"name": f"Reader {index}", "email": f"r{index}@{DOMAIN}"})
                                for index in range(RECIPIENTS)],
            })
            mailing_list._esp_connect(account._esp_create_address_book(SUBJECT))
            list_id = mailing_list.id
            mailing_list._esp_sync(trigger="manual")
        cls.sandbox.state()  # the ESP applies the import
        with cls._committed() as env:
            mailing_list = env["mailing.list"].browse(list_id)
            mailing_list._esp_sync(trigger="manual")
            mailing = env["mailing.mailing"].create({
                "subject": SUBJECT, "body_arch": "<p>Hi <a href='https://example.com/a'>a</a></p>",
                "body_html": "<p>Hi <a href='https://example.com/a'>a</a></p>",
                "mailing_model_id": env["ir.model"]._get_id("mailing.list"),
                "contact_list_ids": [fields.Command.set([list_id])], "email_from": "Shop <shop@example.com>",
            })
            mailing.action_launch()
            CampaignRunner(env).run()
            cls.mailing_id = mailing.id
            cls.binding_id = mailing.esp_campaign_id.id
            assert mailing.esp_campaign_state in ("sending", "sent"), mailing.esp_last_error
        cls.sandbox.advance_clock(7200)  # the whole engagement happened
        cls.worker = CrashWorker(cls.env.cr.dbname)
        cls.addClassCleanup(cls.worker.stop)

    @classmethod
    def _cleanup(cls):
        with cls._committed() as env:
            env = env(context={"active_test": False})
            accounts = env["esp.account"].search([("name", "=like", f"{ACCOUNT_PREFIX}%")])
            env["mailing.mailing"].search([("subject", "=", SUBJECT)]).unlink()
            lists = env["mailing.list"].search([("name", "=", SUBJECT)])
            lists.action_esp_disconnect()
            lists.unlink()
            env["mailing.contact"].search([("email", "=like", f"%@{DOMAIN}")]).unlink()
            env["esp.address.book"].search([("account_id", "in", accounts.ids)]).unlink()
            accounts.unlink()
            cls._clear_triggers(env)

    @classmethod
    def _clear_triggers(cls, env):
        cron = env.ref("campaign_esp_connector.ir_cron_esp_sync_activity", raise_if_not_found=False)
        if cron:
            env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])

    def _reset(self):
        """The mailing as sent, its activity never read (and no other campaign waiting for the cron)."""
        with self._committed() as env:
            env.cr.execute("DELETE FROM esp_mailing_activity WHERE mailing_id = %s", [self.mailing_id])
            env.cr.execute("DELETE FROM mailing_trace WHERE mass_mailing_id = %s", [self.mailing_id])
            env.cr.execute("""UPDATE esp_campaign SET activity_watermark = NULL, activity_pass_started = NULL,
                                     activity_feed = NULL, activity_skip = 0, activity_queued = FALSE""")
            self._clear_triggers(env)

    def _snapshot(self):
        """What the read left: per recipient its row and trace, and the binding's read."""
        with self._committed() as env:
            rows = env["esp.mailing.activity"].search([("mailing_id", "=", self.mailing_id)])
            traces = env["mailing.trace"].search([("mass_mailing_id", "=", self.mailing_id)])
            binding = env["esp.campaign"].browse(self.binding_id)
            return {
                "rows": sorted(
                    (row.email, row.opens, row.clicks, row.forwards, row.unsubscribed, row.hard_bounced,
                     row.soft_bounced, str(row.sent_datetime), str(row.first_open_datetime),
                     str(row.last_open_datetime), str(row.first_click_datetime), str(row.last_click_datetime),
                     row.contact_id.email, row.trace_id.trace_status, str(row.trace_id.links_click_datetime))
                    for row in rows),
                "traces": len(traces),
                "traces_per_contact": len(traces) == len(set(traces.mapped("res_id"))),
                "read": (bool(binding.activity_watermark), binding.activity_pass_started, binding.activity_feed,
                         binding.activity_skip, binding.activity_queued),
            }

    def _scenario(self, label):
        """Reset, crash a worker at ``label`` (None: no crash), rerun the cron a few pages per run until its round
        is finished; return the snapshot."""
        self._reset()
        if label:
            crashed = self.worker.run(activity=True, crash_at=label, context=SMALL_PAGES)
            self.assertEqual(crashed["signal"], signal.SIGKILL,
                             f"the worker was not killed at {label} (commit point not reached?): {crashed}")
        recovered = self.worker.run(activity=True, max_runs=RECOVERY_RUNS,
                                    context={**SMALL_PAGES, MAX_PAGES_KEY: 3})
        self.assertIsNone(recovered["signal"], recovered)
        self.assertNotIn("error", recovered["result"], recovered["result"].get("error"))
        self.assertTrue(recovered["result"]["runs"][-1]["finished"], recovered)
        return self._snapshot()

    @classmethod
    def _baseline(cls, case):
        """One uninterrupted run of the cron, no page limit, once per class."""
        if getattr(cls, "_baseline_snapshot", None) is None:
            case._reset()
            answer = case.worker.run(activity=True, context=SMALL_PAGES)
            case.assertIsNone(answer["signal"], answer)
            case.assertTrue(answer["result"]["runs"][-1]["finished"], answer)
            cls._baseline_snapshot = case._snapshot()
        return cls._baseline_snapshot

    def test_uninterrupted_read(self):
        baseline = self._baseline(self)
        self.assertEqual(len(baseline["rows"]), RECIPIENTS)
        self.assertEqual(baseline["traces"], RECIPIENTS)
        self.assertTrue(baseline["traces_per_contact"])
        self.assertEqual(baseline["read"], (True, False, False, 0, False))
        clicked = [row for row in baseline["rows"] if row[2]]
        self.assertGreater(len(clicked), 4, "the clicks take several pages")
        self.assertTrue(all(row[10] != "False" and row[14] != "False" for row in clicked), clicked)
        # Read in runs of three pages, the rows are the same.
        self.assertEqual(self._scenario(None), baseline)


def _label_test(label):
    def test(self):
        self.assertEqual(self._scenario(label), self._baseline(self),
                         f"killed at {label}: differs from a read without crash")

    test.__name__ = f"test_crash_at_{label.replace(':', '_')}"
    test.__doc__ = f"A worker killed at commit point {label}, then reruns: the same rows, nothing queued."
    return test


for _label in LABELS:
    setattr(TestActivityCrash, f"test_crash_at_{_label.replace(':', '_')}", _label_test(_label))
