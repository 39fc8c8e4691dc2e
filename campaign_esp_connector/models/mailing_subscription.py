from odoo import api, models


class MailingSubscription(models.Model):
    _inherit = "mailing.subscription"

    @api.model_create_multi
    def create(self, vals_list):
        subscriptions = super().create(vals_list)
        subscriptions._esp_mark_changed()
        return subscriptions

    def write(self, vals):
        lists_before = self.list_id
        res = super().write(vals)
        self.env["esp.address.book"]._esp_mark_changed((lists_before | self.list_id).ids)
        return res

    def unlink(self):
        lists = self.list_id
        res = super().unlink()
        self.env["esp.address.book"]._esp_mark_changed(lists.ids)
        return res

    def _esp_mark_changed(self):
        self.env["esp.address.book"]._esp_mark_changed(self.list_id.ids)
