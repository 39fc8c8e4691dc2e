from odoo import models


class QueueJob(models.Model):
    _inherit = "queue.job"

    def related_action_esp_unit(self):
        """Related action of an ESP job: the list, mailing or account it works on."""
        self.ensure_one()
        unit = self.args[0] if self.args else None
        if not isinstance(unit, models.BaseModel) or not unit.exists():
            return None
        record = self.env[self.model_name]._esp_queue_unit_record(unit.exists())
        return {
            "name": record.display_name,
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }
