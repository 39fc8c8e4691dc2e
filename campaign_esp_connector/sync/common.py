import hashlib
import logging
import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

_logger = logging.getLogger(__name__)

# Set in a test worker's environment only: the worker kills itself (SIGKILL, no cleanup, no rollback
# handler) when it reaches the named commit point, which is how the crash tests stop a real process
# exactly between two steps. Unset in production, where it costs one dictionary lookup per commit point.
CRASH_AT_ENV = "CAMPAIGN_ESP_CONNECTOR_CRASH_AT"


def utc_naive(value):
    """Aware datetime -> naive UTC, as Odoo stores datetimes (``None`` stays ``None``)."""
    if value is None:
        return None
    if value.tzinfo:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def odoo_clock(offset, now=None):
    """The conversion of an ESP's date (aware or naive UTC, on its clock) to Odoo's, for a date Odoo keeps as its
    own (an opt-out's date on the subscription).

    An ESP whose clock runs ahead of Odoo's (``offset``, the account's measured ``clock_offset`` in seconds: a
    drifting server, a sandbox moved forward) would date it in the future: moved back by the offset, and never
    after Odoo's ``now``. A clock running behind is kept: its date is the only one there is, and it is in the
    past. Comparisons with the ESP's own dates (feeds' watermarks, opt-in against opt-out) keep the ESP's dates,
    and so do the activity rows, read again and again and compared as the ESP gave them.

    :return: ``convert(moment) -> naive UTC datetime`` (``None`` stays ``None``)
    """
    ahead = timedelta(seconds=max(offset or 0, 0))
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)

    def convert(moment):
        return None if moment is None else min(utc_naive(moment) - ahead, now)

    return convert


def values_hash(values):
    """Digest of the exported values of one contact (mapping order is fixed per account, so values suffice)."""
    return hashlib.sha1("\x1f".join(values.values()).encode()).hexdigest()


def crash_point(label):
    """Crash tests: kill this worker here when ``CAMPAIGN_ESP_CONNECTOR_CRASH_AT`` names ``label``."""
    if label and os.environ.get(CRASH_AT_ENV) == label:
        _logger.warning("Crash test: killing this worker at commit point %s", label)
        os.kill(os.getpid(), signal.SIGKILL)


def is_testing(env=None):
    """True in a test, including the HTTP requests of a browser tour: Odoo serves those from threads it does not
    mark, on a registry in test mode (whose test cursor must not really commit)."""
    if getattr(threading.current_thread(), "testing", False):
        return True
    return env is not None and env.registry.in_test_mode()


class RunAborted(Exception):
    """Raised by a job to end the run of its list at once, with a state the runner records."""

    def __init__(self, state, message=None):
        super().__init__(message or state)
        self.state = state
        self.message = message


class CommitPoints:
    """Where a run makes its work durable.

    In a cron worker each :meth:`commit` is a real commit: what the ESP accepted (a posted import, a sent
    unsubscribe, a created book) is recorded by the job right after the call and committed here, so a crash,
    a kill or a later failure can roll back only work that has no remote counterpart. Under tests (one
    transaction that must not be committed) the same points are a chain of savepoints, so a failure rolls
    back to the last point exactly as a crash would roll back to the last commit.
    """

    def __init__(self, env):
        self.env = env
        self.testing = is_testing(env)
        self._savepoint = env.cr.savepoint() if self.testing else None

    def commit(self, label=None):
        """Make everything done so far durable. ``label`` names the point (logs, crash tests)."""
        self.env.flush_all()
        if self.testing:
            self._savepoint.close(rollback=False)
            self._savepoint = self.env.cr.savepoint()
        else:
            # Safe: called only between remote calls, after the job recorded what the last one did.
            self.env.cr.commit()  # pylint: disable=invalid-commit
        crash_point(label)

    def rollback(self):
        """Undo everything since the last commit point (the ORM cache included)."""
        if self.testing:
            self._savepoint.rollback()
            self.env.cr.clear()
        else:
            self.env.cr.rollback()
        self.env.invalidate_all()

    def close(self):
        if self._savepoint is not None:
            self._savepoint.close(rollback=False)
            self._savepoint = None


class ListRun:
    """Everything one job needs to work on one connected list.

    :param binding: the list's ``esp.address.book`` (sudo: the engine acts for the connector)
    :param client: the account's provider client, shared by every list of the account in this run
    :param log: the run's ``esp.sync.log``
    :param server_now: the provider's clock (naive UTC), read once per account per run
    :param points: the run's :class:`CommitPoints`
    :param deadline: ``time.monotonic()`` value after which jobs stop at their next safe point
    :param account_feeds: per-account data read once per run and shared by its lists (suppressions)
    """

    def __init__(self, binding, client, log, server_now, points, deadline, account_feeds):
        self.binding = binding
        self.mailing_list = binding.mailing_list_id
        self.account = binding.account_id
        self.env = binding.env
        self.client = client
        self.limits = client.limits
        self.log = log
        self.server_now = server_now
        self.points = points
        self.deadline = deadline
        self.account_feeds = account_feeds
        self.overlap = timedelta(seconds=self.limits.feed_overlap_seconds)

    def out_of_time(self):
        return time.monotonic() > self.deadline

    def commit(self, label=None):
        self.points.commit(label)

    def param(self, key, default):
        return self.env["ir.config_parameter"].sudo().get_param(f"campaign_esp_connector.{key}", default)

    def since(self, watermark):
        """Where a feed whose last watermark is ``watermark`` is read from again (epoch the first time)."""
        return watermark - self.overlap if watermark else self.limits.feed_epoch


class Job:
    """A sync job of one list. Subclasses set ``name`` and implement :meth:`execute`.

    :meth:`execute` returns ``None`` (done), ``"partial"`` (more next run), ``"guard"`` or ``"rejected"``
    (a person must act), and raises provider errors for the runner to classify.
    """

    name = None

    def __init__(self, run):
        self.run = run
        self.env = run.env
        self.binding = run.binding
        self.list_id = run.mailing_list.id
        self.Member = self.env["esp.list.member"]

    def execute(self):
        raise NotImplementedError
