from odoo import fields, models


class LinkTrackerClick(models.Model):
    _inherit = "link.tracker.click"

    # A click read from an ESP (sync/link_clicks.py): mailing, recipient, link and click date. Unique, so a
    # page of the ESP's click feed read twice adds no click; Odoo's own clicks leave it empty.
    esp_click_key = fields.Char(string="ESP Click", readonly=True, copy=False)

    _sql_constraints = [
        ("esp_click_key_uniq", "unique(esp_click_key)", "An ESP click is recorded once."),
    ]
