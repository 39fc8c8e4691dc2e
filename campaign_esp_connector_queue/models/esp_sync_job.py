"""The ESP job kinds on OCA's queue_job: each kind's cron hands every due unit over as one queue job.

The cron keeps planning (which lists, campaigns, accounts are due); the queue runs the work. A unit's queue job
is the job base's own run of that one unit (claim, steps, commit points), so it behaves as the cron's run would:

- the job goes to its provider's channel (``root.esp.dotdigital``, ``root.esp.campaign_master``) and carries an
  identity key (kind + unit), so a unit is never queued twice while its job is pending;
- what the base would leave to its cron coming back for this unit (throttling with the ESP's reset time, a
  transient failure, a send followed again in a minute, a list whose account another worker holds) becomes a
  ``RetryableJobError`` at that time, so queue_job runs it again then: a throttled or failed call counts as a
  retry, a planned come-back does not;
- direct calls of ``_esp_job_run`` (buttons, tests) are not affected, nor are the crons under queue_job's
  no-delay switches (context ``queue_job__no_delay``, environment ``QUEUE_JOB__NO_DELAY``) or with the system
  parameter ``campaign_esp_connector_queue.inline`` set: those run inline as without this add-on.
"""

import contextvars
import logging
import math
import os
from datetime import timedelta

from odoo import api, fields, models

from odoo.addons.queue_job.exception import RetryableJobError

_logger = logging.getLogger(__name__)

INLINE_PARAM = "campaign_esp_connector_queue.inline"
# A list whose account another worker holds is tried again this much later.
HELD_RETRY_SECONDS = 30


class QueuedUnitRun:
    """What the run of one queued unit asked for: when to come back, and whether that is a retry (a failure
    worth retrying) or a planned follow-up."""

    def __init__(self, kind):
        self.kind = kind
        self.at = None
        self.seconds = None
        self.retry = False
        self.message = None

    def come_back(self, at=None, seconds=None):
        """Keep the earliest come-back asked for (a datetime ``at`` or a delay in ``seconds``)."""
        now = fields.Datetime.now()
        if seconds is None:
            seconds = max(1, math.ceil((at - now).total_seconds()))
        if self.seconds is None or seconds < self.seconds:
            self.at, self.seconds = now + timedelta(seconds=seconds), seconds

    def failed(self, message, seconds=None):
        self.retry, self.message = True, message
        if seconds:
            self.come_back(seconds=max(1, int(seconds)))


# The run of the queued unit this thread is working on (None outside a queue job).
_CURRENT = contextvars.ContextVar("campaign_esp_connector_queue_run", default=None)


class EspSyncJob(models.AbstractModel):
    _inherit = "esp.sync.job"

    # -- the cron's side: hand the units over -------------------------------------------------------------------

    @api.model
    def _esp_job_dispatch(self, units):
        if not self._esp_queue_enabled():
            return super()._esp_job_dispatch(units)
        self.env["esp.account"]._esp_queue_sync_channels()
        Job = self.env["queue.job"].sudo()
        uuids = [self._esp_queue_enqueue(unit).uuid for unit in units]
        return Job.search([("uuid", "in", uuids)])

    @api.model
    def _esp_queue_enabled(self):
        """Whether the crons queue their units (the add-on is installed) rather than run them inline: not under
        queue_job's no-delay switches, nor with the system parameter :data:`INLINE_PARAM` set."""
        if os.environ.get("QUEUE_JOB__NO_DELAY") or self.env.context.get("queue_job__no_delay"):
            return False
        return not self.env["ir.config_parameter"].sudo().get_param(INLINE_PARAM)

    @api.model
    def _esp_queue_enqueue(self, unit):
        """Queue ``unit``'s job in its provider's channel, unless a job of it is pending already.

        :return: the queue_job ``Job`` (the pending one when there was one)
        """
        account = self._esp_queue_account(unit)
        return self.sudo().with_delay(
            channel=self.env["esp.account"]._esp_queue_channel_name(account.provider if account else False),
            identity_key=self._esp_queue_identity_key(unit),
            description=self.env._("%(job)s: %(unit)s", job=self._description, unit=unit.display_name),
        )._esp_queue_run(unit)

    @api.model
    def _esp_queue_identity_key(self, unit):
        """Kind and unit: ``esp.sync.job.list:esp.address.book:12``."""
        return f"{self._name}:{unit._name}:{unit.id}"

    @api.model
    def _esp_queue_account(self, unit):
        return unit if unit._name == "esp.account" else self._esp_job_account(unit)

    @api.model
    def _esp_queue_unit_record(self, unit):
        """The record a person opens from the queue job (Related action): the unit by default."""
        return unit

    # -- the queue job ------------------------------------------------------------------------------------------

    @api.model
    def _esp_queue_run(self, unit):
        """The queue job of one unit: the job base's run of it; a come-back it asked for is raised as a
        ``RetryableJobError`` at that time (its work is committed by then)."""
        if not self._esp_queue_due(unit):
            # Run since it was queued (a job started while the cron queued it again, a person's button).
            return self.env._("%(unit)s: nothing due", unit=unit.display_name) if unit.exists() else ""
        run = QueuedUnitRun(self._name)
        token = _CURRENT.set(run)
        try:
            self._esp_job_run(units=unit)
        finally:
            _CURRENT.reset(token)
        unit = unit.exists()
        if unit:
            self._esp_queue_after_run(unit, run)
        if run.seconds is not None:
            message = run.message or self.env._("%(unit)s: to be run again in %(seconds)s s",
                                               unit=unit.display_name, seconds=run.seconds)
            raise RetryableJobError(message, seconds=run.seconds, ignore_retry=not run.retry)
        return self.env._("%(unit)s: done", unit=unit.display_name) if unit else ""

    @api.model
    def _esp_queue_due(self, unit):
        """Whether the unit still needs its run (the job base reads it again after its claim as well)."""
        return bool(unit.exists())

    @api.model
    def _esp_queue_after_run(self, unit, run):
        """A kind whose run records its outcome on the unit rather than through :meth:`_esp_job_failed` and
        :meth:`_esp_job_come_back` (the list sync) reads it here into ``run``."""

    @api.model
    def _esp_queue_current_run(self):
        """The queued unit's run when this kind's queue job is running in this thread, else None."""
        run = _CURRENT.get()
        return run if run is not None and run.kind == self._name else None

    @api.model
    def _esp_job_failed(self, unit, error, kind, message):
        super()._esp_job_failed(unit, error, kind, message)
        run = self._esp_queue_current_run()
        if run is not None and kind == "retry":
            run.failed(message, getattr(error, "retry_after", None))

    @api.model
    def _esp_job_come_back(self, at):
        run = self._esp_queue_current_run()
        if run is None:
            return super()._esp_job_come_back(at)
        # The queued unit is run again by queue_job at that time, not by the cron.
        run.come_back(at=at)
        return None


class EspSyncJobList(models.AbstractModel):
    _inherit = "esp.sync.job.list"

    @api.model
    def _esp_queue_unit_record(self, unit):
        return unit.mailing_list_id or unit

    @api.model
    def _esp_queue_due(self, unit):
        # The list runner runs the books it is given, due or not.
        return bool(unit.exists() & self._esp_job_units())

    @api.model
    def _esp_queue_after_run(self, unit, run):
        """The list runner records a run's end on the address book (``_esp_finish_run``): throttled or
        transient ("Waiting to Retry") is retried at its ``next_sync_datetime`` (the ESP's reset time when it
        gave one); partial (imports in flight) comes back then too; a list still due was not run (its account
        is held by another worker, or changed as the run began) and is tried again shortly."""
        super()._esp_queue_after_run(unit, run)
        unit.invalidate_recordset()
        if not unit.mailing_list_id or unit.sync_state in ("guard", "rejected"):
            return
        now = fields.Datetime.now()
        if unit.sync_state == "retry" and unit.next_sync_datetime:
            run.failed(unit.last_error)
            run.come_back(at=unit.next_sync_datetime)
        elif unit.sync_state in ("queued", "running") and unit.next_sync_datetime and unit.next_sync_datetime > now:
            run.come_back(at=unit.next_sync_datetime)
        elif unit.account_id.state == "connected" and self._esp_queue_due(unit):
            run.come_back(seconds=HELD_RETRY_SECONDS)


class EspSyncJobCampaignSend(models.AbstractModel):
    _inherit = "esp.sync.job.campaign.send"

    @api.model
    def _esp_queue_unit_record(self, unit):
        return unit.mailing_id


class EspSyncJobCampaignFollow(models.AbstractModel):
    _inherit = "esp.sync.job.campaign.follow"

    @api.model
    def _esp_queue_unit_record(self, unit):
        return unit.mailing_id


class EspSyncJobActivity(models.AbstractModel):
    _inherit = "esp.sync.job.activity"

    @api.model
    def _esp_queue_unit_record(self, unit):
        return unit.mailing_id
