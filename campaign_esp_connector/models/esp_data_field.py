from odoo import api, fields, models


class EspDataField(models.Model):
    """A contact data field defined in an ESP account (FIRSTNAME, LASTNAME, ...)."""

    _name = "esp.data.field"
    _description = "ESP Data Field"
    _inherit = ["esp.catalogue.mixin"]
    _order = "name, id"
    _esp_key = "name"

    name = fields.Char(required=True, readonly=True)
    field_type = fields.Selection(
        [("String", "Text"), ("Numeric", "Number"), ("Date", "Date"), ("Boolean", "Yes/No")],
        string="Type",
        readonly=True,
    )
    visibility = fields.Selection([("Private", "Private"), ("Public", "Public")], readonly=True)
    default_value = fields.Char(readonly=True)

    _sql_constraints = [
        ("name_account_uniq", "unique(account_id, name)", "This data field is already known."),
    ]

    @api.model
    def _esp_values_from_record(self, record):
        return {
            "name": record.name,
            "field_type": record.type if record.type in ("String", "Numeric", "Date", "Boolean") else False,
            "visibility": record.visibility if record.visibility in ("Private", "Public") else False,
            "default_value": "" if record.default is None else str(record.default),
        }
