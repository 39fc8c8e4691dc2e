from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..sync import ListSyncRunner
from .esp_address_book import SYNC_STATES


class MailingList(models.Model):
    """Fields and buttons of a list connected to an ESP address book. The sync state is the binding's
    (``esp.address.book``); the work is the sync runner's (``..sync``)."""

    _inherit = "mailing.list"

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
    esp_sync_state = fields.Selection(
        SYNC_STATES, string="ESP Sync", compute="_compute_esp_sync_state", search="_search_esp_sync_state"
    )
    esp_last_sync_datetime = fields.Datetime(related="esp_address_book_id.last_sync_datetime")
    esp_book_checked_datetime = fields.Datetime(related="esp_address_book_id.book_checked_datetime")
    esp_last_attempt_datetime = fields.Datetime(related="esp_address_book_id.last_attempt_datetime")
    esp_next_sync_datetime = fields.Datetime(related="esp_address_book_id.next_sync_datetime")
    esp_last_error = fields.Text(related="esp_address_book_id.last_error")
    esp_sync_progress = fields.Char(related="esp_address_book_id.sync_progress")
    esp_pending_count = fields.Integer(string="Pending Export", compute="_compute_esp_member_counts")
    esp_failed_count = fields.Integer(string="Failed Members", compute="_compute_esp_member_counts")
    esp_synced_count = fields.Integer(string="Synced Members", compute="_compute_esp_member_counts")
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
        self.flush_model()
        self.env["esp.list.member"].flush_model()
        counts = {}
        connected = self.filtered("esp_address_book_id")
        if connected:
            # Pending = members waiting to go out + subscribers never exported yet.
            self.env.cr.execute(
                """
                SELECT s.list_id,
                       count(*) FILTER (WHERE m.id IS NULL OR m.state IN ('pending', 'exporting', 'removing')),
                       count(*) FILTER (WHERE m.state IN ('failed', 'rejected')),
                       count(*) FILTER (WHERE m.state = 'synced')
                  FROM mailing_subscription s
                  JOIN mailing_contact c ON c.id = s.contact_id
             LEFT JOIN esp_list_member m
                    ON m.list_id = s.list_id AND m.email = COALESCE(c.email_normalized, lower(trim(c.email)))
                 WHERE s.list_id IN %s AND s.opt_out IS NOT TRUE
              GROUP BY s.list_id
                """,
                [tuple(connected.ids)],
            )
            counts = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for mailing_list in self:
            pending, failed, synced = counts.get(mailing_list.id, (0, 0, 0))
            mailing_list.esp_pending_count = pending
            mailing_list.esp_failed_count = failed
            mailing_list.esp_synced_count = synced

    def _compute_esp_sync_log_count(self):
        counts = dict(self.env["esp.sync.log"]._read_group([("list_id", "in", self.ids)], ["list_id"], ["__count"]))
        for mailing_list in self:
            mailing_list.esp_sync_log_count = counts.get(mailing_list, 0)

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def write(self, vals):
        res = super().write(vals)
        if "contact_ids" in vals or "subscription_ids" in vals:
            # Memberships written through contact_ids bypass mailing.subscription's own methods.
            self.flush_recordset(["contact_ids", "subscription_ids"])
            self.env["esp.address.book"]._esp_mark_changed(self.ids)
        return res

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_esp_connect(self):
        """Open the dialog connecting this list to an ESP address book (also used for Connection Settings)."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Connect to ESP") if not self.esp_address_book_id else _("ESP Connection Settings"),
            "res_model": "esp.connect.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_mailing_list_id": self.id,
                "default_account_id": self.esp_account_id.id,
                "default_address_book_id": self.esp_address_book_id.id,
                "default_create_contacts": self.esp_create_contacts,
            },
        }

    def action_esp_connection_settings(self):
        return self.action_esp_connect()

    def action_esp_synchronize(self):
        """Queue a sync of these lists for the next free cron worker (never inside this request)."""
        self.check_access("write")
        connected = self.filtered("esp_address_book_id")
        if not connected:
            raise UserError(_("Connect the mailing list to an ESP address book first."))
        connected.sudo()._esp_queue_sync()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("ESP synchronization"),
                "message": _("Synchronization queued for %(lists)s. The list shows its progress.",
                             lists=", ".join(connected.mapped("name"))),
                "type": "info",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_esp_refresh_data_fields(self):
        """Send every member's mapped fields again at the next sync (after a mapping or data field change)."""
        self.check_access("write")
        connected = self.filtered("esp_address_book_id").sudo()
        self.env["esp.list.member"].sudo()._esp_resend_all(connected.ids)
        self.env["esp.address.book"]._esp_mark_changed(connected.ids)
        connected._esp_queue_sync()
        return True

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
        """Confirm the mass change the guard stopped; the next run applies it."""
        self.check_access("write")
        self.sudo().esp_address_book_id._esp_confirm_guard()
        return True

    def action_esp_retry_rejected(self):
        """After fixing what the ESP rejected (RejectedByWatchdog), send the list's contacts again."""
        self.check_access("write")
        self.sudo().esp_address_book_id._esp_retry_rejected()
        return True

    def action_esp_view_sync_logs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.esp_sync_log_action")
        action["domain"] = [("list_id", "=", self.id)]
        action["context"] = {"default_list_id": self.id}
        return action

    def action_esp_view_failed_members(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": _("Members not synced"),
            "res_model": "esp.list.member",
            "view_mode": "list,form",
            "domain": [("list_id", "=", self.id), ("state", "in", ("failed", "rejected"))],
        }

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
        ListSyncRunner(self.env).run()

    @api.model
    def _cron_esp_poll_imports(self):
        """Confirm finished imports soon after they were sent, between two full syncs."""
        ListSyncRunner(self.env, steps=("poll",)).run()

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
