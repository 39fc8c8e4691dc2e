from odoo import api, models


class UtmCampaign(models.Model):
    _inherit = "utm.campaign"

    @api.model
    def _cron_process_mass_mailing_ab_testing(self):
        # The ESP sends the winner of the A/B tests it runs: their mailings decline Odoo's final mailing
        # (mailing.mailing.action_send_winner_mailing), the others' goes out as usual.
        return super(UtmCampaign, self.with_context(esp_ab_testing_cron=True))._cron_process_mass_mailing_ab_testing()
