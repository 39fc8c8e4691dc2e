import operator as py_operator

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, format_datetime

from ..sync import ListSyncRunner
from .esp_address_book import ATTENTION_STATES, SYNC_STATES, check_esp_manager

_COMPARE = {"=": py_operator.eq, "!=": py_operator.ne, ">": py_operator.gt, ">=": py_operator.ge,
            "<": py_operator.lt, "<=": py_operator.le}

# What the sync knows of each connected list's subscribers, one pass for all the lists asked. Subscribers are
# counted once per email, as the export sends them (DISTINCT ON email), and split as the export splits them:
# blacklisted addresses and contacts without an email are never sent, so they are "not sent", never "pending".
#
#   subscriber                                  member row              counted as
#   ada@x (subscribed)                          none                    pending   (the next export sends it)
#   bob@x (subscribed)                          pending / removing      pending
#   cy@x  (subscribed)                          exporting               exporting (sent, the ESP has not confirmed)
#   dan@x (subscribed)                          synced                  synced
#   eve@x (subscribed, blacklisted)             any                     not sent  (the opt-out goes out instead)
#   (subscribed, no email)                      -                       not sent
#
# Failed members are counted apart, from the member rows alone (a partial index): "Members not synced" lists
# exactly those rows.
MEMBER_COUNTS_QUERY = """
    WITH subscriber AS (
        SELECT s.list_id, COALESCE(c.email_normalized, lower(trim(c.email))) AS email,
               count(*) AS contacts, bool_or(b.id IS NOT NULL) AS blacklisted
          FROM mailing_subscription s
          JOIN mailing_contact c ON c.id = s.contact_id
     LEFT JOIN mail_blacklist b ON b.email = c.email_normalized AND b.active
         WHERE s.list_id = ANY(%(lists)s) AND s.opt_out IS NOT TRUE
      GROUP BY 1, 2
    )
    SELECT r.list_id,
           count(*) FILTER (WHERE r.email != '' AND NOT r.blacklisted
                              AND (m.id IS NULL OR m.state IN ('pending', 'removing'))),
           count(*) FILTER (WHERE r.email != '' AND NOT r.blacklisted AND m.state = 'exporting'),
           count(*) FILTER (WHERE r.email != '' AND NOT r.blacklisted AND m.state = 'synced'),
           count(*) FILTER (WHERE r.email != '' AND NOT r.blacklisted),
           COALESCE(sum(r.contacts) FILTER (WHERE COALESCE(r.email, '') = ''), 0)
             + count(*) FILTER (WHERE r.email != '' AND r.blacklisted)
      FROM subscriber r
 LEFT JOIN esp_list_member m ON m.list_id = r.list_id AND m.email = r.email
  GROUP BY r.list_id
"""


class MailingList(models.Model):
    """Fields and buttons of a list connected to an ESP address book. The sync state is the binding's
    (``esp.address.book``); the work is the sync runner's (``..sync``)."""

    _name = "mailing.list"
    # A chatter: what a person decided for the list at the ESP (a confirmed mass change, a retried rejection)
    # is recorded with who and when.
    _inherit = ["mailing.list", "mail.thread"]

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    esp_address_book_id = fields.Many2one(
        "esp.address.book", string="ESP Address Book", copy=False, readonly=True, index="btree_not_null"
    )
    esp_account_id = fields.Many2one(
        "esp.account", related="esp_address_book_id.account_id", string="ESP Account", store=True
    )
    esp_create_contacts = fields.Boolean(related="esp_address_book_id.create_contacts", string="Create New Contacts")
    esp_double_optin = fields.Boolean(related="esp_address_book_id.double_optin", readonly=False)
    esp_contacts_api = fields.Selection(related="esp_account_id.contacts_api", string="ESP Contacts API")
    esp_contact_count_pending_optin = fields.Integer(
        string="Pending Confirmation", compute="_compute_mailing_list_statistics",
        help="Subscribers the ESP asked to confirm their subscription (double opt-in) who have not yet: neither "
             "counted among the recipients nor mailed.")
    esp_sync_state = fields.Selection(
        SYNC_STATES, string="ESP Sync", compute="_compute_esp_sync_state", search="_search_esp_sync_state"
    )
    esp_last_sync_datetime = fields.Datetime(related="esp_address_book_id.last_sync_datetime")
    esp_book_checked_datetime = fields.Datetime(related="esp_address_book_id.book_checked_datetime")
    esp_last_attempt_datetime = fields.Datetime(related="esp_address_book_id.last_attempt_datetime")
    esp_next_sync_datetime = fields.Datetime(related="esp_address_book_id.next_sync_datetime")
    esp_last_error = fields.Text(related="esp_address_book_id.last_error")
    esp_sync_progress = fields.Char(related="esp_address_book_id.sync_progress")
    esp_sync_progress_text = fields.Char(string="Progress", compute="_compute_esp_sync_progress_text")
    esp_pending_count = fields.Integer(
        string="Pending Export", compute="_compute_esp_member_counts",
        help="Subscribed contacts the next synchronization sends: new to the ESP, or waiting to go out again.",
    )
    esp_exporting_count = fields.Integer(
        string="Being Exported", compute="_compute_esp_member_counts",
        help="Contacts sent in an import the ESP has not confirmed yet.",
    )
    esp_failed_count = fields.Integer(
        string="Failed Members", compute="_compute_esp_member_counts", search="_search_esp_failed_count",
        help="Contacts the ESP refused (or that cannot be sent, such as invalid addresses), until retried.",
    )
    esp_synced_count = fields.Integer(string="Synced Members", compute="_compute_esp_member_counts")
    esp_not_sent_count = fields.Integer(
        string="Not Sent", compute="_compute_esp_member_counts",
        help="Subscribed contacts the synchronization never sends: blacklisted addresses and contacts without "
             "an email.",
    )
    esp_opted_out_count = fields.Integer(
        string="Opted Out", compute="_compute_esp_member_counts",
        help="Subscriptions opted out of the list, in Odoo or at the ESP (unsubscribed, bounced, suppressed): "
             "never sent. With the counters above they add up to the list's recipients.",
    )
    esp_sendable_count = fields.Integer(
        string="Contacts to Sync", compute="_compute_esp_member_counts",
        help="Subscribed email addresses the synchronization sends to the ESP (one per address).",
    )
    esp_processed_count = fields.Integer(
        string="Contacts Processed", compute="_compute_esp_member_counts",
        help="Of the contacts to sync, those the ESP confirmed or settled (synced, failed, opted out at the ESP); "
             "the rest is pending export or being imported by the ESP.",
    )
    esp_sync_status = fields.Char(
        string="ESP Sync Status", compute="_compute_esp_sync_status",
        help="The list's sync state, with the failed contacts and the changes waiting for the next run.",
    )
    esp_needs_attention = fields.Boolean(
        string="ESP Sync Needs Attention", compute="_compute_esp_sync_status",
        search="_search_esp_needs_attention",
        help="The last sync failed or waits for a person, or some contacts were not accepted by the ESP.",
    )
    esp_failed_summary = fields.Char(compute="_compute_esp_failed_summary")
    esp_sync_log_count = fields.Integer(compute="_compute_esp_sync_log_count")
    # Member sync states kept after a disconnection describe this book only: reconnecting to it resumes from
    # them, connecting to any other book forgets them.
    esp_previous_address_book_id = fields.Many2one(
        "esp.address.book", string="Previously Connected Address Book", copy=False, readonly=True,
        ondelete="set null", index="btree_not_null",
    )

    _sql_constraints = [
        (
            "esp_address_book_uniq",
            "unique(esp_address_book_id)",
            "This ESP address book is already connected to another mailing list.",
        ),
    ]

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    @api.depends("esp_address_book_id.sync_state")
    def _compute_esp_sync_state(self):
        for mailing_list in self:
            mailing_list.esp_sync_state = mailing_list.esp_address_book_id.sync_state or "never"

    def _search_esp_sync_state(self, operator, value):
        if operator not in ("=", "!=", "in", "not in"):
            raise UserError(_("Unsupported search on the ESP sync state."))
        return [("esp_address_book_id.sync_state", operator, value)]

    def _compute_esp_member_counts(self):
        counts = self._esp_member_counts()
        for mailing_list in self:
            values = counts.get(mailing_list.id, {})
            mailing_list.esp_pending_count = values.get("pending", 0)
            mailing_list.esp_exporting_count = values.get("exporting", 0)
            mailing_list.esp_failed_count = values.get("failed", 0)
            mailing_list.esp_synced_count = values.get("synced", 0)
            mailing_list.esp_not_sent_count = values.get("not_sent", 0)
            mailing_list.esp_opted_out_count = values.get("opted_out", 0)
            mailing_list.esp_sendable_count = values.get("sendable", 0)
            # Sent is not done: an import counts once the ESP confirmed it, so the bar fills as the ESP works.
            mailing_list.esp_processed_count = (values.get("sendable", 0) - values.get("pending", 0)
                                                - values.get("exporting", 0))

    def _esp_member_counts(self):
        """Count the subscribers of the connected lists of ``self`` as the sync sees them (see
        ``MEMBER_COUNTS_QUERY``); three queries whatever the number of lists.

        :return: ``{list_id: {"pending", "exporting", "synced", "failed", "not_sent", "opted_out", "sendable"}}``,
            connected lists only
        """
        connected = self.filtered("esp_address_book_id")
        if not connected:
            return {}
        for model in ("mailing.subscription", "mailing.contact", "mail.blacklist", "esp.list.member"):
            self.env[model].flush_model()
        cr = self.env.cr
        counts = {list_id: dict.fromkeys(("pending", "exporting", "synced", "failed", "not_sent", "opted_out",
                                          "sendable"), 0)
                  for list_id in connected.ids}
        cr.execute(MEMBER_COUNTS_QUERY, {"lists": connected.ids})
        for list_id, pending, exporting, synced, sendable, not_sent in cr.fetchall():
            counts[list_id].update(pending=pending, exporting=exporting, synced=synced, sendable=sendable,
                                   not_sent=int(not_sent))
        cr.execute(
            "SELECT list_id, count(*) FROM esp_list_member WHERE list_id = ANY(%s) AND attention IN ('failed', 'rejected') "
            "GROUP BY list_id",
            [connected.ids],
        )
        for list_id, failed in cr.fetchall():
            counts[list_id]["failed"] = failed
        cr.execute(
            "SELECT list_id, count(*) FROM mailing_subscription WHERE list_id = ANY(%s) AND opt_out GROUP BY list_id",
            [connected.ids],
        )
        for list_id, opted_out in cr.fetchall():
            counts[list_id]["opted_out"] = opted_out
        return counts

    def _search_esp_failed_count(self, operator, value):
        if operator not in _COMPARE or not isinstance(value, int) or isinstance(value, bool):
            raise UserError(_("Unsupported search on the number of failed ESP members."))
        self.env["esp.list.member"].flush_model(["list_id", "state"])
        self.env.cr.execute(
            "SELECT list_id, count(*) FROM esp_list_member WHERE attention IN ('failed', 'rejected') GROUP BY list_id"
        )
        counts = dict(self.env.cr.fetchall())
        compare = _COMPARE[operator]
        if compare(0, value):  # lists without failed members match too: exclude the lists that do not match
            return [("id", "not in", [list_id for list_id, count in counts.items() if not compare(count, value)])]
        return [("id", "in", [list_id for list_id, count in counts.items() if compare(count, value)])]

    @api.depends("active", "esp_sync_state", "esp_pending_count", "esp_failed_count", "esp_processed_count",
                 "esp_sendable_count")
    @api.depends_context("lang")
    def _compute_esp_sync_status(self):
        labels = dict(self._fields["esp_sync_state"]._description_selection(self.env))
        for mailing_list in self:
            state = mailing_list.esp_sync_state
            mailing_list.esp_needs_attention = bool(mailing_list.esp_address_book_id) and mailing_list.active and (
                state in ATTENTION_STATES or mailing_list.esp_failed_count > 0
            )
            if not mailing_list.esp_address_book_id:
                mailing_list.esp_sync_status = False
                continue
            if not mailing_list.active:
                # The cron leaves archived lists alone (see the runner's due lists); unarchiving resumes.
                mailing_list.esp_sync_status = _("Archived: not synchronized")
                continue
            status = labels[state]
            if state == "running" and mailing_list.esp_sendable_count:
                status = _("%(state)s: %(done)s of %(total)s contacts processed", state=status,
                           done=mailing_list.esp_processed_count, total=mailing_list.esp_sendable_count)
            if state == "done" and mailing_list.esp_pending_count:
                # Changed after the last run: "Up to Date" alone would hide them until the next one.
                status = _("%(state)s, %(count)s to send at the next run", state=status,
                           count=mailing_list.esp_pending_count)
            if mailing_list.esp_failed_count:
                status = _("%(state)s, %(count)s failed", state=status, count=mailing_list.esp_failed_count)
            mailing_list.esp_sync_status = status

    def _search_esp_needs_attention(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(_("Unsupported search on whether the ESP sync needs attention."))
        domain = ["&", "&", ("esp_address_book_id", "!=", False), ("active", "=", True),
                  "|", ("esp_address_book_id.sync_state", "in", ATTENTION_STATES), ("esp_failed_count", ">", 0)]
        return domain if (operator == "=") == value else ["!", *domain]

    def _order_field_to_sql(self, alias, field_name, direction, nulls, query):
        # The sync-health overview puts lists that need a person first: sorted in SQL, as they are searched,
        # from the binding's state and the failed member rows (a partial index), nothing stored to keep fresh.
        if field_name not in ("esp_failed_count", "esp_needs_attention"):
            return super()._order_field_to_sql(alias, field_name, direction, nulls, query)
        self.env["esp.list.member"].flush_model(["list_id", "state"])
        self.env["esp.address.book"].flush_model(["sync_state"])
        failed = SQL(
            "(SELECT count(*) FROM esp_list_member esp_m WHERE esp_m.list_id = %s "
            "AND esp_m.attention IN ('failed', 'rejected'))",
            SQL.identifier(alias, "id"),
        )
        if field_name == "esp_failed_count":
            return SQL("%s %s %s", failed, direction, nulls)
        book = self._field_to_sql(alias, "esp_address_book_id", query)
        attention = SQL(
            "(%s IS NOT NULL AND (EXISTS (SELECT 1 FROM esp_address_book esp_b WHERE esp_b.id = %s "
            "AND esp_b.sync_state IN %s) OR %s > 0))",
            book, book, tuple(ATTENTION_STATES), failed,
        )
        return SQL("%s %s %s", attention, direction, nulls)

    def _compute_esp_failed_summary(self):
        lists = self.filtered("esp_address_book_id")
        reasons = {}
        if lists:
            self.env["esp.list.member"].flush_model(["list_id", "state", "failure_reason"])
            self.env.cr.execute(
                """
                SELECT list_id, failure_reason, count(*) FROM esp_list_member
                 WHERE list_id = ANY(%s) AND attention IN ('failed', 'rejected')
              GROUP BY list_id, failure_reason ORDER BY list_id, count(*) DESC, failure_reason
                """,
                [lists.ids],
            )
            for list_id, reason, count in self.env.cr.fetchall():
                reasons.setdefault(list_id, []).append((reason or _("no reason given"), count))
        for mailing_list in self:
            rows = reasons.get(mailing_list.id)
            if not rows:
                mailing_list.esp_failed_summary = False
                continue
            shown = ", ".join(_("%(reason)s: %(count)s", reason=reason, count=count) for reason, count in rows[:3])
            if len(rows) > 3:
                shown = _("%(reasons)s and other reasons", reasons=shown)
            mailing_list.esp_failed_summary = _(
                "%(count)s contacts of this list failed to sync (%(reasons)s). Fix them, then press Retry Failed "
                "to send them again at the next synchronization.",
                count=sum(count for _reason, count in rows), reasons=shown,
            )

    @api.depends("active", "esp_sync_state", "esp_sync_progress", "esp_last_attempt_datetime")
    @api.depends_context("tz", "lang")
    def _compute_esp_sync_progress_text(self):
        for mailing_list in self:
            if (not mailing_list.active or mailing_list.esp_sync_state != "running"
                    or not mailing_list.esp_last_attempt_datetime):
                mailing_list.esp_sync_progress_text = False
                continue
            mailing_list.esp_sync_progress_text = _(
                "Synchronizing since %(time)s: %(step)s",
                time=format_datetime(self.env, mailing_list.esp_last_attempt_datetime, dt_format="HH:mm"),
                step=mailing_list.esp_sync_progress or _("starting"),
            )

    def _compute_esp_sync_log_count(self):
        counts = dict(self.env["esp.sync.log"]._read_group([("list_id", "in", self.ids)], ["list_id"], ["__count"]))
        for mailing_list in self:
            mailing_list.esp_sync_log_count = counts.get(mailing_list, 0)

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def write(self, vals):
        archived = self.filtered("active") if "active" in vals and not vals["active"] else self.browse()
        unarchived = self.filtered(lambda mailing_list: not mailing_list.active) if vals.get("active") else self.browse()
        if "contact_ids" in vals or "subscription_ids" in vals:
            self.env["mailing.subscription"]._esp_check_not_filtered(self)
        res = super().write(vals)
        if "contact_ids" in vals or "subscription_ids" in vals:
            # Memberships written through contact_ids bypass mailing.subscription's own methods.
            self.flush_recordset(["contact_ids", "subscription_ids"])
            self.env["esp.address.book"]._esp_mark_changed(self.ids)
        # An archived list is not synced (not due for the runner): its live progress stops, and unarchiving
        # queues a run that catches up with what changed meanwhile.
        archived.sudo().esp_address_book_id.filtered(lambda book: book.sync_state in ("queued", "running")).write(
            {"sync_progress": False})
        unarchived.filtered("esp_address_book_id").sudo()._esp_queue_sync()
        return res

    def unlink(self):
        # Deleting a connected list is allowed, as in Odoo without an ESP; what it leaves at the ESP is said in
        # the account's chatter, and the book is freed with a clean sync state (a later connection starts afresh).
        for mailing_list in self.filtered("esp_address_book_id").sudo():
            book = mailing_list.esp_address_book_id
            book.account_id.message_post(body=_(
                "%(user)s deleted the mailing list “%(list)s”: it is no longer synchronized with the address book "
                "“%(book)s”, which stays at the ESP with its contacts (delete it there if it is no longer needed).",
                user=self.env.user.name, list=mailing_list.name, book=book.name,
            ), message_type="comment", subtype_xmlid="mail.mt_note", author_id=self.env.user.partner_id.id)
            book._esp_unbind()
        ids = self.ids
        result = super().unlink()
        # The contacts a filter filled belong to its list (mailing.contact.esp_source_list_id, no foreign key).
        self.env.cr.execute("DELETE FROM mailing_contact WHERE esp_source_list_id = ANY(%s)", [ids])
        self.env["mailing.contact"].invalidate_model()
        return result

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_esp_connect(self):
        """Open the dialog connecting this list to an ESP address book (also used for Connection Settings)."""
        self.ensure_one()
        book = self.esp_address_book_id
        account, create_contacts = book.sudo().account_id, book.sudo().create_contacts
        if book and not book.sudo().active:
            # Deleted at the ESP: the dialog offers the account's other books, not the one that is gone.
            book = self.env["esp.address.book"].browse()
        if not self.esp_address_book_id:
            # After a Disconnect, the dialog offers the same connection again (book and settings) while that book
            # is free: reconnecting then keeps what the list's members already are at the ESP.
            previous = self.sudo().esp_previous_address_book_id
            if previous.active and not previous.mailing_list_id and not previous.is_system:
                book = self.env["esp.address.book"].browse(previous.id)
                account, create_contacts = previous.account_id, previous.create_contacts
        return {
            "type": "ir.actions.act_window",
            "name": _("Connect to ESP") if not self.esp_address_book_id else _("ESP Connection Settings"),
            "res_model": "esp.connect.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_mailing_list_id": self.id,
                "default_account_id": account.id,
                "default_address_book_id": book.id,
                "default_create_contacts": create_contacts,
            },
        }

    def action_esp_connection_settings(self):
        return self.action_esp_connect()

    def action_esp_synchronize(self):
        """Queue a sync of these lists for the next free cron worker (never inside this request); the person
        who asked is told how the list stands once the run ends."""
        self.check_access("write")
        connected = self.filtered("esp_address_book_id")
        if not connected:
            raise UserError(_("Connect the mailing list to an ESP address book first."))
        archived = connected.filtered(lambda mailing_list: not mailing_list.active)
        if archived:
            raise UserError(_("The mailing list “%(list)s” is archived, so it is not synchronized: unarchive it "
                              "to synchronize it again.", list=archived[0].name))
        missing = connected.sudo().esp_address_book_id.filtered(lambda book: book.sync_state == "book_missing")
        if missing:
            # Nothing a run could do: every call on that book fails. A person chooses what happens to the list.
            raise UserError("\n".join(missing.mapped(lambda book: book._esp_book_missing_message())))
        connected.sudo().esp_address_book_id._esp_queue(requested_by=self.env.user)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("ESP synchronization"),
                "message": _("Synchronization queued for %(lists)s. The list shows its progress, and you will be "
                             "notified when it ends.", lists=", ".join(connected.mapped("name"))),
                "type": "info",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_esp_refresh_data_fields(self):
        """Read the account's data fields again and send every member's mapped fields at the next sync (after a
        mapping or data field change)."""
        self.check_access("write")
        connected = self.filtered("esp_address_book_id").sudo()
        self.env["esp.list.member"].sudo()._esp_resend_all(connected.ids)
        self.env["esp.address.book"]._esp_mark_changed(connected.ids)
        connected._esp_queue_sync()
        # The person pressed a button: say what the ESP has now, not nothing.
        return connected.esp_account_id._esp_refresh_data_fields(lists=connected)

    def action_esp_disconnect(self):
        """Stop syncing. Odoo contacts and the remote address book stay as they are, and so does what the
        connector knows of each contact (synced, failed, opted out): a reconnection to the same book resumes
        from it (see :meth:`_esp_connect`)."""
        self.check_access("write")
        for mailing_list in self.filtered("esp_address_book_id").sudo():
            book = mailing_list.esp_address_book_id
            book._esp_unbind()
            mailing_list.write({"esp_address_book_id": False, "esp_previous_address_book_id": book.id})
        return True

    def action_esp_confirm_guard(self):
        """Confirm the mass change the guard stopped; the next run applies it. ESP managers only, recorded."""
        self.check_access("write")
        check_esp_manager(self.env, _("Only an ESP manager can confirm the changes the mass-change guard stopped. "
                                      "Ask one to review them on the list."))
        for mailing_list in self.filtered("esp_address_book_id"):
            confirmed = mailing_list.sudo().esp_address_book_id._esp_confirm_guard()
            for book, stopped in confirmed.items():
                mailing_list.message_post(body=_(
                    "%(user)s confirmed the mass change the guard stopped for the address book %(book)s; the next "
                    "synchronization applies it. What the guard stopped: %(changes)s",
                    user=self.env.user.name, book=book.name, changes=stopped or _("no details recorded"),
                ), message_type="comment", subtype_xmlid="mail.mt_note")
        return True

    def action_esp_retry_rejected(self):
        """After fixing what the ESP rejected (RejectedByWatchdog), send the list's contacts again. ESP managers
        only (the watchdog suspects the list was not collected with consent), recorded."""
        self.check_access("write")
        check_esp_manager(self.env, _("Only an ESP manager can send again an import the ESP's watchdog rejected. "
                                      "Ask one once the ESP agrees."))
        for mailing_list in self.filtered("esp_address_book_id"):
            counts = mailing_list.sudo().esp_address_book_id._esp_retry_rejected()
            for book, count in counts.items():
                mailing_list.message_post(body=_(
                    "%(user)s retried the import the ESP's watchdog rejected: %(count)s contacts are sent again to "
                    "the address book %(book)s at the next synchronization.",
                    user=self.env.user.name, count=count, book=book.name,
                ), message_type="comment", subtype_xmlid="mail.mt_note")
        return True

    def action_esp_view_sync_logs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.esp_sync_log_action")
        action["domain"] = [("list_id", "=", self.id)]
        action["context"] = {"default_list_id": self.id}
        return action

    def action_esp_view_failed_members(self):
        """The list's members on the Failed filter, which a person may lift to see the others."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.esp_list_member_action")
        context = {"search_default_filter_failed": 1}
        action.update({
            "name": _("Members not synced"),
            "domain": [("list_id", "=", self.id)],
            "context": context,
            "help": self.env["esp.list.member"].with_context(**context).get_empty_list_help(action.get("help", "")),
        })
        return action

    def action_esp_retry_failed(self):
        """Send the list's failed and rejected members again at the next sync."""
        self.check_access("write")
        members = self.env["esp.list.member"].sudo().search(
            [("list_id", "in", self.filtered("esp_address_book_id").ids), ("state", "in", ("failed", "rejected"))]
        )
        return members.action_retry()

    # ------------------------------------------------------------
    # CONNECTION
    # ------------------------------------------------------------

    def _esp_connect(self, address_book, create_contacts=False):
        """Connect this list 1:1 to ``address_book``.

        :param address_book: an ``esp.address.book`` of a connected account; not a system book, not connected
            to another list
        :param create_contacts: two-way: contacts new at the ESP are created in this list
        """
        self.ensure_one()
        if address_book.is_system:
            raise UserError(
                _("“%(book)s” is managed by the ESP itself and cannot be connected to a mailing list.",
                  book=address_book.name)
            )
        if not address_book.active:
            raise UserError(_("The address book “%(book)s” no longer exists at the ESP.", book=address_book.name))
        other = self.with_context(active_test=False).search(
            [("esp_address_book_id", "=", address_book.id), ("id", "!=", self.id)], limit=1
        )
        if other or (address_book.mailing_list_id and address_book.mailing_list_id != self):
            raise UserError(
                _("The address book “%(book)s” is already connected to the mailing list “%(list)s”.",
                  book=address_book.name, list=(other or address_book.mailing_list_id).name)
            )
        if address_book.account_id.state != "connected":
            raise UserError(
                _("Test the connection of the ESP account “%(account)s” first.", account=address_book.account_id.name)
            )
        if address_book.connected_elsewhere_id:
            raise UserError(address_book._esp_connected_elsewhere_message())
        self.check_access("write")
        # Users connect lists they may edit; the book and the account's mapping belong to the connector.
        self_sudo, book_sudo = self.sudo(), address_book.sudo()
        if self.esp_address_book_id == address_book:
            book_sudo.create_contacts = create_contacts
            return
        if self.esp_address_book_id:
            self_sudo.esp_address_book_id._esp_unbind()
            self_sudo.write({"esp_address_book_id": False,
                             "esp_previous_address_book_id": self_sudo.esp_address_book_id.id})
            # Free the old book before linking the new one: both sides are unique.
            self.env.flush_all()
        self_sudo._esp_adopt_kept_members(book_sudo)
        self_sudo.esp_address_book_id = address_book
        book_sudo._esp_bind(self, create_contacts)
        self.env["esp.field.mapping"].sudo()._esp_create_defaults(book_sudo.account_id)
        book_sudo._esp_trigger()

    def _esp_adopt_kept_members(self, address_book):
        """Before connecting to ``address_book``: keep the member sync states left by a disconnection from that
        very book (re-checked at the next run, see :meth:`~.esp_list_member.EspListMember._esp_recheck_list`),
        forget them otherwise. Another list's kept states about this book are forgotten too: once this list
        syncs with the book, they no longer describe it."""
        self.ensure_one()
        Member = self.env["esp.list.member"].sudo()
        if self.esp_previous_address_book_id == address_book:
            Member._esp_recheck_list(self.id)
        else:
            Member._esp_forget_list(self.id)
        others = self.sudo().with_context(active_test=False).search(
            [("esp_previous_address_book_id", "=", address_book.id), ("id", "!=", self.id)]
        )
        for other in others:
            Member._esp_forget_list(other.id)
        (self | others).sudo().esp_previous_address_book_id = False

    def _esp_queue_sync(self):
        self.esp_address_book_id._esp_queue()

    # ------------------------------------------------------------
    # CRON
    # ------------------------------------------------------------

    @api.model
    def _cron_esp_sync_contacts(self):
        """Sync every due connected list, account by account, within the worker's time limit; the scheduler
        calls again while due lists remain. Accounts another worker is syncing are skipped this time."""
        self.env["esp.sync.job.list"]._esp_job_cron()

    @api.model
    def _cron_esp_poll_imports(self):
        """Confirm finished imports soon after they were sent, between two full syncs."""
        self.env["esp.sync.job.list"]._esp_job_run_poll()

    # ------------------------------------------------------------
    # SYNC
    # ------------------------------------------------------------

    def _esp_sync(self, trigger="cron", steps=None):
        """Run one sync of this list now, in this transaction, through the runner (tests, benchmarks, shell).

        :param steps: job names (default: all)
        :return: the run's ``esp.sync.log`` (empty when another worker holds the account)
        """
        self.ensure_one()
        runner = ListSyncRunner(self.env, trigger=trigger, **({"steps": steps} if steps else {}))
        return runner.run(self.esp_address_book_id).sudo(False)

    # ------------------------------------------------------------
    # FILTER: a list whose members are the records of a model + domain (sync/audience.py)
    # ------------------------------------------------------------

    esp_source_kind = fields.Selection(
        [("dynamic", "Dynamic"), ("on_demand", "On Demand")], string="Filter Refresh", copy=False,
        help="Dynamic: every synchronization follows the filter (records that entered are added, those that left "
             "are removed from the address book). On Demand: the list follows the filter when a person presses "
             "Refresh from Filter. Empty: an ordinary list whose members are edited by hand (synced both ways).")
    esp_source_model_id = fields.Many2one(
        "ir.model", string="Filter On", copy=False, ondelete="set null", domain=[("is_mailing_enabled", "=", True)],
        help="The records the list is made of (Contacts, Leads, Event registrations, ...).")
    # The model's technical name, kept when its module is uninstalled (the many2one empties): the list then fails
    # with a reason instead of turning into an ordinary list.
    esp_source_model_name = fields.Char(
        string="Filter Model", compute="_compute_esp_source_model_name", store=True, readonly=True, copy=False)
    esp_source_domain = fields.Char(string="Filter", copy=False, default="[]")
    esp_source_filter_id = fields.Many2one(
        "mailing.filter", string="Saved Filter", copy=False, ondelete="set null",
        domain="[('mailing_model_id', '=', esp_source_model_id)]",
        help="A saved recipient filter of Email Marketing: choosing one copies its domain.")
    esp_source_refresh_datetime = fields.Datetime(string="Filter Last Refreshed", readonly=True, copy=False)
    esp_source_count = fields.Integer(
        string="Emails Matching", readonly=True, copy=False,
        help="Emails the filter gave at its last refresh: one per address, blacklisted and invalid ones left out.")
    # count + highest id + latest write of the matching records and of the blacklist: a refresh that finds it
    # unchanged reads nothing more.
    esp_source_fingerprint = fields.Char(readonly=True, copy=False)
    # Oro's rule: records are created from contacts added at the ESP only when two-way mappings give every
    # field the model requires; otherwise the option stays off, with the reason.
    esp_source_create_records = fields.Boolean(
        string="Create New Records", copy=False,
        help="Contacts added to the address book at the ESP create records of the filter's model. Only possible "
             "when two-way mappings of the account cover every field the model requires.")
    esp_source_create_reason = fields.Char(
        string="Why Records Cannot Be Created", compute="_compute_esp_source_create_reason")

    @api.depends("esp_source_kind", "esp_source_model_name", "esp_account_id.field_mapping_ids.two_way",
                 "esp_account_id.field_mapping_ids.source_path", "esp_account_id.field_mapping_ids.source")
    def _compute_esp_source_create_reason(self):
        for mailing_list in self:
            mailing_list.esp_source_create_reason = mailing_list._esp_source_create_blocker()

    def _esp_source_create_blocker(self):
        """The reason records of the filter's model cannot be created from ESP contacts, or False."""
        self.ensure_one()
        name = self.esp_source_model_name
        if not self.esp_source_kind or not name or name not in self.env:
            return False
        Model = self.env[name]
        covered = {mapping.source_path.strip() for mapping in self.esp_account_id.field_mapping_ids
                   if mapping.source == "record" and mapping.two_way and mapping.source_model_name == name}
        # The email comes with every ESP contact.
        covered |= {field for field in ("email", "email_from", getattr(Model, "_primary_email", None)) if field}
        required = [field for field_name, field in sorted(Model._fields.items())
                    if field.required and field.store and not field.compute and not field.related
                    and field_name not in covered and field_name not in models.MAGIC_COLUMNS]
        defaults = Model.default_get([field.name for field in required])
        missing = [field for field in required if defaults.get(field.name) in (None, False)]
        if not missing:
            return False
        return self.env._(
            "Two-way mappings of the ESP account must give every field %(model)s requires; missing: %(fields)s.",
            model=Model._description, fields=", ".join(field.string for field in missing))

    @api.constrains("esp_source_create_records")
    def _check_esp_source_create_records(self):
        for mailing_list in self.filtered("esp_source_create_records"):
            reason = mailing_list._esp_source_create_blocker()
            if reason:
                raise ValidationError(reason)

    @api.depends("esp_source_model_id")
    def _compute_esp_source_model_name(self):
        for mailing_list in self:
            mailing_list.esp_source_model_name = (mailing_list.esp_source_model_id.model
                                                  or mailing_list.esp_source_model_name)

    @api.onchange("esp_source_filter_id")
    def _onchange_esp_source_filter_id(self):
        if self.esp_source_filter_id:
            self.esp_source_domain = self.esp_source_filter_id.mailing_domain

    def action_esp_refresh_source(self):
        """Make the list's members the filter's records as of now, then queue a sync (On Demand lists, and a
        dynamic list between two runs)."""
        self.check_access("write")
        from ..sync import audience  # noqa: PLC0415 - the engine is loaded with the models

        results = []
        for mailing_list in self.filtered("esp_source_kind"):
            result = audience.refresh(mailing_list, force=True)
            results.append(_("%(list)s: %(matched)s emails match the filter, %(entered)s entered, %(left)s left, "
                             "%(updated)s changed.", list=mailing_list.name, **{
                                 key: result[key] for key in ("matched", "entered", "left", "updated")}))
        if not results:
            raise UserError(_("Only a mailing list connected to a filter can be refreshed from it."))
        connected = self.filtered(lambda mailing_list: mailing_list.esp_source_kind and mailing_list.esp_address_book_id
                                  and mailing_list.active)
        connected.sudo().esp_address_book_id._esp_queue(requested_by=self.env.user)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Refreshed from the filter"),
                "message": "\n".join(results),
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _esp_connect_source(self, model, domain, kind, address_book):
        """Make this list the filter ``model`` + ``domain`` and connect it to ``address_book`` (one way: Odoo
        to the ESP; the ESP's unsubscribes still come back as opt-outs). Its members are filled at once.

        :param model: an ``ir.model`` that is mailing enabled
        :param domain: the filter, as a string (Odoo's domain editor's value)
        :param kind: ``dynamic`` or ``on_demand``
        :raise UserError: the model is not mailing enabled, the domain does not work, or it matches nobody
        """
        self.ensure_one()
        from ..sync import audience  # noqa: PLC0415 - the engine is loaded with the models

        if not model.is_mailing_enabled:
            raise UserError(_("Records of “%(model)s” cannot be mailed: choose a mailing-enabled model.",
                              model=model.name))
        if kind not in ("dynamic", "on_demand"):
            raise UserError(_("Choose whether the filter is Dynamic or On Demand."))
        # The filter is evaluated by the engine as superuser: the person must be able to read those records.
        self.env[model.model].check_access("read")
        self.sudo().write({"esp_source_model_id": model.id, "esp_source_domain": domain or "[]",
                           "esp_source_kind": kind, "esp_source_fingerprint": False})
        if not audience.has_matches(self.sudo()):
            raise UserError(_("The filter matches nobody Odoo would mail (no record with a valid email that is "
                              "not blacklisted): nothing was connected. Widen the filter."))
        audience.refresh(self.sudo(), force=True)
        self._esp_connect(address_book, create_contacts=False)

    # ------------------------------------------------------------
    # DOUBLE OPT-IN: PENDING SUBSCRIBERS ARE NO RECIPIENTS
    # ------------------------------------------------------------

    def _get_contact_statistics_fields(self):
        """Subscribers pending the ESP's double opt-in are not valid recipients yet: out of Odoo's recipient
        count (``contact_count_email``), counted apart."""
        res = super()._get_contact_statistics_fields()
        res["contact_count_email"] = """
                SUM(CASE WHEN
                        (c.email_normalized IS NOT NULL
                        AND COALESCE(r.opt_out,FALSE) = FALSE
                        AND COALESCE(r.esp_pending_optin,FALSE) = FALSE
                        AND bl.id IS NULL)
                        THEN 1 ELSE 0 END) AS contact_count_email"""
        res["esp_contact_count_pending_optin"] = """
                SUM(CASE WHEN COALESCE(r.opt_out,FALSE) = FALSE AND COALESCE(r.esp_pending_optin,FALSE) = TRUE
                    THEN 1 ELSE 0 END) AS esp_contact_count_pending_optin"""
        return res

    def _mailing_get_opt_out_list(self, mailing):
        """A subscriber pending double opt-in in every list of the mailing it is in is not mailed (Odoo's
        own sending; the ESP itself never mails a contact pending its opt-in)."""
        opt_out = super()._mailing_get_opt_out_list(mailing)
        self.env["mailing.subscription"].flush_model(["esp_pending_optin", "opt_out", "list_id", "contact_id"])
        self.env.cr.execute(
            """
            SELECT c.email_normalized
              FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = ANY(%s) AND s.opt_out IS NOT TRUE AND c.email_normalized IS NOT NULL
          GROUP BY 1
            HAVING bool_and(COALESCE(s.esp_pending_optin, FALSE))
            """,
            [mailing.contact_list_ids.ids],
        )
        return opt_out | {row[0] for row in self.env.cr.fetchall()}
