from odoo import fields, models

from ..sync.campaigns import test_addresses


class MailingMailingTest(models.TransientModel):
    _inherit = "mailing.mailing.test"

    esp_account_id = fields.Many2one(related="mass_mailing_id.esp_account_id")

    def send_mail_test(self):
        """An ESP mailing's test is sent by the ESP (Odoo's own mail server never sends it)."""
        self.ensure_one()
        mailing = self.mass_mailing_id
        if not mailing.esp_account_id:
            return super().send_mail_test()
        # What the person typed becomes the mailing's test addresses (ESP tab), so the next Test starts from it;
        # a refused test rolls it back with the rest.
        mailing.esp_test_address = ", ".join(test_addresses(self.email_to))
        action = mailing.action_esp_test_send()
        action["params"]["next"] = {"type": "ir.actions.act_window_close"}
        return action
