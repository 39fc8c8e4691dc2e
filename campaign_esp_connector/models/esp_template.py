from odoo import api, fields, models


class EspTemplate(models.Model):
    """An email template stored at the ESP, available to campaigns."""

    _name = "esp.template"
    _description = "ESP Template"
    _inherit = ["esp.catalogue.mixin"]
    _order = "name, id"

    remote_id = fields.Char(string="ESP ID", required=True, readonly=True, index=True)
    name = fields.Char(required=True, readonly=True)
    subject = fields.Char(readonly=True)
    from_name = fields.Char(readonly=True)

    _sql_constraints = [
        ("remote_id_account_uniq", "unique(account_id, remote_id)", "This template is already known."),
    ]

    @api.model
    def _esp_values_from_record(self, record):
        return {
            "remote_id": str(record.id),
            "name": record.name,
            "subject": record.subject or False,
            "from_name": record.from_name or False,
        }
