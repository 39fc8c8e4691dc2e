import contextlib
from datetime import timedelta

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .. import providers

MANAGER_GROUP = "campaign_esp_connector.campaign_esp_connector_group_manager"

_INTERVAL_UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1),
                   "weeks": timedelta(weeks=1), "months": timedelta(days=30)}

# The contact columns the export reads, joined to the member rows by normalized email.
MEMBER_ROWS_QUERY = """
    SELECT c.id AS contact_id, c.email_normalized IS NOT NULL AS valid,
           COALESCE(c.email_normalized, lower(trim(c.email))) AS email, c.email AS raw_email,
           c.name, c.first_name, c.last_name, c.company_name, c.mobile, c.write_date, c.esp_source_values,
           co.code AS country_code, co.name->>'en_US' AS country_name,
           {contact_values} AS esp_contact_values,
           m.id AS member_id, m.confirmed_hash
      FROM mailing_subscription s
      JOIN mailing_contact c ON c.id = s.contact_id
 LEFT JOIN res_country co ON co.id = c.country_id
 LEFT JOIN esp_list_member m
        ON m.list_id = s.list_id AND m.email = COALESCE(c.email_normalized, lower(trim(c.email)))
     WHERE {where}
  ORDER BY s.contact_id
"""

SYNC_STATES = [
    ("never", "Never Synced"),
    ("queued", "Queued"),
    ("running", "Running"),
    ("done", "Up to Date"),
    ("retry", "Waiting to Retry"),
    ("failed", "Failed"),
    ("rejected", "Rejected by ESP"),
    ("guard", "Needs Confirmation"),
    ("book_missing", "Address Book Missing"),
]
# States in which a list waits for a person, or keeps failing.
ATTENTION_STATES = ("failed", "retry", "guard", "rejected", "book_missing")
# States no run leaves by itself: a person must act on the list first (the runner does not pick them up).
PERSON_STATES = ("guard", "rejected", "book_missing")


def check_esp_manager(env, message):
    """Lifting a safety net (the mass-change guard, the ESP's watchdog, an opt-out held at the ESP) is an ESP
    manager's decision. The views only show those buttons to managers; this check is what an RPC call meets.

    :param message: the translated refusal, saying what only a manager may do
    """
    if not env.su and not env.user.has_group(MANAGER_GROUP):
        raise AccessError(message)


class EspAddressBook(models.Model):
    """An address book (list) of an ESP account, as last read from the ESP.

    Connected to a mailing list, it is also the list's binding: the remote identity and the whole sync state
    (watermarks, guard, schedule, errors) live here and change only through the ``_esp_*`` transitions below,
    called by the sync runner.
    """

    _name = "esp.address.book"
    _description = "ESP Address Book"
    _inherit = ["esp.catalogue.mixin"]
    _order = "is_system desc, name, id"

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    remote_id = fields.Char(string="ESP ID", required=True, readonly=True, index=True)
    name = fields.Char(required=True)
    visibility = fields.Selection([("Private", "Private"), ("Public", "Public")], default="Private")
    contact_count = fields.Integer(string="Contacts at ESP", readonly=True)
    is_system = fields.Boolean(
        string="System Book",
        readonly=True,
        help="Books the ESP itself manages (\"All Contacts\", \"Test\"): never connected to a mailing list.",
    )
    mailing_list_id = fields.Many2one(
        "mailing.list", string="Mailing List", readonly=True, copy=False, index="btree_not_null", ondelete="set null"
    )
    # Binding of the connected list.
    create_contacts = fields.Boolean(
        string="Create New Contacts",
        copy=False,
        help="Two-way sync: contacts added to the address book at the ESP are created in the mailing list.",
    )
    # dotdigital v3 only: the ESP emails new subscribers a confirmation link (optInType verifiedDouble); they
    # are pending confirmation in Odoo, never counted or mailed as subscribed, until the ESP reports them so.
    double_optin = fields.Boolean(
        string="Double Opt-in by the ESP", copy=False,
        help="New subscribers of the list are sent to the ESP for double opt-in: the ESP emails them a link to "
             "confirm. Until it reports them confirmed they are Pending Confirmation in Odoo, and neither counted "
             "nor mailed as subscribers. Offered for dotdigital accounts on the v3 contacts API.")
    optin_watermark = fields.Datetime(readonly=True, copy=False)
    sync_state = fields.Selection(SYNC_STATES, string="ESP Sync", default="never", required=True, readonly=True,
                                  copy=False)
    last_sync_datetime = fields.Datetime(string="Last Successful Sync", readonly=True, copy=False)
    last_attempt_datetime = fields.Datetime(string="Last Sync Attempt", readonly=True, copy=False)
    next_sync_datetime = fields.Datetime(
        string="Next Sync", readonly=True, copy=False, index=True,
        help="Not before this time (a retry after a failure, or the ESP's throttling). Empty: at the next run.",
    )
    retry_count = fields.Integer(readonly=True, copy=False)
    last_error = fields.Text(string="ESP Sync Error", readonly=True, copy=False)
    sync_progress = fields.Char(readonly=True, copy=False)
    # Who pressed Synchronize: the run that ends the queued work tells them how the list stands, and its log is
    # a manual run (the cron does the work, the person asked for it).
    sync_requested_by_id = fields.Many2one("res.users", string="Synchronization Requested By", readonly=True,
                                           copy=False, ondelete="set null")
    pull_watermark = fields.Datetime(readonly=True, copy=False)
    optout_watermark = fields.Datetime(readonly=True, copy=False)
    guard_confirmed = fields.Boolean(readonly=True, copy=False)
    # The book is read whole now and then: the ESP reports no removals, only this shows one made there.
    book_checked_datetime = fields.Datetime(
        string="Book Last Compared", readonly=True, copy=False,
        help="When every contact of the address book was last read and compared with the list (contacts "
             "removed from the book at the ESP are then sent again).",
    )
    book_check_started = fields.Datetime(readonly=True, copy=False)
    book_check_skip = fields.Integer(readonly=True, copy=False)
    # Where a book check resumes when the provider pages by cursor (dotdigital v3's marker) instead of by skip.
    book_check_position = fields.Char(readonly=True, copy=False)
    odoo_changes_pending = fields.Boolean(
        readonly=True, copy=False, help="Odoo opt-outs or removals remain to be sent (more than one run sends)."
    )

    # The same remote book connected to a list through another Odoo account of the same remote account (one
    # that a migration disabled, or an archived one): never offered as free, never connected a second time.
    connected_elsewhere_id = fields.Many2one(
        "esp.address.book", string="Connected Through Another Account", compute="_compute_connected_elsewhere_id",
        search="_search_connected_elsewhere_id", compute_sudo=True,
        help="This address book of the ESP is connected to a mailing list through another Odoo ESP account on the "
             "same ESP account.")

    _sql_constraints = [
        ("remote_id_account_uniq", "unique(account_id, remote_id)", "This address book is already known."),
        ("mailing_list_uniq", "unique(mailing_list_id)", "A mailing list can be connected to one address book only."),
    ]

    @api.depends("name", "account_id.name")
    def _compute_display_name(self):
        for book in self:
            book.display_name = _("%(book)s (%(account)s)", book=book.name, account=book.account_id.name)

    def _esp_connected_elsewhere(self, book_ids=None):
        """``{book id: twin book id}``: books whose remote book is connected to a list through another Odoo account
        of the same remote account (``esp.account.remote_account_key``). Read in SQL: the twin may belong to an
        archived account or to another company, which the user cannot read but must not take the book from.

        :param book_ids: the books to look at; None: every book
        """
        self.env["esp.address.book"].flush_model(["account_id", "remote_id", "mailing_list_id"])
        self.env["esp.account"].flush_model(["provider", "remote_account_key"])
        self.env.cr.execute("""
            SELECT book.id, MIN(twin.id)
              FROM esp_address_book book
              JOIN esp_account account ON account.id = book.account_id
              JOIN esp_account sibling ON sibling.provider = account.provider
                                      AND sibling.remote_account_key = account.remote_account_key
                                      AND sibling.id != account.id
              JOIN esp_address_book twin ON twin.account_id = sibling.id AND twin.remote_id = book.remote_id
                                        AND twin.mailing_list_id IS NOT NULL
             WHERE %(all)s OR book.id = ANY(%(ids)s)
             GROUP BY book.id
        """, {"all": book_ids is None, "ids": list(book_ids or [])})
        return dict(self.env.cr.fetchall())

    def _esp_connected_elsewhere_message(self):
        """Why this book cannot be connected: its remote book is connected through another Odoo account."""
        self.ensure_one()
        twin = self.sudo().connected_elsewhere_id
        if twin.account_id.company_id in self.env.user.company_ids:
            return _("The address book “%(book)s” is already connected to the mailing list “%(list)s” through the "
                     "ESP account “%(account)s”, on the same ESP account: one address book feeds one list.",
                     book=self.name, list=twin.mailing_list_id.name, account=twin.account_id.name)
        return _("The address book “%(book)s” is already connected to a mailing list through an ESP account of "
                 "another company, on the same ESP account: one address book feeds one list.", book=self.name)

    def _compute_connected_elsewhere_id(self):
        twins = self._esp_connected_elsewhere([book_id for book_id in self.ids if book_id])
        for book in self:
            book.connected_elsewhere_id = twins.get(book.id, False)

    def _search_connected_elsewhere_id(self, operator, value):
        if operator not in ("=", "!=") or value:
            return NotImplemented
        ids = list(self._esp_connected_elsewhere())
        return [("id", "not in" if operator == "=" else "in", ids)]

    @api.constrains("double_optin", "mailing_list_id")
    def _check_double_optin(self):
        for book in self.filtered("double_optin"):
            if book.account_id.contacts_api != "v3":
                raise ValidationError(_(
                    "Double opt-in by the ESP needs a dotdigital account on the v3 contacts API (Test Connection "
                    "finds out which one the account uses): “%(account)s” cannot run it for the list.",
                    account=book.account_id.display_name))

    # ------------------------------------------------------------
    # CATALOGUE
    # ------------------------------------------------------------

    @api.model
    def _esp_values_from_record(self, record):
        return {
            "remote_id": str(record.id),
            "name": record.name,
            "visibility": record.visibility if record.visibility in ("Private", "Public") else "Private",
            "contact_count": record.contact_count or 0,
            "is_system": record.is_system,
        }

    @api.model
    def _esp_import(self, account, provider_records):
        counts = super()._esp_import(account, provider_records)
        # A connected book the ESP no longer lists was deleted there: its list must not look up to date while
        # its opt-outs go nowhere. One that is listed again was not (a listing or a 404 that missed it).
        connected = self.with_context(active_test=False).search(
            [("account_id", "=", account.id), ("mailing_list_id", "!=", False)]
        )
        connected.filtered(lambda book: not book.active and book.sync_state != "book_missing")._esp_book_missing()
        connected.filtered(lambda book: book.active and book.sync_state == "book_missing")._esp_book_found()
        return counts

    # ------------------------------------------------------------
    # BINDING: STATE TRANSITIONS
    # ------------------------------------------------------------

    def _esp_bind(self, mailing_list, create_contacts):
        """Link this book to ``mailing_list`` with a fresh sync state; everything goes out at the next run."""
        self.ensure_one()
        self.write({
            "mailing_list_id": mailing_list.id,
            "create_contacts": create_contacts,
            "sync_state": "queued",
            "next_sync_datetime": False,
            "retry_count": 0,
            "last_error": False,
        })
        self._esp_mark_changed(mailing_list.ids)

    def _esp_unbind(self):
        """Stop syncing the list. The member sync states stay (the list keeps them for a reconnection to this
        book, see ``mailing.list._esp_adopt_kept_members``), except what only this connection could finish:
        imports in flight are forgotten and their members go out again on reconnection, and the feeds'
        watermarks are reset (a reconnection reads them from the start). The remote book stays."""
        for book in self.filtered("mailing_list_id"):
            list_id = book.mailing_list_id.id
            self.env["esp.list.member"]._esp_requeue_list_exports(list_id)
            self.env["esp.import.batch"].search([("list_id", "=", list_id)]).unlink()
            self.env.cr.execute("DELETE FROM esp_list_change WHERE list_id = %s", [list_id])
        self.write({
            "mailing_list_id": False,
            # create_contacts stays: the connect dialog offers it again with the book (a connection sets it anew).
            "sync_state": "never",
            "pull_watermark": False,
            "optout_watermark": False,
            "optin_watermark": False,
            "book_checked_datetime": False,
            "book_check_started": False,
            "book_check_skip": 0,
            "book_check_position": False,
            "guard_confirmed": False,
            "odoo_changes_pending": False,
            "last_error": False,
            "next_sync_datetime": False,
            "retry_count": 0,
            "sync_progress": False,
            "sync_requested_by_id": False,
        })
        # Free the book at once: the link is unique, and a link made next in this transaction (a reconnection)
        # could otherwise be flushed first.
        self.flush_recordset(["mailing_list_id"])

    def _esp_queue(self, requested_by=None):
        """Ask for a run as soon as a worker is free (a person's "Synchronize").

        :param requested_by: the user to notify when the queued work ends (``res.users``)
        """
        waiting = self.filtered(lambda book: book.sync_state not in ("running", *PERSON_STATES))
        values = {"sync_state": "queued", "next_sync_datetime": False, "sync_progress": False}
        if requested_by:
            values["sync_requested_by_id"] = requested_by.id
            # A run under way (or between two of its runs, imports in flight) keeps its state; the run that
            # ends it tells this person too.
            self.filtered(lambda book: book.sync_state == "running" and not book.sync_requested_by_id).write(
                {"sync_requested_by_id": requested_by.id})
        waiting.write(values)
        self.filtered(lambda book: book.sync_state in ("running", "queued")).write({"next_sync_datetime": False})
        self._esp_trigger()

    def _esp_start_run(self):
        self.write({"sync_state": "running", "last_attempt_datetime": fields.Datetime.now(), "sync_progress": False})

    def _esp_finish_run(self, state, message, full=True, retry_at=None, transient=False):
        """Record how a run ended.

        :param state: the run's outcome (``done``, ``partial``, ``guard``, ``rejected``, ``book_missing``,
            ``throttled``, ``failed``)
        :param full: a run of every step (only those make a list "up to date")
        :param retry_at: not before this time (throttling)
        :param transient: the failure is retried by itself with a growing delay
        """
        self.ensure_one()
        now = fields.Datetime.now()
        values = {"sync_progress": False}
        wake_at = None
        if state == "done":
            interval, own = self._esp_sync_interval()
            values.update(sync_state="done", last_error=False, retry_count=0, next_sync_datetime=now + interval)
            # A provider's own cadence (Campaign Master: every minute) wakes the cron; the cron's own interval
            # needs no wake-up.
            wake_at = values["next_sync_datetime"] if own else None
            if full:
                values["last_sync_datetime"] = now
        elif state == "partial":
            # More to do (imports in flight, budget used up): come back shortly, not at once. For a person the
            # sync is still running (the ESP is importing what was sent): "Queued" with every contact counted
            # as sent said the opposite for a minute.
            # The rows of the imports in flight: the files the ESP is importing (counting the members they carry
            # would read every member of the list, an index on their state costs every confirmation).
            exporting = sum(self.env["esp.import.batch"].search(
                [("list_id", "=", self.mailing_list_id.id), ("state", "=", "posted")]).mapped("row_count"))
            progress = (_("waiting for the ESP to import %(count)s contacts", count=exporting) if exporting
                        else _("continues in a moment"))
            values.update(sync_state="running", last_error=False, retry_count=0, sync_progress=progress,
                          next_sync_datetime=now + self._esp_backoff(0))
        elif state == "book_missing":
            self._esp_book_missing()
        elif state in ("guard", "rejected"):
            values.update(sync_state=state, last_error=message, next_sync_datetime=False)
        else:
            values.update(
                sync_state="retry" if transient else "failed",
                last_error=message,
                retry_count=self.retry_count + 1,
                next_sync_datetime=retry_at or now + self._esp_backoff(self.retry_count),
            )
        self.write(values)
        if state != "done" and values.get("next_sync_datetime"):
            wake_at = values["next_sync_datetime"]
        if wake_at:
            self._esp_trigger(wake_at)

    def _esp_run_error(self, error):
        """How a run that met a provider error of this list only ends: ``(state, message)``. A book deleted at
        the ESP fails every later call alike: the list waits for a person rather than retrying."""
        self.ensure_one()
        if isinstance(error, providers.BookNotFound):
            return "book_missing", self._esp_book_missing_message()
        return "failed", self.account_id._esp_error_message(error)

    def _esp_book_missing(self):
        """The ESP says the connected book no longer exists: archive it and have the list wait for a person
        (connect it to another book, or disconnect it). Member rows, watermarks and Odoo's opt-outs stay as
        they are: a connection to another book sends what the list holds, opt-outs included."""
        for book in self:
            book.write({
                "active": False,
                "sync_state": "book_missing",
                "last_error": book._esp_book_missing_message(),
                "next_sync_datetime": False,
                "retry_count": 0,
                "sync_progress": False,
            })

    def _esp_book_missing_message(self):
        self.ensure_one()
        return _("The address book “%(book)s” no longer exists at the ESP: connect the list to another address book "
                 "(Connection Settings) or disconnect it.", book=self.name)

    def _esp_book_found(self):
        """The catalogue lists a book said missing again: it was not deleted, so its list syncs again."""
        self.filtered(lambda book: book.sync_state == "book_missing").write(
            {"sync_state": "queued", "last_error": False, "next_sync_datetime": False}
        )
        self._esp_trigger()

    def _esp_sync_interval(self):
        """How long a list that is up to date waits for its next run, and whether that is the provider's own
        cadence. Otherwise it is the contact cron's interval, a little shortened so the cron's next run finds
        the list due (runs that other lists' triggers start do not repeat it in between)."""
        self.ensure_one()
        provider = providers.get_provider_class(self.account_id.provider) if self.account_id.provider else None
        minutes = provider.limits.sync_interval_minutes if provider else None
        if minutes:
            return timedelta(minutes=minutes), True
        cron = self.env.ref("campaign_esp_connector.ir_cron_esp_sync_contacts", raise_if_not_found=False)
        if not cron:
            return timedelta(0), False
        interval = _INTERVAL_UNITS.get(cron.sudo().interval_type, timedelta(minutes=1)) * cron.sudo().interval_number
        return max(interval - max(interval / 10, timedelta(seconds=30)), timedelta(0)), False

    def _esp_confirm_guard(self):
        """The guard's mass change is confirmed: the next run applies it.

        :return: ``{book: what the guard stopped}`` (its message, with the counts) for the books it released
        """
        stopped = self.filtered(lambda book: book.sync_state == "guard")
        confirmed = {book: book.last_error for book in stopped}
        stopped.write({"guard_confirmed": True, "sync_state": "queued", "last_error": False})
        self._esp_queue()
        return confirmed

    def _esp_retry_rejected(self):
        """Send again what the ESP's watchdog rejected.

        :return: ``{book: number of members sent again}``
        """
        counts = {}
        for book in self:
            members = self.env["esp.list.member"].search(
                [("list_id", "=", book.mailing_list_id.id), ("state", "=", "rejected")]
            )
            members._esp_requeue_ids(members.ids)
            counts[book] = len(members)
        self.filtered(lambda book: book.sync_state == "rejected").write({"sync_state": "queued", "last_error": False})
        self._esp_queue()
        return counts

    @api.model
    def _esp_backoff(self, retry_count):
        from ..sync.runner import backoff  # the runner's policy; imported late to keep models light

        return backoff(retry_count)

    def _esp_trigger(self, at=None):
        cron = self.env.ref("campaign_esp_connector.ir_cron_esp_sync_contacts", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)

    # ------------------------------------------------------------
    # BINDING: CHANGES RECORDED IN ODOO (the dirty flag)
    # ------------------------------------------------------------

    @api.model
    def _esp_mark_changed(self, list_ids=None):
        """Record that something the sync sends changed in these lists (all connected lists if None).

        An insert-only table rather than a flag on this record: writers never wait on (or conflict with) a
        running sync that updates the binding, and a change committed while a run plans is never cleared by it.
        """
        self.env["esp.address.book"].flush_model(["mailing_list_id"])
        if list_ids is None:
            self.env.cr.execute(
                "INSERT INTO esp_list_change (list_id) "
                "SELECT mailing_list_id FROM esp_address_book WHERE mailing_list_id IS NOT NULL"
            )
        elif list_ids:
            self.env.cr.execute(
                "INSERT INTO esp_list_change (list_id) "
                "SELECT mailing_list_id FROM esp_address_book WHERE mailing_list_id = ANY(%s)",
                [list(list_ids)],
            )

    def _esp_change_mark(self):
        """The changes recorded for the list that this transaction sees (a tuple of ids; empty: nothing changed
        since the last complete plan)."""
        self.ensure_one()
        self.env.cr.execute("SELECT id FROM esp_list_change WHERE list_id = %s", [self.mailing_list_id.id])
        return tuple(row[0] for row in self.env.cr.fetchall())

    def _esp_clear_changes(self, mark):
        """Forget the changes a complete plan covered: exactly those it saw when it started. A change committed
        later, even one whose id is lower (ids are taken before commit), stays for the next run."""
        self.ensure_one()
        if mark:
            self.env.cr.execute("DELETE FROM esp_list_change WHERE id = ANY(%s)", [list(mark)])

    # ------------------------------------------------------------
    # BINDING: PLANNING QUERIES
    # ------------------------------------------------------------

    def _esp_iter_changed_rows(self, fetch=20000):
        """Yield lists of member rows (as :meth:`_esp_member_rows`) of the contacts an export must look at:
        new to the sync, pending, or modified since last checked; one row per email.

        One pass over the list, whatever its size: a server-side cursor held across the run's commits streams
        the result ``fetch`` rows at a time (paging with OFFSET or a keyset would join the whole list again
        for every page), and ``DISTINCT ON`` keeps one contact per email without a set in memory.
        """
        self.ensure_one()
        self.env.flush_all()
        cr = self.env.cr
        where = self._esp_member_where(changed_only=True)
        # The cursor name is a fixed prefix and an integer; every value is a parameter.
        name = "esp_plan_%d" % self.id
        rows = MEMBER_ROWS_QUERY.format(where=" AND ".join(where), contact_values=self._esp_contact_values_sql())
        rows = rows.replace("ORDER BY s.contact_id", "")
        query = "SELECT DISTINCT ON (email) * FROM (%s) AS r ORDER BY email, contact_id" % rows  # noqa: S608 - fixed fragments
        # The "changed" filter on the left join is estimated at one row whatever the truth (850,000 of a
        # million on a first export): a nested loop planned on that estimate takes minutes, hash joins take
        # two seconds. The plan is fixed at DECLARE; SET LOCAL is undone right after.
        cr.execute("SET LOCAL enable_nestloop = off")
        try:
            cr.execute(f"DECLARE {name} NO SCROLL CURSOR WITH HOLD FOR {query}",  # noqa: S608
                       {"list": self.mailing_list_id.id, "after": 0})
        finally:
            cr.execute("SET LOCAL enable_nestloop = on")
        try:
            while True:
                cr.execute(f"FETCH {int(fetch)} FROM {name}")  # noqa: S608
                columns = [desc[0] for desc in cr.description]
                rows = cr.fetchall()
                if not rows:
                    break
                yield [dict(zip(columns, row, strict=False)) for row in rows]
        finally:
            with contextlib.suppress(psycopg2.Error):
                cr.execute(f"CLOSE {name}")

    def _esp_contact_values_sql(self):
        """The rows' ``esp_contact_values``: the contact fields the account maps for this list, read in SQL."""
        mappings = self.account_id.field_mapping_ids._esp_for_list(self.mailing_list_id)
        return mappings._esp_contact_values_sql(alias="c")

    def _esp_member_where(self, contact_ids=None, changed_only=False):
        where = ["s.list_id = %(list)s", "s.opt_out IS NOT TRUE", "s.contact_id > %(after)s",
                 "NOT EXISTS (SELECT 1 FROM mail_blacklist b WHERE b.email = c.email_normalized AND b.active)"]
        if contact_ids is not None:
            where.append("c.id = ANY(%(ids)s)")
        if changed_only:
            where.append(
                "(m.id IS NULL OR m.state IN ('pending', 'removing') OR (m.state IN ('synced', 'failed') AND "
                "(m.confirmed_hash IS NULL OR c.write_date IS DISTINCT FROM m.checked_datetime)))"
            )
        return where

    def _esp_member_rows(self, contact_ids=None, after_id=0, limit=None, changed_only=False):
        """Subscribed contacts of the list with what the export needs, one dict per row (ordered by contact).

        :param contact_ids: only these contacts
        :param after_id: keyset paging on contact id
        :param limit: at most this many rows
        :param changed_only: only contacts new to the sync, pending, or modified since last checked
        """
        self.ensure_one()
        where = self._esp_member_where(contact_ids=contact_ids, changed_only=changed_only)
        # Only fixed fragments are joined into the query; every value is a parameter.
        query = MEMBER_ROWS_QUERY.format(where=" AND ".join(where), contact_values=self._esp_contact_values_sql())
        if limit:
            query += " LIMIT %(limit)s"
        self.env.cr.execute(query, {"list": self.mailing_list_id.id, "after": after_id, "ids": contact_ids,
                                    "limit": limit})
        columns = [desc[0] for desc in self.env.cr.description]
        return [dict(zip(columns, row, strict=False)) for row in self.env.cr.fetchall()]
