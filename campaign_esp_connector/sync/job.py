"""The one job base: every job that calls an ESP runs on it.

A job kind is an abstract model inheriting ``esp.sync.job`` with a cron of its own. Its run:

- **claims** each unit of work (a list, a campaign, an account) with a PostgreSQL session advisory lock in the
  kind's namespace, so no two workers (cron threads or Odoo servers) hold it at once; a unit another worker
  holds is skipped, and a killed worker's lock goes with its connection;
- **reads the unit again after the claim**, in a new transaction (Odoo's cursors are REPEATABLE READ: a
  snapshot taken before the claim could show a state another worker has since changed);
- **stays inside the worker's time budget** (half of ``limit_time_real_cron``), and asks its cron to come back
  for what is left;
- **commits after each remote side effect** through its :class:`~.common.CommitPoints` (savepoints in tests);
- **tells failures worth retrying** (throttling, timeouts, 5xx, broken answers) **from failures a person must
  fix** (credentials, permissions, a refusal), and reports progress to ``ir.cron``.

Kinds are extended the Odoo way, as ``google.calendar.sync`` is: another add-on inherits the kind's model and
overrides :meth:`_esp_job_steps` (add, remove or reorder steps) or one step method, without monkeypatching.
"""

import logging
import time
from contextlib import ExitStack, contextmanager
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import config

from .. import providers
from .common import CommitPoints

_logger = logging.getLogger(__name__)

# Advisory lock namespaces ("ESP" + a letter), so ids of different kinds of work never clash with each other or
# with other modules' advisory locks. "account" is the list sync's and the catalogue's: both write an account's
# address books.
LOCK_NAMESPACES = {
    "account": 0x45535043,
    "campaign": 0x45535044,
    "activity": 0x45535045,
    "statistics": 0x45535046,
    "list": 0x45535047,
    "slot": 0x45535048,
    # A transaction lock per page of a campaign's activity read (activity.py): the activity job, the statistics
    # job and a person's button never read one campaign's pages at once.
    "activity_page": 0x45535041,
}

# Share of the worker's real-time limit a run may use: the rest covers the slowest single call and the commit.
BUDGET_SHARE = 0.5
DEFAULT_BUDGET = 240
MIN_BUDGET = 10

# How many crons of each kind may share the work ("ESP workers" in the settings), and the kinds that spread
# over them: many units, each claimed on its own. Odoo runs one cron record at most once at a time, across all
# its servers; N copies of a cron let N cron threads (of one or several servers) work at once.
WORKERS_PARAM = "campaign_esp_connector.workers"
MAX_WORKERS = 16
SPREAD_KINDS = ("esp.sync.job.list", "esp.sync.job.campaign.send", "esp.sync.job.campaign.follow",
                "esp.sync.job.statistics", "esp.sync.job.activity")

# Errors that mean the provider or the network is unwell: retried later, nobody needs to act.
RETRYABLE = (providers.RateLimited, providers.EspConnectionError, providers.ServerError, providers.InvalidResponse)
# Errors only a person can fix (credentials, permissions, region).
NEEDS_PERSON = (providers.AuthenticationError, providers.PermissionDenied)


def time_budget():
    """Seconds a run may take: half the real-time limit cron workers get (Odoo's default: 120 s)."""
    limit = config.get("limit_time_real_cron") or -1
    if limit <= 0:
        limit = config.get("limit_time_real") or 0
    if limit <= 0:
        return DEFAULT_BUDGET
    return max(MIN_BUDGET, min(DEFAULT_BUDGET, int(limit * BUDGET_SHARE)))


def classify(error):
    """``"retry"`` (transient: throttling, network, server), ``"person"`` (credentials, permissions, a refusal a
    person must read) or ``"failed"`` (the ESP refused this unit's request)."""
    if isinstance(error, RETRYABLE):
        return "retry"
    if isinstance(error, (*NEEDS_PERSON, UserError)):
        return "person"
    return "failed"


class Claims:
    """Session advisory locks of one worker, in one namespace. Session locks survive the commits a run makes;
    a killed worker's connection closes, which releases them."""

    def __init__(self, env, kind):
        self.env = env
        self.namespace = LOCK_NAMESPACES[kind]

    def take(self, key, shared=False):
        """Claim ``key``; ``shared`` claims may be held by several workers at once, never beside an exclusive
        one (lists of one account run side by side; the catalogue, which rewrites its books, runs alone)."""
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        self.env.cr.execute(f"SELECT {function}(%s, %s)", [self.namespace, key])  # noqa: S608 - fixed names
        return self.env.cr.fetchone()[0]

    def release(self, key, shared=False):
        function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        self.env.cr.execute(f"SELECT {function}(%s, %s)", [self.namespace, key])  # noqa: S608 - fixed names

    @contextmanager
    def hold(self, key):
        """``with claims.hold(key) as held:`` — ``held`` is False when another worker has the key."""
        held = self.take(key)
        try:
            yield held
        finally:
            if held:
                self.release(key)


class JobRun:
    """One run of one job kind in one worker: budget, commit points, claims and progress."""

    def __init__(self, env, kind, budget=None):
        self.env = env
        self.budget = budget or time_budget()
        self.deadline = time.monotonic() + self.budget
        self.points = CommitPoints(env)
        self.claims = Claims(env, kind)
        self.done = 0
        self._clients = {}
        self._exit = ExitStack()

    def out_of_time(self):
        return time.monotonic() > self.deadline

    def commit(self, label=None):
        self.points.commit(label)

    def rollback(self):
        self.points.rollback()

    def fresh(self):
        """After a claim: a new transaction, so what is read next is what other workers committed."""
        self.points.commit()
        self.env.invalidate_all()

    def client(self, account):
        """The account's provider client, opened once per run and closed (its API usage recorded) at its end."""
        if account.id not in self._clients:
            self._clients[account.id] = self._exit.enter_context(account._esp_client())
        return self._clients[account.id]

    def close(self):
        try:
            self._exit.close()
        finally:
            self.points.close()


class EspSyncJob(models.AbstractModel):
    """Base of every ESP job kind (see the module's docstring). A kind sets ``_esp_job_kind`` (its lock
    namespace) and ``_esp_job_cron_xmlid`` (the xml id of its cron, which calls :meth:`_esp_job_cron`), and
    implements :meth:`_esp_job_units` and its steps."""

    _name = "esp.sync.job"
    _description = "ESP Job"

    _esp_job_kind = "account"
    _esp_job_cron_xmlid = None

    # -- what a kind defines ------------------------------------------------------------------------------------

    @api.model
    def _esp_job_units(self):
        """The records due for this job, in the order to work on them."""
        return []

    @api.model
    def _esp_job_key(self, unit):
        """The advisory lock key of a unit (its id by default)."""
        return unit.id

    @api.model
    def _esp_job_current(self, unit):
        """Read again after the claim: whether the unit is still to be worked on (another worker may have
        finished it between the search and the claim)."""
        return bool(unit.exists())

    @api.model
    def _esp_job_held(self, unit):
        """Another worker holds ``unit``: it does the work (by default nothing more is needed)."""

    @api.model
    def _esp_job_steps(self):
        """Names of the methods run in order on each unit, each as ``step(unit, run)``. A step returning
        ``"stop"`` ends the unit's run (nothing more to do now). Override to add, drop or reorder steps."""
        return []

    @api.model
    def _esp_job_failed(self, unit, error, kind, message):
        """Record on ``unit`` a failure of kind ``"retry"``, ``"person"`` or ``"failed"`` (see :func:`classify`)."""
        _logger.warning("ESP job %s on %s: %s", self._name, unit, message)

    # -- the runner -----------------------------------------------------------------------------------------------

    @api.model
    def _esp_job_cron(self):
        """What the kind's cron calls: the due units, handed to :meth:`_esp_job_dispatch`."""
        return self._esp_job_dispatch(self._esp_job_units())

    @api.model
    def _esp_job_dispatch(self, units):
        """Work on ``units``: here, in this worker, at once. An add-on running the jobs on another engine
        (``campaign_esp_connector_queue``: OCA's queue_job) overrides this to hand each unit over instead."""
        return self._esp_job_run(units)

    @api.model
    def _esp_job_run(self, units=None, budget=None):
        """Claim and work on due units (default: all) within the worker's time budget; what is left is left to
        the next run, which the cron is asked to make soon.

        :return: the units worked on in this run
        """
        env = self.env(su=True)
        job = env[self._name]
        run = JobRun(env, self._esp_job_kind, budget=budget)
        units = job._esp_job_units() if units is None else units.sudo()
        worked = []
        try:
            for position, unit in enumerate(units):
                if run.out_of_time():
                    job._esp_job_come_back(fields.Datetime.now())
                    break
                key = job._esp_job_key(unit)
                with run.claims.hold(key) as held:
                    if not held:
                        _logger.info("ESP job %s: %s is held by another worker; skipped", self._name, unit)
                        job._esp_job_held(unit)
                        continue
                    run.fresh()
                    if not job._esp_job_current(unit):
                        continue
                    job._esp_job_process(unit, run)
                    worked.append(unit)
                run.done = position + 1
                env["ir.cron"]._notify_progress(done=run.done, remaining=len(units) - run.done)
        finally:
            run.commit()
            run.close()
        return worked

    @api.model
    def _esp_job_process(self, unit, run):
        """Run the steps on one claimed unit; a failure is classified and recorded on the unit, and the other
        units go on. Work a step did not make durable is rolled back (a remote side effect is always
        recorded and committed by the step that caused it)."""
        try:
            for step in self._esp_job_steps():
                if getattr(self, step)(unit, run) == "stop":
                    break
                run.commit(f"{self._esp_job_kind}:{step}")
        except (providers.EspError, UserError) as error:
            run.rollback()
            kind = classify(error)
            account = self._esp_job_account(unit)
            message = account._esp_error_message(error) if account and isinstance(error, providers.EspError) \
                else str(error)
            self._esp_job_failed(unit, error, kind, message)
            if kind == "retry":
                retry_after = getattr(error, "retry_after", None) or 60
                self._esp_job_come_back(fields.Datetime.now() + timedelta(seconds=max(int(retry_after), 1)))
            elif isinstance(error, NEEDS_PERSON) and account:
                account.write({"state": "error", "last_error": message})
            run.commit()
        except Exception:
            # A bug met on one unit must not stall the others: undo its unrecorded work, record it, go on.
            _logger.exception("ESP job %s crashed on %s", self._name, unit)
            run.rollback()
            self._esp_job_failed(unit, None, "failed", self.env._(
                "The job stopped on an unexpected error; see the server log."))
            run.commit()

    @api.model
    def _esp_job_account(self, unit):
        return unit.account_id if "account_id" in unit._fields else None

    @api.model
    def _esp_job_come_back(self, at):
        """Ask this kind's crons to run again at ``at`` (their own interval may be long)."""
        for cron in self._esp_job_crons():
            cron._trigger(at)

    # -- workers --------------------------------------------------------------------------------------------------

    @api.model
    def _esp_job_crons(self):
        """The kind's cron, then its worker copies (same model and code)."""
        cron = self._esp_job_cron_xmlid and self.env.ref(self._esp_job_cron_xmlid, raise_if_not_found=False)
        if not cron:
            return self.env["ir.cron"]
        cron = cron.sudo()
        copies = cron.with_context(active_test=False).search(
            [("model_id", "=", cron.model_id.id), ("code", "=", cron.code), ("id", "!=", cron.id)], order="id")
        return cron | copies

    @api.model
    def _esp_job_set_workers(self, count):
        """Give each spreading kind ``count`` crons: its own plus ``count - 1`` copies following its cadence."""
        count = max(1, min(MAX_WORKERS, int(count or 1)))
        for name in SPREAD_KINDS:
            crons = self.env[name]._esp_job_crons()
            if not crons:
                continue
            main, copies = crons[0], crons[1:]
            same = {"interval_number": main.interval_number, "interval_type": main.interval_type,
                    "active": main.active, "priority": main.priority}
            copies[count - 1:].unlink()
            copies[:count - 1].write(same)
            for index in range(len(copies) + 2, count + 1):
                main.copy({**same, "name": self.env._("%(name)s (worker %(index)s)", name=main.name, index=index)})


class EspSyncJobAccount(models.AbstractModel):
    """Base of the job kinds whose unit is a connected account (statistics, catalogue)."""

    _name = "esp.sync.job.account"
    _inherit = "esp.sync.job"
    _description = "ESP Job per Account"

    @api.model
    def _esp_job_units(self):
        return self.env["esp.account"].search([("state", "=", "connected")], order="id")

    @api.model
    def _esp_job_current(self, unit):
        return bool(unit.exists()) and unit.state == "connected"
