"""The runner: claims due lists account by account, keeps each run inside the cron's time limit, makes work
durable after every remote side effect, and keeps one failing list or account from delaying the others."""

import logging
import time
from datetime import timedelta

import psycopg2
import psycopg2.errors

from odoo import fields
from odoo.exceptions import UserError

from .. import providers
from .audience import AudienceJob
from .book_check import BookCheckJob
from .common import CommitPoints, ListRun, RunAborted, utc_naive
from .export import ExportJob
from .imports import ImportPollJob
from .job import LOCK_NAMESPACES, NEEDS_PERSON, Claims, time_budget
from .optin import DoubleOptInJob
from .optouts import OptOutJob
from .pull import ContactPullJob

_logger = logging.getLogger(__name__)

# The list sync claims accounts (every job kind's namespaces are in job.py).
LOCK_NAMESPACE = LOCK_NAMESPACES["account"]
# Slot keys of an account: account id * this + slot (slots never exceed MAX_LISTS_AT_ONCE).
SLOTS_PER_ACCOUNT = 100
# Transient failures are retried after 1, 2, 4, ... minutes, at most this many.
MAX_BACKOFF_MINUTES = 60
# Errors that mean the provider or the network is unwell for the whole account: its other lists wait too.
ACCOUNT_TRANSIENT = (providers.EspConnectionError, providers.ServerError, providers.InvalidResponse)
# Errors only a person can fix (credentials, permissions, region): they stop the account, and only it.
ACCOUNT_NEEDS_PERSON = NEEDS_PERSON

JOBS = {"poll": ImportPollJob, "pull": ContactPullJob, "optouts": OptOutJob, "book_check": BookCheckJob,
        "export": ExportJob, "optin": DoubleOptInJob}
# Double opt-in confirmations before the opt-outs: an expired confirmation is opted out with its own reason.
FULL_RUN = ("poll", "pull", "optin", "optouts", "book_check", "export")


def transport_options(budget, testing):
    """HTTP limits that keep one call (its retries and in-line throttling waits included) inside the worker's
    real-time limit: the budget is half of it, a call may take a share of the other half."""
    read = max(10, min(121, int(budget) - 10))
    return {
        "timeout": read if testing else (10, read),
        "max_wait": min(30.0, budget / 4),
        "throttle_retries": 1,
    }


def backoff(retry_count):
    return timedelta(minutes=min(2 ** max(retry_count, 0), MAX_BACKOFF_MINUTES))


class _AccountFeeds:
    """Account-wide feeds, read at most once per account per run and shared by all its lists."""

    def __init__(self, env, client, since):
        self._env = env
        self._client = client
        self._since = since
        self._suppressions = None

    def suppressions(self):
        """``[(email, reason, at)]`` of account-wide suppressions since the earliest watermark of the run."""
        if self._suppressions is None and not self._client.supports(providers.Capability.SUPPRESSION_FEED):
            # No account-wide feed (Campaign Master): its inactive recipients come through each list's feed.
            self._suppressions = []
        if self._suppressions is None:
            suppressed = self._env._("Suppressed")
            self._suppressions = [
                (row.email.strip().lower(), row.reason or suppressed, utc_naive(row.removed_at))
                for row in self._client.iter_suppressed_since(self._since) if row.email
            ]
        return self._suppressions


class ListSyncRunner:
    """Run the sync jobs of connected lists.

    :param env: an environment (the runner works as superuser: it acts for the connector)
    :param trigger: ``cron`` or ``manual`` (recorded on the run logs)
    :param steps: job names to run (default: all, in order poll, pull, optouts, book_check, export); a run of
        the poll job alone never changes a list's state or error
    """

    def __init__(self, env, trigger="cron", steps=FULL_RUN):
        self.env = env(su=True)
        self.trigger = trigger
        self.steps = tuple(steps)
        self.poll_only = self.steps == ("poll",)
        self.budget = time_budget()
        self.deadline = time.monotonic() + self.budget
        self.done = 0
        # Accounts another worker was syncing: their lists were not run this time.
        self.held = set()

    # -- claiming ------------------------------------------------------------------------------------------

    def due_bindings(self):
        Book = self.env["esp.address.book"]
        domain = [
            ("mailing_list_id", "!=", False),
            ("mailing_list_id.active", "=", True),  # archived lists stop syncing; unarchiving queues a run
            ("account_id.active", "=", True),
            ("account_id.state", "=", "connected"),
        ]
        if self.poll_only:
            batches = self.env["esp.import.batch"].search([("state", "=", "posted")])
            return Book.search([*domain, ("mailing_list_id", "in", batches.list_id.ids)])
        now = fields.Datetime.now()
        return Book.search(
            [*domain, ("sync_state", "not in", ("rejected", "guard", "book_missing")),
             "|", ("next_sync_datetime", "=", False), ("next_sync_datetime", "<=", now)],
            order="next_sync_datetime asc nulls first, last_attempt_datetime asc nulls first, id",
        )

    # -- running -------------------------------------------------------------------------------------------

    def run(self, bindings=None, force=None):
        """Sync ``bindings`` (default: every due list), account by account, within the time budget.

        Several workers share the work: each takes a slot of an account (as many slots as the account's rate
        budget allows lists at once) and, within it, claims list by list, so the lists of one account run side
        by side in different workers and no list ever runs twice at once.

        :param force: run ``bindings`` even when they are not due (a person's or a send's refresh); default:
            when ``bindings`` are given. A job's units are run only while still due once claimed.
        :return: the ``esp.sync.log`` records of the runs made
        """
        self.explicit = (bindings is not None) if force is None else force
        bindings = self.due_bindings() if bindings is None else bindings.sudo()
        logs = self.env["esp.sync.log"]
        total = len(bindings)
        for account in bindings.account_id:
            if time.monotonic() > self.deadline:
                break
            slot = self._claim_account(account)
            if slot is None:
                _logger.info("ESP account %s: every slot is taken by other workers; skipped this time", account.id)
                self.held.add(account.id)
                continue
            try:
                logs |= self._run_account(account, bindings.filtered(lambda b, a=account: b.account_id == a))
            finally:
                self._release_account(account, slot)
        self.env["ir.cron"]._notify_progress(done=self.done, remaining=max(total - self.done, 0))
        return logs

    def _claim_account(self, account):
        """A slot of the account for this worker, or None. The account's claim is shared by the lists' runs and
        exclusive for the catalogue job, which rewrites the account's books."""
        accounts, slots = Claims(self.env, "account"), Claims(self.env, "slot")
        if not accounts.take(account.id, shared=True):
            return None
        for slot in range(account._esp_rate_capacity()):
            if slots.take(account.id * SLOTS_PER_ACCOUNT + slot):
                return slot
        accounts.release(account.id, shared=True)
        return None

    def _release_account(self, account, slot):
        Claims(self.env, "slot").release(account.id * SLOTS_PER_ACCOUNT + slot)
        Claims(self.env, "account").release(account.id, shared=True)

    def _still_due(self, binding):
        """Read again once the list is claimed: another worker may have synced it since this run listed it."""
        binding.invalidate_recordset()
        if not binding.exists() or binding.sync_state in ("rejected", "guard", "book_missing"):
            return False
        if self.poll_only:
            return bool(self.env["esp.import.batch"].search_count(
                [("list_id", "=", binding.mailing_list_id.id), ("state", "=", "posted")]))
        return not binding.next_sync_datetime or binding.next_sync_datetime <= fields.Datetime.now()

    def _run_account(self, account, bindings):
        logs = self.env["esp.sync.log"]
        points = CommitPoints(self.env)
        self._calls_logged = 0
        # Options a caller (a test, a benchmark) put in the context win over the runner's limits.
        options = transport_options(self.budget, points.testing)
        options.update(account.env.context.get("campaign_esp_connector_transport") or {})
        account = account.with_context(campaign_esp_connector_transport=options)
        try:
            with account._esp_client() as client:
                server_now = feeds = None
                lists = Claims(self.env, "list")
                for binding in bindings:
                    if time.monotonic() > self.deadline:
                        break
                    if not lists.take(binding.id):
                        continue  # another worker is syncing this list
                    try:
                        points.commit()  # a new transaction: what other workers committed is seen from here
                        if not self.explicit and not self._still_due(binding):
                            continue
                        if server_now is None:
                            # The ESP's clock, once per account run, and only once a list is to run: a worker
                            # that finds every list taken by others spends no call.
                            try:
                                server_now = utc_naive(client.server_time())
                            except providers.EspError as error:
                                self._account_failed(account, bindings, error, points)
                                return logs
                            account._esp_record_clock(server_now)
                            watermarks = [b.optout_watermark for b in bindings]
                            overlap = timedelta(seconds=client.limits.feed_overlap_seconds)
                            since = (min(watermarks) - overlap) if all(watermarks) else client.limits.feed_epoch
                            feeds = _AccountFeeds(self.env, client, since)
                        log, stop_account = self._run_list(binding, client, server_now, points, feeds)
                    finally:
                        lists.release(binding.id)
                    logs |= log
                    self.done += 1
                    if stop_account:
                        break
        except UserError as error:  # no API password: a person must set it
            account.write({"state": "error", "last_error": str(error)})
        finally:
            points.commit()
            points.close()
        return logs

    def _run_list(self, binding, client, server_now, points, feeds):
        """One run of one list. :return: ``(log, stop_account)``"""
        # This worker holds the account: a run of the list still "running" is one a dead worker left.
        self.env["esp.sync.log"].search(
            [("list_id", "=", binding.mailing_list_id.id), ("state", "=", "running")]
        ).write({"state": "failed", "message": self.env._(
            "Interrupted: the worker running this sync stopped before its end; the next run resumed from what "
            "was recorded.")})
        # A person's Synchronize: the cron does the work, the run is theirs (kept in the history, counted, told).
        requester = binding.sync_requested_by_id if not self.poll_only else binding.sync_requested_by_id.browse()
        trigger = "manual" if requester else self.trigger
        log = self.env["esp.sync.log"].create({
            "list_id": binding.mailing_list_id.id, "account_id": binding.account_id.id, "trigger": trigger,
        })
        # The account's own calls of this run (clock, shared feeds) are counted on the log of the list that
        # made them: each call is on exactly one log.
        started, calls_before = time.monotonic(), self._calls_logged
        try:
            if not self.poll_only:
                binding._esp_start_run()
            points.commit("run:started")
        except (psycopg2.errors.SerializationFailure, psycopg2.errors.LockNotAvailable):
            # A person's button (Synchronize, Connect) wrote the binding while this run began: nothing was
            # done yet, so leave the list to the next run rather than fail the whole account's run.
            points.rollback()
            _logger.info("ESP list %s changed by another transaction as its run began; next run",
                         binding.mailing_list_id.id)
            return self.env["esp.sync.log"], False
        run = ListRun(binding, client, log, server_now, points, self.deadline, feeds)
        state, message, stop_account, retry_at, transient = "done", False, False, None, False
        try:
            steps = self.steps if self._audience(run) != "guard" else ()
            state = state if steps else "guard"
            for name in steps:
                if not self.poll_only:
                    binding.sync_progress = self.env._("Step %(step)s of %(count)s: %(name)s",
                                                       step=self.steps.index(name) + 1, count=len(self.steps),
                                                       name=self._step_label(name))
                outcome = JOBS[name](run).execute()
                points.commit(f"step:{name}")
                if outcome in ("guard", "rejected"):
                    state = outcome
                    break
                if outcome == "partial":
                    state = "partial"
            if state == "done" and not self.poll_only and self.env["esp.import.batch"].search_count(
                [("list_id", "=", binding.mailing_list_id.id), ("state", "=", "posted")]
            ):
                state = "partial"  # imports in flight: the run that confirms them is scheduled shortly
        except RunAborted as abort:
            state, message = abort.state, abort.message
        except providers.RateLimited as error:
            state, message, stop_account = "throttled", binding.account_id._esp_error_message(error), True
            retry_at, transient = fields.Datetime.now() + timedelta(seconds=max(int(error.retry_after or 60), 1)), True
        except ACCOUNT_NEEDS_PERSON as error:
            state, message, stop_account = "failed", binding.account_id._esp_error_message(error), True
            binding.account_id.write({"state": "error", "last_error": message})
        except ACCOUNT_TRANSIENT as error:
            state, message, stop_account = "failed", binding.account_id._esp_error_message(error), True
            transient = True
        except providers.EspError as error:
            state, message = binding._esp_run_error(error)
        except Exception:
            # A bug met on one list must not stall the others: undo its unrecorded work, record it, go on.
            _logger.exception("ESP sync of mailing list %s crashed", binding.mailing_list_id.id)
            points.rollback()
            state, message = "failed", self.env._("The sync stopped on an unexpected error; see the server log.")
            log = log.exists() or self.env["esp.sync.log"].create({
                "list_id": binding.mailing_list_id.id, "account_id": binding.account_id.id, "trigger": trigger,
            })
        self._refresh_book_count(binding, client, log, state)
        log.write({
            "state": state,
            "message": message or log.message,
            "end_datetime": fields.Datetime.now(),
            "duration": time.monotonic() - started,
            "api_calls": client.stats.calls - calls_before,
        })
        self._calls_logged = client.stats.calls
        if not self.poll_only or state == "rejected":
            binding._esp_finish_run(state, message or log.message, full=not self.poll_only, retry_at=retry_at,
                                    transient=transient)
        if message:
            _logger.warning("ESP sync of mailing list %s: %s", binding.mailing_list_id.id, message)
        self._report(binding, log, requester)
        log = self._drop_if_idle(log)
        points.commit("run:finished")
        self._tell_requester(binding, log, requester, points)
        return log, stop_account

    def _refresh_book_count(self, binding, client, log, state):
        """A run that ended having changed the book (imports confirmed, contacts removed) reads the book's
        contact count again: one call, on this run's log, instead of "Contacts at ESP" waiting for the daily
        catalogue sync. A failure only leaves the count as it was."""
        if state != "done" or not (log.exported or log.removed):
            return
        try:
            book = client.get_address_book(binding.remote_id)
        except providers.EspError as error:
            _logger.info("ESP address book %s: contact count not read (%s)", binding.remote_id, error)
            return
        if book.contact_count is not None and book.contact_count != binding.contact_count:
            binding.contact_count = book.contact_count

    def _audience(self, run):
        """A dynamic filter's members follow it first: the run then syncs what the filter selects now."""
        if self.poll_only or run.mailing_list.esp_source_kind != "dynamic":
            return None
        run.binding.sync_progress = self.env._("Refreshing the members from the filter")
        outcome = AudienceJob(run).execute()
        run.commit("step:audience")
        return outcome

    def _report(self, binding, log, requester):
        """A manual run records how the whole list stands; the person who pressed Synchronize is told once the
        queued work ends (see :meth:`_tell_requester`)."""
        if log.trigger == "manual":
            log._record_list_state()

    def _tell_requester(self, binding, log, requester, points):
        """Tell the person who pressed Synchronize, once the run's end is committed: told "done", the form they
        look at reads that state, not the last one. A partial run comes back shortly to finish (imports in
        flight, budget used up) and tells then. The requester is forgotten with the notice, so a worker that
        dies in between leaves them to be told by the next run."""
        if not requester or not log or log.state == "partial":
            return
        self._notify_requester(requester, log)
        binding.sync_requested_by_id = False
        points.commit("run:told")

    def _notify_requester(self, user, log):
        """Tell the person who pressed Synchronize how the run ended and how the list stands now."""
        problem = log.state in ("failed", "rejected", "throttled", "guard", "book_missing") or log.list_failed_count
        log = log.with_context(lang=user.lang or self.env.lang)
        user._bus_send("simple_notification", {
            "title": log.env._("ESP synchronization: %(list)s", list=log.list_id.name),
            "message": log._summary(),
            "type": "warning" if problem else "success",
            "sticky": bool(problem),
        })

    def _drop_if_idle(self, log):
        """A scheduled run that found nothing to do leaves no history row: the list's last-run fields say it
        ran, and the history keeps the runs that did something (an idle list would add one every few minutes)."""
        if self._idle(log):
            log.unlink()
            return self.env["esp.sync.log"]
        return log

    def _idle(self, log):
        return (log.trigger == "cron" and log.state == "done" and not log.message and not log.line_ids
                and not any(log[counter] for counter in ("exported", "updated", "created", "added", "opted_out",
                                                         "removed", "failed")))

    def _step_label(self, name):
        return {
            "poll": self.env._("checking imports in flight"),
            "pull": self.env._("reading changes made at the ESP"),
            "optin": self.env._("reading double opt-in confirmations"),
            "optouts": self.env._("opt-outs and removals"),
            "book_check": self.env._("comparing the address book"),
            "export": self.env._("sending contacts"),
        }[name]

    def _account_failed(self, account, bindings, error, points):
        """The account's first call failed: no list of it runs now; transient errors are retried later."""
        message = account._esp_error_message(error)
        if isinstance(error, ACCOUNT_NEEDS_PERSON):
            account.write({"state": "error", "last_error": message})
        elif not self.poll_only:
            retry_at = None
            if isinstance(error, providers.RateLimited):
                retry_at = fields.Datetime.now() + timedelta(seconds=max(int(error.retry_after or 60), 1))
            for binding in bindings:
                binding._esp_finish_run("failed" if retry_at is None else "throttled", message, full=False,
                                        retry_at=retry_at, transient=True)
        for binding in bindings.filtered("sync_requested_by_id"):
            if self.poll_only:
                continue
            user = binding.sync_requested_by_id
            user._bus_send("simple_notification", {
                "title": self.env._("ESP synchronization: %(list)s", list=binding.mailing_list_id.name),
                "message": self.env._("The synchronization could not start: %(error)s", error=message),
                "type": "warning",
                "sticky": True,
            })
            binding.sync_requested_by_id = False
        _logger.warning("ESP account %s: %s", account.id, message)
        points.commit("account:failed")
