"""dotdigital's v3 Contacts (3.4.3) and Configuration (3.0.2) operations, on the very store v2 uses.

A contact written through v3 is the v2 contact of the same id: its email, status, opt-in and email types, data
fields and book memberships are the same rows (a v3 list is a v2 address book). v3 adds what v2 has no place
for: identifiers other than the email (``identifiers`` table: ``mobileNumber`` and the account's custom
identifiers) and consent records (``consents``).

Leniency, as the service is lenient: names of enum values in any casing (``Html`` and ``html``), a missing
``matchIdentifier`` taken as ``email`` when an email is given, ``include`` split on ``|`` or ``,``, unknown
``include`` values and data-field names in ``data-fields`` ignored, ``dateTimeConsented`` with or without ``Z``.

Where the spec says nothing, the sandbox states its choice (the codes in ``FAILURES``): a row naming an unknown
list, data field or identifier fails alone; a row whose contact is suppressed (account-wide, or unsubscribed
from a list it names) fails with ``globallySuppressed`` / ``listSuppressed`` and changes nothing, as a v2 import
row lands in the faults report; a row whose identifiers belong to another contact fails with
``duplicateIdentifier`` ("All identifiers must be unique!", the 409 of ``POST /contacts/v3``).
"""

import base64
import binascii
import json

from werkzeug.routing import Rule

from . import errors
from .errors import V3Error
from .imports import EMAIL_RE, IMPORTABLE, MAX_ACTIVE_IMPORTS, NEVER
from .store import SENDABLE, TEST_BOOK, new_guid
from .timeutil import parse_iso, to_iso
from .web import json_response, read_json

MAX_LIMIT = 5000
DEFAULT_LIMIT = 1000
MAX_LISTS = 100
MAX_CONSENTS = 5
BUILT_IN_IDENTIFIERS = ("email", "mobileNumber", "contactId")
INCLUDES = ("channelProperties", "lists", "preferences", "consentRecords")
CONSENT_FIELDS = ("text", "dateTimeConsented", "url", "ipAddress", "userAgent")
MERGE_OPTIONS = {"overwrite": "overwrite", "overwriteifnotempty": "overwriteIfNotEmpty",
                 "overwrite-if-not-empty": "overwriteIfNotEmpty", "overwriteifempty": "overwriteIfEmpty",
                 "overwrite-if-empty": "overwriteIfEmpty"}
OPT_IN_TYPES = {"unknown": "Unknown", "single": "Single", "double": "Double", "verifieddouble": "VerifiedDouble"}
EMAIL_TYPES = {"html": "Html", "plaintext": "PlainText"}
# v2 status -> v3 email channel status (``emailChannelStatus``) and contact status (``status``).
CHANNEL_STATUS = {
    "Subscribed": "subscribed", "Unsubscribed": "unsubscribed", "SoftBounced": "softBounced",
    "HardBounced": "hardBounced", "IspComplained": "ispComplained", "PendingOptIn": "pendingOptIn",
    "DirectComplaint": "directComplaint", "Deleted": "deleted", "MailBlocked": "blockedlocalpart",
    "SharedSuppression": "sharedsuppression", "DomainSuppression": "domainSuppressed", "Suppressed": "suppressed",
    "NotAllowed": "noSubscription", "NoMxRecord": "suppressed",
}
CONTACT_STATUS = {"Subscribed": "subscribed", "SoftBounced": "subscribed", "Unsubscribed": "unsubscribed",
                  "PendingOptIn": "pendingOptIn", "Deleted": "deleted"}
FAILURES = {
    "invalidEmail": "Invalid value for 'email'",
    "duplicateIdentifier": "Duplicate identifier detected for {identifier} '{value}'",
    "invalidIdentifier": "The identifier '{identifier}' is not a contact identifier of this account",
    "contactNotFound": "The contact could not be found",
    "invalidDataField": "The data field '{value}' does not exist",
    "listNotFound": "The list '{value}' does not exist or cannot be written to",
    "consentRecordsNotApplied": "The provided consent records could not be applied as they were incorrectly formatted",
    "globallySuppressed": "The contact is suppressed ({value}) and cannot be updated",
    "listSuppressed": "The contact is unsubscribed from the list '{value}'",
}

RULES = [
    Rule("/contacts/v3", endpoint="v3_list_contacts", methods=["GET"]),
    Rule("/contacts/v3/import", endpoint="v3_import", methods=["PUT"]),
    Rule("/contacts/v3/import/<import_id>", endpoint="v3_get_import", methods=["GET"]),
    Rule("/contacts/v3/<identifier>/<value>", endpoint="v3_get_contact", methods=["GET"]),
    Rule("/contacts/v3/<identifier>/<value>", endpoint="v3_patch_contact", methods=["PATCH"]),
    Rule("/configuration/v3/customIdentifiers", endpoint="v3_custom_identifiers", methods=["GET"]),
]


class RowFailure(Exception):
    def __init__(self, code, **values):
        super().__init__(code)
        self.code = code
        self.description = FAILURES[code].format(**values)


class ContactsV3Api:
    """Handlers; ``self.store``, ``self.config`` and ``self.faults`` come from the application class."""

    def _v3_allowed(self):
        if not self.config.v3_contacts:
            raise V3Error(403, "forbidden", "The API user is not allowed to use this API")

    # -- configuration ----------------------------------------------------------------------------------------

    def on_v3_custom_identifiers(self, request):
        self._v3_allowed()
        created = to_iso(float(self.store.get_meta("created", "0")) or self.store.now())
        return json_response([{"name": name, "created": created, "updated": created}
                              for name in self.config.custom_identifiers])

    # -- imports ----------------------------------------------------------------------------------------------

    def on_v3_import(self, request):
        self._v3_allowed()
        body = _json_body(request)
        contacts = body.get("contacts") if isinstance(body, dict) else body if isinstance(body, list) else None
        if not contacts or not isinstance(contacts, list):
            raise V3Error(400, "contacts:noContactsSpecified", "No contacts were specified")
        merge = MERGE_OPTIONS.get(str(body.get("mergeOption", "overwrite") if isinstance(body, dict)
                                      else "overwrite").casefold())
        if merge is None:
            raise V3Error(400, "contacts:badJson", "The value of 'mergeOption' is invalid")
        active = self.store.db.execute("SELECT COUNT(*) FROM v3_imports WHERE status = 'NotFinished'").fetchone()[0]
        if active >= MAX_ACTIVE_IMPORTS:
            raise V3Error(429, "contacts:tooManyActiveImports",
                          "Your import request cannot be accepted as too many imports are being processed for your "
                          "account. Please wait for an import to complete and then resubmit.")
        outcome = self.faults.take_import() or "Finished"
        now = self.store.now()
        import_id = new_guid()
        self.store.db.execute(
            "INSERT INTO v3_imports (id, status, outcome, created, due, body) VALUES (?, 'NotFinished', ?, ?, ?, ?)",
            (import_id, outcome, now, NEVER if outcome == "NotFinished" else now + float(self.config.import_delay),
             json.dumps({"mergeOption": merge, "contacts": contacts})),
        )
        return json_response({"importId": import_id}, 202)

    def on_v3_get_import(self, request, import_id):
        self._v3_allowed()
        row = self.store.db.execute("SELECT * FROM v3_imports WHERE id = ?", (import_id,)).fetchone()
        if row is None:
            raise V3Error(404, "contacts:importNotFound", f"The import request '{import_id}' could not be found!")
        answer = {"importId": row["id"], "status": row["status"]}
        if row["result"]:
            answer.update(json.loads(row["result"]))
        return json_response(answer)

    # -- reads ------------------------------------------------------------------------------------------------

    def on_v3_list_contacts(self, request):
        self._v3_allowed()
        args = request.args
        limit = _int(args.get("limit"), DEFAULT_LIMIT, "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise V3Error(400, "contacts:invalidLimit", f"The limit must be between 1 and {MAX_LIMIT}")
        if args.get("~created") and args.get("~modified"):
            raise V3Error(400, "contacts:invalidFilter", "~created and ~modified cannot be used together")
        if args.get("~segmentId"):
            raise V3Error(400, "contacts:invalidFilter", "The sandbox has no segments")
        where, params = ["c.id > ?"], [_marker(args.get("marker"))]
        join = ""
        list_id = args.get("~listId")
        if list_id not in (None, ""):
            list_id = _int(list_id, None, "~listId")
            join = "JOIN members m ON m.contact_id = c.id AND m.book_id = ?"
            params.insert(0, list_id)
        for name, column in (("~modified", "modified"), ("~created", "created")):
            if args.get(name):
                since = _filter_date(args[name])
                if join and column == "modified":
                    where.append("(c.modified >= ? OR m.modified >= ?)")
                    params += [since, since]
                else:
                    where.append(f"c.{column} >= ?")
                    params.append(since)
        # In a list, the membership's key (book, contact) gives the order: no sort of the rest of the list per page.
        order = "m.contact_id" if join else "c.id"
        rows = self.store.db.execute(
            f"SELECT c.* FROM contacts c {join} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",  # noqa: S608
            (*params, limit + 1),
        ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        include = _pipe_list(args.get("include"))
        fields = self._v3_field_names(_pipe_list(args.get("data-fields")))
        base = f"{request.base_url}?"
        query = "&".join(f"{key}={value}" for key, value in args.items() if key != "marker")
        current = args.get("marker") or ""
        links = {"self": {"marker": current, "link": f"{base}{query}&marker={current}"},
                 "first": {"marker": "", "link": f"{base}{query}"}}
        if more:
            marker = _encode_marker(rows[-1]["id"])
            links["next"] = {"marker": marker, "link": f"{base}{query}&marker={marker}"}
        return json_response({"_links": links, "_items": [self._v3_contact(row, include, fields) for row in rows]})

    def on_v3_get_contact(self, request, identifier, value):
        self._v3_allowed()
        row = self._v3_find(identifier, value)
        if row is None:
            raise V3Error(404, "contacts:contactNotFound", f"The contact '{value}' could not be found")
        return json_response(self._v3_contact(row, INCLUDES, self._v3_field_names(["[[ALL]]"])))

    def on_v3_patch_contact(self, request, identifier, value):
        self._v3_allowed()
        body = _json_body(request)
        if not isinstance(body, dict):
            raise V3Error(400, "contacts:badJson", "The request JSON is badly formed")
        identifiers = dict(body.get("identifiers") or {})
        identifiers.setdefault(identifier, value)
        merge = MERGE_OPTIONS.get(str(request.args.get("merge-option", "overwrite")).casefold(), "overwrite")
        try:
            contact_id, created = apply_contact(self.store, self.config, {**body, "identifiers": identifiers,
                                                                          "matchIdentifier": identifier}, merge)
        except RowFailure as failure:
            status = 409 if failure.code == "duplicateIdentifier" else 400
            raise V3Error(status, f"contacts:{failure.code}", failure.description)
        row = self.store.contact(contact_id)
        return json_response(self._v3_contact(row, INCLUDES, self._v3_field_names(["[[ALL]]"])), 201 if created else 200)

    # -- rendering ----------------------------------------------------------------------------------------------

    def _v3_field_names(self, requested):
        names = [row["name"] for row in self.store.data_fields()]
        if "[[ALL]]" in requested:
            return names
        wanted = {name.casefold() for name in requested}
        return [name for name in names if name.casefold() in wanted]

    def _v3_find(self, identifier, value):
        return find_contact(self.store, self.config, identifier, value)

    def _v3_contact(self, row, include, fields):
        return render_contact(self.store, row, include, fields)


def find_contact(store, config, identifier, value):
    if value in (None, ""):
        return None
    key = identifier.casefold()
    if key == "contactid":
        try:
            return store.contact(int(value))
        except (TypeError, ValueError):
            return None
    if key == "email":
        return store.contact_by_email(str(value))
    name = _identifier_name(config, identifier)
    if name is None:
        return None
    found = store.db.execute("SELECT contact_id FROM identifiers WHERE name = ? AND value_key = ?",
                             (name, str(value).strip().casefold())).fetchone()
    return store.contact(found[0]) if found else None


def _identifier_name(config, identifier):
    """The identifier's name as the account spells it, or None for one it does not have."""
    for name in ("mobileNumber", *config.custom_identifiers):
        if name.casefold() == str(identifier).casefold():
            return name
    return None


def render_contact(store, row, include, fields):
    extra = {r["name"]: r["value"] for r in store.db.execute(
        "SELECT name, value FROM identifiers WHERE contact_id = ? ORDER BY name", (row["id"],))}
    contact = {"contactId": row["id"], "status": CONTACT_STATUS.get(row["status"], "suppressed"),
               "created": to_iso(row["created"]), "updated": to_iso(row["modified"]),
               "identifiers": {"email": row["email"], **extra}}
    if fields:
        values = json.loads(row["data"])
        contact["dataFields"] = {name: values.get(name) for name in fields}
    if "channelProperties" in include:
        contact["channelProperties"] = {"email": {
            "emailType": row["email_type"] if row["email_type"] in EMAIL_TYPES.values() else "Html",
            "optInType": row["opt_in_type"] if row["opt_in_type"] in OPT_IN_TYPES.values() else "Unknown",
            "status": CHANNEL_STATUS.get(row["status"], "suppressed"),
        }}
    if "lists" in include:
        contact["lists"] = [
            {"id": member["id"], "name": member["name"][:128],
             "status": "suppressed" if member["unsubscribed"] or row["status"] not in (*SENDABLE, "PendingOptIn")
             else "pending" if row["status"] == "PendingOptIn" else "subscribed"}
            for member in store.db.execute(
                "SELECT b.id, b.name, m.unsubscribed FROM members m JOIN books b ON b.id = m.book_id "
                "WHERE m.contact_id = ? AND b.system = 0 ORDER BY b.id", (row["id"],))
        ]
    if "consentRecords" in include:
        contact["consentRecords"] = [
            {**json.loads(consent["body"]), "dateTimeCreated": to_iso(consent["created"])}
            for consent in store.db.execute("SELECT * FROM consents WHERE contact_id = ? ORDER BY id", (row["id"],))
        ]
    return contact


# -- applying contacts ---------------------------------------------------------------------------------------------


def expire_optins(store, config):
    """Contacts created ``pendingOptIn`` that did not confirm within ``optin_expiry_days`` of sandbox clock are
    never subscribed: their email channel becomes ``noSubscription`` (v2 ``NotAllowed``). Not a suppression:
    the suppressed-since feeds do not list them, the contacts feed does."""
    days = float(getattr(config, "optin_expiry_days", 0) or 0)
    if days <= 0:
        return
    now = store.now()
    store.db.execute("UPDATE contacts SET status = 'NotAllowed', modified = ? WHERE status = 'PendingOptIn' "
                     "AND created <= ?", (now, now - days * 86400))


def process_due(store, config):
    """Apply the v3 imports whose time has come, row by row, and record their per-row results."""
    due = store.db.execute(
        "SELECT * FROM v3_imports WHERE status = 'NotFinished' AND due <= ? ORDER BY created", (store.now(),)
    ).fetchall()
    for row in due:
        result = None
        if row["outcome"] == "Finished":
            body = json.loads(row["body"])
            store.db.execute("BEGIN")
            result = apply_import(store, config, body["contacts"], body["mergeOption"])
            store.db.execute("COMMIT")
        store.db.execute("UPDATE v3_imports SET status = ?, result = ?, body = NULL WHERE id = ?",
                         (row["outcome"], json.dumps(result) if result else None, row["id"]))


def apply_import(store, config, contacts, merge, bulk=True):
    """Apply an import's rows; return its ``summary``, ``created``, ``updated`` and ``failures``.

    :param bulk: create the rows that can only be new contacts (see :func:`_bulk_create`) in a few set-based
        statements, and the rest one by one; False applies every row one by one (the tests compare both).
    """
    summary = {"newContacts": 0, "updatedContacts": 0, "globallySuppressed": 0, "invalidEntries": 0,
               "duplicateIdentifiers": 0}
    created, updated, failures, seen = [], [], [], set()
    if bulk:
        done = _bulk_create(store, config, contacts)
        created += done.values()
        summary["newContacts"] += len(done)
    for index, contact in enumerate(contacts):
        if bulk and index in done:
            continue
        if not isinstance(contact, dict):
            summary["invalidEntries"] += 1
            continue
        identifiers = contact.get("identifiers") if isinstance(contact.get("identifiers"), dict) else {}
        match = _match_identifier(contact, identifiers)
        try:
            value_key = str(identifiers.get(match, "")).strip().casefold()
            if (match.casefold(), value_key) in seen:
                raise RowFailure("duplicateIdentifier", identifier=match, value=identifiers.get(match))
            seen.add((match.casefold(), value_key))
            contact_id, is_new = apply_contact(store, config, {**contact, "matchIdentifier": match}, merge)
        except RowFailure as failure:
            counter = {"duplicateIdentifier": "duplicateIdentifiers", "globallySuppressed": "globallySuppressed",
                       "listSuppressed": "globallySuppressed"}.get(failure.code, "invalidEntries")
            summary[counter] += 1
            found = find_contact(store, config, match, identifiers.get(match))
            failures.append({**({"contactId": found["id"]} if found is not None else {}),
                             "matchIdentifier": match, "identifiers": _string_identifiers(identifiers),
                             "failures": [{"failureCode": failure.code, "description": failure.description}]})
            continue
        reference = {"contactId": contact_id, "identifiers": _identifiers_of(store, contact_id)}
        (created if is_new else updated).append(reference)
        summary["newContacts" if is_new else "updatedContacts"] += 1
    return {"summary": summary, "created": created, "updated": updated, "failures": failures}


def _bulk_create(store, config, contacts):
    """Create, with a handful of statements, the rows that could only create a new contact, so that a
    million-row first export is applied as fast as a v2 CSV import (``imports.apply_import``); return
    ``{row index: created reference}``.

    A row qualifies when nothing about it depends on another row or on the store: a valid email, identifiers
    and data fields the account has, existing lists, no consent records and no status, matched by the email or
    a custom identifier, and none of its identifiers held by a contact already nor named by any other row of the
    import. Such a row ends as "created" whatever order the rows are applied in; every other row goes through
    :func:`apply_contact` as before, with the same results.
    """
    fields = store.data_field_names()
    books = {}
    candidates, counts = [], {}
    for index, contact in enumerate(contacts):
        row = _bulk_candidate(store, config, contact, fields, books)
        keys = row[1] if row else _identifier_keys(config, contact)
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        if row:
            candidates.append((index, *row))
    candidates = [row for row in candidates if all(counts[key] == 1 for key in row[2])]
    if not candidates:
        return {}
    db, now = store.db, store.now()
    # The candidates' identifiers in a temporary table: which the store holds already is one join.
    db.execute("CREATE TEMP TABLE IF NOT EXISTS v3_bulk_keys (name TEXT, value_key TEXT, seq INTEGER, "
               "PRIMARY KEY (name, value_key)) WITHOUT ROWID")
    db.execute("DELETE FROM v3_bulk_keys")
    db.executemany("INSERT INTO v3_bulk_keys (name, value_key, seq) VALUES (?, ?, ?)",
                   [(name, value_key, seq) for seq, row in enumerate(candidates) for name, value_key in row[2]])
    held = {seq for (seq,) in db.execute(
        "SELECT k.seq FROM v3_bulk_keys k JOIN contacts c ON k.name = 'email' AND c.email_key = k.value_key "
        "UNION SELECT k.seq FROM v3_bulk_keys k JOIN identifiers i ON i.name = k.name AND i.value_key = k.value_key")}
    candidates = [row for seq, row in enumerate(candidates) if seq not in held]
    if not candidates:
        return {}
    db.executemany(
        "INSERT INTO contacts (email, email_key, opt_in_type, email_type, status, data, created, modified) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(email, email.casefold(), opt_in, email_type, "PendingOptIn" if opt_in == "VerifiedDouble" else "Subscribed",
          data, now, now) for _index, email, _keys, _extra, opt_in, email_type, data, _lists in candidates])
    db.execute("DELETE FROM v3_bulk_keys")
    db.executemany("INSERT INTO v3_bulk_keys (name, value_key, seq) VALUES ('email', ?, ?)",
                   [(row[1].casefold(), seq) for seq, row in enumerate(candidates)])
    ids = dict(db.execute("SELECT k.seq, c.id FROM v3_bulk_keys k JOIN contacts c ON c.email_key = k.value_key"))
    db.executemany("INSERT INTO identifiers (name, value_key, value, contact_id) VALUES (?, ?, ?, ?)",
                   [(name, value.casefold(), value, ids[seq])
                    for seq, row in enumerate(candidates) for name, value in row[3].items()])
    # Book memberships, positions in row order per book, as add_member gives them one by one.
    db.execute("CREATE TEMP TABLE IF NOT EXISTS v3_bulk_members (book_id INTEGER, seq INTEGER, contact_id INTEGER, "
               "PRIMARY KEY (book_id, seq)) WITHOUT ROWID")
    db.execute("DELETE FROM v3_bulk_members")
    all_contacts = store.all_contacts_book_id()
    db.executemany("INSERT OR IGNORE INTO v3_bulk_members (book_id, seq, contact_id) VALUES (?, ?, ?)",
                   [(book_id, seq, ids[seq]) for seq, row in enumerate(candidates)
                    for book_id in (all_contacts, *row[7])])
    for (book_id,) in db.execute("SELECT DISTINCT book_id FROM v3_bulk_members").fetchall():
        added = db.execute(
            "INSERT INTO members (book_id, contact_id, position, modified) "
            "SELECT ?, contact_id, (SELECT next_position FROM books WHERE id = ?) + ROW_NUMBER() OVER (ORDER BY seq) "
            "- 1, ? FROM v3_bulk_members WHERE book_id = ? ORDER BY seq",
            (book_id, book_id, now, book_id),
        ).rowcount
        db.execute("UPDATE books SET next_position = next_position + ? WHERE id = ?", (added, book_id))
    return {row[0]: {"contactId": ids[seq], "identifiers": {"email": row[1], **dict(sorted(row[3].items()))}}
            for seq, row in enumerate(candidates)}


def _bulk_candidate(store, config, contact, fields, books):
    """``(email, identifier keys, other identifiers, opt-in, email type, data JSON, lists)`` of a row that can
    only create a contact, None for any other row."""
    if not isinstance(contact, dict) or contact.get("consentRecords") is not None:
        return None
    identifiers = contact.get("identifiers")
    if not isinstance(identifiers, dict) or not identifiers:
        return None
    match = _match_identifier(contact, identifiers)
    if match.casefold() != "email" and match not in config.custom_identifiers:
        return None
    email, extra = None, {}
    for name, value in identifiers.items():
        if name.casefold() == "email":
            if email is not None:
                return None
            email = str(value).strip()
        elif name not in config.custom_identifiers and name != "mobileNumber":
            return None  # unknown or contactId, or in another casing: one by one
        else:
            extra[name] = str(value).strip()
    if not email or not EMAIL_RE.match(email) or not str(identifiers.get(match, "")).strip() \
            or any(not value for value in extra.values()):
        return None
    channel = contact.get("channelProperties") or {}
    if not isinstance(channel, dict):
        return None
    channel = channel.get("email") or {}
    if not isinstance(channel, dict) or channel.get("status"):
        return None
    values = contact.get("dataFields") or {}
    if not isinstance(values, dict) or any(name.casefold() not in fields for name in values):
        return None
    lists = _bulk_lists(store, contact.get("lists"), books)
    if lists is None:
        return None
    data = json.dumps({fields[name.casefold()]: value for name, value in values.items() if value not in (None, "")})
    keys = [("email", email.casefold()), *((name, value.casefold()) for name, value in extra.items())]
    return (email, keys, extra, OPT_IN_TYPES.get(str(channel.get("optInType") or "").casefold(), "Unknown"),
            EMAIL_TYPES.get(str(channel.get("emailType") or "").casefold(), "Html"), data, lists)


def _bulk_lists(store, values, books):
    """The row's list ids when they are all existing user lists given as numbers, else None."""
    if not isinstance(values or [], list) or len(values or ()) > MAX_LISTS:
        return None
    lists = []
    for value in values or ():
        if not isinstance(value, int) or isinstance(value, bool):
            return None  # "12" and the like: one by one
        if value not in books:
            book = store.book(value)
            books[value] = book["id"] if book is not None and not book["system"] else None
        if books[value] is None:
            return None
        lists.append(books[value])
    return lists


def _identifier_keys(config, contact):
    """The identifier keys a row names (as :func:`_bulk_candidate` spells them), for rows that do not qualify:
    a row naming a candidate's identifier takes the candidate out of the bulk."""
    identifiers = contact.get("identifiers") if isinstance(contact, dict) else None
    if not isinstance(identifiers, dict):
        return []
    keys = []
    for name, value in identifiers.items():
        known = "email" if name.casefold() == "email" else _identifier_name(config, name)
        if known is not None:
            keys.append((known, str(value).strip().casefold()))
    return keys


def _match_identifier(contact, identifiers):
    match = contact.get("matchIdentifier")
    if isinstance(match, str) and match:
        return match
    return "email" if "email" in identifiers else next(iter(identifiers), "email")


def apply_contact(store, config, contact, merge):
    """Create or update one contact from a v3 contact request; returns ``(contact id, created)``.

    :raises RowFailure: nothing is written then (except for ``consentRecordsNotApplied``: the contact is
        written, its consent is not)
    """
    identifiers = contact.get("identifiers") if isinstance(contact.get("identifiers"), dict) else {}
    match = contact["matchIdentifier"]
    email, extra = _read_identifiers(config, identifiers, match)
    row = _resolve(store, config, match, identifiers, email, extra)
    data = _data_fields(store, contact.get("dataFields"))
    lists = _lists(store, contact.get("lists"))
    channel = contact.get("channelProperties") if isinstance(contact.get("channelProperties"), dict) else {}
    channel = channel.get("email") if isinstance(channel.get("email"), dict) else {}
    status = str(channel.get("status") or "").casefold()
    if row is not None and status != "unsubscribed":
        _check_sendable(store, row, lists)
    consents = contact.get("consentRecords")
    consent_failure = None
    if consents is not None and not _consents_valid(consents):
        consent_failure, consents = RowFailure("consentRecordsNotApplied"), None
    contact_id = _write(store, row, email, data, merge, channel)
    for name, value in extra.items():
        store.db.execute("DELETE FROM identifiers WHERE contact_id = ? AND name = ?", (contact_id, name))
        store.db.execute("INSERT INTO identifiers (name, value_key, value, contact_id) VALUES (?, ?, ?, ?)",
                         (name, value.casefold(), value, contact_id))
    for book_id in lists:
        store.add_member(book_id, contact_id)
    if status == "unsubscribed":
        store.set_status(contact_id, "Unsubscribed")
    if consents:
        _add_consents(store, contact_id, consents)
    if consent_failure is not None:
        raise consent_failure
    return contact_id, row is None


def _read_identifiers(config, identifiers, match):
    """``(email or None, {other identifier: value})``; identifiers the account does not have fail the row."""
    extra = {}
    for name, value in identifiers.items():
        if name.casefold() in ("email", "contactid"):
            continue
        known = _identifier_name(config, name)
        if known is None:
            raise RowFailure("invalidIdentifier", identifier=name)
        extra[known] = str(value).strip()
    if match.casefold() not in ("email", "contactid") and _identifier_name(config, match) is None:
        raise RowFailure("invalidIdentifier", identifier=match)
    email = next((str(value).strip() for name, value in identifiers.items() if name.casefold() == "email"), None)
    if email is not None and not EMAIL_RE.match(email):
        raise RowFailure("invalidEmail")
    return email, extra


def _resolve(store, config, match, identifiers, email, extra):
    """The contact the row matches (None: a new one); every identifier given must be its or nobody's."""
    row = find_contact(store, config, match, identifiers.get(match))
    if row is None and match.casefold() == "contactid":
        raise RowFailure("contactNotFound")
    if row is None and not email:
        raise RowFailure("invalidEmail")  # the sandbox keeps email contacts only
    contact_id = row["id"] if row is not None else None
    if email is not None:
        holder = store.contact_by_email(email)
        if holder is not None and holder["id"] != contact_id:
            raise RowFailure("duplicateIdentifier", identifier="email", value=email)
    for name, value in extra.items():
        holder = store.db.execute("SELECT contact_id FROM identifiers WHERE name = ? AND value_key = ?",
                                  (name, value.casefold())).fetchone()
        if holder is not None and holder[0] != contact_id:
            raise RowFailure("duplicateIdentifier", identifier=name, value=value)
    return row


def _check_sendable(store, row, lists):
    """An import never re-subscribes: a suppressed contact, or one unsubscribed from a list the row names."""
    if row["status"] not in IMPORTABLE:
        raise RowFailure("globallySuppressed", value=row["status"])
    for book_id in lists:
        member = store.member(book_id, row["id"])
        if member is not None and member["unsubscribed"]:
            raise RowFailure("listSuppressed", value=book_id)


def _write(store, row, email, data, merge, channel):
    opt_in = OPT_IN_TYPES.get(str(channel.get("optInType") or "").casefold())
    email_type = EMAIL_TYPES.get(str(channel.get("emailType") or "").casefold())
    if row is None:
        initial = "PendingOptIn" if opt_in == "VerifiedDouble" else "Subscribed"
        return store.create_contact(email, opt_in or "Unknown", email_type or "Html",
                                    {k: v for k, v in data.items() if v not in (None, "")}, initial)
    values = {"data": _merge(json.loads(row["data"]), data, merge)}
    if email is not None and email != row["email"]:
        values["email"] = email
    if opt_in:
        values["opt_in_type"] = opt_in
    if email_type:
        values["email_type"] = email_type
    store.update_contact(row["id"], **values)
    return row["id"]


def _add_consents(store, contact_id, consents):
    kept = store.db.execute("SELECT COUNT(*) FROM consents WHERE contact_id = ?", (contact_id,)).fetchone()[0]
    # At most five per contact: the oldest give way.
    overflow = kept + len(consents) - MAX_CONSENTS
    if overflow > 0:
        store.db.execute("DELETE FROM consents WHERE id IN (SELECT id FROM consents WHERE contact_id = ? "
                         "ORDER BY id LIMIT ?)", (contact_id, overflow))
    store.db.executemany("INSERT INTO consents (contact_id, body, created) VALUES (?, ?, ?)",
                         [(contact_id, json.dumps({k: consent[k] for k in CONSENT_FIELDS}), store.now())
                          for consent in consents[-MAX_CONSENTS:]])


def _data_fields(store, values):
    if not values:
        return {}
    if not isinstance(values, dict):
        raise RowFailure("invalidDataField", value=str(values)[:50])
    known = store.data_field_names()
    data = {}
    for name, value in values.items():
        if name.casefold() not in known:
            raise RowFailure("invalidDataField", value=name)
        data[known[name.casefold()]] = value
    return data


def _lists(store, values):
    lists = []
    for value in values or ():
        try:
            book = store.book(int(value))
        except (TypeError, ValueError):
            book = None
        if book is None or (book["system"] and book["name"] == TEST_BOOK):
            raise RowFailure("listNotFound", value=value)
        lists.append(book["id"])
    if len(lists) > MAX_LISTS:
        raise RowFailure("listNotFound", value=lists[MAX_LISTS])
    return lists


def _consents_valid(consents):
    if not isinstance(consents, list) or len(consents) > MAX_CONSENTS:
        return False
    for consent in consents:
        if not isinstance(consent, dict) or any(not str(consent.get(name) or "").strip() for name in CONSENT_FIELDS):
            return False
        try:
            parse_iso(str(consent["dateTimeConsented"]))
        except ValueError:
            return False
    return True


def _merge(current, data, merge):
    for name, value in data.items():
        if merge == "overwriteIfNotEmpty" and value in (None, ""):
            continue
        if merge == "overwriteIfEmpty" and current.get(name) not in (None, ""):
            continue
        if value is None:
            current.pop(name, None)  # null clears a field
        else:
            current[name] = value
    return current


def _identifiers_of(store, contact_id):
    row = store.contact(contact_id)
    extra = {r["name"]: r["value"] for r in store.db.execute(
        "SELECT name, value FROM identifiers WHERE contact_id = ? ORDER BY name", (contact_id,))}
    return {"email": row["email"], **extra}


def _string_identifiers(identifiers):
    return {str(name): str(value) for name, value in identifiers.items() if name != "contactId"}


# -- request helpers ---------------------------------------------------------------------------------------------


def _json_body(request):
    try:
        return read_json(request)
    except errors.ApiError:
        raise V3Error(400, "contacts:badJson", "The request JSON is badly formed")


def _int(value, default, name):
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise V3Error(400, "contacts:invalidFilter", f"The value '{value}' of '{name}' is invalid")


def _filter_date(value):
    text = value[5:] if value.casefold().startswith("gte::") else value
    try:
        return parse_iso(text)
    except ValueError:
        raise V3Error(400, "contacts:invalidFilter", f"The filter value '{value}' is invalid")


def _pipe_list(value):
    if not value:
        return []
    return [part.strip() for part in value.replace(",", "|").split("|") if part.strip()]


def _encode_marker(contact_id):
    return base64.urlsafe_b64encode(f"c:{contact_id}".encode()).decode().rstrip("=")


def _marker(value):
    """The last contact id of the previous page: the feed is in ascending id order, so a removal or a change
    between two pages moves no row across the cursor."""
    if not value:
        return 0
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        kind, contact_id = text.split(":", 1)
        if kind != "c":
            raise ValueError(kind)
        return int(contact_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise V3Error(400, "contacts:invalidMarker", f"The marker '{value}' is invalid")
