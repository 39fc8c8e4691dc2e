from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..sync import audience


class EspConnectFilterWizard(models.TransientModel):
    """Connect a filter (a mailing-enabled model + a domain, or a saved recipient filter) to an ESP address book:
    a new mailing list filled by the filter is created and connected, Dynamic or On Demand.

    The book choice is the connect dialog's (same fields, same rules); the confirm button only calls
    ``mailing.list._esp_connect_source``, where every rule of the filter lives.
    """

    _name = "esp.connect.filter.wizard"
    _inherit = "esp.connect.wizard"
    _description = "Connect a Filter to an ESP Address Book"

    @api.model
    def default_get(self, fields_list):
        # Opened from the menu or the account, not from a list: the list is made by the dialog.
        res = super().default_get([name for name in fields_list if name != "mailing_list_id"])
        if "model_id" in fields_list and not res.get("model_id"):
            res["model_id"] = self.env["ir.model"]._get_id("res.partner")
        return res

    mailing_list_id = fields.Many2one(required=False)
    list_name = fields.Char(string="List Name", required=True)
    model_id = fields.Many2one(
        "ir.model", string="Recipients", required=True, ondelete="cascade",
        domain=[("is_mailing_enabled", "=", True)])
    model_name = fields.Char(related="model_id.model")
    filter_id = fields.Many2one("mailing.filter", string="Saved Filter", domain="[('mailing_model_id', '=', model_id)]")
    domain = fields.Char(string="Filter", default="[]")
    kind = fields.Selection(
        [("dynamic", "Dynamic"), ("on_demand", "On Demand")], string="Refresh", required=True, default="dynamic",
        help="Dynamic: every synchronization adds the records that entered the filter and removes from the address "
             "book those that left. On Demand: the list follows the filter when you press Refresh from Filter.")
    match_count = fields.Integer(string="Emails Matching", compute="_compute_match_count")
    match_error = fields.Char(compute="_compute_match_count")

    @api.depends("model_id", "domain")
    def _compute_match_count(self):
        for wizard in self:
            wizard.match_count, wizard.match_error = 0, False
            if not wizard.model_id:
                continue
            try:
                wizard.match_count = audience.count_matches(wizard._source_list())
            except UserError as error:
                wizard.match_error = str(error)

    @api.onchange("model_id")
    def _onchange_model_id(self):
        if self.filter_id.mailing_model_id != self.model_id:
            self.filter_id = False
        # Odoo's default recipients of that model (Email Marketing's own, e.g. registrations not cancelled).
        if self.model_id:
            mailing = self.env["mailing.mailing"].new({"mailing_model_id": self.model_id.id})
            self.domain = repr(mailing._get_default_mailing_domain())

    @api.onchange("filter_id")
    def _onchange_filter_id(self):
        if self.filter_id:
            self.domain = self.filter_id.mailing_domain

    def _source_list(self):
        """An unsaved list carrying this dialog's filter, as the engine reads it."""
        return self.env["mailing.list"].sudo().new({
            "name": self.list_name or self.model_id.name, "esp_source_model_id": self.model_id.id,
            "esp_source_model_name": self.model_id.model, "esp_source_domain": self.domain or "[]",
        })

    def action_connect(self):
        self.ensure_one()
        self.env["mailing.list"].check_access("create")
        # Refused before a book is made at the ESP: a filter matching nobody leaves nothing behind.
        if not audience.has_matches(self._source_list()):
            raise UserError(_("The filter matches nobody Odoo would mail (no record with a valid email that is not "
                              "blacklisted): nothing was connected. Widen the filter."))
        book = self._get_address_book()
        if not book:
            return self._action_reopen()
        mailing_list = self.env["mailing.list"].create({"name": self.list_name})
        mailing_list._esp_connect_source(self.model_id, self.domain, self.kind, book)
        if self.filter_id:
            mailing_list.sudo().esp_source_filter_id = self.filter_id
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": _("Filter connected to the ESP"),
                "message": _("The mailing list “%(list)s” holds the %(count)s emails of the filter and is connected "
                             "to the address book “%(book)s”. Its first synchronization is queued.",
                             list=mailing_list.name, count=mailing_list.esp_source_count, book=book.name),
                "next": {"type": "ir.actions.act_window", "res_model": "mailing.list", "res_id": mailing_list.id,
                         "views": [[False, "form"]]},
            },
        }

    def _action_reopen(self):
        action = super()._action_reopen()
        action["name"] = _("Connect a Filter to the ESP")
        return action
