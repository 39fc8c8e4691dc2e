"""Recipient activity job, per campaign: each recipient's opens, clicks, bounces and unsubscribes of the ESP
mailings sent in the last ``ACTIVITY_DAYS`` days (``activity.py``). Each campaign is claimed on its own, so
several workers share a day's campaigns."""

from datetime import timedelta

from odoo import api, fields, models

from . import statistics

# Campaigns keep collecting opens and clicks for weeks; their activity is read daily for this many days.
ACTIVITY_DAYS = 30


class EspSyncJobActivity(models.AbstractModel):
    _name = "esp.sync.job.activity"
    _inherit = "esp.sync.job"
    _description = "ESP Job: Recipient Activity"

    _esp_job_kind = "activity"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_sync_activity"

    @api.model
    def _esp_job_units(self):
        since = fields.Datetime.now() - timedelta(days=ACTIVITY_DAYS)
        return self.env["esp.campaign"].search([
            ("remote_id", "!=", False), ("state", "in", ("sending", "sent")),
            ("account_id.state", "=", "connected"), ("account_id.support_reports", "=", True),
            "|", ("send_date", "=", False), ("send_date", ">=", since),
        ], order="id")

    @api.model
    def _esp_job_steps(self):
        return ["_esp_step_read_activity"]

    @api.model
    def _esp_job_failed(self, unit, error, kind, message):
        super()._esp_job_failed(unit, error, kind, message)
        unit.last_error = message

    @api.model
    def _esp_step_read_activity(self, binding, run):
        statistics.read_activity(binding, run.client(binding.account_id))
