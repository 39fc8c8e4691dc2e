from odoo import api, fields, models


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
