"""Bulk contact imports: accepted at once, applied later, reported the way dotdigital reports them.

A 100,000-row file is applied with a handful of ``executemany`` calls and two ``INSERT … SELECT`` statements
over a temporary table of the file's emails; Python only builds one tuple per row.
"""

import csv
import io
import json
import re

from . import errors
from .store import new_guid

MAX_ACTIVE_IMPORTS = 25
NEVER = 1e18  # the due time of an import planned to stay NotFinished
EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z0-9-]{2,}$")
IMPORTABLE = ("Subscribed", "SoftBounced", "PendingOptIn")
# Columns the importer understands besides data fields (compared case-insensitively).
KNOWN_COLUMNS = {"email", "optintype", "emailtype", "consenttext", "consenturl", "consentdatetime", "consentip",
                 "consentuseragent"}
# Contact status -> (report-faults Reason, ApiContactImportReport counter); M2 and Oro parse these reasons.
FAULTS = {
    "Unsubscribed": ("Unsubscribed", "unsubscribed"),
    "HardBounced": ("Hard Bounced", "hardBounced"),
    "IspComplained": ("Isp Complaints", "ispComplaints"),
    "MailBlocked": ("Mail Blocked", "mailBlocked"),
    "DomainSuppression": ("Domain Suppressed", "domainSuppressed"),
    "Suppressed": ("Suppressed by you", "suppressedContacts"),
    "DirectComplaint": ("Blocked", "blocked"),
    "NotAllowed": ("Blocked", "blocked"),
}
GLOBAL_FAULT = ("Globally Suppressed", "globallySuppressed")
REPORT_KEYS = ("newContacts", "updatedContacts", "globallySuppressed", "invalidEntries", "duplicateEmails", "blocked",
               "unsubscribed", "hardBounced", "softBounced", "ispComplaints", "mailBlocked", "domainSuppressed",
               "pendingDoubleOptin", "failures", "suppressedContacts")


# One shared encoder: the data column of 100,000 rows is encoded in a tight loop.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def decode_rows(data, header_only=False):
    """CSV rows of an uploaded file, or None when it is not UTF-8 text (dotdigital: InvalidFileFormat)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    reader = csv.reader(io.StringIO(text))
    return [next(reader, [])] if header_only else list(reader)


def plan_outcome(store, data, file_name):
    """Check the upload the way the service does before answering 202; return the status it will end in.

    :raises ApiError: ``ERROR_NO_EMAIL_COLUMN`` when no column is headed Email.
    """
    rows = decode_rows(data, header_only=True)
    if rows is None or not file_name.lower().endswith((".csv", ".txt")):
        return "InvalidFileFormat"
    header = [column.strip().casefold() for column in rows[0]]
    if "email" not in header:
        raise errors.bad_request("ERROR_NO_EMAIL_COLUMN", "The file has no Email column.")
    fields = store.data_field_names()
    unknown = [c for c in header if c not in KNOWN_COLUMNS and c not in fields and not c.startswith("preference:")]
    if unknown:
        # The real service fails the whole import when a column matches no data field.
        return "Failed"
    return "Finished"


def create_import(store, book_id, data, file_name, merge_option, outcome, delay):
    """Record an accepted import; it is applied by ``process_due`` once the sandbox clock reaches ``due``."""
    import_id = new_guid()
    now = store.now()
    due = NEVER if outcome == "NotFinished" else now + delay
    store.db.execute(
        "INSERT INTO imports (id, book_id, status, outcome, created, due, merge_option, file) "
        "VALUES (?, ?, 'NotFinished', ?, ?, ?, ?, ?)",
        (import_id, book_id, outcome, now, due, merge_option, data),
    )
    return import_id


def active_imports(store):
    return store.db.execute("SELECT COUNT(*) FROM imports WHERE status = 'NotFinished'").fetchone()[0]


def process_due(store, exclude=None):
    """Finish every import whose time has come (``exclude``: the one the current request just created)."""
    due = store.db.execute(
        "SELECT * FROM imports WHERE status = 'NotFinished' AND due <= ? AND id IS NOT ? ORDER BY created",
        (store.now(), exclude),
    ).fetchall()
    for row in due:
        report, faults, status = dict.fromkeys(REPORT_KEYS, 0), "", row["outcome"]
        if status == "Finished" and store.book(row["book_id"]) is None:
            status = "Failed"  # the book was deleted while the import waited
        elif status == "Finished":
            report, faults = apply_import(store, row["book_id"], row["file"], row["merge_option"])
        store.db.execute(
            "UPDATE imports SET status = ?, report = ?, faults = ?, file = NULL WHERE id = ?",
            (status, json.dumps(report), faults, row["id"]),
        )


def _header_map(header, fields):
    """Indexes of the Email, OptInType, EmailType columns and of the data-field columns."""
    keys = [column.strip().casefold() for column in header]
    data_columns = [(i, fields[key]) for i, key in enumerate(keys) if key in fields]
    find = keys.index
    return (
        find("email"),
        find("optintype") if "optintype" in keys else None,
        find("emailtype") if "emailtype" in keys else None,
        data_columns,
    )


def _to_number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _to_bool(text):
    lowered = text.lower()
    return lowered in ("true", "yes", "1") if lowered in ("true", "yes", "1", "false", "no", "0") else text


CONVERTERS = {"Numeric": _to_number, "Boolean": _to_bool}


def _parse(rows, fields, types):
    """Split the file into valid rows (email, key, opt-in, email type, values, raw row) and faulty ones.

    :param fields: case-folded data-field name -> name as created.
    :param types: name -> data-field type; Numeric and Boolean cells are stored as JSON numbers and booleans.
    """
    email_at, opt_in_at, email_type_at, data_columns = _header_map(rows[0], fields)
    typed = [(name, CONVERTERS[types[name]]) for _i, name in data_columns if types[name] in CONVERTERS]
    valid, faults, seen = [], [], set()
    counts = dict.fromkeys(REPORT_KEYS, 0)
    width = len(rows[0])
    for raw in rows[1:]:
        if not "".join(raw).strip():
            continue
        if len(raw) < width:
            raw = raw + [""] * (width - len(raw))
        email = raw[email_at].strip()
        key = email.casefold()
        if not EMAIL_RE.match(email):
            counts["invalidEntries"] += 1
            faults.append(("Invalid Entries", raw))
            continue
        if key in seen:
            counts["duplicateEmails"] += 1
            continue
        seen.add(key)
        values = {name: raw[i].strip() for i, name in data_columns}
        for name, convert in typed:
            if values[name]:
                values[name] = convert(values[name])
        opt_in = raw[opt_in_at].strip() if opt_in_at is not None and raw[opt_in_at].strip() else "Unknown"
        email_type = raw[email_type_at].strip() if email_type_at is not None and raw[email_type_at].strip() else "Html"
        valid.append((email, key, opt_in, email_type, values, raw))
    return valid, faults, counts


def _merge(existing, values, merge_option):
    """Data of an existing contact after the file row, per dotdigital's merge options."""
    merged = json.loads(existing)
    for name, value in values.items():
        if merge_option == "OnlyOverwriteIfNotEmpty" and value == "":
            continue
        if merge_option == "OnlyOverwriteIfContactDataNotPopulated" and merged.get(name) not in (None, ""):
            continue
        if value == "":
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def apply_import(store, book_id, data, merge_option):
    """Apply a file to the contacts and the book; return (report dict, report-faults CSV text)."""
    rows = decode_rows(data)
    types = {row["name"]: row["type"] for row in store.data_fields()}
    valid, faults, counts = _parse(rows, store.data_field_names(), types)
    db, now = store.db, store.now()
    db.execute("BEGIN")
    # The file's emails in a temporary table, so that lookups and membership are set-based SQL; the few
    # refused ones go to a second table rather than flagging 100,000 rows one by one.
    db.execute("CREATE TEMP TABLE IF NOT EXISTS import_keys (key TEXT PRIMARY KEY, seq INTEGER) WITHOUT ROWID")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS import_refused (key TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute("DELETE FROM import_keys")
    db.execute("DELETE FROM import_refused")
    db.executemany("INSERT INTO import_keys (key, seq) VALUES (?, ?)", [(row[1], seq) for seq, row in enumerate(valid)])
    existing = {
        r["email_key"]: r
        for r in db.execute(
            "SELECT c.id, c.email_key, c.status, c.data, m.unsubscribed FROM import_keys k "
            "JOIN contacts c ON c.email_key = k.key LEFT JOIN members m ON m.book_id = ? AND m.contact_id = c.id",
            (book_id,),
        )
    }
    inserts, updates, refused = [], [], []
    for email, key, opt_in, email_type, values, raw in valid:
        current = existing.get(key)
        if current is None:
            inserts.append((email, key, opt_in, email_type, "Subscribed", _encode(values), now, now))
        elif current["status"] not in IMPORTABLE or current["unsubscribed"]:
            # An import never re-subscribes anyone: the row lands in the faults report instead.
            reason, counter = FAULTS.get(current["status"], GLOBAL_FAULT) if current["status"] not in IMPORTABLE \
                else FAULTS["Unsubscribed"]
            counts[counter] += 1
            faults.append((reason, raw))
            refused.append((key,))
        else:
            updates.append((_encode(_merge(current["data"], values, merge_option)), now, current["id"]))
    db.executemany(
        "INSERT INTO contacts (email, email_key, opt_in_type, email_type, status, data, created, modified) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        inserts,
    )
    db.executemany("UPDATE contacts SET data = ?, modified = ? WHERE id = ?", updates)
    db.executemany("INSERT INTO import_refused (key) VALUES (?)", refused)
    for target in {book_id, store.all_contacts_book_id()}:
        _add_members(store, target, now)
    db.execute("COMMIT")
    counts["newContacts"], counts["updatedContacts"] = len(inserts), len(updates)
    return counts, _faults_csv(rows[0], faults)


def _add_members(store, book_id, now):
    """Append the accepted contacts that are not yet members, keeping the book's positions dense."""
    base = store.db.execute("SELECT next_position FROM books WHERE id = ?", (book_id,)).fetchone()[0]
    added = store.db.execute(
        "INSERT INTO members (book_id, contact_id, position, modified) "
        "SELECT ?, c.id, ? + ROW_NUMBER() OVER (ORDER BY k.seq) - 1, ? FROM import_keys k "
        "JOIN contacts c ON c.email_key = k.key WHERE k.key NOT IN (SELECT key FROM import_refused) "
        "AND NOT EXISTS (SELECT 1 FROM members m WHERE m.book_id = ? AND m.contact_id = c.id)",
        (book_id, base, now, book_id),
    ).rowcount
    store.db.execute("UPDATE books SET next_position = next_position + ? WHERE id = ?", (added, book_id))


def _faults_csv(header, faults):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Reason", *header])
    for reason, raw in faults:
        writer.writerow([reason, *raw])
    return out.getvalue()


def import_row(store, import_id):
    return store.db.execute("SELECT * FROM imports WHERE id = ?", (import_id,)).fetchone()
