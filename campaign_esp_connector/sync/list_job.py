"""List sync job: connected lists and their address books, through the list runner (``runner.py``), which
claims each account, keeps each run inside the worker's budget and commits at every commit point."""

from odoo import api, models

from .runner import ListSyncRunner


class EspSyncJobList(models.AbstractModel):
    _name = "esp.sync.job.list"
    _inherit = "esp.sync.job"
    _description = "ESP Job: Synchronize Lists"

    _esp_job_kind = "account"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_sync_contacts"

    @api.model
    def _esp_job_units(self):
        return ListSyncRunner(self.env).due_bindings()

    @api.model
    def _esp_job_run(self, units=None, budget=None):
        """Every due list (or the address books ``units``), account by account; the scheduler calls again
        while due lists remain, and accounts another worker is syncing are skipped this time.

        :return: the ``esp.sync.log`` records of the runs made
        """
        # Units planned by the cron were due then; once claimed, each runs only if still due.
        return ListSyncRunner(self.env).run(units, force=False)

    @api.model
    def _esp_job_run_poll(self):
        """Confirm finished imports soon after they were sent, between two full syncs."""
        return ListSyncRunner(self.env, steps=("poll",)).run()
