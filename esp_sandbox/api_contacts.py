"""v2 contacts: single upserts, book membership, feeds, unsubscribe/resubscribe, bulk deletion and imports."""

import base64
import binascii
import json

from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from . import errors, imports, render
from .store import SENDABLE, TEST_BOOK
from .validation import SCHEMAS, canonical
from .web import flag, json_response, no_content, paging, read_body, read_int_list, read_json, since

MAX_BULK_DELETE = 1000
# The spec gives no limit for a batch of contacts read by id or email; the sandbox takes what a bulk delete takes.
MAX_RETRIEVE = 1000
MERGE_OPTIONS = ("Overwrite", "OnlyOverwriteIfNotEmpty", "OnlyOverwriteIfContactDataNotPopulated")
BOOK = "/v2/address-books/<int:book_id>/contacts"
# The real text, as dotdigital's Magento extension compares it (Model/Apiconnector/Client.php).
REPORT_NOT_READY = "Import is not processed yet or completed with error. ERROR_IMPORT_REPORT_NOT_FOUND"

RULES = [
    Rule("/v2/contacts", endpoint="list_contacts", methods=["GET"]),
    Rule("/v2/contacts", endpoint="upsert_contact", methods=["POST"]),
    Rule("/v2/contacts/count", endpoint="count_contacts", methods=["GET"]),
    Rule("/v2/contacts/retrieve-collection", endpoint="retrieve_contacts", methods=["GET"]),
    Rule("/v2/contacts/<int:contact_id>", endpoint="get_contact", methods=["GET"]),
    Rule("/v2/contacts/<int:contact_id>", endpoint="update_contact", methods=["PUT"]),
    Rule("/v2/contacts/<int:contact_id>", endpoint="delete_contact", methods=["DELETE"]),
    Rule("/v2/contacts/<email:email>", endpoint="get_contact_by_email", methods=["GET"]),
    Rule("/v2/contacts/modified-since/<date>", endpoint="list_contacts_modified_since", methods=["GET"]),
    Rule("/v2/contacts/created-since/<date>", endpoint="list_contacts_created_since", methods=["GET"]),
    Rule("/v2/contacts/suppressed-since/<date>", endpoint="list_suppressed_since", methods=["GET"]),
    Rule("/v2/contacts/unsubscribed-since/<date>", endpoint="list_unsubscribed_since", methods=["GET"]),
    Rule("/v2/contacts/unsubscribe", endpoint="unsubscribe", methods=["POST"]),
    Rule("/v2/contacts/resubscribe", endpoint="resubscribe", methods=["POST"]),
    Rule("/v2/contacts/resubscribe-with-no-challenge", endpoint="resubscribe_no_challenge", methods=["POST"]),
    Rule("/v2/contacts/deletion/<deletion_id>", endpoint="get_deletion", methods=["GET"]),
    Rule("/v2/contacts/import", endpoint="import_account", methods=["POST"]),
    Rule("/v2/contacts/import/with-merge-option/<merge_option>", endpoint="import_account", methods=["POST"]),
    Rule("/v2/contacts/import/<import_id>", endpoint="get_import", methods=["GET"]),
    Rule("/v2/contacts/import/<import_id>/report", endpoint="get_import_report", methods=["GET"]),
    Rule("/v2/contacts/import/<import_id>/report-faults", endpoint="get_import_faults", methods=["GET"]),
    Rule(BOOK, endpoint="list_book_contacts", methods=["GET"]),
    Rule(BOOK, endpoint="add_book_contact", methods=["POST"]),
    Rule(BOOK, endpoint="empty_book", methods=["DELETE"]),
    Rule(f"{BOOK}/<int:contact_id>", endpoint="remove_book_contact", methods=["DELETE"]),
    Rule(f"{BOOK}/delete", endpoint="bulk_delete_book_contacts", methods=["POST"]),
    Rule(f"{BOOK}/delete-all", endpoint="delete_all_book_contacts", methods=["POST"]),
    Rule(f"{BOOK}/modified-since/<date>", endpoint="list_book_modified_since", methods=["GET"]),
    Rule(f"{BOOK}/unsubscribed-since/<date>", endpoint="list_book_unsubscribed_since", methods=["GET"]),
    Rule(f"{BOOK}/unsubscribe", endpoint="unsubscribe_from_book", methods=["POST"]),
    Rule(f"{BOOK}/resubscribe", endpoint="resubscribe_to_book", methods=["POST"]),
    Rule(f"{BOOK}/resubscribe-with-no-challenge", endpoint="resubscribe_to_book_no_challenge", methods=["POST"]),
    Rule(f"{BOOK}/import", endpoint="import_book", methods=["POST"]),
    Rule(f"{BOOK}/import/with-merge-option/<merge_option>", endpoint="import_book", methods=["POST"]),
]


class ContactsApi:
    """Handlers; ``self.store``, ``self.config`` and ``self.faults`` come from the application class."""

    # -- helpers --------------------------------------------------------------------------------------------

    def _contacts(self, rows, full):
        fields = [row["name"] for row in self.store.data_fields()] if full else None
        return json_response([render.contact(row, fields) for row in rows])

    def _contact_json(self, row):
        return render.contact(row, [field["name"] for field in self.store.data_fields()])

    def _contact_or_404(self, contact_id):
        row = self.store.contact(contact_id)
        if row is None:
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        return row

    def _writable_book(self, book_id):
        row = self._book_or_404(book_id)
        if row["name"] == TEST_BOOK and row["system"]:
            raise errors.bad_request("ERROR_ADDRESSBOOK_NOTWRITABLE", "Address book cannot be written to via the API.")
        return row

    def _data_from_body(self, body):
        """Data fields of an ApiContact body as {NAME: value}; unknown names are refused."""
        known = self.store.data_field_names()
        data = {}
        for item in body.get("dataFields") or []:
            key = (item.get("key") or "").casefold()
            if key not in known:
                raise errors.bad_request("ERROR_DATAFIELD_NOTFOUND", f"Data field '{item.get('key')}' does not exist.")
            data[known[key]] = item.get("value")
        return data

    def _upsert(self, body):
        """Create or update a contact by email (case-insensitive); suppressed contacts are refused."""
        email = body["email"].strip()
        if not imports.EMAIL_RE.match(email):
            raise errors.bad_request("ERROR_PARAMETER_INVALID", "Email is not a valid email address.")
        data = self._data_from_body(body)
        row = self.store.contact_by_email(email)
        if row is None:
            return self.store.create_contact(email, body.get("optInType") or "Unknown", body.get("emailType") or "Html",
                                             data)
        if row["status"] not in imports.IMPORTABLE:
            raise errors.bad_request("ERROR_CONTACT_SUPPRESSED", "Contact is suppressed.")
        merged = {**json.loads(row["data"]), **data}
        values = {"data": merged}
        for key, column in (("optInType", "opt_in_type"), ("emailType", "email_type")):
            if body.get(key):
                values[column] = body[key]
        self.store.update_contact(row["id"], **values)
        return row["id"]

    # -- single contacts ------------------------------------------------------------------------------------

    def on_list_contacts(self, request):
        rows = self.store.book_page(self.store.all_contacts_book_id(), *paging(request))
        return self._contacts(rows, flag(request, "withFullData"))

    def on_count_contacts(self, request):
        return json_response(self.store.book_count(self.store.all_contacts_book_id()))

    def on_upsert_contact(self, request):
        contact_id = self._upsert(read_body(request, "ApiContact"))
        return json_response(self._contact_json(self.store.contact(contact_id)), 201)

    def on_get_contact(self, request, contact_id):
        row = self._contact_or_404(contact_id)
        if row["status"] not in SENDABLE:
            # The spec: "Unsubscribed or suppressed contacts will not be retrieved" by id.
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        return json_response(self._contact_json(row))

    def on_get_contact_by_email(self, request, email):
        row = self.store.contact_by_email(email)
        if row is None:
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        return json_response(self._contact_json(row))

    def on_retrieve_contacts(self, request):
        """ApiMultipleContactsRequest (a GET with a body, as the spec has it): the contacts found by id or email,
        whatever their status, and the others in ``notFound``."""
        body = read_body(request, "ApiMultipleContactsRequest")
        wanted = body.get("contacts") or []
        if len(wanted) > MAX_RETRIEVE:
            raise errors.bad_request("ERROR_CONTACT_TOOMANY", f"At most {MAX_RETRIEVE} contacts per call.")
        fields = [field["name"] for field in self.store.data_fields()] if body.get("withFullData") else None
        found, missing = [], []
        for item in wanted:
            row = None
            if item.get("id"):
                row = self.store.contact(int(item["id"]))
            elif item.get("email"):
                row = self.store.contact_by_email(item["email"].strip())
            if row is None:
                missing.append({"id": item.get("id") or 0, "email": item.get("email")})
            else:
                found.append({**render.contact(row, fields), "created": render.to_iso(row["created"])})
        return json_response({"contacts": found, "notFound": missing})

    def on_update_contact(self, request, contact_id):
        row = self._contact_or_404(contact_id)
        body = read_body(request, "ApiContact")
        email = body["email"].strip()
        other = self.store.contact_by_email(email)
        if not imports.EMAIL_RE.match(email):
            raise errors.bad_request("ERROR_PARAMETER_INVALID", "Email is not a valid email address.")
        if other is not None and other["id"] != contact_id:
            raise errors.bad_request("ERROR_NON_UNIQUE_EMAIL", "Another contact has this email address.")
        data = {**json.loads(row["data"]), **self._data_from_body(body)}
        self.store.update_contact(contact_id, email=email, data=data)
        return json_response(self._contact_json(self.store.contact(contact_id)))

    def on_delete_contact(self, request, contact_id):
        self._contact_or_404(contact_id)
        self.store.delete_contact(contact_id)
        return no_content()

    # -- account feeds ------------------------------------------------------------------------------------

    def on_list_contacts_modified_since(self, request, date):
        rows = self.store.contacts_changed_since("modified", since(date), *paging(request))
        return self._contacts(rows, flag(request, "withFullData"))

    def on_list_contacts_created_since(self, request, date):
        rows = self.store.contacts_changed_since("created", since(date), *paging(request))
        return self._contacts(rows, flag(request, "withFullData"))

    def on_list_suppressed_since(self, request, date):
        rows = self.store.suppressions(since(date), *paging(request))
        return json_response([render.suppression(row) for row in rows])

    on_list_unsubscribed_since = on_list_suppressed_since

    # -- unsubscribe and resubscribe ------------------------------------------------------------------------

    def _unsubscribe(self, request, book_id=None):
        body = read_body(request, "ApiContact")
        row = self.store.contact_by_email(body["email"])
        if row is None or (book_id is not None and self.store.member(book_id, row["id"]) is None):
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        if book_id is None and row["status"] in SENDABLE:
            self.store.set_status(row["id"], "Unsubscribed")
        elif book_id is not None:
            self.store.set_status(row["id"], "Unsubscribed", book_id=book_id)
        event = self.store.db.execute(
            "SELECT reason, at FROM suppressions WHERE contact_id = ? ORDER BY id DESC LIMIT 1", (row["id"],)
        ).fetchone()
        row = self.store.contact(row["id"])
        reason, at = (event["reason"], event["at"]) if event else (row["status"], row["modified"])
        return json_response(render.suppression({**dict(row), "reason": reason, "at": at}))

    def on_unsubscribe(self, request):
        return self._unsubscribe(request)

    def on_unsubscribe_from_book(self, request, book_id):
        self._writable_book(book_id)
        return self._unsubscribe(request, book_id)

    def _resubscribe(self, request, book_id=None, challenge=True):
        """dotdigital's answer: hard bounces and complaints stay suppressed, self-unsubscribes get a challenge."""
        body = read_body(request, "ApiContactResubscription")
        email = body["unsubscribedContact"]["email"]
        row = self.store.contact_by_email(email)
        if row is None:
            contact_id = self._upsert(body["unsubscribedContact"])
            status = "ContactAdded"
        else:
            contact_id = row["id"]
            member = self.store.member(book_id, contact_id) if book_id is not None else None
            unsubscribed = row["status"] == "Unsubscribed" or (member is not None and member["unsubscribed"])
            if row["status"] not in (*SENDABLE, "Unsubscribed", "PendingOptIn"):
                status = "ContactCannotBeUnsuppressed"
            elif unsubscribed and challenge:
                # The contact gets a confirmation email and stays unsubscribed until they click it.
                status = "ContactChallenged"
            else:
                self.store.resubscribe(contact_id, book_id)
                status = "ContactAdded"
        if book_id is not None and status == "ContactAdded":
            self.store.add_member(book_id, contact_id)
        return json_response({"contact": self._contact_json(self.store.contact(contact_id)), "status": status})

    def on_resubscribe(self, request):
        return self._resubscribe(request)

    def on_resubscribe_no_challenge(self, request):
        return self._resubscribe(request, challenge=False)

    def on_resubscribe_to_book(self, request, book_id):
        self._writable_book(book_id)
        return self._resubscribe(request, book_id)

    def on_resubscribe_to_book_no_challenge(self, request, book_id):
        self._writable_book(book_id)
        return self._resubscribe(request, book_id, challenge=False)

    # -- book membership ----------------------------------------------------------------------------------

    def on_list_book_contacts(self, request, book_id):
        page = paging(request)
        self._book_or_404(book_id)
        return self._contacts(self.store.book_page(book_id, *page), flag(request, "withFullData"))

    def on_list_book_modified_since(self, request, book_id, date):
        page = paging(request)
        self._book_or_404(book_id)
        rows = self.store.book_modified_since(book_id, since(date), *page)
        return self._contacts(rows, flag(request, "withFullData"))

    def on_list_book_unsubscribed_since(self, request, book_id, date):
        page = paging(request)
        self._book_or_404(book_id)
        rows = self.store.suppressions(since(date), *page, book_id=book_id)
        return json_response([render.suppression(row) for row in rows])

    def on_add_book_contact(self, request, book_id):
        self._writable_book(book_id)
        body = read_body(request, "ApiContact")
        existing = self.store.contact_by_email(body["email"])
        if existing is not None:
            member = self.store.member(book_id, existing["id"])
            if member is not None and member["unsubscribed"]:
                raise errors.bad_request("ERROR_CONTACT_SUPPRESSEDFORADDRESSBOOK",
                                         "Contact is unsubscribed from this address book.")
        contact_id = self._upsert(body)
        self.store.add_member(book_id, contact_id)
        return json_response(self._contact_json(self.store.contact(contact_id)))

    def on_remove_book_contact(self, request, book_id, contact_id):
        self._writable_book(book_id)
        if self.store.member(book_id, contact_id) is None:
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        self.store.remove_members(book_id, [contact_id])
        return no_content()

    def on_empty_book(self, request, book_id):
        self._writable_book(book_id)
        self.store.empty_book(book_id)
        return no_content()

    def on_bulk_delete_book_contacts(self, request, book_id):
        self._writable_book(book_id)
        contact_ids = read_int_list(request)
        if len(contact_ids) > MAX_BULK_DELETE:
            raise errors.bad_request("ERROR_CONTACT_TOOMANY", f"At most {MAX_BULK_DELETE} contacts per call.")
        self.store.remove_members(book_id, contact_ids)
        # Removal is immediate here; the status already reads Completed to the first poll.
        return json_response({"id": self.store.record_deletion("Completed"), "status": "Started"}, 202)

    def on_delete_all_book_contacts(self, request, book_id):
        self._writable_book(book_id)
        self.store.empty_book(book_id)
        return json_response({"id": self.store.record_deletion("Completed"), "status": "Started"}, 202)

    def on_get_deletion(self, request, deletion_id):
        row = self.store.deletion(deletion_id)
        if row is None:
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        return json_response({"id": row["id"], "status": row["status"]})

    # -- imports ----------------------------------------------------------------------------------------------

    def on_import_book(self, request, book_id, merge_option="Overwrite"):
        self._writable_book(book_id)
        return self._import(request, book_id, merge_option)

    def on_import_account(self, request, merge_option="Overwrite"):
        return self._import(request, self.store.all_contacts_book_id(), merge_option)

    def _import(self, request, book_id, merge_option):
        merge_option = next((option for option in MERGE_OPTIONS if option.casefold() == merge_option.casefold()),
                            None)
        if merge_option is None:
            raise errors.invalid_parameter("mergeOption")
        file_name, data = _uploaded_file(request)
        if imports.active_imports(self.store) >= imports.MAX_ACTIVE_IMPORTS:
            raise errors.bad_request("ERROR_IMPORT_TOOMANYACTIVEIMPORTS",
                                     f"There are already {imports.MAX_ACTIVE_IMPORTS} imports in progress.")
        outcome = self.faults.take_import() or imports.plan_outcome(self.store, data, file_name)
        import_id = imports.create_import(self.store, book_id, data, file_name, merge_option, outcome,
                                          float(self.config.import_delay))
        return json_response({"id": import_id, "status": "NotFinished"}, 202)

    def _import_or_404(self, import_id, code="ERROR_IMPORT_NOT_FOUND"):
        row = imports.import_row(self.store, import_id)
        if row is None:
            raise errors.not_found(code)
        return row

    def on_get_import(self, request, import_id):
        row = self._import_or_404(import_id)
        return json_response({"id": row["id"], "status": row["status"]})

    def on_get_import_report(self, request, import_id):
        row = self._import_or_404(import_id, "ERROR_IMPORT_REPORT_NOT_FOUND")
        if row["report"] is None:
            raise errors.ApiError(404, REPORT_NOT_READY)
        return json_response(json.loads(row["report"]))

    def on_get_import_faults(self, request, import_id):
        row = self._import_or_404(import_id, "ERROR_IMPORT_REPORT_NOT_FOUND")
        if row["faults"] is None:
            raise errors.ApiError(404, REPORT_NOT_READY)
        # UTF-8 with a BOM, as the real report downloads are.
        return Response("\ufeff" + row["faults"], content_type="application/octet-stream")


def _uploaded_file(request):
    """(file name, bytes) from a JSON ApiFileMedia body or a multipart upload with exactly one named file."""
    if request.mimetype == "multipart/form-data":
        files = list(request.files.values())
        if len(files) > 1:
            raise errors.bad_request("ERROR_MULTI_FILE_UPLOAD_NOT_ALLOWED", "Only one file can be uploaded.")
        if not files or not files[0].filename:
            raise errors.ApiError(400, "file must be valid")
        return files[0].filename, files[0].read()
    body = canonical(read_json(request), SCHEMAS["ApiFileMedia"])
    if not isinstance(body, dict) or not isinstance(body.get("data"), str) or not body.get("fileName"):
        raise errors.ApiError(400, "fileName and data are required. ERROR_PARAMETER_INVALID")
    try:
        return body["fileName"], base64.b64decode(body["data"], validate=True)
    except (binascii.Error, ValueError):
        raise errors.ApiError(400, "data must be base64. ERROR_PARAMETER_INVALID")
