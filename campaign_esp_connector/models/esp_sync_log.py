import re

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_datetime

# How a step's text carries a date (see EspSyncLog._step_datetime): a stored marker, rendered when read.
STEP_DATETIME_MARK = "[[datetime:%s]]"
STEP_DATETIME_RE = re.compile(r"\[\[datetime:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]\]")

# Counters a sync run reports, in display order.
COUNTERS = ("exported", "updated", "created", "added", "opted_out", "removed", "failed")


class EspSyncLog(models.Model):
    """One sync run of a mailing list: what it did, what it cost, what went wrong."""

    _name = "esp.sync.log"
    _description = "ESP Sync Run"
    _order = "id desc"

    list_id = fields.Many2one("mailing.list", string="Mailing List", required=True, ondelete="cascade", index=True)
    account_id = fields.Many2one("esp.account", string="ESP Account", required=True, ondelete="cascade", index=True)
    start_datetime = fields.Datetime(string="Started", readonly=True, default=fields.Datetime.now)
    end_datetime = fields.Datetime(string="Ended", readonly=True)
    duration = fields.Float(string="Duration (s)", readonly=True, digits=(16, 2))
    state = fields.Selection(
        [
            ("running", "Running"),
            ("done", "Done"),
            ("partial", "Continues at Next Run"),
            ("throttled", "Throttled"),
            ("guard", "Waiting for Confirmation"),
            ("rejected", "Rejected"),
            ("book_missing", "Address Book Missing"),
            ("failed", "Failed"),
        ],
        default="running",
        readonly=True,
    )
    trigger = fields.Selection([("cron", "Scheduled"), ("manual", "Manual")], default="cron", readonly=True)
    exported = fields.Integer(readonly=True)
    updated = fields.Integer(string="Updated in Odoo", readonly=True)
    created = fields.Integer(string="Created in Odoo", readonly=True)
    added = fields.Integer(
        string="Added to the List", readonly=True,
        help="Contacts added to the address book at the ESP that Odoo already had (same email): they joined the "
             "list, no contact was created.",
    )
    opted_out = fields.Integer(string="Opted Out", readonly=True)
    removed = fields.Integer(readonly=True)
    failed = fields.Integer(readonly=True)
    api_calls = fields.Integer(string="API Calls", readonly=True)
    # Stored as the run wrote it, its dates as markers (see _step_datetime); read as steps_display, its dates in
    # the reader's time zone and language.
    steps = fields.Text(string="Steps Journal", readonly=True)
    steps_display = fields.Text(string="Steps", compute="_compute_steps_display")
    message = fields.Text(readonly=True)
    line_ids = fields.One2many("esp.sync.log.line", "log_id", string="Contact Problems",
                               domain=[("kind", "=", "problem")])
    line_count = fields.Integer(compute="_compute_line_count")
    opted_out_line_ids = fields.One2many("esp.sync.log.line", "log_id", string="Opted-out Contacts",
                                         domain=[("kind", "=", "opted_out")])
    # How the whole list stood when a manual run ended (counted for manual runs only: a person asked, and the
    # counters above say only what this one run did).
    list_counted = fields.Boolean(readonly=True)
    list_synced_count = fields.Integer(string="Synced in the List", readonly=True)
    list_pending_count = fields.Integer(string="Pending in the List", readonly=True)
    list_exporting_count = fields.Integer(string="Being Exported in the List", readonly=True)
    list_failed_count = fields.Integer(string="Failed in the List", readonly=True)

    @api.depends("list_id.name", "trigger", "start_datetime")
    @api.depends_context("tz", "lang")
    def _compute_display_name(self):
        for log in self:
            when = format_datetime(self.env, log.start_datetime, dt_format="d MMM HH:mm") if log.start_datetime else ""
            if log.trigger == "manual":
                log.display_name = _("%(list)s — manual sync, %(date)s", list=log.list_id.name, date=when)
            else:
                log.display_name = _("%(list)s — scheduled sync, %(date)s", list=log.list_id.name, date=when)

    @api.depends("line_ids")
    def _compute_line_count(self):
        counts = dict(self.env["esp.sync.log.line"]._read_group(
            [("log_id", "in", self.ids), ("kind", "=", "problem")], ["log_id"], ["__count"]))
        for log in self:
            log.line_count = counts.get(log, 0)

    @api.depends("steps")
    @api.depends_context("tz", "lang")
    def _compute_steps_display(self):
        for log in self:
            log.steps_display = STEP_DATETIME_RE.sub(self._render_step_datetime, log.steps or "")

    def _render_step_datetime(self, match):
        return format_datetime(self.env, fields.Datetime.from_string(match.group(1)),
                               tz=self.env.context.get("tz") or self.env.user.tz or "UTC")

    def _summary(self):
        """One translated paragraph: the list, the outcome, how the list stands (when counted), what the run did."""
        self.ensure_one()
        state = dict(self._fields["state"]._description_selection(self.env))[self.state]
        parts = [_("%(list)s: %(state)s.", list=self.list_id.name, state=state)]
        if self.list_counted:
            parts.append(_(
                "The list now has %(synced)s contacts synced, %(pending)s pending export and %(failed)s failed.",
                synced=self.list_synced_count, pending=self.list_pending_count, failed=self.list_failed_count,
            ))
            if self.list_exporting_count:
                parts.append(_("%(count)s more were sent and wait for the ESP's confirmation.",
                               count=self.list_exporting_count))
        parts.append(_(
            "This run: exported %(exported)s, updated %(updated)s, created %(created)s, opted out %(opted_out)s, "
            "removed %(removed)s, failed %(failed)s (%(calls)s API calls).",
            exported=self.exported, updated=self.updated, created=self.created, opted_out=self.opted_out,
            removed=self.removed, failed=self.failed, calls=self.api_calls,
        ))
        if self.added:
            parts.append(_("%(count)s existing Odoo contacts joined the list from the ESP.", count=self.added))
        if self.message:
            parts.append(self.message)
        return " ".join(parts)

    def _record_list_state(self):
        """Count how the run's list stands now (see ``mailing.list._esp_member_counts``)."""
        self.ensure_one()
        counts = self.list_id._esp_member_counts().get(self.list_id.id)
        if counts is None:
            return
        self.write({
            "list_counted": True,
            "list_synced_count": counts["synced"],
            "list_pending_count": counts["pending"],
            "list_exporting_count": counts["exporting"],
            "list_failed_count": counts["failed"],
        })

    def _add_step(self, text):
        """Append one line to the run's step journal (kept short: one line per step)."""
        self.ensure_one()
        self.steps = "%s%s\n" % (self.steps or "", text)

    @api.model
    def _step_datetime(self, value):
        """A date for a step's text (``%(since)s``): stored as a marker, shown in the reader's time zone and
        format (the step is written once, by a cron as often as by a person, and read by anyone).

        :param value: naive UTC datetime (microseconds dropped)
        """
        return STEP_DATETIME_MARK % fields.Datetime.to_string(value)

    def _add_lines(self, problems, kind="problem"):
        """Record per-contact lines: problems, or the contacts the run opted out.

        :param problems: iterable of ``(email, reason)``
        :param kind: ``problem`` or ``opted_out``
        """
        self.ensure_one()
        self.env["esp.sync.log.line"].create([
            {"log_id": self.id, "email": email, "reason": reason, "kind": kind} for email, reason in problems
        ])

    def action_view_opted_out_contacts(self):
        """The contacts this run opted out, on the run's list."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("mass_mailing.action_view_mass_mailing_contacts")
        action.update({
            "name": _("Opted out by this sync"),
            "domain": [("email_normalized", "in", self.opted_out_line_ids.mapped("email")),
                       ("list_ids", "in", self.list_id.ids)],
            "context": {"default_list_ids": self.list_id.ids},
        })
        return action

    def action_retry_failed(self):
        """Send the members that failed in these runs again at the next sync."""
        disconnected = self.list_id.filtered(lambda mailing_list: not mailing_list.esp_address_book_id)
        if disconnected:
            raise UserError(_(
                "The mailing list “%(list)s” is no longer connected to an ESP address book. Reconnect it to the "
                "same book first: its failed contacts are kept and can be retried then.",
                list=disconnected[0].name,
            ))
        members = self.env["esp.list.member"].search([
            ("list_id", "in", self.list_id.ids),
            ("email", "in", self.line_ids.mapped("email")),
            ("state", "in", ("failed", "rejected")),
        ])
        return members.action_retry()
