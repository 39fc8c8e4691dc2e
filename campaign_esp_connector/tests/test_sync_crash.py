"""Crash tests with real processes: a cron worker killed with SIGKILL at each commit point of a run, then
reruns, must converge with nothing lost or duplicated.

Per commit point, the class (see ``crash_common.py``) commits a list in a prepared state (an import in flight,
changes on both sides), then has ``crash_worker.py`` fork a worker that the engine kills at that commit point
(``CAMPAIGN_ESP_CONNECTOR_CRASH_AT``), then rerun workers until idle.
"""

import json
import signal
from datetime import datetime, timezone

from odoo.tests import tagged

from .crash_common import BOOK_CHECK_PARAM, DOMAIN, CommittedSandboxCase, _email

# Every commit point of a full run the scenario below reaches (see the commit("...") calls in sync/*.py).
LABELS = [
    "run:started", "poll:batch", "step:poll", "pull:done", "step:pull", "optouts:incoming",
    "optouts:unsubscribed", "optouts:removed", "optouts:done", "step:optouts", "book_check:started",
    "book_check:done", "step:book_check", "export:posted", "step:export", "run:finished",
]
RECOVERY_RUNS = 6


@tagged("campaign_esp_connector", "esp_sync_crash")
class TestSyncCrash(CommittedSandboxCase):
    # -- the scenario ---------------------------------------------------------------------------------------

    def _sandbox_now(self):
        epoch = self.sandbox.now()["epoch"]
        return datetime.fromtimestamp(epoch, tz=timezone.utc).replace(tzinfo=None)

    def _date_at_sandbox_clock(self, env, contacts=(), subscriptions=()):
        """Date Odoo writes at the sandbox's clock, so that both sides share one timeline."""
        env.flush_all()
        at = self._sandbox_now()
        if contacts:
            env.cr.execute("UPDATE mailing_contact SET write_date = %s WHERE id = ANY(%s)", [at, list(contacts)])
        if subscriptions:
            env.cr.execute("UPDATE mailing_subscription SET write_date = %s WHERE id = ANY(%s)",
                           [at, list(subscriptions)])

    def _prepare(self, label):
        """Commit a list in the state a crashing run starts from; return ``(binding id, book id)``.

        c0..c4 went out in a first import, confirmed long ago; c0 renamed and c5 went out in a second import,
        which the ESP applied but Odoo has not confirmed yet (the next run's poll does). Since then, at the
        ESP: "new" was added to the book (the list creates contacts), c1 unsubscribed from the book, c2 hard
        bounced, c5 removed from the book; then in Odoo: c3 opted out, c4 removed, c0 renamed again, c6 added;
        and the daily book check is due.
        """
        self.sandbox.reset()
        with self._committed() as env:
            account = env["esp.account"].browse(self.account_id)
            account.action_test_connection()
            self.assertEqual(account.state, "connected", account.last_error)
            mailing_list = env["mailing.list"].create({
                "name": f"Crash test {label}",
                "contact_ids": [(0, 0, {"name": f"Person {index}", "email": _email(f"c{index}")})
                                for index in range(5)],
            })
            book = account._esp_create_address_book(f"Crash test {label or 'baseline'}")
            mailing_list._esp_connect(book, create_contacts=True)
            list_id, binding_id, book_id = mailing_list.id, book.id, int(book.remote_id)
            # This process is a test: these runs use savepoints, committed by the block.
            self.assertEqual(mailing_list._esp_sync(trigger="manual").state, "partial")
        self.sandbox.state()  # the ESP applies the first import
        # Later than the feeds' overlap: the next runs do not read the first import's changes again.
        self.sandbox.advance_clock(400)
        with self._committed() as env:
            mailing_list = env["mailing.list"].browse(list_id)
            self.assertEqual(mailing_list._esp_sync(trigger="manual").state, "done")
            by_email = {s.contact_id.email: s for s in mailing_list.subscription_ids}
            by_email[_email("c0")].contact_id.name = "Renamed Person"
            mailing_list.write({"contact_ids": [(0, 0, {"name": "Person 5", "email": _email("c5")})]})
            c5 = mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == _email("c5"))
            self._date_at_sandbox_clock(env, contacts=[by_email[_email("c0")].contact_id.id, c5.contact_id.id],
                                        subscriptions=c5.ids)
            self.assertEqual(mailing_list._esp_sync(trigger="manual").state, "partial")
        self.sandbox.state()  # the ESP applies the second import
        self.sandbox.advance_clock(60)
        self._api("POST", f"address-books/{book_id}/contacts",
                  json={"email": _email("new"), "dataFields": [{"key": "FULLNAME", "value": "New Person"}]})
        self.sandbox.set_contact_status(_email("c1"), "Unsubscribed", book_id=book_id)
        self.sandbox.set_contact_status(_email("c2"), "HardBounced")
        c5_id = self._api("GET", f"contacts/{_email('c5')}").json()["id"]
        self._api("DELETE", f"address-books/{book_id}/contacts/{c5_id}").raise_for_status()
        self.sandbox.advance_clock(60)
        with self._committed() as env:
            mailing_list = env["mailing.list"].browse(list_id)
            by_email = {s.contact_id.email: s for s in mailing_list.subscription_ids}
            by_email[_email("c3")].opt_out = True
            by_email[_email("c4")].unlink()
            by_email[_email("c0")].contact_id.name = "Renamed Again"
            mailing_list.write({"contact_ids": [(0, 0, {"name": "Person 6", "email": _email("c6")})]})
            c6 = mailing_list.subscription_ids.filtered(lambda s: s.contact_id.email == _email("c6"))
            self._date_at_sandbox_clock(env, contacts=[by_email[_email("c0")].contact_id.id, c6.contact_id.id],
                                        subscriptions=[by_email[_email("c3")].id, *c6.ids])
            # A day later: the book check is due (it sends back c5, removed from the book at the ESP).
            env["ir.config_parameter"].set_param(BOOK_CHECK_PARAM, 0)
        return binding_id, book_id

    def _scenario(self, label):
        """Prepare, crash a worker at ``label`` (None: no crash), rerun until idle; return what to compare:
        ``(snapshot, problems, runs)``."""
        try:
            binding_id, book_id = self._prepare(label)
            if label:
                crashed = self.worker.run(binding_id=binding_id, crash_at=label, max_runs=1)
                self.assertEqual(crashed["signal"], signal.SIGKILL,
                                 f"the worker was not killed at {label} (commit point not reached?): {crashed}")
            recovered = self.worker.run(binding_id=binding_id, max_runs=RECOVERY_RUNS, until_idle=True)
            self.assertIsNone(recovered["signal"], recovered)
            self.assertNotIn("error", recovered["result"], recovered["result"].get("error"))
            runs = [run for run in recovered["result"]["runs"] if not run.get("skipped")]
            snapshot, problems = self._inspect(binding_id, book_id, runs)
            return snapshot, problems, runs
        finally:
            self._cleanup()

    def _inspect(self, binding_id, book_id, runs):
        """Per email what each side holds, and the invariants any run, crashed or not, must keep."""
        state = self.sandbox.state(contacts_limit=100000)
        book = {c["email"]: c for b in state["books"] if b["id"] == book_id for c in b["contacts"]}
        remote = {c["email"]: c for c in state["contacts"]}
        problems = []
        with self._committed() as env:
            binding = env["esp.address.book"].browse(binding_id)
            mailing_list = binding.mailing_list_id
            subscriptions = mailing_list.subscription_ids
            contacts = env["mailing.contact"].with_context(active_test=False).search([("email", "=like", f"%@{DOMAIN}")])
            blacklisted = set(env["mail.blacklist"].search([("email", "=like", f"%@{DOMAIN}")]).mapped("email"))
            members = {m.email: m.state for m in env["esp.list.member"].search([("list_id", "=", mailing_list.id)])}
            batches = env["esp.import.batch"].search([("list_id", "=", mailing_list.id)])
            notes = env["mail.message"].search([("model", "=", "mailing.contact"), ("res_id", "in", contacts.ids),
                                                ("body", "ilike", "Opted out of the mailing list")])
            logs = env["esp.sync.log"].search([("list_id", "=", mailing_list.id)], order="id")
            emails = sorted(set(contacts.mapped("email")) | {e for e in book if e.endswith(DOMAIN)})
            snapshot = {}
            for email in emails:
                subs = subscriptions.filtered(lambda s, e=email: s.contact_id.email == e)
                snapshot[email] = {
                    "odoo": ("out" if all(subs.mapped("opt_out")) else "sub") if subs else None,
                    "blacklisted": email in blacklisted,
                    "member": members.get(email),
                    "book": book[email]["book_status"] if email in book else None,
                    "status": remote[email]["status"] if email in remote else None,
                    "odoo_name": subs.contact_id[:1].name or None,
                    "esp_name": json.loads(remote[email]["data"] or "{}").get("FULLNAME") if email in remote else None,
                }
            # Nothing duplicated: one Odoo contact and one subscription per email, one note per ESP opt-out.
            if len(contacts) != len(set(contacts.mapped("email"))):
                problems.append(f"duplicated Odoo contacts: {sorted(contacts.mapped('email'))}")
            if len(subscriptions) != len(set(subscriptions.contact_id.mapped("email"))):
                problems.append("an email subscribed twice to the list")
            if len(notes) != len(set(notes.mapped("res_id"))):
                problems.append("an ESP opt-out noted twice on a contact")
            # No import lost: each one the ESP received is known to Odoo, and none is left in flight.
            received = {i["id"] for i in state["imports"] if i["book_id"] == book_id}
            if received - set(batches.mapped("remote_id")):
                problems.append(f"imports unknown to Odoo: {received - set(batches.mapped('remote_id'))}")
            if set(batches.mapped("state")) != {"done"}:
                problems.append(f"imports not done: {batches.mapped('state')}")
            # Nothing stuck, nobody re-subscribed, the list back to normal.
            stuck = {e: s for e, s in members.items() if s in ("pending", "exporting")}
            if stuck:
                problems.append(f"members stuck: {stuck}")
            if [c for c in self.sandbox.requests_log() if "resubscribe" in c["path"]]:
                problems.append("resubscribe calls at the ESP")
            if (binding.sync_state, binding.last_error) != ("done", False):
                problems.append(f"list left {binding.sync_state}: {binding.last_error}")
            if not runs or runs[-1]["state"] != "done":
                problems.append("the reruns did not end idle")
            if not runs or not runs[0]["due"]:
                problems.append("the cron would not pick the list up after the crash")
            if problems:
                problems.append(f"reruns {runs}; run logs:\n" + "\n".join(
                    f"- {log.state}: {log.message or ''} {(log.steps or '').strip()}" for log in logs))
        return snapshot, problems

    @classmethod
    def _baseline_snapshot(cls, case):
        """The same scenario without a crash, run once per class."""
        if getattr(cls, "_baseline", None) is None:
            snapshot, problems, _runs = case._scenario(None)
            cls._baseline = (snapshot, problems)
        return cls._baseline

    def _crash_and_recover(self, label):
        baseline, _problems = self._baseline_snapshot(self)
        snapshot, problems, runs = self._scenario(label)
        self.assertFalse(problems, "\n".join(problems))
        # Nothing lost or duplicated by the crash: the list ends exactly where an uninterrupted run ends.
        self.assertEqual(snapshot, baseline, f"differs from a run without crash; reruns: {runs}")

    # An uninterrupted run reaches the state the scenario calls for (it failed while the engine lost the
    # ESP's opt-outs in every cron run: FIXED_DEFECTS["optouts_lost_in_cold_run"] in test_sync_properties.py).
    def test_end_state_without_crash(self):
        snapshot, problems = self._baseline_snapshot(self)
        self.assertFalse(problems, "\n".join(problems))
        sendable = {e for e, s in snapshot.items() if s["odoo"] == "sub" and not s["blacklisted"]}
        subscribed_in_book = {e for e, s in snapshot.items()
                              if s["book"] in ("Subscribed", "SoftBounced") and s["status"] in ("Subscribed", "SoftBounced")}
        expected = {_email(name) for name in ("c0", "c5", "c6", "new")}
        self.assertEqual(sendable, expected, snapshot)
        self.assertEqual(subscribed_in_book, expected, snapshot)
        self.assertEqual({e: snapshot[e]["member"] for e in expected}, dict.fromkeys(expected, "synced"))
        for email in (_email("c1"), _email("c2"), _email("c3")):  # no opt-out lost, either way
            self.assertEqual(snapshot[email]["odoo"], "out", snapshot[email])
            self.assertEqual(snapshot[email]["member"], "opted_out", snapshot[email])
        self.assertEqual(snapshot[_email("c1")]["book"], "Unsubscribed")
        self.assertEqual(snapshot[_email("c3")]["book"], "Unsubscribed")
        self.assertEqual(snapshot[_email("c2")]["status"], "HardBounced")
        self.assertIsNone(snapshot[_email("c4")]["odoo"])  # removed in Odoo, and from the book
        self.assertIsNone(snapshot[_email("c4")]["book"])
        self.assertEqual(snapshot[_email("c0")]["esp_name"], "Renamed Again")
        self.assertEqual(snapshot[_email("new")]["odoo_name"], "New Person")


def _label_test(label):
    def test(self):
        self._crash_and_recover(label)

    test.__name__ = f"test_crash_at_{label.replace(':', '_')}"
    test.__doc__ = f"A worker killed at commit point {label}, then reruns: converged, nothing lost or duplicated."
    return test


for _label in LABELS:
    setattr(TestSyncCrash, _label_test(_label).__name__, _label_test(_label))

