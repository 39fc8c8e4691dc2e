from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..sync.job import MAX_WORKERS

# (settings field, cron xml id, cron interval unit): the settings page owns the cron cadence.
SYNC_CRONS = (
    ("esp_contact_sync_interval", "campaign_esp_connector.ir_cron_esp_sync_contacts", "minutes"),
    ("esp_statistics_sync_interval", "campaign_esp_connector.ir_cron_esp_sync_statistics", "minutes"),
    ("esp_activity_sync_interval", "campaign_esp_connector.ir_cron_esp_sync_activity", "days"),
)


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    esp_contact_sync_interval = fields.Integer(
        string="Contact Sync Interval (minutes)",
        config_parameter="campaign_esp_connector.contact_sync_interval",
        default=4,
    )
    esp_statistics_sync_interval = fields.Integer(
        string="Campaign Sync Interval (minutes)",
        config_parameter="campaign_esp_connector.statistics_sync_interval",
        default=30,
        help="How often campaigns made in the ESP are brought into Odoo (and, later, their statistics).",
    )
    esp_activity_sync_interval = fields.Integer(
        string="Recipient Activity Interval (days)",
        config_parameter="campaign_esp_connector.activity_sync_interval",
        default=1,
        help="How often each recipient's opens, clicks and bounces are read from the ESP.",
    )
    esp_guard_threshold = fields.Integer(
        string="Mass Change Guard (%)",
        config_parameter="campaign_esp_connector.guard_threshold",
        default=5,
        help="A sync that would unsubscribe, remove or re-subscribe more than this share of a list stops and asks "
        "for confirmation.",
    )
    esp_workers = fields.Integer(
        string="ESP Workers",
        config_parameter="campaign_esp_connector.workers",
        default=1,
        help="How many cron workers (threads of one Odoo server, or of several) share the ESP work at once: each "
             "synchronization, send, statistics and activity cron gets this many copies, which claim different "
             "lists and campaigns. Give Odoo at least as many cron threads (max_cron_threads).",
    )
    esp_blacklist_suppressed = fields.Boolean(
        string="Blacklist ESP Suppressions",
        config_parameter="campaign_esp_connector.blacklist_suppressed",
        help="Add addresses the ESP suppressed (hard bounce, complaint, ...) to Odoo's email blacklist.",
    )

    @api.constrains("esp_contact_sync_interval", "esp_statistics_sync_interval", "esp_activity_sync_interval",
                    "esp_guard_threshold", "esp_workers")
    def _check_esp_sync_settings(self):
        for settings in self:
            if min(settings.esp_contact_sync_interval, settings.esp_statistics_sync_interval,
                   settings.esp_activity_sync_interval) < 1:
                raise ValidationError(_("ESP sync intervals must be at least 1."))
            if not 0 <= settings.esp_guard_threshold <= 100:
                raise ValidationError(_("The mass change guard is a percentage between 0 and 100."))
            if not 1 <= settings.esp_workers <= MAX_WORKERS:
                raise ValidationError(_("ESP workers: between 1 and %(max)s.", max=MAX_WORKERS))

    def set_values(self):
        super().set_values()
        for fname, cron_xmlid, interval_type in SYNC_CRONS:
            cron = self.env.ref(cron_xmlid, raise_if_not_found=False)
            if cron and (cron.interval_number, cron.interval_type) != (self[fname], interval_type):
                cron.sudo().write({"interval_number": self[fname], "interval_type": interval_type})
        # The copies follow their cron's cadence; their number follows the setting.
        self.env["esp.sync.job"]._esp_job_set_workers(self.esp_workers)
