"""dotdigital (ex-dotmailer) v2 REST API provider.

Transport concerns (session, retries, throttling, error mapping, accounting) live in :mod:`.transport`; this
module knows dotdigital's paths, JSON shapes and rules, and returns :mod:`.records` only.
"""

import base64
import csv
import functools
import hashlib
import io
import logging
import re
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from urllib.parse import quote, urlsplit

import requests
import urllib3

from . import dotdigital_v3, records
from .base import Capability, EspProvider
from .exceptions import (
    AlreadyExists,
    InvalidContent,
    InvalidResponse,
    NotFound,
    PermissionDenied,
    ReadOnly,
    ValidationError,
)
from .transport import HttpTransport, check_base_url

# dotdigital's codes that the engines act on, as typed errors (engines never read a vendor's code).
ERROR_CLASSES = {
    "ERROR_ADDRESSBOOK_DUPLICATE": AlreadyExists,
    "ERROR_NON_UNIQUE_DATAFIELD": AlreadyExists,
    "ERROR_CAMPAIGN_READONLY": ReadOnly,
    "ERROR_CAMPAIGN_INVALID": InvalidContent,
    "ERROR_CAMPAIGN_SEND_INVALID": InvalidContent,
}
_logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://r1-api.dotdigital.com"
MAX_PAGE_SIZE = 1000  # dotdigital refuses select > 1000, whatever the spec's defaults say
DEFAULT_PAGE_OVERLAP = 100  # rows of the previous page re-read, as OroCRM's OverlapIterator does
# The activity and click page reads overlap by one verified row instead (``_verified_page``): the keys of the
# previous page's last rows, one per line, tell where it ended.
ANCHOR_ROWS = 5
ANCHOR_SEPARATOR = "\n"
MAX_IDS_PER_DELETE = 1000
# Contacts read by email per ``GET /v2/contacts/retrieve-collection`` (the spec gives no limit: a bulk delete's).
MAX_CONTACTS_PER_BATCH = 1000
# Requests builds the whole body in memory (base64 adds a third): keep one import file well under the 50 MB cap.
DEFAULT_MAX_IMPORT_BYTES = 10 * 1024 * 1024

SYSTEM_BOOK_NAMES = frozenset({"test", "all contacts"})
VISIBILITIES = ("Private", "Public")
DATA_FIELD_TYPES = ("String", "Numeric", "Date", "Boolean")
DATA_FIELD_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
SENDABLE_STATUSES = frozenset({"Subscribed", "SoftBounced"})
_REGION_RE = re.compile(r"^(r\d+)-api\.", re.IGNORECASE)

_IMPORT_STATES = {
    "Finished": records.IMPORT_DONE,
    "NotFinished": records.IMPORT_PENDING,
    "RejectedByWatchdog": records.IMPORT_REJECTED,
}
# Fault report reasons that mean "this row is wrong"; any other reason (Unsubscribed, Suppressed,
# HardBounced, ...) means the address must not be mailed.
_INVALID_FAULT_REASONS = frozenset({"invalid entries", "invalid email", "duplicate emails", "failures"})
_RESUBSCRIBE_STATES = {
    "ContactAdded": records.RESUBSCRIBE_ADDED,
    "ContactChallenged": records.RESUBSCRIBE_CHALLENGED,
    "ContactCannotBeUnsuppressed": records.RESUBSCRIBE_REFUSED,
}


class DotdigitalProvider(EspProvider):
    """Client of one dotdigital account.

    :param username: API user (``apiuser-…@apiconnector.com``)
    :param password: API user's password
    :param base_url: where the region is detected from (default r1; the sandbox URL in tests)
    :param api_endpoint: regional endpoint detected earlier and stored by the caller; skips the detection call
    :param page_size: rows per list call (1..1000)
    :param page_overlap: rows of the previous page read again so rows moving during paging are not missed
    :param max_import_bytes: largest import file accepted by :meth:`start_import`
    :param contacts_api: ``"v3"`` for the hybrid provider (imports, the change feed, the book check and contact
        lookups on v3 Contacts, the rest on v2), ``"v2"`` or ``None`` for v2 only; :meth:`test_connection` says
        which the API user may use
    :param contact_identifier: on v3, the account's custom identifier contacts are matched by (the export's
        :attr:`record_identity_column` carries the Odoo contact id into it)
    :param v3_page_size: contacts per v3 feed page (1..5000)
    :param transport_options: passed to :class:`~.transport.HttpTransport` (``timeout``, ``max_retries``,
        ``backoff_factor``, ``max_wait``, ``throttle_retries``, ``default_throttle_wait``, ``flat_rate_wait``,
        ``on_call``)
    """

    code = "dotdigital"
    label = "dotdigital"
    default_base_url = DEFAULT_BASE_URL
    # 25 imports in flight and a 50 MB file cap (research/dotdigital.md); 25,000 rows stay far below the cap.
    limits = records.ProviderLimits(
        imports_in_flight=25,
        rows_per_import=25000,
        feed_epoch=datetime(1971, 1, 1),
        feed_overlap_seconds=300,
        ids_per_removal=MAX_IDS_PER_DELETE,
        max_import_polls=30,
        stats_settle_hours=48,
        # The documented account-wide cut-off (the flat scheme: 2,000 calls an hour), until the tiered
        # scheme's X-RateLimit-* headers give each tier's real per-minute budget.
        published_rate=(2000, 3600),
    )
    default_field_mappings = (("FIRSTNAME", "first_name"), ("LASTNAME", "last_name"), ("FULLNAME", "name"))
    # The region of the account-info's ApiEndpoint host (r1-api.dotdigital.com, ...).
    regions = {"r1": records.REGION_EUROPE, "r2": records.REGION_NORTH_AMERICA, "r3": records.REGION_ASIA_PACIFIC}
    data_field_name_re = DATA_FIELD_NAME_RE
    data_field_name_max_length = 20
    personalization_email_field = "EMAIL"
    # Its summary has no count of forwarders, of confirmed views or of recipients without activity.
    derived_summary_figures = frozenset({"unique_forwards", "views", "no_activity"})
    status_kinds = {
        "Subscribed": records.STATUS_SUBSCRIBED,
        "Unsubscribed": records.STATUS_UNSUBSCRIBED,
        "SoftBounced": records.STATUS_SOFT_BOUNCE,
        "HardBounced": records.STATUS_HARD_BOUNCE,
        "IspComplained": records.STATUS_SPAM_REPORT,
        "DirectComplaint": records.STATUS_COMPLAINT,
        "MailBlocked": records.STATUS_MAIL_BLOCKED,
        "PendingOptIn": records.STATUS_PENDING_OPTIN,
        "Suppressed": records.STATUS_SUPPRESSED,
        "SharedSuppression": records.STATUS_SHARED_SUPPRESSION,
        "DomainSuppression": records.STATUS_DOMAIN_SUPPRESSION,
        "NoMxRecord": records.STATUS_NO_MAIL_SERVER,
        "NotAllowed": records.STATUS_NOT_ALLOWED,
        "Deleted": records.STATUS_DELETED,
    }
    # dotdigital's re-subscribe lifts an unsubscribe only ("ContactCannotBeUnsuppressed" otherwise).
    statuses_never_resubscribed = frozenset({
        "HardBounced", "IspComplained", "DirectComplaint", "MailBlocked", "Suppressed", "SharedSuppression",
        "DomainSuppression", "NoMxRecord", "NotAllowed", "Deleted",
    })
    # No test send (the v2 API has none) and no webhooks: the UI hides those.
    capabilities = frozenset(
        {
            Capability.BULK_IMPORT,
            Capability.SCHEDULING,
            Capability.CAMPAIGN_CREATION,
            Capability.CONTACT_ACTIVITY,
            Capability.DATA_FIELDS,
            Capability.TEMPLATES,
            Capability.BOOK_REMOVAL,
            Capability.CONTACT_BATCH,
            Capability.DATA_FIELD_CREATION,
            Capability.CAMPAIGN_IMPORT,
            Capability.FROM_ADDRESSES,
            Capability.LIST_CHANGE_FEED,
            Capability.SUPPRESSION_FEED,
            Capability.BOOK_LISTING,
            Capability.RESUBSCRIBE,
            Capability.REGION_DETECTION,
            # ApiCampaignContactClick carries the ``url`` clicked.
            Capability.CLICK_URLS,
            Capability.SPLIT_TEST,
        }
    )

    def __init__(
        self,
        username,
        password,
        base_url=None,
        *,
        api_endpoint=None,
        page_size=MAX_PAGE_SIZE,
        page_overlap=DEFAULT_PAGE_OVERLAP,
        max_import_bytes=DEFAULT_MAX_IMPORT_BYTES,
        contacts_api=None,
        contact_identifier=None,
        v3_page_size=dotdigital_v3.MAX_LIMIT,
        **transport_options,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.base_url = check_base_url(base_url or DEFAULT_BASE_URL)
        self._endpoint = check_base_url(api_endpoint) if api_endpoint else None
        self.page_size = page_size
        self.page_overlap = max(0, min(page_overlap, page_size - 1))
        self.max_import_bytes = max_import_bytes
        transport_options.setdefault("provider", "dotdigital")
        transport_options.setdefault("rate_scope", rate_scope)
        self.transport = HttpTransport(self.base_url, username, password, **transport_options)
        self.transport.code_classes = ERROR_CLASSES
        self.contacts_api = contacts_api or "v2"
        self.v3 = dotdigital_v3.ContactsV3(self, contact_identifier, v3_page_size) if contacts_api == "v3" else None
        self._v2_imports = set()

    def __repr__(self):
        return f"<{type(self).__name__} base={self.base_url} endpoint={self._endpoint}>"

    @classmethod
    def personalization_tag(cls, field):
        """dotdigital writes a contact's value as the data field's name between at signs, in capitals
        (``@FIRSTNAME@``; ``@EMAIL@`` for the address)."""
        if not field or not DATA_FIELD_NAME_RE.match(field):
            return None
        return f"@{field.upper()}@"

    def close(self):
        self.transport.close()

    @property
    def endpoint(self):
        """Regional API base in use (``None`` until detected); callers store it to skip detection next time."""
        return self._endpoint

    @property
    def stats(self):
        """:class:`~.transport.CallStats` of this client (calls, retries, throttles …)."""
        return self.transport.stats

    # ------------------------------------------------------------------------------------------------------
    # Region and the choke point
    # ------------------------------------------------------------------------------------------------------

    def detect_endpoint(self):
        """Ask the configured base which regional endpoint serves the account, and use it from now on.

        :return: :class:`~.records.AccountInfo`
        """
        response = self.transport.request("GET", "/v2/account-info", base_url=self.base_url)
        info = self._account_info(self._json(response))
        if info.endpoint != self._endpoint:
            _logger.info("dotdigital account %s served by %s", info.account_id, info.endpoint)
        self._endpoint = info.endpoint
        return info

    def _request(self, method, path, **kwargs):
        """Every operation's call goes through here: detect the region first, and again once on a 403."""
        if self._endpoint is None:
            self.detect_endpoint()
        try:
            return self.transport.request(method, path, base_url=self._endpoint, **kwargs)
        except PermissionDenied:
            previous = self._endpoint
            self.detect_endpoint()
            if self._endpoint == previous:
                # Same region: the 403 is about the account's rights, repeating the call would only waste quota.
                raise
            _logger.info(
                "dotdigital endpoint moved from %s to %s, repeating %s %s", previous, self._endpoint, method, path
            )
            return self.transport.request(method, path, base_url=self._endpoint, **kwargs)

    def _json(self, response):
        return self.transport.read_json(response)

    def _get_json(self, path, params=None):
        return self._json(self._request("GET", path, params=params))

    def _iter_pages(self, path, parse, params=None, key=None):
        """Yield parsed rows of a ``select``/``skip`` list call, page by page.

        Each page after the first starts ``page_overlap`` rows before the end of the previous one: rows that
        shifted down (a row before them was deleted meanwhile) are not skipped, and rows read twice are
        dropped by ``key``. Only the previous page's keys are kept, so memory stays bounded.

        :param key: function of a record giving its identity, ``None`` to disable overlap
        """
        select = self.page_size
        overlap = self.page_overlap if key else 0
        skip, previous_keys = 0, frozenset()
        while True:
            rows = self._get_json(path, params={**(params or {}), "select": select, "skip": skip})
            if not isinstance(rows, list):
                raise InvalidResponse(f"dotdigital answered {path} with {type(rows).__name__}, expected a list.")
            page_keys, fresh = set(), 0
            for row in rows:
                record = self._parse(parse, row, path)
                record_key = key(record) if key else None
                if record_key is not None:
                    page_keys.add(record_key)
                    if record_key in previous_keys:
                        continue
                fresh += 1
                yield record
            if len(rows) < select:
                return
            if skip and not fresh:
                # A full page with nothing new: the server ignores skip; stop instead of looping forever.
                _logger.warning("dotdigital %s returned a full page of already-seen rows at skip=%s", path, skip)
                return
            previous_keys = frozenset(page_keys)
            skip += select - overlap

    @staticmethod
    def _parse(parse, row, path):
        try:
            return parse(row)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidResponse(f"dotdigital answered {path} with an unexpected row shape ({exc!r}).") from None

    # ------------------------------------------------------------------------------------------------------
    # Account
    # ------------------------------------------------------------------------------------------------------

    def test_connection(self):
        """Check the credentials and (re)detect the region; one call.

        :return: :class:`~.records.AccountInfo` with account id, endpoint, region (``r1``…) and main email
        :raise AuthenticationError: wrong API user or password
        """
        return self.detect_endpoint()

    def detect_contacts_api(self):
        """Whether the API user may use v3 contacts (``GET /contacts/v3?limit=1`` answers 403 or 404 when it may
        not), and the account's custom identifier for the Odoo id; one or two calls.

        :return: ``("v3", identifier or None)`` or ``("v2", None)``
        """
        if self._endpoint is None:
            self.detect_endpoint()
        usable, names = dotdigital_v3.ContactsV3(self).probe()
        if not usable:
            return "v2", None
        wanted = dotdigital_v3.ODOO_IDENTIFIER.casefold()
        return "v3", next((name for name in names if name.casefold() == wanted), None)

    @property
    def record_identity_column(self):
        """The CSV column in which the export writes the Odoo contact's id (``None``: the import matches
        contacts by email only)."""
        return self.v3.identity_column if self.v3 else None

    @property
    def record_consent_columns(self):
        """The CSV columns of a subscription's consent record: v3 sends it as ``consentRecords``, v2 has none."""
        return dotdigital_v3.CONSENT_COLUMNS if self.v3 else ()

    @property
    def record_optin_column(self):
        """The CSV column asking for dotdigital's double opt-in (``verifiedDouble``): v3 imports only."""
        return dotdigital_v3.OPTIN_COLUMN if self.v3 else None

    def server_time(self):
        """Return dotdigital's current time as an aware UTC datetime (take sync watermarks from it)."""
        value = self._get_json("/v2/server-time")
        parsed = _parse_datetime(value)
        if parsed is None:
            raise InvalidResponse(f"dotdigital server-time answer {value!r} is not a date.")
        return parsed

    # ------------------------------------------------------------------------------------------------------
    # Address books
    # ------------------------------------------------------------------------------------------------------

    def iter_address_books(self):
        """Yield every address book as :class:`~.records.AddressBook` (system books flagged ``is_system``)."""
        yield from self._iter_pages("/v2/address-books", _address_book, key=_by_id)

    def get_address_book(self, book_id):
        """Return one :class:`~.records.AddressBook`.

        :param book_id: dotdigital address book id
        :raise NotFound: unknown id
        """
        return self._parse(_address_book, self._get_json(f"/v2/address-books/{int(book_id)}"), "/v2/address-books")

    def create_address_book(self, name, visibility="Private"):
        """Create an address book and return it.

        :param name: non-empty; 'Test' and 'All Contacts' are reserved by dotdigital
        :param visibility: ``Private``, or ``Public`` to show it on the contact preference centre
        :raise ValidationError: before any call for a bad name or visibility; from dotdigital for a
            duplicate name (code ``ERROR_ADDRESSBOOK_DUPLICATE``)
        """
        name = (name or "").strip()
        if not name:
            raise ValidationError("An address book needs a name.")
        if name.casefold() in SYSTEM_BOOK_NAMES:
            raise ValidationError(f"'{name}' is reserved by dotdigital; choose another address book name.")
        _check_choice("visibility", visibility, VISIBILITIES)
        response = self._request(
            "POST", "/v2/address-books", json_body={"name": name, "visibility": visibility}, idempotent=False
        )
        return self._parse(_address_book, self._json(response), "/v2/address-books")

    # ------------------------------------------------------------------------------------------------------
    # Data fields, templates, from addresses
    # ------------------------------------------------------------------------------------------------------

    def iter_data_fields(self):
        """Yield the account's :class:`~.records.DataField` (one call: this endpoint is not paged)."""
        rows = self._get_json("/v2/data-fields")
        if not isinstance(rows, list):
            raise InvalidResponse("dotdigital answered /v2/data-fields with something else than a list.")
        for row in rows:
            yield self._parse(_data_field, row, "/v2/data-fields")

    def create_data_field(self, name, type="String", visibility="Private", default=None):
        """Create a contact data field.

        :param name: 1-20 characters among letters, digits, ``_`` and ``-`` (checked before any call)
        :param type: ``String``, ``Numeric``, ``Date`` or ``Boolean``
        :param visibility: ``Private`` or ``Public`` (contacts may edit it on the preference centre)
        :param default: value used in personalisation when a contact's field is blank; must suit ``type``
        :return: :class:`~.records.DataField`
        :raise ValidationError: invalid input, or ``ERROR_NON_UNIQUE_DATAFIELD`` when the name exists
        """
        validate_data_field(name, type, visibility, default)
        body = {"name": name, "type": type, "visibility": visibility, "defaultValue": _json_value(default)}
        response = self._request("POST", "/v2/data-fields", json_body=body, idempotent=False)
        created = self._json(response)
        if isinstance(created, dict) and created.get("name"):
            return self._parse(_data_field, created, "/v2/data-fields")
        return records.DataField(name=name, type=type, visibility=visibility, default=body["defaultValue"])

    def delete_data_field(self, name):
        """Delete a data field.

        :param name: data field name
        :return: :class:`~.records.DataFieldDeletion`; ``deleted`` is False when dotdigital reports dependencies
        :raise Conflict: the field is used elsewhere (HTTP 409)
        :raise NotFound: unknown field, or a system field dotdigital will not delete
        """
        result = self._json(self._request("DELETE", f"/v2/data-fields/{quote(name, safe='')}")) or {}
        dependencies = tuple((dep.get("type"), dep.get("objectId")) for dep in result.get("dependencies") or ())
        return records.DataFieldDeletion(name=name, deleted=bool(result.get("result", True)), dependencies=dependencies)

    def iter_templates(self):
        """Yield :class:`~.records.Template` metadata for every template."""
        yield from self._iter_pages("/v2/templates", _template, key=_by_id)

    def iter_from_addresses(self):
        """Yield the account's custom from addresses as :class:`~.records.FromAddress`."""
        yield from self._iter_pages("/v2/custom-from-addresses", _from_address, key=_by_id)

    # ------------------------------------------------------------------------------------------------------
    # Bulk import
    # ------------------------------------------------------------------------------------------------------

    def start_import(self, book_id, csv_fileobj, filename="contacts.csv", *, multipart=False):
        """Upload a CSV of contacts into an address book; dotdigital imports it in the background.

        The POST is never repeated after an unclear failure (it could import twice); only an explicit
        throttling refusal is waited out.

        :param book_id: target address book (never a system book)
        :param csv_fileobj: binary (or text) file object positioned at the start; ``Email`` column first
        :param filename: name dotdigital shows; must end with ``.csv``
        :param multipart: send as multipart/form-data instead of the JSON base64 ``ApiFileMedia`` body
        :return: :class:`~.records.ImportJob` (poll it with :meth:`get_import`)
        :raise ValueError: the file exceeds ``max_import_bytes`` (split batches upstream)
        :raise ValidationError: e.g. ``ERROR_IMPORT_TOOMANYACTIVEIMPORTS`` (``is_retryable``), ``ERROR_NO_EMAIL_COLUMN``
        """
        data = self._read_bounded(csv_fileobj)
        if self.v3:
            return self.v3.start_import(book_id, data)
        if multipart:
            kwargs = {"files": {"file": (filename, data, "text/csv")}}
        else:
            kwargs = {"json_body": {"fileName": filename, "data": base64.b64encode(data).decode("ascii")}}
        path = f"/v2/address-books/{int(book_id)}/contacts/import"
        return self._parse(_import_job, self._json(self._request("POST", path, idempotent=False, **kwargs)), path)

    def _read_bounded(self, fileobj):
        data = fileobj.read(self.max_import_bytes + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > self.max_import_bytes:
            raise ValueError(f"Import file larger than {self.max_import_bytes} bytes; split it into smaller batches.")
        return data

    def get_import(self, import_id):
        """Return the :class:`~.records.ImportJob` status of an import (poll at most once a minute).

        :raise NotFound: unknown import id
        """
        if self.v3 and str(import_id) not in self._v2_imports:
            try:
                return self.v3.get_import(import_id)
            except NotFound:
                # Posted through v2 before the account moved to v3: followed to its end on v2.
                self._v2_imports.add(str(import_id))
        path = f"/v2/contacts/import/{quote(str(import_id), safe='')}"
        return self._parse(_import_job, self._get_json(path), path)

    def iter_import_faults(self, import_id):
        """Yield :class:`~.records.ImportFault` rows of a finished import's fault report (kept ~1 week).

        The CSV is streamed, not loaded: its BOM is stripped and its first column is the reason.

        :raise NotFound: report expired or unknown import (raised on first iteration)
        """
        if self.v3 and str(import_id) not in self._v2_imports:
            yield from self.v3.iter_import_faults(import_id)
            return
        path = f"/v2/contacts/import/{quote(str(import_id), safe='')}/report-faults"
        response = self._request("GET", path, stream=True)
        try:
            yield from _parse_faults(response)
        except (requests.RequestException, urllib3.exceptions.HTTPError, UnicodeDecodeError, csv.Error) as exc:
            raise InvalidResponse(f"dotdigital fault report of import {import_id} could not be read: {exc!r}.")
        finally:
            response.close()

    # ------------------------------------------------------------------------------------------------------
    # Change feeds
    # ------------------------------------------------------------------------------------------------------

    def iter_book_contacts_modified_since(self, book_id, since, with_full_data=True):
        """Yield :class:`~.records.Contact` of a book modified after ``since``.

        :param book_id: address book id
        :param since: datetime (naive = UTC) or date; use the previous run's start time
        :param with_full_data: include data fields (``Contact.data_fields``)
        """
        if self.v3:
            yield from self.v3.iter_modified_since(book_id, since, with_full_data)
            return
        path = f"/v2/address-books/{int(book_id)}/contacts/modified-since/{_format_date(since)}"
        params = {"withFullData": "true" if with_full_data else "false"}
        yield from self._iter_pages(path, _contact, params=params, key=_by_id)

    def book_contacts_page(self, book_id, skip=0):
        """One page of a book's contacts (``GET /v2/address-books/{id}/contacts``): ``(contacts, next_skip)``.

        ``next_skip`` is ``None`` after the last page; it starts ``page_overlap`` rows back, so rows that moved
        up meanwhile (a contact before them removed) are read, some twice. On v3 the position is the feed's
        cursor (text), 5,000 contacts a page, and nothing is read twice.
        """
        if self.v3:
            if str(skip or 0) == "0":
                # v3's feed answers an empty page for a list that no longer exists: a book check must not take
                # a deleted book for an empty one (v2's listing answers 404, BookNotFound).
                self.get_address_book(book_id)
            return self.v3.contacts_page(book_id, marker=None if str(skip or 0) == "0" else str(skip), statuses=False)
        path = f"/v2/address-books/{int(book_id)}/contacts"
        rows = self._get_json(path, params={"withFullData": "false", "select": self.page_size, "skip": int(skip)})
        if not isinstance(rows, list):
            raise InvalidResponse(f"dotdigital answered {path} with {type(rows).__name__}, expected a list.")
        contacts = [self._parse(_contact, row, path) for row in rows]
        return contacts, (None if len(rows) < self.page_size else int(skip) + len(rows) - self.page_overlap)

    def iter_book_unsubscribed_since(self, book_id, since):
        """Yield :class:`~.records.Suppression` of contacts unsubscribed from a book after ``since``."""
        path = f"/v2/address-books/{int(book_id)}/contacts/unsubscribed-since/{_format_date(since)}"
        yield from self._iter_pages(path, _suppression, key=_suppression_key)

    def iter_suppressed_since(self, since):
        """Yield account-wide :class:`~.records.Suppression` (unsubscribes, bounces, complaints) after ``since``."""
        path = f"/v2/contacts/suppressed-since/{_format_date(since)}"
        yield from self._iter_pages(path, _suppression, key=_suppression_key)

    # ------------------------------------------------------------------------------------------------------
    # Membership changes
    # ------------------------------------------------------------------------------------------------------

    def remove_contacts_from_book(self, book_id, contact_ids):
        """Remove contacts from a book (not from the account, not unsubscribed), 1000 ids per call.

        :param book_id: address book id
        :param contact_ids: iterable of dotdigital contact ids (consumed lazily)
        :return: list of :class:`~.records.ContactRemoval`, one per call
        """
        path = f"/v2/address-books/{int(book_id)}/contacts/delete"
        removals = []
        ids = iter(contact_ids)
        while chunk := [int(contact_id) for contact_id in islice(ids, MAX_IDS_PER_DELETE)]:
            # Removing the same ids twice is harmless, so a lost answer may be repeated.
            answer = self._json(self._request("POST", path, json_body=chunk, idempotent=True)) or {}
            removals.append(
                records.ContactRemoval(id=answer.get("id"), status=answer.get("status"), contact_count=len(chunk))
            )
        return removals

    def get_contact_consents(self, email):
        """The contact's consent records, read with ``GET /contacts/v3/email/{email}`` (v3 accounts only: v2
        keeps no consent)."""
        if not self.v3:
            return super().get_contact_consents(email)
        return self.v3.get_contact_consents(email)

    def get_contact(self, email):
        """Return the account's :class:`~.records.Contact` with this email, or ``None`` when there is none.

        One call per contact: meant for the few lookups a sync cannot avoid, never for whole lists.
        """
        if self.v3:
            return self.v3.get_contact(email)
        path = f"/v2/contacts/{quote(email.strip(), safe='@')}"
        try:
            answer = self._get_json(path)
        except NotFound:
            return None
        return self._parse(_contact, answer, path)

    def get_contacts(self, emails):
        """The account's contacts among ``emails``, 1000 per ``GET /v2/contacts/retrieve-collection`` (a GET
        with an ``ApiMultipleContactsRequest`` body, as the spec has it): ``{email (lower case): Contact}``.

        What a removal needs for members whose ESP id was never learnt (a list synced one way never reads the
        book back): one call per thousand, instead of one per contact.
        """
        path = "/v2/contacts/retrieve-collection"
        found = {}
        wanted = iter(emails)
        while chunk := [email.strip() for email in islice(wanted, MAX_CONTACTS_PER_BATCH)]:
            body = {"contacts": [{"email": email} for email in chunk], "withFullData": False}
            answer = self._json(self._request("GET", path, json_body=body)) or {}
            if not isinstance(answer, dict):
                raise InvalidResponse(f"dotdigital answered {path} with something else than an object.")
            for row in answer.get("contacts") or []:
                contact = self._parse(_contact, row, path)
                if contact.email:
                    found[contact.email.strip().lower()] = contact
        return found

    def unsubscribe_from_book(self, book_id, email):
        """Unsubscribe an email from one book only (dotdigital keeps it in the account).

        :return: :class:`~.records.Suppression`
        """
        path = f"/v2/address-books/{int(book_id)}/contacts/unsubscribe"
        answer = self._json(self._request("POST", path, json_body={"email": email}, idempotent=True))
        return self._parse(_suppression, answer or {"suppressedContact": {"email": email}}, path)

    def resubscribe(self, email, book_id=None, preferred_locale=None, return_url=None):
        """Resubscribe an unsubscribed email, account-wide or into ``book_id``; only on a person's request.

        dotdigital may instead send the contact a confirmation email (``challenged``) or refuse
        (hard bounces, complaints: ``refused``).

        :param email: the address
        :param book_id: also add it back to this book
        :param preferred_locale: language of the confirmation email, e.g. ``en-GB``
        :param return_url: page shown after the contact confirms
        :return: :class:`~.records.ResubscribeOutcome`
        """
        path = f"/v2/address-books/{int(book_id)}/contacts/resubscribe" if book_id else "/v2/contacts/resubscribe"
        body = {"unsubscribedContact": {"email": email}}
        if preferred_locale:
            body["preferredLocale"] = preferred_locale
        if return_url:
            body["returnUrlToUseIfChallenged"] = return_url
        answer = self._json(self._request("POST", path, json_body=body, idempotent=False)) or {}
        status = answer.get("status")
        contact = answer.get("contact") or {}
        return records.ResubscribeOutcome(
            email=contact.get("email") or email,
            state=_RESUBSCRIBE_STATES.get(status, records.RESUBSCRIBE_UNKNOWN),
            status=status,
            contact_id=contact.get("id"),
        )

    # ------------------------------------------------------------------------------------------------------
    # Parsing helpers that need the instance
    # ------------------------------------------------------------------------------------------------------

    # ------------------------------------------------------------------------------------------------------
    # Campaigns
    # ------------------------------------------------------------------------------------------------------

    def create_campaign(self, content):
        """Create a campaign from :func:`campaign_body`-shaped ``content``; returns a :class:`~.records.Campaign`.

        Not idempotent: a lost answer may have created it (callers find it again by name).
        """
        answer = self._json(self._request("POST", "/v2/campaigns", json_body=campaign_body(**content),
                                          idempotent=False))
        return self._parse(_campaign, answer, "/v2/campaigns")

    def update_campaign(self, campaign_id, content):
        """Replace the content of an unsent campaign (``ERROR_CAMPAIGN_READONLY`` once sent)."""
        path = f"/v2/campaigns/{int(campaign_id)}"
        answer = self._json(self._request("PUT", path, json_body=campaign_body(**content), idempotent=True))
        return self._parse(_campaign, answer, path)

    def get_campaign(self, campaign_id):
        path = f"/v2/campaigns/{int(campaign_id)}"
        return self._parse(_campaign, self._get_json(path), path)

    def iter_campaigns(self):
        """Every campaign of the account, page by page."""
        yield from self._iter_pages("/v2/campaigns", _campaign, key=lambda campaign: campaign.id)

    def iter_book_campaigns(self, book_id):
        """Campaigns sent (or being sent) to a book."""
        path = f"/v2/address-books/{int(book_id)}/campaigns"
        yield from self._iter_pages(path, _campaign, key=lambda campaign: campaign.id)

    def send_campaign(self, campaign_id, book_ids=(), contact_ids=(), send_date=None):
        """Send (or schedule, with ``send_date``) a campaign to books and/or at most 10 contacts.

        :raise ValidationError: before any call when no recipient is named: dotdigital's summary of this call
            says an empty send goes to All Contacts, and that must never happen by accident
        """
        book_ids = [int(book_id) for book_id in book_ids]
        contact_ids = [int(contact_id) for contact_id in contact_ids]
        if not book_ids and not contact_ids:
            raise ValidationError("A campaign send needs at least one address book or contact.")
        if len(contact_ids) > MAX_SEND_CONTACTS:
            raise ValidationError(f"A campaign send takes at most {MAX_SEND_CONTACTS} contacts.")
        body = {"campaignId": int(campaign_id), "addressBookIds": book_ids, "contactIds": contact_ids}
        if send_date:
            body["sendDate"] = _format_date(send_date)
        answer = self._json(self._request("POST", "/v2/campaigns/send", json_body=body, idempotent=False))
        return self._parse(_campaign_send, answer, "/v2/campaigns/send")

    def delete_campaign(self, campaign_id):
        try:
            self._request("DELETE", f"/v2/campaigns/{int(campaign_id)}", idempotent=True)
        except NotFound:
            pass

    def create_split_test(self, name, versions):
        """``POST /v2/campaigns/split-test``: one entry per version in each array of ``ApiSplitTestCampaign``.
        Replies go where the first version says (the body has one reply action for all versions)."""
        if len(versions) < 2:
            raise ValidationError("A split test needs two versions at least.")
        bodies = [campaign_body(**version) for version in versions]
        if any("fromAddress" not in body for body in bodies):
            raise ValidationError("Every version of a split test needs a from address.")
        body = {
            "name": name[:255],
            "subjects": [body["subject"] for body in bodies],
            "fromNames": [body["fromName"] for body in bodies],
            "fromAddresses": [body["fromAddress"] for body in bodies],
            "htmlContents": [body["htmlContent"] for body in bodies],
            "plainTextContents": [body["plainTextContent"] for body in bodies],
            "replyAction": bodies[0]["replyAction"],
            "replyToAddress": bodies[0]["replyToAddress"],
        }
        path = "/v2/campaigns/split-test"
        answer = self._json(self._request("POST", path, json_body=body, idempotent=False))
        return self._parse(_split_test_campaign, answer, path)

    def send_split_test(self, campaign_id, book_ids, metric, percentage, period_hours, send_date=None):
        """``POST /v2/campaigns/send`` with ``splitTestOptions`` (``ApiSplitTestSendOptions``).

        :raise ValidationError: before any call, for no book (never All Contacts), a metric dotdigital does not
            judge by, a percentage out of 1..100 or a period under one hour
        """
        book_ids = [int(book_id) for book_id in book_ids]
        if not book_ids:
            raise ValidationError("A split test is sent to at least one address book.")
        if metric not in _SPLIT_METRICS:
            raise ValidationError(f"dotdigital judges a split test by {', '.join(_SPLIT_METRICS.values())} only.")
        if not 1 <= int(percentage) <= 100:
            raise ValidationError("A split test's test percentage is between 1 and 100.")
        if int(period_hours) < 1:
            raise ValidationError("A split test's test period is one hour at least.")
        body = {"campaignId": int(campaign_id), "addressBookIds": book_ids, "contactIds": [],
                "splitTestOptions": {"testMetric": _SPLIT_METRICS[metric], "testPercentage": int(percentage),
                                     "testPeriodHours": int(period_hours)}}
        if send_date:
            body["sendDate"] = _format_date(send_date)
        answer = self._json(self._request("POST", "/v2/campaigns/send", json_body=body, idempotent=False))
        return self._parse(_campaign_send, answer, "/v2/campaigns/send")

    def get_split_test_results(self, campaign_id):
        path = f"/v2/campaigns/{int(campaign_id)}/split-test"
        return self._parse(lambda row: _split_test_results(int(campaign_id), row), self._get_json(path) or {}, path)

    def get_send(self, send_id):
        path = f"/v2/campaigns/send/{quote(str(send_id), safe='')}"
        return self._parse(_campaign_send, self._get_json(path), path)

    def find_send(self, campaign_id, send_date=None):
        """A campaign being sent or sent has its send; an unsent one may hold a scheduled send, which only
        ``campaigns/filtered`` by scheduled date shows (the campaign itself stays ``Unsent`` until then)."""
        found = super().find_send(campaign_id, send_date)
        if found is not None or not send_date:
            return found
        window = timedelta(minutes=5)  # the ESP may round the time it was given
        params = {"~scheduledDateFrom": _format_date(send_date - window),
                  "~scheduledDateTo": _format_date(send_date + window)}
        for campaign in self._iter_pages("/v2/campaigns/filtered", _campaign, params=params,
                                         key=lambda campaign: campaign.id):
            if campaign.id == int(campaign_id):
                return records.CampaignSend(id="", campaign_id=campaign.id, status="Scheduled",
                                            state=records.SEND_SCHEDULED, send_date=send_date)
        return None

    def iter_campaigns_with_activity_since(self, since):
        """Campaigns with any activity (sends, opens, clicks ...) after ``since``: the ones whose figures moved."""
        path = f"/v2/campaigns/with-activity-since/{_format_date(since)}"
        yield from self._iter_pages(path, _campaign, key=lambda campaign: campaign.id)

    def get_campaign_summary(self, campaign_id):
        path = f"/v2/campaigns/{int(campaign_id)}/summary"
        row = self._get_json(path) or {}
        return self._parse(lambda data: _campaign_summary(int(campaign_id), data), row, path)

    def iter_campaign_activities_since(self, campaign_id, since):
        """Recipients of a campaign with activity after ``since`` (all recipients from the feed epoch on)."""
        path = f"/v2/campaigns/{int(campaign_id)}/activities/since-date/{_format_date(since)}"
        yield from self._iter_pages(path, _campaign_activity, key=lambda row: row.email)

    def iter_campaign_clicks_since(self, campaign_id, since):
        """Clicks on a campaign after ``since``, oldest first (activities carry no click dates)."""
        path = f"/v2/campaigns/{int(campaign_id)}/clicks/since-date/{_format_date(since)}"
        yield from self._iter_pages(path, _campaign_click, key=lambda row: (row.email, row.url, row.clicked_at))

    def campaign_activities_page(self, campaign_id, since, skip=0, anchor=None):
        """One page of :meth:`iter_campaign_activities_since`: ``(rows, next_skip, next_anchor)``, ``next_skip``
        being ``None`` after the last page.

        Pages overlap by one verified row: the next page starts at the previous page's last row (``next_skip``)
        and must begin with it (``next_anchor`` holds the keys of the page's last rows). When it does not (rows
        before it were deleted meanwhile and the feed shifted up), the rows before are read again until the
        position is found, so no row is ever skipped; a row may come twice.

        :param anchor: the ``next_anchor`` returned with ``skip`` (``None``: nothing to verify)
        """
        path = f"/v2/campaigns/{int(campaign_id)}/activities/since-date/{_format_date(since)}"
        return self._verified_page(path, _campaign_activity, _activity_key, skip, anchor)

    def campaign_clicks_page(self, campaign_id, since, skip=0, anchor=None):
        """One page of :meth:`iter_campaign_clicks_since`, as :meth:`campaign_activities_page`."""
        path = f"/v2/campaigns/{int(campaign_id)}/clicks/since-date/{_format_date(since)}"
        return self._verified_page(path, _campaign_click, _click_key, skip, anchor)

    def _page_rows(self, path, skip):
        rows = self._get_json(path, params={"select": self.page_size, "skip": int(skip)})
        if not isinstance(rows, list):
            raise InvalidResponse(f"dotdigital answered {path} with {type(rows).__name__}, expected a list.")
        return rows

    def _anchor_index(self, key, rows, keys, path):
        """Index in ``rows`` of the latest of ``keys`` found there, ``None`` when none is."""
        where = {self._parse(key, row, path): index for index, row in enumerate(rows)}
        return next((where[found] for found in reversed(keys) if found in where), None)

    def _verified_page(self, path, parse, key, skip, anchor):
        """The page at ``skip``, verified against ``anchor``; see :meth:`campaign_activities_page`.

        The anchor holds the keys of the previous page's last ``ANCHOR_ROWS`` rows, the last one last: a deleted
        last row still leaves rows to find the position by. The page at ``skip`` must start with the last key;
        a key found further in it means rows were inserted before (they moved down, nothing is skipped). Else
        the pages before it are read again, each ending where the one after it starts, until one holds a key
        (or the feed's first page is reached: everything is read again): its rows after the key come first, then
        the rows of the page at ``skip`` when the two pages meet, and the read goes on from the last page read.
        """
        skip = int(skip)
        rows = self._page_rows(path, skip)
        keys = anchor.split(ANCHOR_SEPARATOR) if anchor and skip else []
        last_page, last_start = rows, skip  # the page whose end gives the next position
        if keys and not (rows and self._parse(key, rows[0], path) == keys[-1]) \
                and self._anchor_index(key, rows, keys, path) is None:
            start, found = skip, None
            while start and found is None:
                start = max(0, start - (self.page_size - 1))
                before = self._page_rows(path, start)
                found = self._anchor_index(key, before, keys, path)
            _logger.info("dotdigital %s shifted before skip=%s: read again from skip=%s", path, skip,
                         start if found is None else start + found)
            head = before if found is None else before[found + 1:]
            if start + len(before) - 1 >= skip:  # the two pages meet: one page of both
                rows = head + rows
            else:
                rows, last_page, last_start = head, before, start
        records = [self._parse(parse, row, path) for row in rows]
        if len(last_page) < self.page_size:
            return records, None, None
        next_anchor = ANCHOR_SEPARATOR.join(self._parse(key, row, path) for row in last_page[-ANCHOR_ROWS:])
        return records, last_start + len(last_page) - 1, next_anchor

    def get_template_html(self, template_id):
        """The HTML content of a template stored at the ESP."""
        path = f"/v2/templates/{int(template_id)}"
        return (self._get_json(path) or {}).get("htmlContent") or ""

    def upsert_contact(self, email):
        """Create (or find) an account contact in no book; returns its :class:`~.records.Contact`."""
        answer = self._json(self._request("POST", "/v2/contacts", json_body={"email": email.strip()},
                                          idempotent=True))
        return self._parse(_contact, answer, "/v2/contacts")

    def _account_info(self, data):
        if not isinstance(data, dict):
            raise InvalidResponse("dotdigital account-info answer is not an object.")
        properties = {
            prop.get("name"): prop.get("value") for prop in data.get("properties") or () if isinstance(prop, dict)
        }
        endpoint = properties.get("ApiEndpoint")
        if endpoint:
            endpoint = check_base_url(endpoint)
        else:
            _logger.warning("dotdigital account-info has no ApiEndpoint; staying on %s", self.base_url)
            endpoint = self.base_url
        region = _REGION_RE.match(urlsplit(endpoint).hostname or "")
        return records.AccountInfo(
            account_id=data.get("id"),
            endpoint=endpoint,
            region=region.group(1).lower() if region else None,
            main_email=properties.get("MainEmail"),
            locale=properties.get("APILocale"),
        )


# ----------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------


def _check_choice(label, value, choices):
    if value not in choices:
        raise ValidationError(f"Invalid {label} {value!r}; use one of {', '.join(choices)}.")


def validate_data_field(name, type, visibility="Private", default=None):
    """Check a data field definition against dotdigital's rules, before spending a call.

    :raise ValidationError: with a message saying which rule failed
    """
    if not isinstance(name, str) or not DATA_FIELD_NAME_RE.match(name):
        raise ValidationError(f"Invalid data field name {name!r}: use 1 to 20 letters, digits, '_' or '-' (no spaces).")
    _check_choice("data field type", type, DATA_FIELD_TYPES)
    _check_choice("data field visibility", visibility, VISIBILITIES)
    if default is None:
        return
    valid = {
        "String": isinstance(default, str),
        "Numeric": isinstance(default, int | float) and not isinstance(default, bool),
        "Date": isinstance(default, date | str),
        "Boolean": isinstance(default, bool),
    }[type]
    if not valid:
        raise ValidationError(f"Default value {default!r} does not suit a {type} data field.")


# ----------------------------------------------------------------------------------------------------------
# JSON -> records
# ----------------------------------------------------------------------------------------------------------


def _by_id(record):
    return record.id


def _suppression_key(record):
    return record.contact_id if record.contact_id is not None else (record.email or "").lower() or None


def _address_book(row):
    name = row.get("name") or ""
    return records.AddressBook(
        id=int(row["id"]),
        name=name,
        visibility=row.get("visibility"),
        contact_count=row.get("contacts"),
        is_system=name.strip().casefold() in SYSTEM_BOOK_NAMES,
    )


def _data_field(row):
    return records.DataField(
        name=row["name"], type=row.get("type"), visibility=row.get("visibility"), default=row.get("defaultValue")
    )


_CAMPAIGN_STATES = {
    "Unsent": records.CAMPAIGN_DRAFT,
    "Sending": records.CAMPAIGN_SENDING,
    "Sent": records.CAMPAIGN_SENT,
    "Cancelled": records.CAMPAIGN_CANCELLED,
}
_SEND_STATES = {
    "Scheduled": records.SEND_SCHEDULED,
    "Sending": records.SEND_SENDING,
    "Sent": records.SEND_SENT,
    "Cancelled": records.SEND_CANCELLED,
}
MAX_SEND_CONTACTS = 10
# ApiSplitTestMetrics by neutral name ("NotAvailableInThisVersion" is no metric to send).
_SPLIT_METRICS = {records.SPLIT_METRIC_OPENS: "Opens", records.SPLIT_METRIC_CLICKS: "Clicks",
                  records.SPLIT_METRIC_ROI: "ROI"}


def rate_scope(method, path):
    """The tier dotdigital counts a call in: bulk imports are ``low``, paged reads ``medium``, single-record
    calls ``high`` (its tiered scheme; the answer's ``X-RateLimit-Scope`` names the tier it was counted in)."""
    if method in ("POST", "PUT") and "/import" in path:
        return "low"
    if (method == "GET" and path not in ("/v2/server-time", "/v2/account-info")
            and not re.search(r"/(\d+|[^/]*@[^/]*)$", path) and "/send/" not in path):
        return "medium"
    return "high"


def campaign_body(name, subject, from_name, html, plain_text, from_address_id=None, reply_to=None, **_other):
    """The ``ApiCampaign`` body; replies go to ``reply_to`` when given (dotdigital's reply action). Content
    other ESPs take (a description, a template id, the marker as an external id) has no place in it."""
    body = {
        "name": name[:255],
        "subject": subject,
        "fromName": from_name,
        "htmlContent": html,
        "plainTextContent": plain_text,
        "replyAction": "WebMailForward" if reply_to else "Unset",
        "replyToAddress": reply_to or None,
    }
    if from_address_id:
        body["fromAddress"] = {"id": int(from_address_id)}
    return body


def _campaign(row):
    status = row.get("status") or "Unsent"
    return records.Campaign(
        id=int(row["id"]), name=row.get("name") or "", subject=row.get("subject"), status=status,
        state=_CAMPAIGN_STATES.get(status, records.CAMPAIGN_WAITING), from_name=row.get("fromName"),
        html=row.get("htmlContent"), plain_text=row.get("plainTextContent"),
    )


def _split_test_campaign(row):
    status = row.get("status") or "Unsent"
    subjects = row.get("subjects") or [None]
    return records.Campaign(
        id=int(row["id"]), name=row.get("name") or "", subject=subjects[0], status=status,
        state=_CAMPAIGN_STATES.get(status, records.CAMPAIGN_WAITING),
    )


def _split_test_results(campaign_id, row):
    versions = tuple(
        records.SplitTestVersion(
            index=index, label=version.get("version") or str(index + 1), subject=version.get("subjectLine"),
            winning=bool(version.get("winningVersion")), result=float(version.get("resultsActual") or 0),
            percentage=float(version.get("resultsPercentage") or 0),
        )
        for index, version in enumerate(row.get("versions") or ())
    )
    metric = {name: neutral for neutral, name in _SPLIT_METRICS.items()}.get(row.get("splitTestWinnerMetric"))
    return records.SplitTestResults(campaign_id=campaign_id, metric=metric, versions=versions)


def _campaign_summary(campaign_id, row):
    def number(name):
        value = row.get(name)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    rate = row.get("percentageUniqueOpens")
    return records.CampaignSummary(
        campaign_id=campaign_id,
        sent=number("numTotalSent") or number("numSent"),
        delivered=number("numTotalDelivered") or number("numDelivered"),
        hard_bounces=number("numTotalHardBounces") or number("numHardBounces"),
        soft_bounces=number("numTotalSoftBounces") or number("numSoftBounces"),
        unsubscribes=number("numTotalUnsubscribes") or number("numUnsubscribes"),
        complaints=number("numTotalIspComplaints") or number("numIspComplaints"),
        opens=number("numTotalOpens") or number("numOpens"),
        unique_opens=number("numTotalUniqueOpens") or number("numUniqueOpens"),
        clicks=number("numTotalClicks") or number("numClicks"),
        unique_clicks=number("numRecipientsClicked"),
        forwards=number("numForwards"),
        open_rate=float(rate) if isinstance(rate, int | float) else None,
        date_sent=_real_date(row.get("dateSent")),
    )


def _real_date(value):
    """dotdigital writes 0001-01-01 for "never"."""
    moment = _parse_datetime(value)
    return moment if moment and moment.year > 1900 else None


def _campaign_activity(row):
    return records.CampaignActivity(
        contact_id=row.get("contactId"), email=(row.get("email") or "").strip(),
        opens=int(row.get("numOpens") or 0), clicks=int(row.get("numClicks") or 0),
        forwards=int(row.get("numForwards") or 0), sent_at=_real_date(row.get("dateSent")),
        first_open_at=_real_date(row.get("dateFirstOpened")), last_open_at=_real_date(row.get("dateLastOpened")),
        unsubscribed=bool(row.get("unsubscribed")), soft_bounced=bool(row.get("softBounced")),
        hard_bounced=bool(row.get("hardBounced")),
    )


def _activity_key(row):
    """A recipient's row in the activities feed (its figures change between reads, its recipient does not)."""
    return f"{row.get('contactId')} {(row.get('email') or '').strip().lower()}"


def _click_key(row):
    """One click in the clicks feed (a click never changes), short."""
    identity = "\x1f".join(str(row.get(name)) for name in ("contactId", "email", "url", "dateClicked", "ipAddress"))
    return hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()


def _campaign_click(row):
    return records.CampaignClick(contact_id=row.get("contactId"), email=(row.get("email") or "").strip(),
                                 url=row.get("url"), clicked_at=_real_date(row.get("dateClicked")))


def _campaign_send(row):
    status = row.get("status") or "NotSent"
    return records.CampaignSend(
        id=str(row["id"]), campaign_id=int(row.get("campaignId") or 0), status=status,
        state=_SEND_STATES.get(status, records.SEND_FAILED), send_date=_parse_datetime(row.get("sendDate")),
    )


def _template(row):
    return records.Template(
        id=int(row["id"]), name=row.get("name") or "", subject=row.get("subject"), from_name=row.get("fromName")
    )


def _from_address(row):
    return records.FromAddress(id=int(row["id"]), email=row.get("email") or "")


def _import_job(row):
    status = row.get("status") or "Unknown"
    return records.ImportJob(id=str(row["id"]), status=status, state=_IMPORT_STATES.get(status, records.IMPORT_FAILED))


def _contact(row):
    fields = {item.get("key"): item.get("value") for item in row.get("dataFields") or () if isinstance(item, dict)}
    status = row.get("status")
    return records.Contact(
        id=row.get("id"),
        email=row["email"],
        status=status,
        opt_in_type=row.get("optInType"),
        email_type=row.get("emailType"),
        data_fields=fields,
        sendable=status in SENDABLE_STATUSES if status else True,
    )


def _suppression(row):
    contact = row.get("suppressedContact") or {}
    return records.Suppression(
        contact_id=contact.get("id"),
        email=contact.get("email"),
        reason=row.get("reason"),
        removed_at=_parse_datetime(row.get("dateRemoved")),
    )


def _parse_faults(response):
    response.raw.decode_content = True
    # urllib3 marks a fully read body "closed", which TextIOWrapper treats as an error before its last read.
    response.raw.auto_close = False
    # utf-8-sig drops the BOM dotdigital puts in front of "Reason"; newline='' lets csv handle quoted breaks.
    reader = csv.reader(io.TextIOWrapper(response.raw, encoding="utf-8-sig", newline=""))
    header = next(reader, None)
    if not header:
        return
    columns = [column.strip() for column in header]
    lowered = [column.lower() for column in columns]
    email_index = lowered.index("email") if "email" in lowered else None
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        row = dict(zip(columns[1:], values[1:], strict=False))
        email = values[email_index].strip() if email_index is not None and email_index < len(values) else None
        reason = values[0].strip()
        kind = records.FAULT_INVALID if reason.lower() in _INVALID_FAULT_REASONS else records.FAULT_SUPPRESSED
        yield records.ImportFault(reason=reason, email=email or None, row=row, kind=kind)


# ----------------------------------------------------------------------------------------------------------
# Dates and values
# ----------------------------------------------------------------------------------------------------------

_FRACTION_RE = re.compile(r"(\.\d+)")


def _format_date(value):
    """ISO 8601 in UTC for a path segment: ``2024-05-01T10:00:00Z`` (naive datetimes are taken as UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%dT00:00:00Z")
    raise TypeError(f"expected a date or datetime, got {type(value).__name__}")


def _parse_datetime(value):
    """Parse dotdigital's ISO dates (``Z``, offsets, 0-7 fraction digits) into aware UTC datetimes."""
    if not isinstance(value, str):
        return None
    return _parse_iso(value)


@functools.lru_cache(maxsize=1024)  # a feed's rows share many dates (the send's, "never")
def _parse_iso(value):
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)  # Python 3.11 reads all of them
    except ValueError:
        text = text.replace("Z", "+00:00").replace("z", "+00:00")
        # .NET writes up to 7 fraction digits; Python before 3.11 reads exactly 3 or 6.
        text = _FRACTION_RE.sub(lambda match: (match.group(1) + "000000")[:7], text, count=1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _json_value(value):
    if isinstance(value, datetime):
        return _format_date(value)[:-1]
    if isinstance(value, date):
        return value.isoformat() + "T00:00:00"
    return value
