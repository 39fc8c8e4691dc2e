from odoo import _, api, fields, models
from odoo.exceptions import UserError

# Credentials and endpoint define which remote account we talk to: changing any of them voids the last test.
CONNECTION_FIELDS = ("provider", "api_endpoint", "api_user", "api_password")

DEFAULT_ENDPOINTS = {
    "dotdigital": "https://r1-api.dotdigital.com",
}


class EspAccount(models.Model):
    """An administrator's connection to one account at an external Email Service Provider."""

    _name = "esp.account"
    _description = "ESP Account"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"
    _check_company_auto = True

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", string="Company", required=True, index=True, default=lambda self: self.env.company
    )
    provider = fields.Selection(
        selection="_selection_provider", string="Provider", required=True, default="dotdigital", tracking=True
    )
    api_endpoint = fields.Char(
        string="API Endpoint",
        required=True,
        tracking=True,
        default=DEFAULT_ENDPOINTS["dotdigital"],
        help="Base URL the provider starts from. For dotdigital the region's own endpoint is detected from it.",
    )
    api_user = fields.Char(string="API User", required=True, tracking=True)
    # Never tracked, copied, exported to other groups or shown in messages: only ESP managers read or write it.
    api_password = fields.Char(
        string="API Password", copy=False, groups="campaign_esp_connector.campaign_esp_connector_group_manager"
    )
    state = fields.Selection(
        [("not_tested", "Not Tested"), ("connected", "Connected"), ("error", "Error")],
        string="Status",
        default="not_tested",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
    )
    last_error = fields.Text(string="Last Error", readonly=True, copy=False)

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique(name, company_id)",
            "An ESP account with this name already exists in this company.",
        ),
    ]

    # ------------------------------------------------------------
    # SELECTIONS
    # ------------------------------------------------------------

    @api.model
    def _selection_provider(self):
        return [("dotdigital", "dotdigital")]

    # ------------------------------------------------------------
    # ONCHANGE
    # ------------------------------------------------------------

    @api.onchange("provider")
    def _onchange_provider(self):
        if self.provider in DEFAULT_ENDPOINTS:
            self.api_endpoint = DEFAULT_ENDPOINTS[self.provider]

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def write(self, vals):
        if any(fname in vals for fname in CONNECTION_FIELDS) and "state" not in vals:
            vals = dict(vals, state="not_tested", last_error=False)
        return super().write(vals)

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        if default and "name" in default:
            return vals_list
        for account, vals in zip(self, vals_list, strict=False):
            vals["name"] = _("%(name)s (copy)", name=account.name)
        return vals_list

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _get_credentials(self):
        """Return ``(api_user, api_password)`` for the provider client.

        The password is read with sudo on purpose: ESP users trigger syncs without being allowed to see it, and
        it only ever leaves this method towards the provider's HTTP client, never into a message or a log.
        """
        self.ensure_one()
        password = self.sudo().api_password
        if not password:
            raise UserError(_("The ESP account “%(name)s” has no API password.", name=self.name))
        return self.api_user, password
