"""Recipient activity job, per campaign: each recipient's opens, clicks, bounces and unsubscribes of the ESP
mailings sent in the last ``ACTIVITY_DAYS`` days (``activity.py``).

A round queues every such campaign; each run then claims queued campaigns one by one (several workers share
a round) and reads each page by page within the worker's budget, committing its position after each page. A
campaign left unfinished stays queued with its position, and the cron comes back shortly to go on with it,
before the next round queues them all again.
"""

import time
from datetime import timedelta

from odoo import api, fields, models

from . import activity, statistics
from .common import CommitPoints

# Campaigns keep collecting opens and clicks for weeks; their activity is read daily for this many days.
ACTIVITY_DAYS = 30


class EspSyncJobActivity(models.AbstractModel):
    _name = "esp.sync.job.activity"
    _inherit = "esp.sync.job"
    _description = "ESP Job: Recipient Activity"

    _esp_job_kind = "activity"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_sync_activity"

    @api.model
    def _esp_job_cron(self):
        """A new round when the last one is finished, then the queued campaigns."""
        Binding = self.env["esp.campaign"].sudo()
        if not Binding.search_count([("activity_queued", "=", True)]):
            since = fields.Datetime.now() - timedelta(days=ACTIVITY_DAYS)
            Binding.search([
                ("remote_id", "!=", False), ("state", "in", ("sending", "sent")),
                ("account_id.state", "=", "connected"),
                "|", "|", ("activity_pass_started", "!=", False),
                ("send_date", "=", False), ("send_date", ">=", since),
            ]).filtered(lambda binding: binding.account_id.support_reports)._esp_activity_queue()
            points = CommitPoints(self.env)
            points.commit("activity:queued")
            points.close()
        return super()._esp_job_cron()

    @api.model
    def _esp_job_units(self):
        # Reads in progress first: they are the ones a previous run left unfinished.
        return self.env["esp.campaign"].search([("activity_queued", "=", True)],
                                               order="activity_pass_started asc nulls last, id")

    @api.model
    def _esp_job_current(self, unit):
        return bool(unit.exists()) and unit.activity_queued

    @api.model
    def _esp_job_steps(self):
        return ["_esp_step_read_activity"]

    @api.model
    def _esp_job_failed(self, unit, error, kind, message):
        super()._esp_job_failed(unit, error, kind, message)
        unit._esp_activity_failed(message)

    @api.model
    def _esp_step_read_activity(self, binding, run):
        budget = activity.Budget.for_env(self.env, seconds=max(run.deadline - time.monotonic(), 0))
        statistics.read_activity(binding, run.client(binding.account_id), commit=run.commit, budget=budget)
        if binding.activity_queued:  # stopped by the budget: its position is committed, the rest comes next
            self._esp_job_come_back(fields.Datetime.now() + activity.RESUME_DELAY)
