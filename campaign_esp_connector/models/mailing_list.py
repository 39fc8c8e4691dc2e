import csv
import hashlib
import logging
import tempfile
import time
from datetime import datetime, timedelta, timezone

from psycopg2.extras import execute_values

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from .. import providers

_logger = logging.getLogger(__name__)

# Re-read this much before the last pull watermark: rows that change while a feed is paged are not lost, and
# applying them twice is harmless (upserts by email).
PULL_OVERLAP = timedelta(minutes=5)
# First run of a feed: everything since this date (dotdigital's feeds need a date).
FEED_EPOCH = datetime(1971, 1, 1)
# An import still NotFinished after this many polls is given up (its members go out again).
MAX_IMPORT_POLLS = 30
# dotdigital refuses more than 25 imports in flight per account.
MAX_IMPORTS_IN_FLIGHT = 25
# Odoo opt-outs are pushed one call each (the ESP has no bulk unsubscribe): bound them per run.
MAX_UNSUBSCRIBES_PER_RUN = 200
# Removal lookups of contacts whose ESP id is unknown, one call each: bounded per run.
MAX_LOOKUPS_PER_RUN = 100
# The mass change guard ignores runs that touch at most this many contacts (one unsubscribe in a list of 3
# is 33 %, and not what the guard is for).
GUARD_MIN_CONTACTS = 10
EXPORT_PAGE = 20000
PULL_CHUNK = 1000
# Import fault reasons that mean "this address must not be mailed" rather than "this row is wrong".
INVALID_FAULTS = {"invalid entries", "invalid email", "duplicate emails", "failures"}
CRON_BUDGET_SECONDS = 240


def _utc_naive(value):
    """Aware datetime -> naive UTC, as Odoo stores datetimes."""
    if value is None:
        return None
    if value.tzinfo:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _values_hash(values):
    # Mapping order is fixed per account, so the values alone (unit-separated) identify what was sent.
    return hashlib.sha1("\x1f".join(values.values()).encode()).hexdigest()


class MailingList(models.Model):
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
    esp_create_contacts = fields.Boolean(
        string="Create New Contacts",
        copy=False,
        help="Two-way sync: contacts added to the address book at the ESP are created in this mailing list.",
    )
    esp_sync_state = fields.Selection(
        [
            ("never", "Never Synced"),
            ("running", "Running"),
            ("done", "Up to Date"),
            ("failed", "Failed"),
            ("rejected", "Rejected by ESP"),
            ("guard", "Needs Confirmation"),
        ],
        string="ESP Sync",
        default="never",
        copy=False,
        readonly=True,
    )
    esp_last_sync_datetime = fields.Datetime(string="Last Successful Sync", copy=False, readonly=True)
    esp_last_attempt_datetime = fields.Datetime(string="Last Sync Attempt", copy=False, readonly=True)
    esp_last_error = fields.Text(string="ESP Sync Error", copy=False, readonly=True)
    esp_pull_watermark = fields.Datetime(copy=False, readonly=True)
    esp_optout_watermark = fields.Datetime(copy=False, readonly=True)
    esp_guard_confirmed = fields.Boolean(copy=False, readonly=True)
    esp_pending_count = fields.Integer(string="Pending Export", compute="_compute_esp_member_counts")
    esp_failed_count = fields.Integer(string="Failed Members", compute="_compute_esp_member_counts")
    esp_synced_count = fields.Integer(string="Synced Members", compute="_compute_esp_member_counts")
    esp_sync_log_count = fields.Integer(compute="_compute_esp_sync_log_count")

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
                       count(*) FILTER (WHERE m.id IS NULL OR m.state IN ('pending', 'exporting')),
                       count(*) FILTER (WHERE m.state = 'failed'),
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
        """Run the sync of these lists now and report the outcome."""
        self.check_access("write")
        logs = self.env["esp.sync.log"]
        # The sync acts for the connector (imports, members, logs), not with the clicking user's rights.
        for mailing_list in self.filtered("esp_address_book_id").sudo():
            logs |= mailing_list._esp_sync(trigger="manual")
        logs = logs.sudo(False)
        if not logs:
            raise UserError(_("Connect the mailing list to an ESP address book first."))
        failed = logs.filtered(lambda log: log.state in ("failed", "rejected", "throttled", "guard"))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("ESP synchronization"),
                "message": "\n".join(log._summary() for log in logs),
                "type": "warning" if failed else "success",
                "sticky": bool(failed),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_esp_refresh_data_fields(self):
        """Send every member's mapped fields again at the next sync (after a mapping or data field change)."""
        self.env["esp.list.member"].flush_model()
        self.env.cr.execute(
            "UPDATE esp_list_member SET confirmed_hash = NULL, checked_datetime = NULL "
            "WHERE list_id IN %s AND state = 'synced'",
            [tuple(self.ids)],
        )
        self.env["esp.list.member"].invalidate_model(["confirmed_hash", "checked_datetime"])
        self._esp_trigger_sync()
        return True

    def action_esp_disconnect(self):
        """Stop syncing. Odoo contacts and the remote address book stay as they are."""
        self.check_access("write")
        for mailing_list in self.filtered("esp_address_book_id").sudo():
            mailing_list._esp_forget_sync_state()
            mailing_list.esp_address_book_id.mailing_list_id = False
            mailing_list.write({"esp_address_book_id": False, "esp_create_contacts": False, "esp_sync_state": "never"})
        return True

    def action_esp_confirm_guard(self):
        """Confirm the mass change the guard stopped, and run the sync that applies it."""
        self.filtered(lambda mailing_list: mailing_list.esp_sync_state == "guard").write({"esp_guard_confirmed": True})
        return self.action_esp_synchronize()

    def action_esp_retry_rejected(self):
        """After fixing what the ESP rejected (RejectedByWatchdog), send the list's contacts again."""
        for mailing_list in self:
            members = self.env["esp.list.member"].search([("list_id", "=", mailing_list.id), ("state", "=", "rejected")])
            members.write({"state": "pending", "failure_reason": False, "batch_id": False})
            if mailing_list.esp_sync_state == "rejected":
                mailing_list.write({"esp_sync_state": "never", "esp_last_error": False})
        return self.action_esp_synchronize()

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
        if self.esp_address_book_id and self.esp_address_book_id != address_book:
            self_sudo._esp_forget_sync_state()
            self_sudo.esp_address_book_id.mailing_list_id = False
            self_sudo.write({"esp_sync_state": "never", "esp_address_book_id": False})
            # Free the old book before linking the new one: both sides are unique.
            self.env.flush_all()
        book_sudo.mailing_list_id = self
        self_sudo.write({"esp_address_book_id": address_book.id, "esp_create_contacts": create_contacts})
        self.env["esp.field.mapping"].sudo()._esp_create_defaults(book_sudo.account_id)
        self._esp_trigger_sync()

    def _esp_forget_sync_state(self):
        """Drop what the connector tracked for the current book (members, imports, watermarks)."""
        self.ensure_one()
        self.env["esp.list.member"].flush_model()
        self.env.cr.execute("DELETE FROM esp_list_member WHERE list_id = %s", [self.id])
        self.env["esp.list.member"].invalidate_model()
        self.env["esp.import.batch"].search([("list_id", "=", self.id)]).unlink()
        self.write({
            "esp_pull_watermark": False,
            "esp_optout_watermark": False,
            "esp_last_error": False,
            "esp_guard_confirmed": False,
        })

    def _esp_trigger_sync(self):
        cron = self.env.ref("campaign_esp_connector.ir_cron_esp_sync_contacts", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()

    # ------------------------------------------------------------
    # CRON
    # ------------------------------------------------------------

    @api.model
    def _cron_esp_sync_contacts(self):
        """Sync every connected list, account by account, within a time budget; the scheduler calls again
        while lists remain. An account already being synced by another worker is skipped this time."""
        deadline = time.monotonic() + CRON_BUDGET_SECONDS
        # A cycle syncs every connected list once. The scheduler calls again while lists remain; those calls
        # continue the cycle (lists attempted since it began are done), the next scheduled run starts anew.
        icp = self.env["ir.config_parameter"].sudo()
        domain = [("esp_address_book_id", "!=", False), ("esp_sync_state", "not in", ("rejected", "guard"))]
        order = "esp_last_attempt_datetime asc nulls first, id"
        cycle_start = fields.Datetime.to_datetime(icp.get_param("campaign_esp_connector.sync_cycle_start"))
        lists = self.browse()
        if cycle_start:
            lists = self.search(
                [*domain, "|", ("esp_last_attempt_datetime", "=", False), ("esp_last_attempt_datetime", "<", cycle_start)],
                order=order,
            )
        if not lists:
            icp.set_param("campaign_esp_connector.sync_cycle_start", fields.Datetime.to_string(fields.Datetime.now()))
            lists = self.search(domain, order=order)
        done = 0
        for account in lists.esp_account_id:
            if account.state != "connected" or not account._esp_try_lock():
                continue
            for mailing_list in lists.filtered(lambda ml, account=account: ml.esp_account_id == account):
                if time.monotonic() > deadline:
                    self.env["ir.cron"]._notify_progress(done=done, remaining=len(lists) - done)
                    return
                try:
                    with self.env.cr.savepoint():
                        log = mailing_list._esp_sync(trigger="cron")
                except Exception:
                    # A bug met on one list must not stall the others: record it and go on.
                    _logger.exception("ESP sync of mailing list %s (id %s) crashed", mailing_list.name, mailing_list.id)
                    mailing_list.write({
                        "esp_sync_state": "failed",
                        "esp_last_error": _("The sync stopped on an unexpected error; see the server log."),
                    })
                    done += 1
                    continue
                done += 1
                if log.state == "throttled":
                    break  # the account's allowance is used up: its other lists wait for the next run
        self.env["ir.cron"]._notify_progress(done=done, remaining=0)

    @api.model
    def _cron_esp_poll_imports(self):
        """Confirm finished imports soon after they were sent, between two full syncs."""
        lists = self.env["esp.import.batch"].search([("state", "=", "posted")]).list_id
        for account in lists.esp_account_id:
            if not account._esp_try_lock():
                continue
            for mailing_list in lists.filtered(lambda ml, account=account: ml.esp_account_id == account):
                mailing_list._esp_sync(trigger="cron", steps=("poll",))

    # ------------------------------------------------------------
    # SYNC ENGINE
    # ------------------------------------------------------------

    def _esp_sync(self, trigger="cron", steps=None):
        """Run one sync of this list and record it in a new ``esp.sync.log``.

        Steps run in order, each in its own savepoint: a step that fails is rolled back whole (its
        watermark included), the steps before it are kept. Throttling ends the run gracefully; the next run
        resumes where this one stopped, since every step starts from the database state.

        :param trigger: ``cron`` or ``manual``
        :param steps: names of the steps to run (all by default), see ``_esp_sync_steps``
        :return: the ``esp.sync.log`` of the run
        """
        self.ensure_one()
        account = self.esp_account_id
        log = self.env["esp.sync.log"].sudo().create({"list_id": self.id, "account_id": account.id, "trigger": trigger})
        started = time.monotonic()
        self.esp_last_attempt_datetime = fields.Datetime.now()
        state, message = "done", False
        try:
            with account._esp_client() as client:
                try:
                    state = self._esp_run_steps(client, log, steps)
                finally:
                    log.api_calls = client.stats.calls
        except providers.RateLimited as error:
            state, message = "throttled", account._esp_error_message(error)
        except providers.EspError as error:
            state, message = "failed", account._esp_error_message(error)
        except UserError as error:
            state, message = "failed", str(error)
        log.write({
            "state": state,
            "message": message or log.message,
            "end_datetime": fields.Datetime.now(),
            "duration": time.monotonic() - started,
        })
        list_values = {"esp_last_error": message or (log.message if state in ("guard", "rejected") else False)}
        if state in ("done", "partial"):
            list_values["esp_sync_state"] = "done"
            if not steps:  # a poll-only run does not make the list up to date
                list_values["esp_last_sync_datetime"] = log.end_datetime
        elif state in ("guard", "rejected"):
            list_values["esp_sync_state"] = state
        elif state == "failed":
            list_values["esp_sync_state"] = "failed"
        self.write(list_values)
        if message:
            _logger.warning("ESP sync of mailing list %s (id %s): %s", self.name, self.id, message)
        return log

    def _esp_sync_steps(self):
        """Ordered ``(name, method)`` pairs of a full run; extension point for other data to sync."""
        return [
            ("poll", self._esp_step_poll_imports),
            ("pull", self._esp_step_pull_contacts),
            ("optouts", self._esp_step_opt_outs),
            ("export", self._esp_step_export),
        ]

    def _esp_run_steps(self, client, log, only=None):
        state = "done"
        for name, step in self._esp_sync_steps():
            if only and name not in only:
                continue
            with self.env.cr.savepoint():
                outcome = step(client, log)
            if outcome in ("rejected", "guard"):
                return outcome
            if outcome == "partial":
                state = "partial"
        return state

    # -- poll imports ------------------------------------------------------------------------------------

    def _esp_step_poll_imports(self, client, log):
        """Follow imports in flight: confirm finished ones (after reading their faults), re-queue failed or
        stuck ones, stop the list on a watchdog rejection."""
        Member = self.env["esp.list.member"]
        outcome, confirmed = None, False
        for batch in self.env["esp.import.batch"].search([("list_id", "=", self.id), ("state", "=", "posted")]):
            job = client.get_import(batch.remote_id)
            batch.write({"poll_count": batch.poll_count + 1, "remote_status": job.status})
            if not job.is_finished:
                if batch.poll_count >= MAX_IMPORT_POLLS:
                    batch.state = "timeout"
                    self._esp_set_members(batch, "pending")
                    log._add_step(
                        _("Import %(id)s still not finished after %(count)s checks: gave up, its %(rows)s contacts "
                          "will be sent again.", id=batch.remote_id, count=batch.poll_count, rows=batch.row_count)
                    )
                else:
                    outcome = outcome or "partial"
                continue
            if job.status == "RejectedByWatchdog":
                batch.write({"state": "rejected", "done_datetime": fields.Datetime.now()})
                self._esp_set_members(batch, "rejected", _("Rejected by the ESP's watchdog"))
                log.message = _(
                    "The ESP's watchdog rejected import %(id)s (%(rows)s contacts): it suspects the list was not "
                    "collected with consent. Nothing is sent again automatically; contact the ESP, then use "
                    "“Retry Rejected” on the list.", id=batch.remote_id, rows=batch.row_count,
                )
                log._add_step(log.message)
                return "rejected"
            if job.state == providers.records.IMPORT_FAILED:
                batch.write({"state": "failed", "done_datetime": fields.Datetime.now()})
                self._esp_set_members(batch, "pending")
                log._add_step(_("Import %(id)s ended as %(status)s: its contacts will be sent again.",
                                id=batch.remote_id, status=job.status))
                continue
            self._esp_confirm_import(client, batch, log)
            confirmed = True
        if confirmed:
            # Our own imports changed these contacts at the ESP; re-reading them from the change feed would
            # cost a page per 1,000 rows for nothing. The next pull starts just after this confirmation
            # (watermark minus overlap; one more second because feed dates are whole seconds), so only edits
            # made at the ESP between the previous pull and now are not read back; unsubscribes and
            # suppressions come from their own feeds and are never skipped.
            confirmed_at = _utc_naive(client.server_time()) + PULL_OVERLAP + timedelta(seconds=1)
            self.esp_pull_watermark = max(self.esp_pull_watermark or FEED_EPOCH, confirmed_at)
        Member.invalidate_model()
        return outcome

    def _esp_confirm_import(self, client, batch, log):
        faults = {}
        for fault in client.iter_import_faults(batch.remote_id):
            if fault.email:
                faults[fault.email.strip().lower()] = fault.reason or ""
        now = fields.Datetime.now()
        cr = self.env.cr
        cr.execute(
            """
            UPDATE esp_list_member
               SET state = 'synced', confirmed_hash = sent_hash, exported_datetime = %(now)s,
                   failure_reason = NULL
             WHERE batch_id = %(batch)s AND NOT (email = ANY(%(faulty)s))
            """,
            {"now": now, "batch": batch.id, "faulty": list(faults)},
        )
        exported = cr.rowcount
        opt_outs = {email: reason for email, reason in faults.items() if reason.lower() not in INVALID_FAULTS}
        invalid = {email: reason for email, reason in faults.items() if email not in opt_outs}
        if invalid:
            execute_values(
                cr,
                """
                UPDATE esp_list_member m SET state = 'failed', failure_reason = v.reason, batch_id = NULL
                  FROM (VALUES %s) AS v(batch_id, email, reason)
                 WHERE m.batch_id = v.batch_id AND m.email = v.email
                """,
                [(batch.id, email, reason) for email, reason in invalid.items()],
            )
            log._add_lines(invalid.items())
        if opt_outs:
            # The ESP refused them as unsubscribed or suppressed: they must not be mailed from Odoo either.
            self._esp_apply_opt_outs([(email, reason, None, False) for email, reason in opt_outs.items()], log)
        batch.write({"state": "done", "fault_count": len(faults), "done_datetime": now})
        log.exported += exported
        log.failed += len(invalid)
        log._add_step(_("Import %(id)s confirmed: %(ok)s exported, %(faults)s refused.",
                        id=batch.remote_id, ok=exported, faults=len(faults)))

    def _esp_set_members(self, batch, state, reason=None):
        self.env["esp.list.member"].flush_model()
        self.env.cr.execute(
            "UPDATE esp_list_member SET state = %s, failure_reason = %s, batch_id = NULL WHERE batch_id = %s",
            [state, reason, batch.id],
        )
        self.env["esp.list.member"].invalidate_model()

    # -- pull contact changes ----------------------------------------------------------------------------

    def _esp_step_pull_contacts(self, client, log):
        """Upsert contacts changed at the ESP since the last successful pull.

        Newer side wins: a two-way field changed at the ESP overwrites Odoo unless the Odoo contact was
        modified after the previous pull (then Odoo's value is newer and goes out with the next export).
        """
        watermark = _utc_naive(client.server_time())
        since = self.esp_pull_watermark - PULL_OVERLAP if self.esp_pull_watermark else FEED_EPOCH
        book = self.esp_address_book_id.remote_id
        mappings = self.esp_account_id.field_mapping_ids
        two_way = mappings.filtered("two_way")
        chunk, seen = [], 0
        for contact in client.iter_book_contacts_modified_since(book, since, with_full_data=bool(two_way)):
            chunk.append(contact)
            if len(chunk) >= PULL_CHUNK:
                self._esp_pull_chunk(chunk, two_way, mappings, log)
                seen += len(chunk)
                chunk = []
        if chunk:
            self._esp_pull_chunk(chunk, two_way, mappings, log)
            seen += len(chunk)
        self.esp_pull_watermark = max(watermark, self.esp_pull_watermark or FEED_EPOCH)
        log._add_step(_("%(count)s contacts changed at the ESP since %(since)s.", count=seen, since=since))

    def _esp_pull_chunk(self, contacts, two_way, mappings, log):
        by_email = {}
        for contact in contacts:
            if contact.email:
                by_email[contact.email.strip().lower()] = contact
        cr = self.env.cr
        self.env["esp.list.member"].flush_model()
        # Learn the ESP ids of members (needed to remove them from the book later).
        execute_values(
            cr,
            """
            UPDATE esp_list_member m SET remote_contact_id = v.remote_id
              FROM (VALUES %s) AS v(list_id, email, remote_id)
             WHERE m.list_id = v.list_id AND m.email = v.email
               AND m.remote_contact_id IS DISTINCT FROM v.remote_id
            """,
            [(self.id, email, str(contact.id)) for email, contact in by_email.items() if contact.id is not None],
        )
        self.env["esp.list.member"].invalidate_model(["remote_contact_id"])
        cr.execute(
            """
            SELECT DISTINCT ON (c.email_normalized) c.email_normalized, c.id, c.write_date
              FROM mailing_subscription s
              JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = %s AND c.email_normalized = ANY(%s)
          ORDER BY c.email_normalized, c.id
            """,
            [self.id, list(by_email)],
        )
        members = {email: (contact_id, write_date) for email, contact_id, write_date in cr.fetchall()}
        if two_way:
            self._esp_pull_two_way(by_email, members, two_way, log)
        if self.esp_create_contacts:
            unknown = {email: contact for email, contact in by_email.items()
                       if email not in members and contact.sendable}
            if unknown:
                self._esp_create_contacts_from_esp(unknown, mappings, log)

    def _esp_pull_two_way(self, by_email, members, two_way, log):
        Contact = self.env["mailing.contact"]
        odoo_newer_than = self.esp_pull_watermark or FEED_EPOCH
        contacts = Contact.browse([contact_id for contact_id, _write_date in members.values()])
        contacts.fetch(["name", "first_name", "last_name", "company_name"])
        for email, (contact_id, write_date) in members.items():
            remote = by_email[email].data_fields
            if not remote or write_date > odoo_newer_than:
                continue
            record = Contact.browse(contact_id)
            changes = {}
            for mapping in two_way:
                if mapping.data_field_name not in remote:
                    continue
                value = remote[mapping.data_field_name]
                value = "" if value is None else str(value)
                if (record[mapping.source] or "") != value:
                    changes[mapping.source] = value or False
            if changes:
                record.write(changes)
                log.updated += 1

    def _esp_create_contacts_from_esp(self, unknown, mappings, log):
        """Add contacts new at the ESP to this list (two-way lists only), reusing existing Odoo contacts."""
        Contact = self.env["mailing.contact"].with_context(mail_create_nolog=True, mail_create_nosubscribe=True)
        existing = Contact.with_context(active_test=False).search([("email_normalized", "in", list(unknown))])
        by_email = {}
        for contact in existing:
            by_email.setdefault(contact.email_normalized, contact)
        self.env["mailing.subscription"].create(
            [{"contact_id": contact.id, "list_id": self.id} for contact in by_email.values()]
        )
        to_create = []
        for email, remote in unknown.items():
            if email in by_email:
                continue
            values = {"email": remote.email, "subscription_ids": [fields.Command.create({"list_id": self.id})]}
            for mapping in mappings.filtered(lambda m: m.source in ("name", "first_name", "last_name", "company_name")):
                value = remote.data_fields.get(mapping.data_field_name)
                if value:
                    values[mapping.source] = str(value)
            values.setdefault("name", remote.email)
            to_create.append(values)
        created = Contact.create(to_create)
        log.created += len(created)
        added = created | self.env["mailing.contact"].browse([c.id for c in by_email.values()])
        # They came from the book: record them as synced so the next export does not send them back.
        self._esp_record_synced(added)

    def _esp_record_synced(self, contacts):
        self.env.flush_all()
        export = self.esp_account_id.field_mapping_ids._esp_exporter()
        rows = []
        for row in self._esp_member_rows(contact_ids=contacts.ids):
            values, _problems = export(row)
            digest = _values_hash(values)
            rows.append((self.id, row["contact_id"], row["email"], "synced", digest, digest, row["write_date"], None))
        self._esp_upsert_members(rows)

    # -- opt-outs, removals ------------------------------------------------------------------------------

    def _esp_step_opt_outs(self, client, log):
        """Bring ESP unsubscribes and suppressions into Odoo, push Odoo opt-outs to the ESP, and remove from
        the book the members that left the list; all behind the mass change guard."""
        watermark = _utc_naive(client.server_time())
        since = self.esp_optout_watermark - PULL_OVERLAP if self.esp_optout_watermark else FEED_EPOCH
        book = self.esp_address_book_id.remote_id
        incoming = [
            (row.email.strip().lower(), row.reason or _("Unsubscribed"), _utc_naive(row.removed_at), False)
            for row in client.iter_book_unsubscribed_since(book, since) if row.email
        ] + [
            (row.email.strip().lower(), row.reason or _("Suppressed"), _utc_naive(row.removed_at), True)
            for row in client.iter_suppressed_since(since) if row.email
        ]
        incoming = self._esp_filter_subscribed(incoming)
        outgoing = self._esp_odoo_opt_outs()
        removals = self._esp_removed_members()
        changes = len({row[0] for row in incoming}) + len(outgoing) + len(removals)
        if self._esp_guard_stops(changes, log, incoming, outgoing, removals):
            return "guard"
        self._esp_apply_opt_outs(incoming, log)
        self._esp_push_opt_outs(client, outgoing, log)
        self._esp_remove_members(client, removals, log)
        self.esp_optout_watermark = max(watermark, self.esp_optout_watermark or FEED_EPOCH)
        if self.esp_guard_confirmed:
            self.esp_guard_confirmed = False
        return None

    def _esp_filter_subscribed(self, incoming):
        """Keep the ESP opt-outs of emails subscribed to this list in Odoo (others are already done)."""
        if not incoming:
            return []
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT DISTINCT c.email_normalized
              FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = %s AND s.opt_out IS NOT TRUE AND c.email_normalized = ANY(%s)
            """,
            [self.id, list({row[0] for row in incoming})],
        )
        subscribed = {row[0] for row in self.env.cr.fetchall()}
        return [row for row in incoming if row[0] in subscribed]

    def _esp_guard_stops(self, changes, log, incoming, outgoing, removals):
        if self.esp_guard_confirmed or changes <= GUARD_MIN_CONTACTS:
            return False
        threshold = float(
            self.env["ir.config_parameter"].sudo().get_param("campaign_esp_connector.guard_threshold", 5)
        )
        size = self.contact_count or 1
        if changes * 100.0 / size <= threshold:
            return False
        log.message = _(
            "This sync would change %(changes)s of the %(size)s contacts of the list (more than %(threshold)s%%): "
            "%(esp_optouts)s opt-outs from the ESP, %(odoo_optouts)s unsubscribes to send to the ESP and "
            "%(removals)s removals from the address book. Nothing was changed; confirm on the list to apply them.",
            changes=changes,
            size=size,
            threshold=threshold,
            esp_optouts=len({row[0] for row in incoming}),
            odoo_optouts=len(outgoing),
            removals=len(removals),
        )
        log._add_step(log.message)
        return True

    def _esp_apply_opt_outs(self, incoming, log):
        """Opt out of this list the emails the ESP unsubscribed or suppressed.

        :param incoming: list of ``(email, reason, esp_datetime or None, suppressed)``; ``suppressed`` means
            account-wide (hard bounce, complaint, ...) and blacklists the email when the setting says so
        """
        if not incoming:
            return
        self.env.flush_all()
        cr = self.env.cr
        reason = self.env.ref("campaign_esp_connector.mailing_subscription_optout_esp", raise_if_not_found=False)
        latest = {}
        for email, why, when, suppressed in incoming:
            latest[email] = (why, when, suppressed)
        cr.execute(
            """
            SELECT s.id, c.email_normalized, COALESCE(s.write_date, s.create_date, 'epoch'::timestamp)
              FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = %s AND s.opt_out IS NOT TRUE AND c.email_normalized = ANY(%s)
            """,
            [self.id, list(latest)],
        )
        updates, conflicts = [], []
        now = fields.Datetime.now()
        for subscription_id, email, write_date in cr.fetchall():
            why, when, _suppressed = latest[email]
            if when and write_date > when:
                # Odoo re-subscribed (or changed) this membership after the ESP's opt-out: report, don't undo.
                conflicts.append((email, _("kept subscribed: Odoo's subscription is newer than the ESP's "
                                           "opt-out (%(reason)s)", reason=why)))
                continue
            updates.append((subscription_id, when or now))
        if updates:
            execute_values(
                cr,
                """
                UPDATE mailing_subscription s
                   SET opt_out = TRUE, opt_out_datetime = v.at, opt_out_reason_id = v.reason_id, write_date = now()
                  FROM (VALUES %s) AS v(id, at, reason_id) WHERE s.id = v.id
                """,
                [(subscription_id, at, reason.id if reason else None) for subscription_id, at in updates],
            )
            self.env["mailing.subscription"].invalidate_model()
        opted = [email for email in latest if email not in {c[0] for c in conflicts}]
        self._esp_mark_members(opted, "opted_out")
        blacklist = self.env["ir.config_parameter"].sudo().get_param("campaign_esp_connector.blacklist_suppressed")
        if blacklist:
            for email, (why, _when, suppressed) in latest.items():
                if suppressed:
                    self.env["mail.blacklist"].sudo()._add(
                        email, message=_("Suppressed at the ESP: %(reason)s", reason=why)
                    )
        log.opted_out += len(updates)
        if conflicts:
            log._add_lines(conflicts)
        log._add_step(_("%(count)s opt-outs from the ESP applied, %(conflicts)s kept (Odoo newer).",
                        count=len(updates), conflicts=len(conflicts)))

    def _esp_mark_members(self, emails, state):
        if not emails:
            return
        self.env["esp.list.member"].flush_model()
        self.env.cr.execute(
            "UPDATE esp_list_member SET state = %s, batch_id = NULL WHERE list_id = %s AND email = ANY(%s)",
            [state, self.id, list(emails)],
        )
        self.env["esp.list.member"].invalidate_model()

    def _esp_odoo_opt_outs(self):
        """Members opted out or blacklisted in Odoo that the ESP still has subscribed: ``[(id, email)]``.

        Driven from the few opted-out subscriptions and blacklist entries, then matched to members by the
        (list, email) unique index: no scan of every member.
        """
        self.env.flush_all()
        self.env.cr.execute(
            """
            WITH gone AS (
                SELECT c.email_normalized AS email
                  FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
                 WHERE s.list_id = %(list)s AND s.opt_out AND c.email_normalized IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM mailing_contact c2
                                     JOIN mailing_subscription s2 ON s2.contact_id = c2.id AND s2.list_id = %(list)s
                                    WHERE c2.email_normalized = c.email_normalized AND s2.opt_out IS NOT TRUE)
                 UNION
                SELECT b.email FROM mail_blacklist b WHERE b.active
            )
            SELECT m.id, m.email FROM gone JOIN esp_list_member m ON m.list_id = %(list)s AND m.email = gone.email
             WHERE m.state IN ('synced', 'exporting', 'pending', 'failed')
          ORDER BY m.id LIMIT %(limit)s
            """,
            {"list": self.id, "limit": MAX_UNSUBSCRIBES_PER_RUN},
        )
        return self.env.cr.fetchall()

    def _esp_push_opt_outs(self, client, outgoing, log):
        book = self.esp_address_book_id.remote_id
        for _member_id, email in outgoing:
            try:
                client.unsubscribe_from_book(book, email)
            except providers.NotFound:
                pass  # never reached the book: nothing to unsubscribe
        self._esp_mark_members([email for _member_id, email in outgoing], "opted_out")
        if outgoing:
            log._add_step(_("%(count)s Odoo opt-outs unsubscribed at the ESP.", count=len(outgoing)))

    def _esp_removed_members(self):
        """Members whose email no longer belongs to the list in Odoo: ``[(id, email, remote id or None)]``."""
        self.env.flush_all()
        self.env.cr.execute(
            """
            -- EXCEPT is computed once by hashing or sorting whatever the planner's estimates: an anti-join
            -- planned on stale statistics (right after a bulk export) can turn into a nested loop.
            SELECT m.id, m.email, m.remote_contact_id FROM esp_list_member m
             WHERE m.list_id = %(list)s AND m.state != 'exporting'
               AND m.email IN (SELECT email FROM esp_list_member WHERE list_id = %(list)s
                               EXCEPT
                               SELECT COALESCE(c.email_normalized, lower(trim(c.email)))
                                 FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
                                WHERE s.list_id = %(list)s)
            """,
            {"list": self.id},
        )
        return self.env.cr.fetchall()

    def _esp_remove_members(self, client, removals, log):
        if not removals:
            return
        book = self.esp_address_book_id.remote_id
        remote_ids, forget, lookups = [], [], 0
        for member_id, email, remote_id in removals:
            if not remote_id and lookups < MAX_LOOKUPS_PER_RUN:
                lookups += 1
                contact = client.get_contact(email)
                remote_id = contact and contact.id
                if not contact:
                    forget.append(member_id)  # not at the ESP: nothing to remove
                    continue
            if remote_id:
                remote_ids.append(remote_id)
                forget.append(member_id)
        if remote_ids:
            client.remove_contacts_from_book(book, remote_ids)
        if forget:
            self.env.cr.execute("DELETE FROM esp_list_member WHERE id = ANY(%s)", [forget])
            self.env["esp.list.member"].invalidate_model()
        log.removed += len(remote_ids)
        log._add_step(_("%(count)s contacts removed from the address book.", count=len(remote_ids)))

    # -- export -----------------------------------------------------------------------------------------

    def _esp_member_rows(self, contact_ids=None, after_id=0, limit=None, changed_only=False):
        """Subscribed contacts of this list with what the export needs, one dict per email.

        :param contact_ids: only these contacts
        :param after_id: keyset paging on contact id
        :param changed_only: only contacts new to the sync, pending, or modified since last checked
        """
        where = ["s.list_id = %(list)s", "s.opt_out IS NOT TRUE", "s.contact_id > %(after)s",
                 "NOT EXISTS (SELECT 1 FROM mail_blacklist b WHERE b.email = c.email_normalized AND b.active)"]
        if contact_ids is not None:
            where.append("c.id = ANY(%(ids)s)")
        if changed_only:
            where.append(
                "(m.id IS NULL OR m.state = 'pending' OR (m.state = 'synced' AND "
                "(m.confirmed_hash IS NULL OR c.write_date IS DISTINCT FROM m.checked_datetime)))"
            )
        # Only fixed fragments are joined into the query; every value is a parameter.
        query = """
            SELECT c.id AS contact_id, c.email_normalized IS NOT NULL AS valid,
                   COALESCE(c.email_normalized, lower(trim(c.email))) AS email, c.email AS raw_email,
                   c.name, c.first_name, c.last_name, c.company_name, c.mobile, c.write_date,
                   co.code AS country_code, co.name->>'en_US' AS country_name,
                   m.id AS member_id, m.confirmed_hash
              FROM mailing_subscription s
              JOIN mailing_contact c ON c.id = s.contact_id
         LEFT JOIN res_country co ON co.id = c.country_id
         LEFT JOIN esp_list_member m
                ON m.list_id = s.list_id AND m.email = COALESCE(c.email_normalized, lower(trim(c.email)))
             WHERE {where}
          ORDER BY s.contact_id
        """.format(where=" AND ".join(where))  # noqa: S608
        if limit:
            query += " LIMIT %(limit)s"
        self.env.cr.execute(query, {"list": self.id, "after": after_id, "ids": contact_ids, "limit": limit})
        columns = [desc[0] for desc in self.env.cr.description]
        return [dict(zip(columns, row, strict=False)) for row in self.env.cr.fetchall()]

    def _esp_step_export(self, client, log):
        """Send new and changed subscribers as bulk CSV imports, ``rows_per_file`` rows each."""
        account = self.esp_account_id
        in_flight = self.env["esp.import.batch"].search_count(
            [("account_id", "=", account.id), ("state", "=", "posted")]
        )
        rows_per_file = int(
            self.env["ir.config_parameter"].sudo().get_param("campaign_esp_connector.rows_per_file", 10000)
        )
        mappings = account.field_mapping_ids
        header = ["Email", *mappings.mapped("data_field_name")]
        export = mappings._esp_exporter()
        self.env.flush_all()
        pending_file, unchanged, problems, seen_emails = None, [], [], set()
        invalid_email = _("invalid email address")
        outcome, after_id = None, 0
        while True:
            rows = self._esp_member_rows(after_id=after_id, limit=EXPORT_PAGE, changed_only=True)
            if not rows:
                break
            after_id = rows[-1]["contact_id"]
            for row in rows:
                email = row["email"]
                if not email or email in seen_emails:
                    continue  # the same email twice in a list is one ESP contact
                seen_emails.add(email)
                if not row["valid"]:
                    problems.append((email, invalid_email))
                    unchanged.append((self.id, row["contact_id"], email, "failed", None, None, row["write_date"], None))
                    continue
                values, row_problems = export(row)
                problems.extend((email, problem) for problem in row_problems)
                digest = _values_hash(values)
                if row["confirmed_hash"] == digest:
                    unchanged.append((self.id, row["contact_id"], email, "synced", digest, digest, row["write_date"], None))
                    continue
                if in_flight >= MAX_IMPORTS_IN_FLIGHT:
                    outcome = "partial"
                    continue
                if pending_file is None:
                    pending_file = _ExportFile(header)
                pending_file.add(row["contact_id"], email, [email, *values.values()], digest, row["write_date"])
                if len(pending_file) >= rows_per_file:
                    self._esp_post_import(client, pending_file, log)
                    pending_file, in_flight = None, in_flight + 1
            self._esp_upsert_members(unchanged, keep_state=True)
            unchanged = []
        if pending_file:
            self._esp_post_import(client, pending_file, log)
        if problems:
            log._add_lines(problems[:1000])
            log.failed += sum(1 for _email, problem in problems if problem == invalid_email)
        if outcome == "partial":
            log._add_step(_("The ESP's limit of %(max)s imports in flight is reached: the rest goes out next run.",
                            max=MAX_IMPORTS_IN_FLIGHT))
        return outcome

    def _esp_post_import(self, client, export_file, log):
        book = self.esp_address_book_id.remote_id
        with export_file:
            job = client.start_import(book, export_file.fileobj, filename=f"odoo-list-{self.id}.csv")
        batch = self.env["esp.import.batch"].create({
            "list_id": self.id,
            "account_id": self.esp_account_id.id,
            "remote_id": job.id,
            "remote_status": job.status,
            "row_count": len(export_file),
        })
        self._esp_upsert_members(
            [(self.id, contact_id, email, "exporting", digest, None, write_date, batch.id)
             for contact_id, email, digest, write_date in export_file.members]
        )
        log._add_step(_("Import %(id)s sent with %(rows)s contacts.", id=job.id, rows=len(export_file)))
        poll_cron = self.env.ref("campaign_esp_connector.ir_cron_esp_poll_imports", raise_if_not_found=False)
        if poll_cron:
            poll_cron.sudo()._trigger(fields.Datetime.now() + timedelta(minutes=1))

    def _esp_upsert_members(self, rows, keep_state=False):
        """Insert or update member rows in one statement.

        :param rows: tuples ``(list_id, contact_id, email, state, sent_hash, confirmed_hash, checked, batch_id)``
        :param keep_state: only refresh ``checked_datetime`` (and ``contact_id``) of existing rows
        """
        if not rows:
            return
        self.env["esp.list.member"].flush_model()
        if keep_state:
            # Unchanged values: a member waiting to go out again (after a failed import) whose values the
            # ESP already confirmed is simply synced.
            update = """checked_datetime = EXCLUDED.checked_datetime,
                        state = CASE WHEN esp_list_member.state = 'pending' AND EXCLUDED.state = 'synced'
                                     THEN 'synced' ELSE esp_list_member.state END"""
        else:
            update = """state = EXCLUDED.state, sent_hash = EXCLUDED.sent_hash,
                        confirmed_hash = COALESCE(EXCLUDED.confirmed_hash, esp_list_member.confirmed_hash),
                        checked_datetime = EXCLUDED.checked_datetime, batch_id = EXCLUDED.batch_id,
                        failure_reason = NULL"""
        execute_values(
            self.env.cr,
            # ``update`` is one of the two fixed fragments above.
            f"""
            INSERT INTO esp_list_member (list_id, email, state, sent_hash, confirmed_hash, checked_datetime, batch_id)
            VALUES %s
            ON CONFLICT (list_id, email) DO UPDATE SET {update}
            """,  # noqa: S608
            [(list_id, *rest) for list_id, _contact_id, *rest in rows],
            page_size=5000,
        )
        self.env["esp.list.member"].invalidate_model()


class _ExportFile:
    """A CSV file of one import, spooled to disk past 8 MB, with the members it carries."""

    def __init__(self, header):
        self.fileobj = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b")
        self._text = _TextWriter(self.fileobj)
        # Quote every cell: values starting with = + - @ or holding commas and newlines reach the ESP verbatim.
        self._writer = csv.writer(self._text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        self._writer.writerow(header)
        self.members = []

    def add(self, contact_id, email, cells, digest, write_date):
        self._writer.writerow(cells)
        self.members.append((contact_id, email, digest, write_date))

    def __len__(self):
        return len(self.members)

    def __enter__(self):
        self.fileobj.seek(0)
        return self

    def __exit__(self, *exc_info):
        self.fileobj.close()


class _TextWriter:
    """Minimal text-to-bytes adapter for csv.writer over a binary spooled file."""

    def __init__(self, fileobj):
        self._fileobj = fileobj

    def write(self, text):
        return self._fileobj.write(text.encode("utf-8"))
