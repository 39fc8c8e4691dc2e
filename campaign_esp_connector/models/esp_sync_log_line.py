from odoo import _, api, fields, models


class EspSyncLogLine(models.Model):
    _name = "esp.sync.log.line"
    _description = "ESP Sync Contact Problem"
    _order = "id"

    log_id = fields.Many2one("esp.sync.log", required=True, ondelete="cascade", index=True)
    email = fields.Char(readonly=True)
    reason = fields.Char(readonly=True)
    # A run's lines are the contacts it could not handle, and the contacts it opted out (who its "Opted Out"
    # counter counts): one table, as both are (email, why) read on the run.
    kind = fields.Selection(
        [("problem", "Contact Problem"), ("opted_out", "Opted Out")], default="problem", required=True,
        readonly=True,
    )

    @api.depends("email", "reason")
    def _compute_display_name(self):
        for line in self:
            line.display_name = _("%(email)s: %(reason)s", email=line.email or "", reason=line.reason or "")
