from odoo import _, api, fields, models


class EspImportBatch(models.Model):
    """One CSV file sent to the ESP's asynchronous contact import, followed until its faults are read."""

    _name = "esp.import.batch"
    _description = "ESP Contact Import"
    _order = "id desc"
    _rec_name = "remote_id"

    list_id = fields.Many2one("mailing.list", string="Mailing List", required=True, ondelete="cascade", index=True)
    account_id = fields.Many2one("esp.account", string="ESP Account", required=True, ondelete="cascade", index=True)
    remote_id = fields.Char(string="ESP Import ID", readonly=True, index=True)
    state = fields.Selection(
        [
            ("posted", "Waiting for ESP"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("rejected", "Rejected by ESP"),
            ("timeout", "Gave Up Waiting"),
        ],
        default="posted",
        required=True,
        readonly=True,
        index=True,
    )
    remote_status = fields.Char(string="ESP Status", readonly=True)
    row_count = fields.Integer(readonly=True)
    fault_count = fields.Integer(readonly=True)
    poll_count = fields.Integer(readonly=True)
    done_datetime = fields.Datetime(readonly=True)

    @api.depends("remote_id", "list_id.name", "row_count")
    def _compute_display_name(self):
        for batch in self:
            batch.display_name = _("Import %(id)s — %(list)s (%(rows)s contacts)", id=batch.remote_id or "?",
                                   list=batch.list_id.name, rows=batch.row_count)

    def unlink(self):
        # Members name their import by id, without a foreign key (see esp.list.member.batch_id): forget it here.
        self.env.cr.execute("UPDATE esp_list_member SET batch_id = NULL WHERE batch_id = ANY(%s)", [self.ids])
        self.env["esp.list.member"].invalidate_model(["batch_id"])
        return super().unlink()
