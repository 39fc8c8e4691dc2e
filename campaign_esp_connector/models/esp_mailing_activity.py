from odoo import api, fields, models
from odoo.tools import SQL

from .. import providers


class EspMailingActivity(models.Model):
    """One recipient's activity on an ESP mailing, as the ESP reports it (one row per mailing and email).

    Written in bulk by the activity job (``sync/activity.py``); users read it. The contact is the mailing
    list contact of that email in the mailing's lists, matched when the row is written.
    """

    _name = "esp.mailing.activity"
    _description = "ESP Mailing Activity"
    _order = "mailing_id desc, email"
    _rec_name = "email"
    _log_access = False

    mailing_id = fields.Many2one("mailing.mailing", required=True, readonly=True, ondelete="cascade")
    account_id = fields.Many2one("esp.account", required=True, readonly=True, ondelete="cascade", index=True)
    contact_id = fields.Many2one("mailing.contact", readonly=True, ondelete="set null", index="btree_not_null")
    trace_id = fields.Many2one("mailing.trace", readonly=True, ondelete="set null", index="btree_not_null")
    email = fields.Char(required=True, readonly=True)
    remote_contact_id = fields.Char(string="ESP Contact ID", readonly=True)
    opens = fields.Integer(readonly=True, aggregator="sum")
    clicks = fields.Integer(readonly=True, aggregator="sum")
    forwards = fields.Integer(readonly=True, aggregator="sum")
    unsubscribed = fields.Boolean(readonly=True)
    hard_bounced = fields.Boolean(readonly=True)
    soft_bounced = fields.Boolean(readonly=True)
    # The hard bounce was added to the contact's bounce counter (sync/activity.py ``_count_bounces``).
    bounce_counted = fields.Boolean(readonly=True, default=False)
    sent_datetime = fields.Datetime(string="Sent", readonly=True)
    first_open_datetime = fields.Datetime(string="First Open", readonly=True)
    last_open_datetime = fields.Datetime(string="Last Open", readonly=True)
    first_click_datetime = fields.Datetime(string="First Click", readonly=True)
    last_click_datetime = fields.Datetime(string="Last Click", readonly=True)
    no_activity = fields.Boolean(compute="_compute_no_activity", search="_search_no_activity")
    complained = fields.Boolean(
        compute="_compute_complained", search="_search_complained",
        help="The ESP holds the recipient opted out of one of the mailing's lists for a complaint (marked as spam) "
             "made after this mailing was sent to them. The ESP does not say which email a complaint was about.")

    _sql_constraints = [
        ("mailing_email_uniq", "unique(mailing_id, email)", "One activity row per recipient of a mailing."),
    ]

    @api.depends("opens", "clicks")
    def _compute_no_activity(self):
        for activity in self:
            activity.no_activity = not activity.opens and not activity.clicks

    def _search_no_activity(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        positive = (operator == "=") == bool(value)
        none = ["&", ("opens", "=", 0), ("clicks", "=", 0)]
        return none if positive else ["|", ("opens", ">", 0), ("clicks", ">", 0)]

    @api.model
    def _esp_complained_sql(self, column):
        """The ``column`` (``a.id`` or ``a.trace_id``) of the activity rows whose recipient complained.

        A complaint reaches Odoo as an account-wide suppression, through the list sync's opt-outs: the member of
        one of the mailing's lists (or of its recipients list) opted out with one of the provider's complaint
        statuses (``status_kinds`` of ``records.COMPLAINT_KINDS``), and the subscription opted out after the
        send. The send is dated on the ESP's clock (activity rows keep the ESP's dates); the opt-out on Odoo's
        (``sync.common.odoo_clock``), so the send is moved the same way here.
        """
        pairs = [(code, status) for code in providers.PROVIDERS
                 for status, kind in providers.get_provider_class(code).status_kinds.items()
                 if kind in providers.records.COMPLAINT_KINDS]
        return SQL(
            """(SELECT %(column)s FROM esp_mailing_activity a
                  JOIN esp_account acc ON acc.id = a.account_id
                  JOIN mailing_mailing m ON m.id = a.mailing_id
                  JOIN esp_list_member lm ON lm.email = a.email AND lm.state = 'opted_out'
                  JOIN unnest(%(codes)s::varchar[], %(statuses)s::varchar[]) AS c(provider, status)
                       ON c.provider = acc.provider AND c.status = lm.failure_reason
                  JOIN mailing_subscription s ON s.list_id = lm.list_id AND s.contact_id = a.contact_id
                       AND s.opt_out
                 WHERE (lm.list_id = m.esp_audience_list_id OR lm.list_id IN (
                            SELECT r.mailing_list_id FROM mail_mass_mailing_list_rel r
                             WHERE r.mailing_mailing_id = a.mailing_id))
                   AND (a.sent_datetime IS NULL OR s.opt_out_datetime IS NULL
                        OR s.opt_out_datetime >= a.sent_datetime
                                                 - make_interval(secs => GREATEST(acc.clock_offset, 0))))""",
            column=SQL(column), codes=[code for code, _status in pairs], statuses=[status for _code, status in pairs],
        )

    def _compute_complained(self):
        self.env.flush_all()
        self.env.cr.execute(SQL("%s INTERSECT SELECT unnest(%s::int[])",
                                self._esp_complained_sql("a.id"), self.ids))
        complained = {row_id for (row_id,) in self.env.cr.fetchall()}
        for activity in self:
            activity.complained = activity.id in complained

    def _search_complained(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        positive = (operator == "=") == bool(value)
        return [("id", "in" if positive else "not in", self._esp_complained_sql("a.id"))]
