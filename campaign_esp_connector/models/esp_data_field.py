from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import providers


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

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        """A data field created in Odoo (e.g. from the field mapping) is created at the ESP first."""
        if self.env.context.get("campaign_esp_connector_from_esp"):
            return super().create(vals_list)
        for vals in vals_list:
            account = self._esp_account_of(vals)
            remote = self._esp_create_remote(account, vals.get("name"), vals.get("field_type"), vals.get("visibility"))
            vals.update(remote, account_id=account.id, sync_date=fields.Datetime.now())
        return super().create(vals_list)

    @api.model
    def name_create(self, name):
        """Typing a new name in a data field dropdown (the account's Field Mapping tab) creates the field at
        the ESP; a name Odoo knows already (in any case) is taken as it is."""
        account = self._esp_account_of({})
        wanted = (name or "").strip().casefold()
        known = self.with_context(active_test=False).search([("account_id", "=", account.id)]).filtered(
            lambda field: field.name.casefold() == wanted
        )[:1]
        if known.active:
            return known.id, known.display_name
        if known:
            # Gone at the ESP at the last synchronization: created again there, and the same record revived
            # (mappings and history keep pointing at it).
            values = self._esp_create_remote(account, known.name, known.field_type, known.visibility)
            known.write(dict(values, active=True, sync_date=fields.Datetime.now()))
            return known.id, known.display_name
        field = self.create({"name": name, "account_id": account.id})
        return field.id, field.display_name

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    @api.model
    def _esp_values_from_record(self, record):
        return {
            "name": record.name,
            "field_type": record.type if record.type in ("String", "Numeric", "Date", "Boolean") else False,
            "visibility": record.visibility if record.visibility in ("Private", "Public") else False,
            "default_value": "" if record.default is None else str(record.default),
        }

    @api.model
    def _esp_account_of(self, vals):
        account = self.env["esp.account"].browse(vals.get("account_id") or self.env.context.get("default_account_id"))
        if not account:
            raise UserError(_("Save the ESP account first: a new data field is created in the account, at the ESP."))
        return account

    @api.model
    def _esp_create_remote(self, account, name, field_type=None, visibility=None):
        """Create a data field at ``account``'s ESP after checking what the provider allows.

        :param name: the name as typed; dotdigital keeps data field names in capitals
        :return: field values of the remote data field (an existing one of that name is taken as it is)
        :raise UserError: the provider cannot create data fields, the account is not connected, the name breaks
            the provider's rules, or the ESP refused
        """
        provider = providers.get_provider_class(account.provider)
        label = account._get_provider_label()
        name = (name or "").strip().upper()
        if not account.support_data_field_creation:
            raise UserError(_(
                "%(provider)s cannot create data fields through its API: add “%(name)s” in %(provider)s itself, "
                "then press Synchronize on the ESP account to map it here.",
                provider=label, name=name,
            ))
        if account.state != "connected":
            raise UserError(_(
                "Test the connection of the ESP account “%(account)s” before creating data fields in it.",
                account=account.name,
            ))
        if not name or (provider.data_field_name_re and not provider.data_field_name_re.match(name)):
            raise UserError(_(
                "“%(name)s” is not a valid %(provider)s data field name: use 1 to %(max)s letters, digits, “_” or "
                "“-”, without spaces.",
                name=name, provider=label, max=provider.data_field_name_max_length or 255,
            ))
        field_type = field_type or "String"
        visibility = visibility or "Private"

        def create(client):
            try:
                return client.create_data_field(name, field_type, visibility)
            except providers.AlreadyExists:
                pass
            existing = next((field for field in client.iter_data_fields() if field.name.upper() == name), None)
            if existing is None:
                raise providers.ValidationError(f"{label} says a data field {name} exists, but does not list it.")
            return existing

        return self._esp_values_from_record(account._esp_call(create))
