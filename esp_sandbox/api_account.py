"""v2 account, address books, data fields, from-addresses and templates."""

import datetime
import re
import sqlite3

from werkzeug.routing import Rule

from . import errors, render
from .store import ALL_CONTACTS, TEST_BOOK
from .timeutil import to_iso
from .web import json_response, paging, read_body

DATA_FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
DATA_FIELD_TYPES = ("String", "Numeric", "Date", "Boolean")
RESERVED_BOOKS = (ALL_CONTACTS.casefold(), TEST_BOOK.casefold())

RULES = [
    Rule("/v2/account-info", endpoint="account_info", methods=["GET"]),
    Rule("/v2/server-time", endpoint="server_time", methods=["GET"]),
    Rule("/v2/address-books", endpoint="list_books", methods=["GET"]),
    Rule("/v2/address-books", endpoint="create_book", methods=["POST"]),
    Rule("/v2/address-books/private", endpoint="list_books_private", methods=["GET"]),
    Rule("/v2/address-books/public", endpoint="list_books_public", methods=["GET"]),
    Rule("/v2/address-books/<int:book_id>", endpoint="get_book", methods=["GET"]),
    Rule("/v2/address-books/<int:book_id>", endpoint="update_book", methods=["PUT"]),
    Rule("/v2/address-books/<int:book_id>", endpoint="delete_book", methods=["DELETE"]),
    Rule("/v2/contacts/<int:contact_id>/address-books", endpoint="list_books_of_contact", methods=["GET"]),
    Rule("/v2/data-fields", endpoint="list_data_fields", methods=["GET"]),
    Rule("/v2/data-fields", endpoint="create_data_field", methods=["POST"]),
    Rule("/v2/data-fields/<name>", endpoint="delete_data_field", methods=["DELETE"]),
    Rule("/v2/custom-from-addresses", endpoint="list_from_addresses", methods=["GET"]),
    Rule("/v2/templates", endpoint="list_templates", methods=["GET"]),
    Rule("/v2/templates", endpoint="create_template", methods=["POST"]),
    Rule("/v2/templates/<int:template_id>", endpoint="get_template", methods=["GET"]),
    Rule("/v2/templates/<int:template_id>", endpoint="update_template", methods=["PUT"]),
]


class AccountApi:
    """Handlers; ``self.store`` and ``self.config`` come from the application class."""

    # -- account ------------------------------------------------------------------------------------------

    def on_account_info(self, request):
        endpoint = self.config.public_url or request.host_url.rstrip("/")
        properties = {
            "Name": "Sandbox ESP",
            # The API user that asked: several users of one account share its id.
            "User": request.authorization.username if request.authorization else self.config.api_user,
            "MainEmail": "owner@sandbox.example.com",
            "ApiEndpoint": endpoint,
            "APILocale": "en-GB",
            "AvailableEmailSendsCredits": "1000000",
            "TimeZone": "UTC",
        }
        data = {"id": self.config.account_id, "properties": [{"name": k, "type": "String", "value": v} for k, v in properties.items()]}
        return json_response(data)

    def on_server_time(self, request):
        return json_response(to_iso(self.store.now()))

    # -- address books ------------------------------------------------------------------------------------

    def _book_or_404(self, book_id):
        row = self.store.book(book_id)
        if row is None:
            raise errors.not_found("ERROR_ADDRESSBOOK_NOT_FOUND")
        return row

    def _render_books(self, rows):
        return json_response([render.book(row, self.store.book_count(row["id"])) for row in rows])

    def on_list_books(self, request):
        return self._render_books(self.store.books(None, *paging(request)))

    def on_list_books_private(self, request):
        return self._render_books(self.store.books("Private", *paging(request)))

    def on_list_books_public(self, request):
        return self._render_books(self.store.books("Public", *paging(request)))

    def on_list_books_of_contact(self, request, contact_id):
        page = paging(request)
        if self.store.contact(contact_id) is None:
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        return self._render_books(self.store.books_of_contact(contact_id, *page))

    def on_get_book(self, request, book_id):
        row = self._book_or_404(book_id)
        return json_response(render.book(row, self.store.book_count(book_id)))

    def _check_book_name(self, name, book_id=None):
        taken = self.store.book_by_name(name)
        if name.strip().casefold() in RESERVED_BOOKS or (taken is not None and taken["id"] != book_id):
            raise errors.bad_request("ERROR_ADDRESSBOOK_DUPLICATE",
                                         "That name is in use already, please choose another.")

    def on_create_book(self, request):
        body = read_body(request, "ApiAddressBook")
        name = body["name"].strip()
        self._check_book_name(name)
        book_id = self.store.create_book(name, body.get("visibility") or "Private")
        return json_response(render.book(self.store.book(book_id), 0), 201)

    def on_update_book(self, request, book_id):
        row = self._book_or_404(book_id)
        body = read_body(request, "ApiAddressBook")
        if row["system"]:
            raise errors.bad_request("ERROR_ADDRESSBOOK_NOTWRITABLE", "This address book cannot be changed.")
        name = body["name"].strip()
        self._check_book_name(name, book_id)
        self.store.update_book(book_id, name, body.get("visibility") or row["visibility"])
        return json_response(render.book(self.store.book(book_id), self.store.book_count(book_id)))

    def on_delete_book(self, request, book_id):
        row = self._book_or_404(book_id)
        if row["system"]:
            raise errors.bad_request("ERROR_ADDRESSBOOK_NOTWRITABLE", "This address book cannot be deleted.")
        self.store.delete_book(book_id)
        return json_response(None)

    # -- data fields --------------------------------------------------------------------------------------

    def on_list_data_fields(self, request):
        return json_response([render.data_field(row) for row in self.store.data_fields()])

    def on_create_data_field(self, request):
        body = read_body(request, "ApiDataField")
        name, kind = body["name"], body.get("type") or "String"
        if not DATA_FIELD_NAME.match(name) or kind not in DATA_FIELD_TYPES:
            raise errors.bad_request(
                "ERROR_DATAFIELD_INVALID",
                "Data field names have at most 20 letters, digits, '_' or '-'; types are String, Numeric, Date, Boolean.",
            )
        default = body.get("defaultValue")
        if default is not None and not _default_fits(default, kind):
            raise errors.bad_request("ERROR_DATAFIELD_INVALID", f"The default value does not fit type {kind}.")
        try:
            self.store.create_data_field(name, kind, body.get("visibility") or "Private", default)
        except sqlite3.IntegrityError:
            raise errors.bad_request("ERROR_NON_UNIQUE_DATAFIELD", "Field already exists.")
        return json_response(render.data_field(self.store.data_fields()[-1]), 201)

    def on_delete_data_field(self, request, name):
        if not self.store.delete_data_field(name):
            raise errors.not_found("ERROR_DATAFIELD_NOTFOUND")
        return json_response({"dependencies": [], "result": True})

    # -- from-addresses and templates ---------------------------------------------------------------------

    def on_list_from_addresses(self, request):
        rows = self.store.from_addresses(*paging(request))
        return json_response([{"id": row["id"], "email": row["email"]} for row in rows])

    def on_list_templates(self, request):
        return json_response([render.template(row) for row in self.store.templates(*paging(request))])

    def _template_or_404(self, template_id):
        row = self.store.template(template_id)
        if row is None:
            raise errors.not_found("ERROR_TEMPLATE_NOT_FOUND")
        return row

    def on_get_template(self, request, template_id):
        return json_response(render.template(self._template_or_404(template_id)))

    def on_create_template(self, request):
        template_id = self.store.save_template(_template_body(read_body(request, "ApiTemplate")))
        return json_response(render.template(self.store.template(template_id)), 201)

    def on_update_template(self, request, template_id):
        self._template_or_404(template_id)
        self.store.save_template(_template_body(read_body(request, "ApiTemplate")), template_id)
        return json_response(render.template(self.store.template(template_id)))


def _template_body(body):
    keys = ("name", "subject", "fromName", "htmlContent", "plainTextContent", "replyAction", "replyToAddress")
    data = {key: body.get(key) for key in keys}
    data["replyAction"] = data["replyAction"] or "Unset"
    return data


def _default_fits(value, kind):
    if kind == "Numeric":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "Date":
        try:
            datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return False
    return True
