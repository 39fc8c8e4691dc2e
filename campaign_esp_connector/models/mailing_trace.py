from odoo import api, fields, models
from odoo.tools import SQL


class MailingTrace(models.Model):
    """The recipients of an ESP mailing are its traces (Odoo's statistics drill-downs list them): what the ESP
    reports beyond Odoo's own statuses (forwards, complaints) is read from each trace's ESP activity row."""

    _inherit = "mailing.trace"

    esp_forwarded = fields.Boolean(
        string="Forwarded", compute="_compute_esp_engagement", search="_search_esp_forwarded",
        help="The ESP reports that the recipient forwarded the email.")
    esp_complained = fields.Boolean(
        string="Complained", compute="_compute_esp_engagement", search="_search_esp_complained",
        help="The ESP holds the recipient opted out for a complaint (marked as spam) made after this mailing was "
             "sent to them. The ESP does not say which email a complaint was about.")

    def _compute_esp_engagement(self):
        activities = self.env["esp.mailing.activity"].sudo().search([("trace_id", "in", self.ids)])
        forwarded = set(activities.filtered("forwards").trace_id.ids)
        complained = set(activities.filtered("complained").trace_id.ids)
        for trace in self:
            trace.esp_forwarded = trace.id in forwarded
            trace.esp_complained = trace.id in complained

    @api.model
    def _esp_search_traces(self, operator, value, traces_sql):
        if operator not in ("=", "!="):
            return NotImplemented
        positive = (operator == "=") == bool(value)
        return [("id", "in" if positive else "not in", traces_sql)]

    def _search_esp_forwarded(self, operator, value):
        return self._esp_search_traces(operator, value, SQL(
            "(SELECT trace_id FROM esp_mailing_activity WHERE forwards > 0 AND trace_id IS NOT NULL)"))

    def _search_esp_complained(self, operator, value):
        return self._esp_search_traces(operator, value, SQL(
            "(SELECT t.trace_id FROM %s AS t(trace_id) WHERE t.trace_id IS NOT NULL)",
            self.env["esp.mailing.activity"]._esp_complained_sql("a.trace_id")))
