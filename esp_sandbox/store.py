"""All sandbox state in one SQLite database behind one lock.

``:memory:`` by default, a file under ``--state-dir`` when data must survive restarts. Book membership keeps
an increasing ``position`` per book so that ``skip`` turns into an indexed range read instead of an SQL
OFFSET over a million rows. Removals leave holes, remembered in ``holes``; a page read steps over the holes
before its start (cheap while they are few) and the book is renumbered once they pile up.
"""

import json
import os
import sqlite3
import threading
import uuid

from .timeutil import Clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- AUTOINCREMENT: dotdigital never gives a deleted book's id to a new book (SQLite's rowid would).
CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, name_key TEXT NOT NULL UNIQUE, visibility TEXT NOT NULL,
    system INTEGER NOT NULL DEFAULT 0, next_position INTEGER NOT NULL DEFAULT 0, created REAL);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL, email_key TEXT NOT NULL UNIQUE, opt_in_type TEXT NOT NULL,
    email_type TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_modified ON contacts (modified);
CREATE INDEX IF NOT EXISTS contacts_created ON contacts (created);
CREATE TABLE IF NOT EXISTS members (
    book_id INTEGER NOT NULL, contact_id INTEGER NOT NULL, position INTEGER NOT NULL,
    unsubscribed INTEGER NOT NULL DEFAULT 0, modified REAL NOT NULL,
    PRIMARY KEY (book_id, contact_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_position ON members (book_id, position);
CREATE INDEX IF NOT EXISTS members_contact ON members (contact_id);
CREATE TABLE IF NOT EXISTS holes (book_id INTEGER NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (book_id, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS suppressions (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, book_id INTEGER, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS suppressions_at ON suppressions (at);
CREATE TABLE IF NOT EXISTS data_fields (
    name_key TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, visibility TEXT NOT NULL,
    default_value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS from_addresses (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY, body TEXT NOT NULL, status TEXT NOT NULL, date_sent REAL);
CREATE TABLE IF NOT EXISTS campaign_books (
    campaign_id INTEGER NOT NULL, book_id INTEGER NOT NULL, PRIMARY KEY (campaign_id, book_id));
CREATE TABLE IF NOT EXISTS imports (
    id TEXT PRIMARY KEY, book_id INTEGER, status TEXT NOT NULL, outcome TEXT NOT NULL, created REAL NOT NULL,
    due REAL NOT NULL, merge_option TEXT NOT NULL, file BLOB, report TEXT, faults TEXT);
CREATE TABLE IF NOT EXISTS deletions (id TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sends (
    id TEXT PRIMARY KEY, campaign_id INTEGER NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
    send_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL, contact_id INTEGER NOT NULL, email TEXT NOT NULL,
    kind TEXT NOT NULL, at REAL NOT NULL, url TEXT, ip TEXT, user_agent TEXT, mail_client TEXT);
CREATE INDEX IF NOT EXISTS events_campaign ON events (campaign_id, kind, at);
CREATE INDEX IF NOT EXISTS events_contact ON events (campaign_id, contact_id);
-- Covers the activity listings' page of recipients (an index-only scan, not a grouping of every event).
CREATE INDEX IF NOT EXISTS events_contact_at ON events (campaign_id, contact_id, at);
-- A split test's send (``splitTestOptions``): ``phase`` pending (the send is not due), testing (the versions went
-- to the test share, the winner is picked at ``decide_at``) or done (the winner went to the rest).
CREATE TABLE IF NOT EXISTS split_tests (
    campaign_id INTEGER PRIMARY KEY, send_id TEXT NOT NULL, metric TEXT NOT NULL, percentage INTEGER NOT NULL,
    period_hours INTEGER NOT NULL, decide_at REAL NOT NULL, phase TEXT NOT NULL, winner INTEGER);
CREATE TABLE IF NOT EXISTS split_recipients (
    campaign_id INTEGER NOT NULL, contact_id INTEGER NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, contact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS status_changes (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, status TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS status_changes_at ON status_changes (at);
-- v3 identifiers other than the email (mobileNumber, the account's custom identifiers), unique per name.
CREATE TABLE IF NOT EXISTS identifiers (
    name TEXT NOT NULL, value_key TEXT NOT NULL, value TEXT NOT NULL, contact_id INTEGER NOT NULL,
    PRIMARY KEY (name, value_key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_contact ON identifiers (contact_id);
CREATE TABLE IF NOT EXISTS consents (
    id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL, body TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS consents_contact ON consents (contact_id);
CREATE TABLE IF NOT EXISTS v3_imports (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, outcome TEXT NOT NULL, created REAL NOT NULL, due REAL NOT NULL,
    body TEXT, result TEXT);
"""

ALL_CONTACTS = "All Contacts"
TEST_BOOK = "Test"
SENDABLE = ("Subscribed", "SoftBounced")
MAX_HOLES = 50_000  # removals a book absorbs before its positions are renumbered

# What a new dotdigital account shows; the sandbox starts like one so demos have something to display.
SEED_DATA_FIELDS = (
    ("FIRSTNAME", "String"),
    ("LASTNAME", "String"),
    ("FULLNAME", "String"),
    ("GENDER", "String"),
    ("POSTCODE", "String"),
    ("LASTSUBSCRIBED", "Date"),
)
SEED_FROM_ADDRESSES = ("news@sandbox.example.com", "marketing@sandbox.example.com")
SEED_TEMPLATE = {
    "name": "Monthly newsletter",
    "subject": "News from the sandbox",
    "fromName": "Sandbox Marketing",
    "htmlContent": (
        '<html><body><h1>Hello $FIRSTNAME$</h1><p>Read <a href="https://example.com/news">our news</a> or '
        '<a href="https://example.com/shop">visit the shop</a>.</p>'
        '<p><a href="http://$UNSUB$">Unsubscribe</a></p></body></html>'
    ),
    "plainTextContent": "Hello $FIRSTNAME$, read our news at https://example.com/news. Unsubscribe: http://$UNSUB$",
    "replyAction": "Unset",
    "replyToAddress": "",
}


def new_guid():
    return str(uuid.uuid4())


class Store:
    """The database, its lock and the clock. Callers hold ``lock`` around every use of ``db``."""

    def __init__(self, state_dir=None):
        self.lock = threading.RLock()
        path = os.path.join(state_dir, "sandbox.sqlite3") if state_dir else ":memory:"
        if state_dir:
            os.makedirs(state_dir, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        if state_dir:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._migrate()
        self.clock = Clock(float(self.get_meta("clock_offset", "0")))
        if self.get_meta("seeded", "") != "1":
            self.seed()

    def _migrate(self):
        """Columns added since a state directory was created (CREATE TABLE IF NOT EXISTS leaves old tables)."""
        columns = {row["name"] for row in self.db.execute("PRAGMA table_info(books)")}
        if "created" not in columns:
            self.db.execute("ALTER TABLE books ADD COLUMN created REAL")

    # -- meta and clock -------------------------------------------------------------------------------------

    def get_meta(self, key, default):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key, value):
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))

    def now(self):
        return self.clock.now()

    def advance_clock(self, seconds):
        self.clock.advance(seconds)
        self.set_meta("clock_offset", self.clock.offset)

    # -- lifecycle --------------------------------------------------------------------------------------------

    def reset(self, clock_offset=0.0):
        """Empty every table and seed again, as a fresh account.

        :param clock_offset: seconds the new account's clock is ahead of wall time (negative: behind). A fresh
            account has no history, so starting it in the past is safe; a demo then advances the clock to build
            one (a campaign sent days ago, its engagement since).
        """
        with self.lock:
            tables = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            self.db.execute("BEGIN")
            for table in tables:
                self.db.execute(f"DELETE FROM {table}")  # noqa: S608 - names come from sqlite_master
            self.db.execute("COMMIT")
            self.clock = Clock(float(clock_offset))
            self.seed()

    def seed(self):
        self.db.execute("BEGIN")
        for name in (ALL_CONTACTS, TEST_BOOK):
            self.db.execute(
                "INSERT INTO books (name, name_key, visibility, system, created) VALUES (?, ?, 'Private', 1, ?)",
                (name, name.casefold(), self.now()),
            )
        self.db.executemany(
            "INSERT INTO data_fields (name_key, name, type, visibility, default_value) VALUES (?, ?, ?, 'Private', 'null')",
            [(name.casefold(), name, kind) for name, kind in SEED_DATA_FIELDS],
        )
        self.db.executemany("INSERT INTO from_addresses (email) VALUES (?)", [(e,) for e in SEED_FROM_ADDRESSES])
        self.db.execute("INSERT INTO templates (body) VALUES (?)", (json.dumps(SEED_TEMPLATE),))
        self.set_meta("seeded", "1")
        self.set_meta("clock_offset", self.clock.offset)
        self.db.execute("COMMIT")

    def close(self):
        with self.lock:
            self.db.close()

    # -- address books ----------------------------------------------------------------------------------------

    def all_contacts_book_id(self):
        return self.db.execute("SELECT id FROM books WHERE name_key = ?", (ALL_CONTACTS.casefold(),)).fetchone()[0]

    def book(self, book_id):
        return self.db.execute("SELECT * FROM books WHERE id = ?", (book_id,)).fetchone()

    def book_by_name(self, name):
        return self.db.execute("SELECT * FROM books WHERE name_key = ?", (name.casefold(),)).fetchone()

    def book_count(self, book_id):
        return self.db.execute("SELECT COUNT(*) FROM members WHERE book_id = ?", (book_id,)).fetchone()[0]

    def books(self, visibility=None, skip=0, select=1000):
        where, args = ("WHERE visibility = ?", [visibility]) if visibility else ("", [])
        return self.db.execute(
            f"SELECT * FROM books {where} ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608 - fixed fragments
            (*args, select, skip),
        ).fetchall()

    def create_book(self, name, visibility):
        cursor = self.db.execute(
            "INSERT INTO books (name, name_key, visibility, created) VALUES (?, ?, ?, ?)",
            (name, name.casefold(), visibility, self.now()),
        )
        return cursor.lastrowid

    def update_book(self, book_id, name, visibility):
        self.db.execute(
            "UPDATE books SET name = ?, name_key = ?, visibility = ? WHERE id = ?",
            (name, name.casefold(), visibility, book_id),
        )

    def delete_book(self, book_id):
        self.db.execute("BEGIN")
        self.db.execute("DELETE FROM members WHERE book_id = ?", (book_id,))
        self.db.execute("DELETE FROM holes WHERE book_id = ?", (book_id,))
        self.db.execute("DELETE FROM books WHERE id = ?", (book_id,))
        self.db.execute("COMMIT")

    def books_of_contact(self, contact_id, skip, select):
        return self.db.execute(
            "SELECT b.* FROM books b JOIN members m ON m.book_id = b.id WHERE m.contact_id = ? "
            "ORDER BY b.id LIMIT ? OFFSET ?",
            (contact_id, select, skip),
        ).fetchall()

    # -- membership paging --------------------------------------------------------------------------------------

    def compact(self, book_id):
        """Renumber a book's positions 0..n-1 and forget its holes."""
        self.db.execute("BEGIN")
        self.db.execute(
            "UPDATE members SET position = r.pos FROM ("
            "  SELECT contact_id, ROW_NUMBER() OVER (ORDER BY position) - 1 AS pos FROM members WHERE book_id = ?"
            ") AS r WHERE members.book_id = ? AND members.contact_id = r.contact_id",
            (book_id, book_id),
        )
        self.db.execute(
            "UPDATE books SET next_position = (SELECT COUNT(*) FROM members WHERE book_id = ?) WHERE id = ?",
            (book_id, book_id),
        )
        self.db.execute("DELETE FROM holes WHERE book_id = ?", (book_id,))
        self.db.execute("COMMIT")

    def _position_of(self, book_id, skip):
        """Position of the book's ``skip``-th member: ``skip`` plus the holes that lie before it."""
        position = skip
        holes = self.db.execute("SELECT position FROM holes WHERE book_id = ? ORDER BY position", (book_id,))
        for (hole,) in holes:
            if hole > position:
                break
            position += 1
        return position

    def book_page(self, book_id, skip, select):
        """One page of a book in insertion order: an index range on ``position``, whatever ``skip`` is."""
        return self.db.execute(
            "SELECT c.*, m.unsubscribed AS book_unsubscribed FROM members m JOIN contacts c ON c.id = m.contact_id "
            "WHERE m.book_id = ? AND m.position >= ? ORDER BY m.position LIMIT ?",
            (book_id, self._position_of(book_id, skip), select),
        ).fetchall()

    def book_modified_since(self, book_id, since, skip, select):
        return self.db.execute(
            "SELECT c.*, m.unsubscribed AS book_unsubscribed FROM members m JOIN contacts c ON c.id = m.contact_id "
            "WHERE m.book_id = ? AND (c.modified >= ? OR m.modified >= ?) ORDER BY m.position LIMIT ? OFFSET ?",
            (book_id, since, since, select, skip),
        ).fetchall()

    def contacts_changed_since(self, column, since, skip, select):
        """Account-level created-since / modified-since feeds; ``column`` is a fixed name, never input."""
        assert column in ("created", "modified")
        return self.db.execute(
            f"SELECT c.*, 0 AS book_unsubscribed FROM contacts c WHERE c.{column} >= ? "  # noqa: S608
            "ORDER BY c.id LIMIT ? OFFSET ?",
            (since, select, skip),
        ).fetchall()

    def add_member(self, book_id, contact_id):
        """Add a contact to a book (and to All Contacts); a book-level unsubscribe stays in place."""
        now = self.now()
        for target in {book_id, self.all_contacts_book_id()}:
            inserted = self.db.execute(
                "INSERT INTO members (book_id, contact_id, position, modified) "
                "SELECT ?, ?, next_position, ? FROM books WHERE id = ? "
                "ON CONFLICT (book_id, contact_id) DO NOTHING",
                (target, contact_id, now, target),
            ).rowcount
            if inserted:
                self.db.execute("UPDATE books SET next_position = next_position + 1 WHERE id = ?", (target,))

    def member(self, book_id, contact_id):
        return self.db.execute(
            "SELECT * FROM members WHERE book_id = ? AND contact_id = ?", (book_id, contact_id)
        ).fetchone()

    def remove_members(self, book_id, contact_ids):
        pairs = [(book_id, contact_id) for contact_id in contact_ids]
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT OR IGNORE INTO holes (book_id, position) "
            "SELECT book_id, position FROM members WHERE book_id = ? AND contact_id = ?",
            pairs,
        )
        self.db.executemany("DELETE FROM members WHERE book_id = ? AND contact_id = ?", pairs)
        self.db.execute("COMMIT")
        if self.db.execute("SELECT COUNT(*) FROM holes WHERE book_id = ?", (book_id,)).fetchone()[0] > MAX_HOLES:
            self.compact(book_id)

    def empty_book(self, book_id):
        self.db.execute("DELETE FROM members WHERE book_id = ?", (book_id,))
        self.db.execute("DELETE FROM holes WHERE book_id = ?", (book_id,))
        self.db.execute("UPDATE books SET next_position = 0 WHERE id = ?", (book_id,))

    # -- contacts ----------------------------------------------------------------------------------------------

    def contact(self, contact_id):
        return self.db.execute("SELECT c.*, 0 AS book_unsubscribed FROM contacts c WHERE id = ?", (contact_id,)).fetchone()

    def contact_by_email(self, email):
        return self.db.execute(
            "SELECT c.*, 0 AS book_unsubscribed FROM contacts c WHERE email_key = ?", (email.strip().casefold(),)
        ).fetchone()

    def create_contact(self, email, opt_in_type="Unknown", email_type="Html", data=None, status="Subscribed"):
        now = self.now()
        cursor = self.db.execute(
            "INSERT INTO contacts (email, email_key, opt_in_type, email_type, status, data, created, modified) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (email.strip(), email.strip().casefold(), opt_in_type, email_type, status, json.dumps(data or {}), now, now),
        )
        contact_id = cursor.lastrowid
        self.add_member(self.all_contacts_book_id(), contact_id)
        return contact_id

    def update_contact(self, contact_id, **values):
        """Update columns of a contact and stamp ``modified``; ``data`` is a dict, merged by the caller."""
        if "data" in values:
            values["data"] = json.dumps(values["data"])
        if "email" in values:
            values["email_key"] = values["email"].strip().casefold()
        values["modified"] = self.now()
        assignments = ", ".join(f"{column} = ?" for column in values)
        self.db.execute(
            f"UPDATE contacts SET {assignments} WHERE id = ?",  # noqa: S608 - column names are ours
            (*values.values(), contact_id),
        )

    def delete_contact(self, contact_id):
        book_ids = [r[0] for r in self.db.execute("SELECT book_id FROM members WHERE contact_id = ?", (contact_id,))]
        for book_id in book_ids:
            self.remove_members(book_id, [contact_id])
        self.db.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
        # Its campaign activity goes with it: reports and the activity and click feeds no longer show it (the
        # later rows of those feeds move up).
        self.db.execute("DELETE FROM events WHERE contact_id = ?", (contact_id,))

    def set_status(self, contact_id, status, book_id=None, at=None):
        """Change a contact's status as dotdigital would, recording suppressions for the since-date feeds.

        :param book_id: with a book, only that membership is unsubscribed (book-level unsubscribe); the
            account-wide status is left alone.
        :param at: epoch seconds of the change, for simulated events that happened before the clock's now.
        """
        now = self.now() if at is None else at
        if book_id is not None:
            self.db.execute(
                "UPDATE members SET unsubscribed = ?, modified = ? WHERE book_id = ? AND contact_id = ?",
                (int(status != "Subscribed"), now, book_id, contact_id),
            )
        else:
            self.update_contact(contact_id, status=status)
        if status not in SENDABLE:
            self.db.execute(
                "INSERT INTO suppressions (contact_id, book_id, reason, at) VALUES (?, ?, ?, ?)",
                (contact_id, book_id, status, now),
            )

    def resubscribe(self, contact_id, book_id=None):
        now = self.now()
        self.update_contact(contact_id, status="Subscribed")
        self.db.execute(
            "UPDATE members SET unsubscribed = 0, modified = ? WHERE contact_id = ? AND (? IS NULL OR book_id = ?)",
            (now, contact_id, book_id, book_id),
        )

    def suppressions(self, since, skip, select, book_id=None):
        """Suppression events after ``since``; for a book, its own unsubscribes plus account-wide ones of members."""
        if book_id is None:
            where, args = "s.book_id IS NULL", ()
        else:
            where = "(s.book_id = ? OR (s.book_id IS NULL AND EXISTS (SELECT 1 FROM members m WHERE m.book_id = ? AND m.contact_id = s.contact_id)))"
            args = (book_id, book_id)
        query = f"SELECT s.reason, s.at, c.*, 0 AS book_unsubscribed FROM suppressions s JOIN contacts c ON c.id = s.contact_id WHERE s.at >= ? AND {where} ORDER BY s.id LIMIT ? OFFSET ?"  # noqa: S608 - fixed fragments
        return self.db.execute(query, (since, *args, select, skip)).fetchall()

    # -- data fields, from-addresses, templates -------------------------------------------------------------

    def data_fields(self):
        return self.db.execute("SELECT * FROM data_fields ORDER BY rowid").fetchall()

    def data_field_names(self):
        """Map of case-folded name to the name as created."""
        return {row["name_key"]: row["name"] for row in self.data_fields()}

    def create_data_field(self, name, kind, visibility, default_value):
        self.db.execute(
            "INSERT INTO data_fields (name_key, name, type, visibility, default_value) VALUES (?, ?, ?, ?, ?)",
            (name.casefold(), name, kind, visibility, json.dumps(default_value)),
        )

    def delete_data_field(self, name):
        return self.db.execute("DELETE FROM data_fields WHERE name_key = ?", (name.casefold(),)).rowcount

    def from_addresses(self, skip, select):
        return self.db.execute(
            "SELECT * FROM from_addresses ORDER BY id LIMIT ? OFFSET ?", (select, skip)
        ).fetchall()

    def from_address(self, address_id):
        return self.db.execute("SELECT * FROM from_addresses WHERE id = ?", (address_id,)).fetchone()

    def templates(self, skip, select):
        return self.db.execute("SELECT * FROM templates ORDER BY id LIMIT ? OFFSET ?", (select, skip)).fetchall()

    def template(self, template_id):
        return self.db.execute("SELECT * FROM templates WHERE id = ?", (template_id,)).fetchone()

    def save_template(self, body, template_id=None):
        if template_id is None:
            return self.db.execute("INSERT INTO templates (body) VALUES (?)", (json.dumps(body),)).lastrowid
        self.db.execute("UPDATE templates SET body = ? WHERE id = ?", (json.dumps(body), template_id))
        return template_id

    # -- bulk deletions -----------------------------------------------------------------------------------------

    def record_deletion(self, status):
        deletion_id = new_guid()
        self.db.execute("INSERT INTO deletions (id, status) VALUES (?, ?)", (deletion_id, status))
        return deletion_id

    def deletion(self, deletion_id):
        return self.db.execute("SELECT * FROM deletions WHERE id = ?", (deletion_id,)).fetchone()
