from odoo import api, fields, models


class EspFromAddress(models.Model):
    """A sender address the ESP account is allowed to send from."""

    _name = "esp.from.address"
    _description = "ESP From Address"
    _inherit = ["esp.catalogue.mixin"]
    _rec_name = "email"
    _order = "email, id"

    remote_id = fields.Char(string="ESP ID", required=True, readonly=True, index=True)
    email = fields.Char(required=True, readonly=True)

    _sql_constraints = [
        ("remote_id_account_uniq", "unique(account_id, remote_id)", "This from address is already known."),
    ]

    @api.model
    def _esp_values_from_record(self, record):
        return {"remote_id": str(record.id), "email": record.email}
