"""dotdigital's v3 Contacts API, the contact half of the hybrid dotdigital provider.

dotdigital's per-area v2 specs deprecate the CSV import with its status and fault report, the book's
modified-since feed, the full book read and the lookup by email; their successors are v3's JSON import
(``PUT /contacts/v3/import``, per-row results in ``GET /contacts/v3/import/{id}``) and the contacts feed
(``GET /contacts/v3`` filtered by list and modified date, 5,000 a page through a cursor). v3 has no lists,
suppression feeds, campaigns or reports: those stay v2 (:mod:`.dotdigital`).

The engine keeps handing the provider the same CSV file and reading the same records: this module turns the
file into v3 contacts and the v3 answers into :mod:`.records`, so nothing above the provider changes.
"""

import csv
import io
import logging
from datetime import datetime, timezone
from urllib.parse import quote

from . import records
from .exceptions import BookNotFound, Conflict, InvalidResponse, NotFound, PermissionDenied, ValidationError

_logger = logging.getLogger(__name__)

CONTACTS = "/contacts/v3"
CUSTOM_IDENTIFIERS = "/configuration/v3/customIdentifiers"
MAX_LIMIT = 5000
# The custom identifier that holds the Odoo contact's id, when the account has one of that name (any casing).
ODOO_IDENTIFIER = "odooId"
# The CSV column the export writes the Odoo id in: a colon is never in a data field's name.
IDENTITY_COLUMN_PREFIX = "identifier:"
# The CSV columns of a consent record (the export writes them after the identity column), in the order of
# ``consentRecord``'s fields; every one is required, and a row missing one is never sent (the export fails it).
CONSENT_FIELDS = ("text", "dateTimeConsented", "url", "ipAddress", "userAgent")
CONSENT_COLUMNS = tuple(f"consent:{name}" for name in CONSENT_FIELDS)
# The CSV column asking for the ESP's double opt-in: ``verifiedDouble`` (a new subscriber of a double opt-in
# list) or empty (the contact's opt-in type is left as the ESP has it).
OPTIN_COLUMN = "channel:optInType"
OPT_IN_TYPES = frozenset({"single", "double", "verifiedDouble"})
_IMPORT_STATES = {
    "Finished": records.IMPORT_DONE,
    "NotFinished": records.IMPORT_PENDING,
    "RejectedByWatchdog": records.IMPORT_REJECTED,
}
# Failure codes meaning "this address must not be mailed" (the v2 fault report's Unsubscribed, Suppressed …);
# any other code means "this row is wrong" and the member fails with it.
SUPPRESSED_FAILURES = frozenset({"globallySuppressed", "listSuppressed", "suppressed", "contactSuppressed"})
# v3 email channel statuses as v2 spells contact statuses (what records and the engine compare with).
_V2_STATUS = {
    "subscribed": "Subscribed", "softBounced": "SoftBounced", "unsubscribed": "Unsubscribed",
    "hardBounced": "HardBounced", "ispComplained": "IspComplained", "pendingOptIn": "PendingOptIn",
    "directComplaint": "DirectComplaint", "deleted": "Deleted", "suppressed": "Suppressed",
    "sharedsuppression": "SharedSuppression", "domainSuppressed": "DomainSuppression",
    "blockedlocalpart": "MailBlocked", "noSubscription": "NotAllowed",
}
SENDABLE = frozenset({"Subscribed", "SoftBounced"})


class ContactsV3:
    """The v3 contact calls of one :class:`~.dotdigital.DotdigitalProvider` (its transport, region and budget).

    :param identity: the account's custom identifier holding the Odoo contact id (``None``: contacts are
        matched by email, as v2 matches them)
    """

    def __init__(self, provider, identity=None, page_size=MAX_LIMIT):
        self.provider = provider
        self.identity = identity
        self.page_size = max(1, min(int(page_size), MAX_LIMIT))
        self._results = {}
        self._field_types = None

    # -- probing ------------------------------------------------------------------------------------------------

    def probe(self):
        """``(True, custom identifier names)`` when the API user may use v3 contacts, ``(False, ())`` when v3
        answers 403 or 404 (an API user or account without v3)."""
        # Straight to the detected region: a 403 here is about v3, and must not make the region be checked again.
        transport, endpoint = self.provider.transport, self.provider.endpoint
        try:
            transport.request("GET", CONTACTS, params={"limit": 1}, base_url=endpoint)
        except (PermissionDenied, NotFound):
            return False, ()
        try:
            rows = transport.read_json(transport.request("GET", CUSTOM_IDENTIFIERS, base_url=endpoint))
        except (PermissionDenied, NotFound):
            return True, ()
        return True, tuple(row["name"] for row in rows or () if isinstance(row, dict) and row.get("name"))

    # -- imports --------------------------------------------------------------------------------------------------

    @property
    def identity_column(self):
        return f"{IDENTITY_COLUMN_PREFIX}{self.identity}" if self.identity else None

    def start_import(self, book_id, data):
        """``PUT /contacts/v3/import`` of the export's CSV (bytes) into list ``book_id``."""
        contacts = list(self._contacts_of(int(book_id), data))
        if not contacts:
            raise ValidationError("An import needs at least one contact.")
        body = {"mergeOption": "overwrite", "contacts": contacts}
        path = f"{CONTACTS}/import"
        answer = self.provider._json(self.provider._request("PUT", path, json_body=body, idempotent=False)) or {}
        if not answer.get("importId"):
            raise InvalidResponse("dotdigital answered the v3 import without an importId.")
        return records.ImportJob(id=str(answer["importId"]), status="NotFinished", state=records.IMPORT_PENDING)

    def _contacts_of(self, book_id, data):
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
        header = [column.strip() for column in next(reader, [])]
        lowered = [column.casefold() for column in header]
        email_at = lowered.index("email")
        identity_at = header.index(self.identity_column) if self.identity_column in header else None
        consent_at = [header.index(column) for column in CONSENT_COLUMNS] if set(CONSENT_COLUMNS) <= set(header) \
            else None
        optin_at = header.index(OPTIN_COLUMN) if OPTIN_COLUMN in header else None
        fields = [(index, name) for index, name in enumerate(header)
                  if index not in (email_at, identity_at) and not name.startswith(IDENTITY_COLUMN_PREFIX)
                  and name not in CONSENT_COLUMNS and name != OPTIN_COLUMN]
        types = self._types() if fields else {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            row += [""] * (len(header) - len(row))
            identifiers = {"email": row[email_at].strip()}
            match = "email"
            if identity_at is not None and row[identity_at].strip():
                match = self.identity
                identifiers[self.identity] = row[identity_at].strip()
            contact = {"matchIdentifier": match, "identifiers": identifiers, "lists": [book_id]}
            if fields:
                contact["dataFields"] = {name: _typed(row[index], types.get(name.casefold())) for index, name in fields}
            if optin_at is not None and row[optin_at].strip() in OPT_IN_TYPES:
                contact["channelProperties"] = {"email": {"optInType": row[optin_at].strip()}}
            consent = _consent(row, consent_at) if consent_at is not None else None
            if consent:
                contact["consentRecords"] = [consent]
            yield contact

    def _types(self):
        """Data field types, read once per client: v3 takes numbers and booleans as JSON, not as text."""
        if self._field_types is None:
            self._field_types = {field.name.casefold(): field.type for field in self.provider.iter_data_fields()}
        return self._field_types

    def get_import(self, import_id):
        path = f"{CONTACTS}/import/{quote(str(import_id), safe='')}"
        answer = self.provider._get_json(path)
        if not isinstance(answer, dict) or not answer.get("status"):
            raise InvalidResponse(f"dotdigital answered {path} without a status.")
        status = answer["status"]
        if status != "NotFinished":
            self._results[str(import_id)] = answer
        return records.ImportJob(id=str(import_id), status=status,
                                 state=_IMPORT_STATES.get(status, records.IMPORT_FAILED))

    def iter_import_faults(self, import_id):
        """The import's per-row ``failures`` as :class:`~.records.ImportFault` (no report to download).

        A row matched by the Odoo id that collided with a contact holding the same email but no Odoo id (one
        exported before the account had the identifier, or added at the ESP) gets the id attached to that
        contact, and comes back as ``FAULT_RETRY``: the next export matches it.
        """
        answer = self._results.pop(str(import_id), None)
        if answer is None:
            self.get_import(import_id)
            answer = self._results.pop(str(import_id), None) or {}
        for failure in answer.get("failures") or ():
            identifiers = failure.get("identifiers") or {}
            email = (identifiers.get("email") or "").strip() or None
            reasons = failure.get("failures") or [{}]
            code = reasons[0].get("failureCode") or "failure"
            if code == "listNotFound":
                # The book was deleted at the ESP: every later call to it fails alike, as v2's 404 on the
                # book says (the list waits for a person), rather than its rows failing one by one.
                raise BookNotFound(f"dotdigital has no list for this import ({reasons[0].get('description') or code}).",
                                   code=code)
            reason = f"{reasons[0].get('description') or code} ({code})"
            if code in SUPPRESSED_FAILURES:
                kind = records.FAULT_SUPPRESSED
            elif (code == "duplicateIdentifier" and self.identity and email
                  and failure.get("matchIdentifier") == self.identity and "contactId" not in failure
                  and self._attach_identity(email, identifiers.get(self.identity))):
                kind = records.FAULT_RETRY
            else:
                kind = records.FAULT_INVALID
            yield records.ImportFault(reason=reason, email=email, row=dict(identifiers), kind=kind)

    def _attach_identity(self, email, value):
        """Give the contact holding ``email`` the Odoo id ``value``; False when that contact is matched to
        another Odoo id already (never taken from it), or another contact holds ``value``."""
        if not value:
            return False
        path = f"{CONTACTS}/email/{quote(email, safe='@')}"
        try:
            holder = self.provider._get_json(path) or {}
        except NotFound:
            return False
        if (holder.get("identifiers") or {}).get(self.identity) not in (None, "", str(value)):
            return False
        try:
            self.provider._request("PATCH", path, json_body={"identifiers": {self.identity: str(value)}},
                                   idempotent=True)
        except (Conflict, ValidationError, NotFound):
            return False
        return True

    # -- reads ------------------------------------------------------------------------------------------------------

    def contacts_page(self, book_id, marker=None, since=None, with_full_data=False, statuses=True):
        """One page of the list's contacts: ``(records, next marker or None)``.

        :param statuses: include the channel and list statuses (the book check needs ids and emails only)
        """
        params = {"~listId": int(book_id), "limit": self.page_size}
        if statuses:
            params["include"] = "channelProperties|lists"
        if since is not None:
            params["~modified"] = f"gte::{_format(since)}"
        if with_full_data:
            params["data-fields"] = "[[ALL]]"
        if marker:
            params["marker"] = marker
        answer = self.provider._get_json(CONTACTS, params=params)
        if not isinstance(answer, dict) or not isinstance(answer.get("_items"), list):
            raise InvalidResponse(f"dotdigital answered {CONTACTS} without _items.")
        contacts = [self.provider._parse(lambda row: _contact(row, int(book_id)), row, CONTACTS)
                    for row in answer["_items"]]
        following = ((answer.get("_links") or {}).get("next") or {}).get("marker")
        return [contact for contact in contacts if contact is not None], following or None

    def iter_modified_since(self, book_id, since, with_full_data=True):
        marker = None
        while True:
            contacts, marker = self.contacts_page(book_id, marker, since=since, with_full_data=with_full_data)
            yield from contacts
            if not marker:
                return

    def get_contact_consents(self, email):
        path = f"{CONTACTS}/email/{quote(email.strip(), safe='@')}"
        try:
            answer = self.provider._get_json(path)
        except NotFound:
            return None
        if not isinstance(answer, dict):
            raise InvalidResponse(f"dotdigital answered {path} without a contact.")
        return [
            records.ConsentRecord(
                text=row.get("text") or "", consented_at=row.get("dateTimeConsented") or "", url=row.get("url") or "",
                ip_address=row.get("ipAddress") or "", user_agent=row.get("userAgent") or "",
                created_at=row.get("dateTimeCreated"),
            )
            for row in answer.get("consentRecords") or () if isinstance(row, dict)
        ]

    def get_contact(self, email):
        path = f"{CONTACTS}/email/{quote(email.strip(), safe='@')}"
        try:
            answer = self.provider._get_json(path)
        except NotFound:
            return None
        return self.provider._parse(lambda row: _contact(row, None), answer, path)


def _consent(row, positions):
    """The row's consent record, only when complete: a broken one is never sent (the export failed its row)."""
    values = dict(zip(CONSENT_FIELDS, (row[index].strip() for index in positions), strict=True))
    return values if all(values.values()) else None


def _typed(text, kind):
    value = text.strip()
    if value == "":
        return None  # v3 clears a field with null, as v2's import clears it with an empty cell
    if kind == "Numeric":
        for convert in (int, float):
            try:
                return convert(value)
            except ValueError:
                pass
    if kind == "Boolean" and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    return value


def _format(moment):
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _contact(row, book_id):
    """A v3 contact as :class:`~.records.Contact`; its status is the list's when it left the list (v2's book
    feed says ``Unsubscribed`` then too). Contacts without an email (SMS only) are None."""
    email = ((row.get("identifiers") or {}).get("email") or "").strip()
    if not email:
        return None
    channel = (row.get("channelProperties") or {}).get("email") or {}
    status = _V2_STATUS.get(channel.get("status") or "")
    if status is None and row.get("status"):
        status = _V2_STATUS.get(row["status"], "Suppressed")
    for membership in row.get("lists") or ():
        if book_id is not None and membership.get("id") == book_id and membership.get("status") == "suppressed" \
                and status in SENDABLE:
            status = "Unsubscribed"
    fields = row.get("dataFields") if isinstance(row.get("dataFields"), dict) else {}
    return records.Contact(
        id=row.get("contactId"), email=email, status=status, opt_in_type=channel.get("optInType"),
        email_type=channel.get("emailType"), data_fields=dict(fields),
        sendable=status in SENDABLE if status else True,
    )

