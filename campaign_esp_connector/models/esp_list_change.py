from odoo import _, api, fields, models


class EspListChange(models.Model):
    """A change in Odoo that the next export of a connected list must look at (the list's dirty flag).

    Rows are inserted by the writes that matter (subscriptions, mapped contact fields, blacklist) and deleted
    by the export once a complete plan covered them: an idle list has none, and its runs plan nothing.
    """

    _name = "esp.list.change"
    _description = "ESP List Change"
    _log_access = False

    list_id = fields.Many2one("mailing.list", required=True, ondelete="cascade", index=True)

    @api.depends("list_id.name")
    def _compute_display_name(self):
        for change in self:
            change.display_name = _("Change to send: %(list)s", list=change.list_id.name)
