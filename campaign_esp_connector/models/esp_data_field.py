from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..providers.dotdigital import DATA_FIELD_NAME_RE


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

    @api.model_create_multi
    def create(self, vals_list):
        """A data field created in Odoo (e.g. from the field mapping) is created at the ESP first."""
        if self.env.context.get("campaign_esp_connector_from_esp"):
            return super().create(vals_list)
        for vals in vals_list:
            account = self.env["esp.account"].browse(vals.get("account_id") or self.env.context.get("default_account_id"))
            if not account:
                raise UserError(_("Choose the ESP account of the new data field."))
            name = (vals.get("name") or "").strip().upper()
            if not DATA_FIELD_NAME_RE.match(name):
                raise UserError(
                    _(
                        "“%(name)s” is not a valid ESP data field name: use 1 to 20 letters, digits, “_” or “-”, "
                        "without spaces.",
                        name=vals.get("name") or "",
                    )
                )
            field_type = vals.get("field_type") or "String"
            visibility = vals.get("visibility") or "Private"
            remote = account._esp_call(
                lambda client, name=name, field_type=field_type, visibility=visibility: client.create_data_field(
                    name, field_type, visibility
                )
            )
            vals.update(self._esp_values_from_record(remote), account_id=account.id, sync_date=fields.Datetime.now())
        return super().create(vals_list)

    @api.model
    def _esp_values_from_record(self, record):
        return {
            "name": record.name,
            "field_type": record.type if record.type in ("String", "Numeric", "Date", "Boolean") else False,
            "visibility": record.visibility if record.visibility in ("Private", "Public") else False,
            "default_value": "" if record.default is None else str(record.default),
        }
