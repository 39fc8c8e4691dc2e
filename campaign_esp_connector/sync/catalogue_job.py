"""Catalogue job, per account: address books, data fields, templates and from-addresses mirrored from the
ESP. The account is claimed in the list sync's namespace: both write the account's address books, so an
account whose lists are syncing is left for a few minutes."""

from datetime import timedelta

from odoo import api, fields, models

CATALOGUE_RETRY_MINUTES = 15


class EspSyncJobCatalogue(models.AbstractModel):
    _name = "esp.sync.job.catalogue"
    _inherit = "esp.sync.job.account"
    _description = "ESP Job: Catalogue"

    _esp_job_kind = "account"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_sync_catalogue"

    @api.model
    def _esp_job_cron(self):
        self.env["esp.account"].sudo()._esp_purge_api_calls()
        return super()._esp_job_cron()

    @api.model
    def _esp_job_held(self, unit):
        self._esp_job_come_back(fields.Datetime.now() + timedelta(minutes=CATALOGUE_RETRY_MINUTES))

    @api.model
    def _esp_job_steps(self):
        return ["_esp_step_catalogue"]

    @api.model
    def _esp_step_catalogue(self, account, run):
        # _esp_run turns ESP failures into account state (transient ones leave it connected).
        if account._esp_run(account._sync_catalogue) is None and account.state == "connected":
            self._esp_job_come_back(fields.Datetime.now() + timedelta(minutes=CATALOGUE_RETRY_MINUTES))
