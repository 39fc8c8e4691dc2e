import json
import logging

import psycopg2.errors
from markupsafe import Markup
from psycopg2.extras import execute_values

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .. import providers
from ..sync.words import account_status_words
from .esp_address_book import check_esp_manager

_logger = logging.getLogger(__name__)

# Created by init(), dropped by the uninstall hook.
REMOVAL_TRIGGERS = (
    ("esp_list_member_subscription_removed", "mailing_subscription"),
    ("esp_list_member_email_changed", "mailing_contact"),
)
REMOVAL_TRIGGERS_SQL = """
-- The list and the contact must still exist: a list being deleted takes its member rows with it and must
-- not gain new ones (a deleted contact is recorded by mailing.contact.unlink, before its cascade).
CREATE OR REPLACE FUNCTION esp_list_member_subscription_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO esp_list_member (list_id, email, state)
    SELECT DISTINCT o.list_id, COALESCE(c.email_normalized, lower(trim(c.email))), 'removing'
      FROM removed_rows o
      JOIN mailing_list l ON l.id = o.list_id
      JOIN esp_address_book b ON b.mailing_list_id = o.list_id
      JOIN mailing_contact c ON c.id = o.contact_id
     WHERE COALESCE(c.email_normalized, lower(trim(c.email))) IS NOT NULL
    ON CONFLICT (list_id, email) DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION esp_list_member_email_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO esp_list_member (list_id, email, state)
    SELECT DISTINCT s.list_id, COALESCE(o.email_normalized, lower(trim(o.email))), 'removing'
      FROM old_rows o
      JOIN new_rows n ON n.id = o.id
      JOIN mailing_subscription s ON s.contact_id = o.id
      JOIN esp_address_book b ON b.mailing_list_id = s.list_id
     WHERE COALESCE(o.email_normalized, lower(trim(o.email))) IS NOT NULL
       AND COALESCE(o.email_normalized, lower(trim(o.email)))
           IS DISTINCT FROM COALESCE(n.email_normalized, lower(trim(n.email)))
    ON CONFLICT (list_id, email) DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS esp_list_member_subscription_removed ON mailing_subscription;
CREATE TRIGGER esp_list_member_subscription_removed AFTER DELETE ON mailing_subscription
    REFERENCING OLD TABLE AS removed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION esp_list_member_subscription_removed();

DROP TRIGGER IF EXISTS esp_list_member_email_changed ON mailing_contact;
CREATE TRIGGER esp_list_member_email_changed AFTER UPDATE ON mailing_contact
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION esp_list_member_email_changed();
"""


# Percent of each page filled by inserts: the rest takes the version a confirmation writes of each row (see init).
FILLFACTOR = 50


class EspListMember(models.Model):
    """What the connector knows about one email of a connected mailing list at the ESP.

    One row per (list, email), written in bulk by the sync engine through the transition methods below, the
    only code that changes ``state``:

    * ``pending`` (must go out) -> ``exporting`` (in an import the ESP has not confirmed): :meth:`_esp_to_exporting`
    * ``exporting`` -> ``synced`` (``confirmed_hash`` equals what the ESP holds) or ``failed``: :meth:`_esp_confirm`
    * ``exporting``/``failed``/``rejected`` -> ``pending`` or ``rejected``: :meth:`_esp_requeue`
    * any -> ``opted_out`` / ``failed``: :meth:`_esp_mark`; rows whose email left the list: :meth:`_esp_forget`
    * none -> ``removing``: an email that left the list before the connector tracked it (never exported, or
      carried by an import whose answer was lost). Written by database triggers (see :meth:`init`), so the
      removal step looks for it in the book and the pull never takes it for a contact new at the ESP.

    ``failed`` and ``rejected`` rows always carry the reason. Users read these rows; only the engine writes them.
    """

    _name = "esp.list.member"
    _description = "ESP Address Book Member"
    _order = "list_id, email"
    _rec_name = "email"
    # Technical rows written in bulk (100,000s at a time): no audit columns, fewer indexes and foreign keys.
    _log_access = False

    # Indexed through the (list_id, email) unique constraint.
    list_id = fields.Many2one("mailing.list", string="Mailing List", required=True, ondelete="cascade")
    # Found by email when displayed: a stored link would cost an index and a foreign key on every bulk write.
    contact_id = fields.Many2one(
        "mailing.contact", string="Contact", compute="_compute_contact_id", search="_search_contact_id"
    )
    email = fields.Char(required=True, readonly=True, help="Normalized (lower-case) email address.")
    support_resubscribe = fields.Boolean(related="list_id.esp_account_id.support_resubscribe")
    remote_contact_id = fields.Char(string="ESP Contact ID", readonly=True)
    state = fields.Selection(
        [
            ("pending", "Pending Export"),
            ("exporting", "Exporting"),
            ("synced", "Synced"),
            ("failed", "Failed"),
            ("opted_out", "Opted Out"),
            ("rejected", "Rejected"),
            ("removing", "Removal Pending"),
        ],
        default="pending",
        required=True,
        readonly=True,
    )
    # The import carrying the member, as a plain id: a foreign key is checked row by row, and this column is
    # written for every member an import carries (3.5 s a million on a first export). esp.import.batch.unlink
    # clears it, as "ondelete set null" did; import_batch_id shows it.
    batch_id = fields.Integer(string="Import ID", readonly=True, index="btree_not_null")
    import_batch_id = fields.Many2one("esp.import.batch", string="Import", compute="_compute_import_batch_id")
    sent_hash = fields.Char(readonly=True)
    confirmed_hash = fields.Char(readonly=True)
    # The contact's write_date when its values were last hashed: a different one means "look again". An equality
    # test, not "modified after", so a change committed by a transaction that started before a sync is seen.
    checked_datetime = fields.Datetime(string="Contact Version Checked", readonly=True)
    exported_datetime = fields.Datetime(string="Last Confirmed Export", readonly=True)
    failure_reason = fields.Char(readonly=True)
    # The ESP's status (HardBounced) in people's words; failure_reason keeps the ESP's word, which code compares.
    failure_reason_words = fields.Char(string="Why", compute="_compute_failure_reason_words")
    # An Odoo opt-out made after this moment is sent again: the ESP may have gained the address since (a person
    # added it to the book), and a row that merely says "opted_out" would hide the new opt-out.
    opted_out_datetime = fields.Datetime(string="Opted Out Since", readonly=True)
    listed_datetime = fields.Datetime(
        string="Last Seen in the Book", readonly=True,
        help="Start of the last complete reading of the address book that listed this email.",
    )

    _sql_constraints = [
        ("list_email_uniq", "unique(list_id, email)", "An email is tracked once per mailing list."),
    ]

    def init(self):
        # Members waiting for a person or for an export (pending, failed, rejected) are looked for on every run
        # and counted on every list's form: a few rows among a million synced ones, found from a small index.
        # That index must not mention ``state``: PostgreSQL updates a row in place (a HOT update, no new
        # index entry) only when no indexed column changes, and the confirmation of an import changes the state
        # of every member it carried (a million on a first export, two fifths of its PostgreSQL time before).
        # So the index is on a generated copy of the state, NULL for exporting and synced rows alike, and the
        # table leaves room in each page for the confirmed versions (fillfactor). Exporting rows are found
        # through their import (see _esp_has_unsent).
        cr = self.env.cr
        cr.execute("DROP INDEX IF EXISTS esp_list_member_todo_index")
        cr.execute("DROP INDEX IF EXISTS esp_list_member_failed_index")
        cr.execute("SELECT 1 FROM pg_attribute WHERE attrelid = 'esp_list_member'::regclass AND attname = 'attention'")
        if not cr.fetchone():
            cr.execute(
                "ALTER TABLE esp_list_member ADD COLUMN attention varchar GENERATED ALWAYS AS "
                "(CASE WHEN state IN ('pending', 'failed', 'rejected') THEN state END) STORED"
            )
        cr.execute(
            "CREATE INDEX IF NOT EXISTS esp_list_member_attention_index ON esp_list_member (list_id, attention) "
            "WHERE attention IS NOT NULL"
        )
        cr.execute("SELECT reloptions FROM pg_class WHERE oid = 'esp_list_member'::regclass")
        if f"fillfactor={FILLFACTOR}" not in (cr.fetchone()[0] or []):
            cr.execute(f"ALTER TABLE esp_list_member SET (fillfactor = {FILLFACTOR})")
        # Memberships leave a list by many roads: mailing.subscription.unlink, many2many writes from either
        # side (raw SQL on the relation table), a contact's email changed, a contact deleted. An email the
        # connector never tracked would leave no trace, yet the ESP may hold it; statement triggers record a
        # "removing" row, one INSERT per statement whatever its size. (A deleted contact's subscriptions go by
        # cascade after the contact row, too late to read its email: mailing.contact.unlink records those.)
        self.env.cr.execute(REMOVAL_TRIGGERS_SQL)

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    @api.depends("email", "list_id.name")
    def _compute_display_name(self):
        for member in self:
            member.display_name = _("%(email)s (%(list)s)", email=member.email, list=member.list_id.name)

    def _compute_import_batch_id(self):
        batches = self.env["esp.import.batch"].browse(set(self.mapped("batch_id")) - {0}).exists()
        for member in self:
            member.import_batch_id = member.batch_id if member.batch_id in batches.ids else False

    @api.depends("failure_reason", "list_id.esp_account_id.provider")
    @api.depends_context("lang")
    def _compute_failure_reason_words(self):
        for member in self:
            member.failure_reason_words = account_status_words(
                self.env, member.list_id.esp_account_id, member.failure_reason)

    def _compute_contact_id(self):
        contacts = self.env["mailing.contact"].search([
            ("email_normalized", "in", self.mapped("email")), ("list_ids", "in", self.list_id.ids),
        ])
        by_key = {}
        for contact in contacts:
            for mailing_list in contact.list_ids:
                by_key.setdefault((mailing_list.id, contact.email_normalized), contact)
        for member in self:
            member.contact_id = by_key.get((member.list_id.id, member.email), False)

    def _search_contact_id(self, operator, value):
        # Members are keyed by email: find the contacts first (by id or by name), then their emails.
        if operator in ("=", "!=") and not value:
            # Every member has a contact while its list holds the email: "no contact" matches nothing.
            return [("id", "=", 0)] if operator == "=" else []
        if isinstance(value, str) or operator in ("ilike", "not ilike", "like", "=like", "=ilike"):
            contacts = self.env["mailing.contact"].search([("name", "ilike" if "ilike" in operator else operator, value)])
            negate = operator.startswith("not")
        else:
            ids = value if isinstance(value, list | tuple | set) else [value]
            contacts = self.env["mailing.contact"].browse([int(cid) for cid in ids if cid]).exists()
            negate = operator in ("!=", "not in")
        emails = [email for email in contacts.mapped("email_normalized") if email]
        return [("email", "not in" if negate else "in", emails)]

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    @api.model
    def get_empty_list_help(self, help_message):
        """An empty list says why, truly: nothing tracked at all, no failed contact (opened from a failed
        counter), or filters that match none of the tracked contacts."""
        if not self.search([], limit=1):
            return super().get_empty_list_help(help_message)
        if self.env.context.get("search_default_filter_failed"):
            title = _("No failed contact: every tracked contact reached the ESP")
            body = _("Remove the Failed filter to see the tracked contacts, whatever their state.")
        else:
            title = _("No tracked contact matches these filters")
            body = _("Contacts are tracked at the ESP: remove or change the filters to see them.")
        return super().get_empty_list_help(
            Markup('<p class="o_view_nocontent_smiling_face">%s</p><p>%s</p>') % (title, body))

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_retry(self):
        """Send failed or rejected members again at the next sync, and say how many."""
        # Users may ask for a retry on the lists they may edit; the bookkeeping itself is the engine's.
        self.list_id.check_access("write")
        members = self.sudo().filtered(lambda member: member.state in ("failed", "rejected"))
        members._esp_requeue_ids(members.ids)
        self.list_id.sudo()._esp_queue_sync()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _("%(count)s contact(s) will be sent again at the next sync.", count=len(members)),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_esp_resubscribe(self):
        """Re-subscribe these opted-out members at the ESP: only ever on a person's explicit request, and only by
        an ESP manager (it lifts an opt-out the ESP holds).

        The ESP may add them back, send them a confirmation email first (challenged), or refuse (hard bounces,
        complaints). Each contact is handled on its own: the ESP applies each call at once, so one refused or
        failed contact neither stops the others nor raises (which would roll back what the ESP already did).
        The Odoo subscription is re-activated only when the ESP added the contact, and the contact's chatter
        records who asked, and what the ESP answered.
        """
        self.list_id.check_access("write")
        check_esp_manager(self.env, _("Only an ESP manager can re-subscribe a contact at the ESP. Ask one to do it "
                                      "at the contact's request."))
        members = self.sudo().filtered(lambda member: member.state == "opted_out")
        # Refusals of the whole request come before the first call: then nothing has changed anywhere.
        for member in members:
            account = member.list_id.esp_account_id
            if not account:
                raise UserError(_("The mailing list “%(list)s” is not connected to an ESP.", list=member.list_id.name))
            if not account.support_resubscribe:
                raise UserError(_("%(provider)s cannot re-subscribe a contact through its API: re-activate "
                                  "%(email)s in %(provider)s itself.", provider=account._get_provider_label(),
                                  email=member.email))
        outcomes = {"added": [], "challenged": [], "refused": [], "failed": []}
        for member in members:
            kind, note = member._esp_resubscribe_one()
            outcomes[kind].append(note)
        # Only what happened, one sentence per outcome: "Re-subscribed: -" reads as an error.
        sentences = []
        if outcomes["added"]:
            sentences.append(_("Re-subscribed at the ESP: %(emails)s.", emails=", ".join(outcomes["added"])))
        if outcomes["challenged"]:
            sentences.append(_(
                "The ESP emailed %(emails)s to confirm: they stay unsubscribed until they confirm.",
                emails=", ".join(outcomes["challenged"])))
        if outcomes["refused"]:
            sentences.append(_("Refused by the ESP (the contact's note says why): %(emails)s.",
                               emails=", ".join(outcomes["refused"])))
        if outcomes["failed"]:
            sentences.append(_("Not re-subscribed, nothing changed for them: %(failures)s.",
                               failures="; ".join(outcomes["failed"])))
        problem = outcomes["refused"] or outcomes["failed"]
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            # The contact's ESP rows and chatter, or the members' list, show the new state at once.
            "params": {"message": " ".join(sentences), "type": "warning" if problem else "success", "sticky": True,
                       "next": {"type": "ir.actions.client", "tag": "soft_reload"}},
        }

    def _esp_resubscribe_one(self):
        """Ask the ESP to re-subscribe this one member, record its answer, and note it on the contact.

        :return: ``(outcome, text)``: ``added``, ``challenged`` or ``refused`` with the email, or ``failed`` with
            the email and the reason
        """
        self.ensure_one()
        mailing_list = self.list_id
        book = mailing_list.esp_address_book_id
        try:
            outcome = mailing_list.esp_account_id._esp_call(
                lambda client: client.resubscribe(self.email, book_id=book.remote_id))
        except UserError as error:  # the ESP's error, in words; nothing was applied for this contact
            reason = str(error)
            self._esp_post_resubscribe_note(_(
                "%(user)s asked the ESP to re-subscribe this contact to the address book %(book)s (list "
                "%(list)s), which failed: %(reason)s. Nothing changed.",
                user=self.env.user.name, book=book.name, list=mailing_list.name, reason=reason))
            self._esp_post_resubscribe_list_note(_("nothing changed, the request failed (%(reason)s)", reason=reason))
            return "failed", _("%(email)s (%(reason)s)", email=self.email, reason=reason)
        try:
            # One savepoint per contact: should recording this answer fail, the answers recorded for the
            # contacts before it stay, as the ESP applied them.
            with self.env.cr.savepoint():
                if outcome.state == providers.records.RESUBSCRIBE_ADDED:
                    self._esp_resubscribed(self.ids)
                    mailing_list._update_subscription_from_email(self.email, opt_out=False, force_message=False)
                    kind, answer = "added", _("the ESP added the contact back; the subscription is active again")
                elif outcome.state == providers.records.RESUBSCRIBE_CHALLENGED:
                    self._esp_note(self.ids, _("Confirmation email sent by the ESP"))
                    kind, answer = "challenged", _(
                        "the ESP sent the contact a confirmation email; they stay unsubscribed until they confirm")
                else:
                    # Why, in words: what the ESP holds against the address when it is what re-subscribing never
                    # lifts (a hard bounce, a complaint), else what a refusal means (the ESP keeps it suppressed).
                    account = mailing_list.esp_account_id
                    held = self.failure_reason
                    if held and held in providers.get_provider_class(account.provider).statuses_never_resubscribed:
                        reason = _("The ESP refuses to re-subscribe this address, which it holds as: %(status)s",
                                   status=account_status_words(self.env, account, held))
                    else:
                        reason = _("The ESP refuses to re-subscribe this address: it keeps it suppressed")
                    self._esp_note(self.ids, reason)
                    kind, answer = "refused", reason
                self._esp_post_resubscribe_note(_(
                    "%(user)s asked the ESP to re-subscribe this contact to the address book %(book)s (list "
                    "%(list)s): %(answer)s.",
                    user=self.env.user.name, book=book.name, list=mailing_list.name, answer=answer))
                self._esp_post_resubscribe_list_note(answer)
        except Exception:
            _logger.exception("Re-subscribe of %s in mailing list %s: the ESP answered, recording it failed",
                              self.email, mailing_list.id)
            return "failed", _("%(email)s (the ESP answered %(status)s, but Odoo could not record it; see the "
                               "server log)", email=self.email, status=outcome.status or "?")
        return kind, self.email

    def _esp_post_resubscribe_list_note(self, answer):
        """Record a re-subscribe request in the list's chatter too: lifting an opt-out is a consent decision the
        list's owners answer for, as the person who made it.

        :param answer: what the ESP answered, translated (a clause)
        """
        self.list_id.sudo().message_post(
            body=_("%(user)s asked the ESP to re-subscribe %(email)s to the address book %(book)s: %(answer)s.",
                   user=self.env.user.name, email=self.email, book=self.list_id.esp_address_book_id.name,
                   answer=answer),
            author_id=self.env.user.partner_id.id, message_type="comment", subtype_xmlid="mail.mt_note")

    def _esp_post_resubscribe_note(self, body):
        """Record a re-subscribe request in the chatter of the list's contacts of this email, as the person who
        made it."""
        contacts = self.env["mailing.contact"].search(
            [("email_normalized", "=", self.email), ("list_ids", "in", self.list_id.ids)])
        for contact in contacts:
            contact.sudo().message_post(body=body, author_id=self.env.user.partner_id.id,
                                        message_type="comment", subtype_xmlid="mail.mt_note")

    # ------------------------------------------------------------
    # TRANSITIONS (the sync engine's only way to change member rows; every one is a single statement)
    # ------------------------------------------------------------

    def _esp_execute(self, query, params):
        self.flush_model()
        self.env.cr.execute(query, params)
        count = self.env.cr.rowcount
        self.invalidate_model()
        return count

    def _esp_execute_values(self, query, rows, template=None):
        if not rows:
            return
        self.flush_model()
        execute_values(self.env.cr, query, rows, template=template, page_size=5000)
        self.invalidate_model()

    @api.model
    def _esp_to_exporting(self, list_id, batch_id, rows):
        """Members carried by a posted import.

        :param rows: ``(email, sent_hash, checked_datetime, tracked)`` tuples; ``tracked`` false: the plan found
            no member row for the email (a first export), so a plain insert is tried first
        """
        new = [row[:3] for row in rows if not row[3]]
        known = [row[:3] for row in rows if row[3]]
        if new:
            # No speculative insertion per row (ON CONFLICT was a fifth of inserting a first export's members).
            # A row written since the plan (a removal trigger) makes it fail as a whole: the upsert takes them.
            try:
                with self.env.cr.savepoint():
                    self._esp_insert_exporting(list_id, batch_id, new, upsert=False)
            except psycopg2.errors.UniqueViolation:
                known += new
        if known:
            self._esp_insert_exporting(list_id, batch_id, known, upsert=True)

    def _esp_insert_exporting(self, list_id, batch_id, rows, upsert):
        # One statement per import, its columns as three JSON arrays: adapting a VALUES row (execute_values) or
        # an array element per member in Python cost more CPU than PostgreSQL's insert itself on a first export;
        # json.dumps is one C call per column.
        emails, digests, checked = zip(*rows, strict=True)
        self.flush_model()
        on_conflict = SQL("""
            ON CONFLICT (list_id, email) DO UPDATE
               SET state = 'exporting', sent_hash = EXCLUDED.sent_hash, checked_datetime = EXCLUDED.checked_datetime,
                   batch_id = EXCLUDED.batch_id, failure_reason = NULL
        """) if upsert else SQL()
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO esp_list_member (list_id, email, state, sent_hash, checked_datetime, batch_id)
                SELECT %(list)s, v.email, 'exporting', v.sent_hash, v.checked::timestamp, %(batch)s
                  FROM ROWS FROM (json_array_elements_text(%(emails)s::json),
                                  json_array_elements_text(%(digests)s::json),
                                  json_array_elements_text(%(checked)s::json)) AS v(email, sent_hash, checked)
                %(on_conflict)s
                """,
                list=list_id, batch=batch_id, emails=json.dumps(emails), digests=json.dumps(digests),
                checked=json.dumps([value and value.isoformat(" ") for value in checked]), on_conflict=on_conflict,
            ),
            log_exceptions=upsert,
        )
        self.invalidate_model()

    @api.model
    def _esp_record_checked(self, list_id, rows):
        """Members looked at by an export that need not go out: their values are what the ESP holds, or they
        cannot be sent. A pending member whose values the ESP already confirmed is simply synced.

        :param rows: ``(email, state, digest, checked_datetime, reason)``; ``state`` is ``synced`` (``digest``
            confirmed by the ESP), ``failed`` (``reason`` says why) or ``pending``
        """
        self._esp_execute_values(
            """
            INSERT INTO esp_list_member (list_id, email, state, sent_hash, confirmed_hash, checked_datetime,
                                         failure_reason)
            SELECT v.list_id, v.email, v.state, v.digest, v.digest, v.checked, v.reason
              FROM (VALUES %s) AS v(list_id, email, state, digest, checked, reason)
            ON CONFLICT (list_id, email) DO UPDATE
               SET checked_datetime = EXCLUDED.checked_datetime,
                   state = CASE WHEN EXCLUDED.state = 'failed' AND esp_list_member.state != 'exporting' THEN 'failed'
                                WHEN EXCLUDED.state = 'synced' AND esp_list_member.state IN ('pending', 'failed')
                                THEN 'synced'
                                ELSE esp_list_member.state END,
                   failure_reason = CASE WHEN EXCLUDED.state = 'failed' AND esp_list_member.state != 'exporting'
                                         THEN EXCLUDED.failure_reason
                                         WHEN EXCLUDED.state = 'synced' AND esp_list_member.state IN ('pending', 'failed')
                                         THEN NULL
                                         ELSE esp_list_member.failure_reason END
            """,
            [(list_id, email, state, digest, checked, reason) for email, state, digest, checked, reason in rows],
            template="(%s, %s, %s, %s, %s::timestamp, %s)",
        )

    @api.model
    def _esp_record_synced(self, list_id, rows):
        """Members that the ESP holds with these values already (they came from the book).

        :param rows: ``(email, digest, checked_datetime)``
        """
        self._esp_execute_values(
            """
            INSERT INTO esp_list_member (list_id, email, state, sent_hash, confirmed_hash, checked_datetime)
            SELECT v.list_id, v.email, 'synced', v.digest, v.digest, v.checked
              FROM (VALUES %s) AS v(list_id, email, digest, checked)
            ON CONFLICT (list_id, email) DO UPDATE
               SET state = 'synced', sent_hash = EXCLUDED.sent_hash, confirmed_hash = EXCLUDED.confirmed_hash,
                   checked_datetime = EXCLUDED.checked_datetime, failure_reason = NULL
            """,
            [(list_id, email, digest, checked) for email, digest, checked in rows],
            template="(%s, %s, %s, %s::timestamp)",
        )

    @api.model
    def _esp_confirm(self, batch, refused):
        """The ESP finished ``batch``: its members hold what was sent, except the rows it refused.

        :param refused: ``{email: reason}`` of rows the ESP refused as invalid (they become ``failed``)
        :return: number of members confirmed
        """
        confirmed = self._esp_execute(
            """
            UPDATE esp_list_member
               SET state = 'synced', confirmed_hash = sent_hash, exported_datetime = now() at time zone 'UTC',
                   failure_reason = NULL
             WHERE batch_id = %(batch)s AND state = 'exporting' AND NOT (email = ANY(%(refused)s))
            """,
            {"batch": batch.id, "refused": list(refused)},
        )
        self._esp_execute_values(
            """
            UPDATE esp_list_member m SET state = 'failed', failure_reason = v.reason, batch_id = NULL
              FROM (VALUES %s) AS v(batch_id, email, reason)
             WHERE m.batch_id = v.batch_id AND m.email = v.email
            """,
            [(batch.id, email, reason) for email, reason in refused.items()],
        )
        return confirmed

    @api.model
    def _esp_has_unsent(self, list_id):
        """Whether contacts of the list still wait to reach the ESP: pending members, or an import in flight
        (its members are ``exporting`` exactly while it is posted: each change of an import's state moves its
        members in the same transaction). Two small indexes answer, however large the list."""
        self.flush_model()
        self.env["esp.import.batch"].flush_model()
        self.env.cr.execute(
            """
            SELECT EXISTS (SELECT 1 FROM esp_list_member WHERE list_id = %(list)s AND attention = 'pending')
                OR EXISTS (SELECT 1 FROM esp_import_batch WHERE list_id = %(list)s AND state = 'posted')
            """, {"list": list_id})
        return self.env.cr.fetchone()[0]

    @api.model
    def _esp_requeue(self, batch, state="pending", reason=None):
        """Members of ``batch`` go back to ``pending`` (sent again) or to ``rejected`` (with ``reason``)."""
        return self._esp_execute(
            "UPDATE esp_list_member SET state = %s, failure_reason = %s, batch_id = NULL "
            "WHERE batch_id = %s AND state = 'exporting'",
            [state, reason, batch.id],
        )

    @api.model
    def _esp_requeue_ids(self, ids):
        """Failed or rejected members go out again at the next export."""
        if ids:
            self._esp_execute(
                "UPDATE esp_list_member SET state = 'pending', failure_reason = NULL, batch_id = NULL "
                "WHERE id = ANY(%s) AND state IN ('failed', 'rejected')",
                [list(ids)],
            )

    @api.model
    def _esp_resubscribed(self, ids):
        """Opted-out members the ESP took back on a person's request: they go out again."""
        self._esp_execute(
            "UPDATE esp_list_member SET state = 'pending', failure_reason = NULL WHERE id = ANY(%s) "
            "AND state = 'opted_out'",
            [list(ids)],
        )

    @api.model
    def _esp_note(self, ids, reason):
        """Say why these members are as they are (the ESP's answer), without changing their state."""
        self._esp_execute("UPDATE esp_list_member SET failure_reason = %s WHERE id = ANY(%s)", [reason, list(ids)])

    @api.model
    def _esp_mark(self, list_id, emails, state, reason=None):
        """Members of these emails become ``state`` (``opted_out`` or ``failed``), whatever they were."""
        if emails:
            self._esp_execute(
                "UPDATE esp_list_member SET state = %s, failure_reason = %s, batch_id = NULL, "
                "opted_out_datetime = CASE WHEN %s = 'opted_out' THEN clock_timestamp() at time zone 'UTC' END "
                "WHERE list_id = %s AND email = ANY(%s)",
                [state, reason, state, list_id, list(emails)],
            )

    @api.model
    def _esp_opted_out(self, list_id, emails):
        """The ESP holds these emails unsubscribed from the list's book (rows are created if missing)."""
        self._esp_execute_values(
            """
            INSERT INTO esp_list_member (list_id, email, state, opted_out_datetime)
            SELECT v.list_id, v.email, 'opted_out', clock_timestamp() at time zone 'UTC' FROM (VALUES %s) AS v(list_id, email)
            ON CONFLICT (list_id, email) DO UPDATE
               SET state = 'opted_out', batch_id = NULL, opted_out_datetime = EXCLUDED.opted_out_datetime
            """,
            [(list_id, email) for email in emails],
        )

    @api.model
    def _esp_removing_contacts(self, contact_ids):
        """The emails of these contacts are about to leave every connected list they belong to."""
        if not contact_ids:
            return
        self.env["mailing.contact"].flush_model(["email", "email_normalized", "list_ids"])
        self.env["esp.address.book"].flush_model(["mailing_list_id"])
        self.env.cr.execute(
            """
            INSERT INTO esp_list_member (list_id, email, state)
            SELECT DISTINCT s.list_id, COALESCE(c.email_normalized, lower(trim(c.email))), 'removing'
              FROM mailing_contact c
              JOIN mailing_subscription s ON s.contact_id = c.id
              JOIN esp_address_book b ON b.mailing_list_id = s.list_id
             WHERE c.id = ANY(%s) AND COALESCE(c.email_normalized, lower(trim(c.email))) IS NOT NULL
            ON CONFLICT (list_id, email) DO NOTHING
            """,
            [list(contact_ids)],
        )

    @api.model
    def _esp_learn_remote_ids(self, list_id, pairs):
        """Remember the ESP ids of members (needed to remove them from the book).

        :param pairs: ``(email, remote id)``
        """
        self._esp_execute_values(
            """
            UPDATE esp_list_member m SET remote_contact_id = v.remote_id
              FROM (VALUES %s) AS v(list_id, email, remote_id)
             WHERE m.list_id = v.list_id AND m.email = v.email AND m.remote_contact_id IS DISTINCT FROM v.remote_id
            """,
            [(list_id, email, str(remote_id)) for email, remote_id in pairs],
        )

    @api.model
    def _esp_listed(self, list_id, pairs, at):
        """These emails were listed in the book by the reading that started ``at`` (ids learnt on the way).

        :param pairs: ``(email, remote id)``
        """
        self._esp_execute_values(
            """
            UPDATE esp_list_member m SET listed_datetime = v.at, remote_contact_id = COALESCE(v.remote_id,
                                                                                          m.remote_contact_id)
              FROM (VALUES %s) AS v(list_id, email, remote_id, at)
             WHERE m.list_id = v.list_id AND m.email = v.email
            """,
            [(list_id, email, None if remote_id is None else str(remote_id), at) for email, remote_id in pairs],
            template="(%s, %s, %s, %s::timestamp)",
        )

    @api.model
    def _esp_requeue_unlisted(self, list_id, started, reason):
        """Synced members the reading of the book that started at ``started`` did not list go out again: the
        book lost them (removed at the ESP). Members confirmed after the reading started are left alone.

        :return: their emails
        """
        self.flush_model()
        self.env.cr.execute(
            """
            UPDATE esp_list_member SET state = 'pending', confirmed_hash = NULL, failure_reason = %(reason)s
             WHERE list_id = %(list)s AND state = 'synced'
               AND (listed_datetime IS NULL OR listed_datetime < %(started)s)
               AND (exported_datetime IS NULL OR exported_datetime < %(started)s)
         RETURNING email
            """,
            {"list": list_id, "started": started, "reason": reason},
        )
        emails = [row[0] for row in self.env.cr.fetchall()]
        self.invalidate_model()
        return emails

    @api.model
    def _esp_forget(self, ids):
        """Drop rows of emails that left the list (removed from the book, or never there)."""
        if ids:
            self._esp_execute("DELETE FROM esp_list_member WHERE id = ANY(%s)", [list(ids)])

    @api.model
    def _esp_forget_list(self, list_id):
        self._esp_execute("DELETE FROM esp_list_member WHERE list_id = %s", [list_id])

    @api.model
    def _esp_requeue_list_exports(self, list_id):
        """The list's imports in flight will never be read (the list is disconnected): their members go out
        again, should the list be reconnected."""
        return self._esp_execute(
            "UPDATE esp_list_member SET state = 'pending', batch_id = NULL WHERE list_id = %s AND state = 'exporting'",
            [list_id],
        )

    @api.model
    def _esp_recheck_list(self, list_id):
        """A list reconnected to the book its members describe: the next export looks at every synced member
        again and sends only those whose values differ from what the ESP confirmed (a field mapping may have
        changed while the list was disconnected, which marks only connected lists). Failed, rejected and
        opted-out members stay as they are: nothing is retried or re-subscribed by a reconnection."""
        return self._esp_execute(
            "UPDATE esp_list_member SET checked_datetime = NULL WHERE list_id = %s AND state = 'synced'", [list_id]
        )

    @api.model
    def _esp_resend_all(self, list_ids):
        """Every synced member goes out again (after a mapping or data field change)."""
        return self._esp_execute(
            "UPDATE esp_list_member SET confirmed_hash = NULL, checked_datetime = NULL "
            "WHERE list_id = ANY(%s) AND state = 'synced'",
            [list(list_ids)],
        )
