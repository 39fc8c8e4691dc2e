"""Statistics job, per account: campaigns made in the ESP appear in Odoo, then the summaries of the
campaigns whose figures moved are read (``statistics.py``). The account is claimed in the statistics
namespace, so two workers never refresh one account at once, while the list sync may run beside it."""

from odoo import api, models

from . import statistics
from .campaigns import import_account_campaigns


class EspSyncJobStatistics(models.AbstractModel):
    _name = "esp.sync.job.statistics"
    _inherit = "esp.sync.job.account"
    _description = "ESP Job: Campaign Statistics"

    _esp_job_kind = "statistics"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_sync_statistics"

    @api.model
    def _esp_job_steps(self):
        return ["_esp_step_import_campaigns", "_esp_step_summaries"]

    @api.model
    def _esp_step_import_campaigns(self, account, run):
        if account.support_campaign_import:
            import_account_campaigns(account, run.client(account))

    @api.model
    def _esp_step_summaries(self, account, run):
        if account.support_reports:
            statistics.refresh_account(account, run.client(account), run.commit)
