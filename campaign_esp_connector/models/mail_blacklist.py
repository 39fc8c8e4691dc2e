from odoo import api, models


class MailBlacklist(models.Model):
    _inherit = "mail.blacklist"

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        # A blacklisted address is an opt-out for every connected list.
        self.env["esp.address.book"]._esp_mark_changed()
        return records

    def write(self, vals):
        res = super().write(vals)
        if "active" in vals or "email" in vals:
            self.env["esp.address.book"]._esp_mark_changed()
        return res
