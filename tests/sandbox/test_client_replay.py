"""Replays of real dotdigital clients: each request rebuilt byte for byte as a production client sends it.

Four independent clients of dotdigital's v2 REST API, read from their public source (path and line cited on
each entry; ``@<commit>`` when the lines come from an older version of the file):

- ``magento``: dotdigital's Magento 2 extension, ``dotmailer/dotmailer-magento2-extension``
  (``Model/Apiconnector/Rest.php`` sends every call with ``Accept: application/json`` and
  ``Content-Type: application/json``, Rest.php:463-476; bodies are PHP ``json_encode``, Rest.php:335-340).
- ``oro``: Oro's ``oroinc/OroCRMDotmailerBundle`` on ``romanpitak/dotMailer-API-v2-PHP-client`` (PascalCase
  bodies from ``JsonObject::toJson``, src/DataTypes/JsonObject.php:73-81) and ``romanpitak/PHP-REST-Client``
  (curl, ``Content-Type:application/json`` on every call, no Accept header: curl's ``*/*``;
  Provider/Transport/Rest/Client.php:39-54 in the bundle).
- ``sdk``: dotdigital's official PHP SDK ``dotmailer/dotdigital-php`` (``Content-Type`` and ``Accept``
  ``application/json``, src/AbstractClient.php:56-63; its models refuse any answer key they do not declare,
  src/V2/Models/AbstractSingletonModel.php:35-42).
- ``pywrapper``: the PyPI ``dotmailer`` package, ``Mr-F/dotmailer`` (``requests`` with ``json=`` and
  ``params=``, dotmailer/connection.py:45-141); sent here through ``requests`` with the same arguments.

Each replay asserts what the real service answers and what the client's code reads (status, keys in the
spec's casing, enum values in the spec's casing, error texts it compares). They are not adapted to the
sandbox: a failing replay is a leniency or behaviour the sandbox lacks. ``bench/sandbox_replay.py`` counts
them per client.
"""

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from requests.auth import HTTPBasicAuth

NO_RESOURCE = "No HTTP resource was found that matches the request URI"

# -- how each client sends ------------------------------------------------------------------------------------

MAGENTO_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}  # Rest.php:469-476
ORO_HEADERS = {  # bundle Provider/Transport/Rest/Client.php:44-47; curl adds Accept: */*
    "User-Agent": "romanpitak/dotmailer-api-v2-php-client", "Content-Type": "application/json", "Accept": "*/*",
}
SDK_HEADERS = {"User-Agent": "dotdigital-php", "Content-Type": "application/json", "Accept": "application/json"}

# Keys the SDK's models declare; any other key in an answer throws "Response validation error: missing key".
SDK_CONTACT = frozenset({"id", "email", "optInType", "emailType", "dataFields", "status"})  # V2/Models/Contact.php:13-38
SDK_BOOK = frozenset({"id", "name", "visibility", "contacts"})  # V2/Models/AddressBook.php:18-33
SDK_DATA_FIELD = frozenset({"name", "type", "visibility", "defaultValue"})  # V2/Models/DataField.php:18-33
SDK_ACCOUNT = frozenset({"id", "properties"})  # V2/Models/AccountInfo.php:18-23
SDK_PROPERTY = frozenset({"name", "type", "value"})  # V2/Models/AccountInfoProperty.php:17-27
# romanpitak's JsonObject refuses unknown offsets (MagicArray.php:64-68), compared lower-cased (JsonObject.php:52-55).
ORO_CONTACT = frozenset({"id", "email", "optintype", "emailtype", "datafields", "status"})  # ApiContact.php:29-36
ORO_SUPPRESSION = frozenset({"suppressedcontact", "dateremoved", "reason"})  # ApiContactSuppression.php


def php_json(value):
    """PHP ``json_encode``: no spaces, ``/`` escaped, non-ASCII as ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def curl_multipart(file_name, content, content_type=None, boundary="------------------------d74496d66958873e"):
    """A curl ``CURLOPT_POSTFIELDS`` array upload: one part named ``file`` (body, Content-Type header)."""
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    body = head.encode() + b"\r\n" + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Replay:
    client: str  # magento | oro | sdk | pywrapper
    name: str
    source: str  # "repository path:line[-line]" (several joined with "; ")
    method: str
    path: str  # after the base URL, "{placeholder}" filled from the set-up's ids
    query: Any = None  # raw query string (PHP clients) or a dict (pywrapper's ``params=``)
    body: Any = None  # JSON-able value with "{placeholder}" strings, or a callable(ids) -> (bytes, content type)
    setup: Callable | None = None  # (api, sandbox, build) -> ids
    status: int | tuple = 200
    keys: tuple = ()  # keys the client reads, exactly as it spells them; on each item of a list answer
    allowed: frozenset | None = None  # a strict client: every answer key (lower-cased for oro) must be one of these
    message: str | None = None  # the exact error text the client compares
    message_starts: str | None = None
    nonempty: bool = False
    check: Callable | None = None  # (answer, ids, api, sandbox) -> None, further assertions

    @property
    def id(self):
        return f"{self.client}-{self.name}"


# -- set-ups (spec-conformant calls and the control surface) --------------------------------------------------


def _member(api, book_id, email, **fields):
    body = {"email": email, "dataFields": [{"key": k, "value": v} for k, v in fields.items()]}
    answer = api.post(api.v2(f"address-books/{book_id}/contacts"), json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def _fields(api, email):
    """``{KEY: value}`` of a contact's data fields, read back through the spec's call."""
    answer = api.get(api.v2(f"contacts/{email}"))
    assert answer.status_code == 200, answer.text
    return {item["key"].upper(): item["value"] for item in answer.json().get("dataFields") or []}


def setup_book(api, sandbox, build):
    return {"book": build.book("Replay book")}


def setup_named_book(name):
    def setup(api, sandbox, build):
        return {"book": build.book(name)}

    return setup


def setup_member(api, sandbox, build):
    book = build.book("Replay book")
    contact = _member(api, book, "ann@example.com", FIRSTNAME="Ann", LASTNAME="Lee")
    return {"book": book, "contact": contact, "email": "ann@example.com"}


def setup_two_members(api, sandbox, build):
    ids = setup_member(api, sandbox, build)
    ids["other"] = _member(api, ids["book"], "bob@example.com", FIRSTNAME="Bob")
    ids["other2"] = _member(api, ids["book"], "cat@example.com", FIRSTNAME="Cat")
    return ids


def setup_unsubscribed(api, sandbox, build):
    ids = setup_member(api, sandbox, build)
    sandbox.set_contact_status("ann@example.com", "Unsubscribed")
    return ids


def setup_unsubscribed_from_book(api, sandbox, build):
    ids = setup_member(api, sandbox, build)
    sandbox.set_contact_status("ann@example.com", "Unsubscribed", book_id=ids["book"])
    return ids


def setup_three_books(api, sandbox, build):
    ids = {"private": build.book("Private one"), "public": build.book("Public one", visibility="Public")}
    ids["third"] = build.book("Third one")
    return ids


def setup_campaign(api, sandbox, build):
    ids = setup_two_members(api, sandbox, build)
    ids["campaign"] = build.campaign("Replay campaign")
    return ids


def setup_sent(api, sandbox, build):
    ids = setup_campaign(api, sandbox, build)
    ids["send"] = build.send(ids["campaign"], contact_ids=[ids["contact"]])["id"]
    sandbox.advance_clock(7200)
    return ids


def setup_import_running(api, sandbox, build):
    sandbox.configure(import_delay=3600)
    book = build.book("Replay book")
    answer = build.start_import(book, "Email,FIRSTNAME\nann@example.com,Ann\n")
    assert answer.status_code == 202, answer.text
    return {"book": book, "import": answer.json()["id"]}


def setup_import_finished(api, sandbox, build):
    book = build.book("Replay book")
    return {"book": book, "import": build.imported(book, "Email,FIRSTNAME\nann@example.com,Ann\nnot-an-email,Bad\n")}


def setup_test_book(api, sandbox, build):
    books = api.get(api.v2("address-books")).json()
    return {"book": next(book["id"] for book in books if book["name"] == "Test")}


def setup_data_field(api, sandbox, build):
    answer = api.post(api.v2("data-fields"), json={"name": "LOYALTY", "type": "Numeric", "visibility": "Private",
                                                    "defaultValue": 0})
    assert answer.status_code == 201, answer.text
    return {}


def setup_unsubscribed_read_back(api, sandbox, build):
    """Magento's Update.php:229 feeds GET /v2/contacts/{email}'s whole answer back as ``UnsubscribedContact``."""
    ids = setup_unsubscribed(api, sandbox, build)
    answer = api.get(api.v2("contacts/ann@example.com"))
    assert answer.status_code == 200, answer.text
    ids["contact_json"] = answer.json()
    return ids


def setup_import_of_unsubscribed(api, sandbox, build):
    ids = setup_unsubscribed(api, sandbox, build)
    ids["import"] = build.imported(ids["book"], "Email,EmailType,FIRSTNAME\nann@example.com,Html,Ann\nnew@example.com,Html,Nia\n")
    return ids


def setup_activity(api, sandbox, build):
    ids = setup_sent(api, sandbox, build)
    api.get(api.v2(f"campaigns/send/{ids['send']}"))
    return ids


# -- further checks -------------------------------------------------------------------------------------------


def field_is(name, value, email="ann@example.com"):
    def check(answer, ids, api, sandbox):
        assert _fields(api, email).get(name) == value, _fields(api, email)

    return check


def data_field_is(name, type_, visibility, default=None):
    """The data field reads back with the spec's enum casing (Magento compares ``type == 'Numeric'``)."""

    def check(answer, ids, api, sandbox):
        fields = {field["name"]: field for field in api.get(api.v2("data-fields")).json()}
        assert name in fields, sorted(fields)
        assert (fields[name]["type"], fields[name]["visibility"]) == (type_, visibility), fields[name]
        if default is not None:
            assert fields[name]["defaultValue"] == default, fields[name]

    return check


def only_contact_receives(answer, ids, api, sandbox):
    """A send to contact ids reaches those contacts and nobody else (never the whole account)."""
    assert len(sandbox.state()["sends"]) == 1
    sandbox.advance_clock(7200)
    activities = api.get(api.v2(f"campaigns/{ids['campaign']}/activities")).json()
    assert [activity["email"] for activity in activities] == ["ann@example.com"], activities


def import_finishes_with_first_name(answer, ids, api, sandbox):
    status = api.get(api.v2(f"contacts/import/{answer.json()['id']}")).json()["status"]
    assert status == "Finished", status
    assert _fields(api, "new@example.com").get("FIRSTNAME") == "Nia", _fields(api, "new@example.com")


def books_are(*names):
    def check(answer, ids, api, sandbox):
        got = [book["name"] for book in answer.json()]
        assert all(name in got for name in names), got

    return check


def skip_pages(answer, ids, api, sandbox):
    """``Skip`` (PascalCase, as the wrapper sends it) really pages: page 2 is not page 1."""
    first = requests.get(api.v2("address-books"), params={"Select": 1, "Skip": 0}, auth=api.auth, timeout=10).json()
    assert len(first) == 1 and len(answer.json()) == 1
    assert answer.json()[0]["id"] != first[0]["id"], (first, answer.json())


def private_only(answer, ids, api, sandbox):
    got = {book["id"]: book["visibility"] for book in answer.json()}
    assert ids["private"] in got and ids["public"] not in got, got
    assert set(got.values()) == {"Private"}, got


def contacts_carry_data_fields(answer, ids, api, sandbox):
    """The wrapper unpacks ``entry['key']: entry['value']`` (contacts.py:101-109): full data, lower-case names."""
    ann = next(contact for contact in answer.json() if contact["email"] == "ann@example.com")
    assert {item["key"]: item["value"] for item in ann["dataFields"]}.get("FIRSTNAME") == "Ann", ann


def account_properties_are_strings(answer, ids, api, sandbox):
    """dotdigital-php types every property as ``string`` under strict_types (AccountInfoProperty.php:17-27)."""
    properties = answer.json()["properties"]
    assert properties and all(set(item) <= SDK_PROPERTY for item in properties), properties
    assert all(isinstance(item["value"], str) for item in properties), properties


def api_endpoint_is_the_base(answer, ids, api, sandbox):
    """Oro takes ``ApiEndpoint`` and appends ``/v2`` (DotmailerResourcesFactory.php:95-120)."""
    properties = {item["name"]: item["value"] for item in answer.json()["properties"]}
    assert properties.get("ApiEndpoint", "").rstrip("/") == sandbox.url, properties


def sdk_resubscribe_shape(answer, ids, api, sandbox):
    """ContactList keeps ``contact`` as a Contact model and ignores ``status`` (V2/Models/ContactList.php:12-24)."""
    assert set(answer.json()) <= {"contact", "status"}, answer.json()
    assert set(answer.json()["contact"]) <= SDK_CONTACT, answer.json()


def py_exception_class(expected):
    """dotmailer/connection.py:100-112: the text after the last '.' names the exception class."""

    def check(answer, ids, api, sandbox):
        message = answer.json()["message"]
        if message.startswith("Error: "):
            message = message[7:]
        assert message[message.rfind(".") + 1:].strip().title().replace("_", "") == expected, message

    return check


def faults_csv_starts_with_reason(answer, ids, api, sandbox):
    text = answer.content.decode("utf-8-sig")
    assert text.splitlines()[0].split(",")[0] == "Reason", text[:200]
    assert "not-an-email" in text, text[:200]


def book_sizes_are_ints(answer, ids, api, sandbox):
    """``protected int $contacts`` under strict_types (V2/Models/AddressBook.php:33; AbstractSingletonModel.php:52)."""
    assert all(isinstance(book["contacts"], int) for book in answer.json()), answer.json()


MAGENTO_REASONS = ("Globally Suppressed", "Blocked", "Unsubscribed", "Hard Bounced", "Isp Complaints",
                   "Domain Suppressed", "Failures", "Invalid Entries", "Mail Blocked", "Suppressed by you")


def magento_reads_faults(answer, ids, api, sandbox):
    """V2ImporterReportHandler.php:248-281: BOM stripped, split on "\\n", header dropped, ``reason,email`` per row,
    reason compared case-sensitively with its list (lines 54-66)."""
    rows = answer.content.decode("utf-8").removeprefix("\ufeff").split("\n")[1:]
    parsed = [row.split(",")[:2] for row in rows if "," in row]
    assert ["Unsubscribed", "ann@example.com"] in parsed, rows
    assert all(reason in MAGENTO_REASONS for reason, _ in parsed), parsed


def send_status_sent(answer, ids, api, sandbox):
    assert answer.json()["status"] == "Sent", answer.json()


def suppressed_ann(answer, ids, api, sandbox):
    emails = [item["suppressedContact"]["email"] for item in answer.json()]
    assert "ann@example.com" in emails, answer.json()


def enum_exact(key, value):
    def check(answer, ids, api, sandbox):
        assert answer.json()[key] == value, answer.json()

    return check


# -- request bodies computed from the set-up ------------------------------------------------------------------

MAGENTO_CSV = b"Email,EmailType,FIRSTNAME\r\nnew@example.com,Html,Nia\r\n"  # research: M2 CsvGenerator header
ORO_CSV = "email,firstname,lastname\nnew@example.com,Nia,North\n"  # Oro fixture importFaults.csv:1 (lower case)


def magento_multipart(ids):
    return curl_multipart("customers_1.csv", MAGENTO_CSV, "text/csv")


def magento_resubscribe_read_back(ids):
    return php_json({"UnsubscribedContact": ids["contact_json"]}), "application/json"


def empty_body(ids):
    """PHP-REST-Client sets CURLOPT_POSTFIELDS to ``array()`` on DELETE (Request.php:183-185): no bytes."""
    return b"", "application/json"


BIG_ROWS = 22_000  # ~1.2 MB of base64: curl adds ``Expect: 100-continue`` to bodies this size


def oro_big_export(ids):
    rows = "".join(f"user{i}@example.com,First{i},Last{i}\n" for i in range(BIG_ROWS))
    csv = ("email,firstname,lastname\n" + rows + "new@example.com,Nia,North\n").encode()
    return php_json({"FileName": "contacts.csv", "Data": base64.b64encode(csv).decode()}), "application/json"


def pywrapper_files(ids):
    return {"file": ("contacts.csv", b"Email,FIRSTNAME\nnew@example.com,Nia\n")}


# -- the replays ----------------------------------------------------------------------------------------------

M2 = "dotmailer/dotmailer-magento2-extension"
M2_2017 = "dotmailer/dotmailer-magento2-extension@6f83960d"
M2_2015 = "dotmailer/dotmailer-magento2-extension@da3353df"
ORO = "oroinc/OroCRMDotmailerBundle"
RP = "romanpitak/dotMailer-API-v2-PHP-client"
SDK = "dotmailer/dotdigital-php"
PY = "Mr-F/dotmailer"

REPLAYS = [
    # ---- Magento 2 extension -------------------------------------------------------------------------------
    Replay("magento", "create_address_book",
           f"{M2} Model/Apiconnector/Client.php:23,478-487; Model/Integration/IntegrationSetup.php:57-58,433-436",
           "POST", "/v2/address-books/", body={"Name": "Magento Customers", "Visibility": "Private"},
           status=201, keys=("id", "name"), check=enum_exact("visibility", "Private")),
    Replay("magento", "create_address_book_duplicate",
           f"{M2_2017} Model/Apiconnector/Client.php:45-46; Model/Trial/TrialSetup.php:130,147-149",
           "POST", "/v2/address-books/", body={"Name": "Magento_Customers", "Visibility": "Private"},
           setup=setup_named_book("Magento_Customers"), status=400,
           message="That name is in use already, please choose another. ERROR_ADDRESSBOOK_DUPLICATE"),
    Replay("magento", "list_address_books", f"{M2} Model/Apiconnector/Client.php:423-436; Model/Lists/ListFetcher.php:27-35",
           "GET", "/v2/address-books/", query="select=1000&skip=0", setup=setup_book, keys=("id", "name"),
           nonempty=True, check=books_are("Replay book")),
    Replay("magento", "add_contact_to_address_book",
           f"{M2} Model/Apiconnector/Client.php:281-299; Controller/Customer/Newsletter.php:239-249,340-343",
           "POST", "/v2/address-books/{book}/contacts",
           body={"Email": "ann@example.com", "EmailType": "Html",
                 "DataFields": [{"Key": "FIRSTNAME", "Value": "Ann"}, {"Key": "LASTNAME", "Value": "Lee"}],
                 "OptInType": "Double"},
           setup=setup_book, status=200, keys=("id", "status"), check=field_is("LASTNAME", "Lee")),
    Replay("magento", "update_data_fields_by_email",
           f"{M2} Model/Apiconnector/Client.php:19,715-727; Model/Queue/Newsletter/SubscriptionConsumer.php:187-194",
           "POST", "/v2/contacts/",
           body={"Email": "ann@example.com", "EmailType": "Html", "DataFields": [{"Key": "FIRSTNAME", "Value": "Bea"}]},
           setup=setup_member, status=(200, 201), keys=("id",), check=field_is("FIRSTNAME", "Bea")),
    Replay("magento", "post_contact", f"{M2} Model/Apiconnector/Client.php:783-796",
           "POST", "/v2/contacts/", body={"Email": "new@example.com", "EmailType": "Html"},
           status=201, keys=("id", "email", "status")),
    Replay("magento", "post_suppressed_contact",
           f"{M2} Model/Apiconnector/Client.php:51,783-792; Model/Sync/Importer/Type/Contact/Update.php:216-221",
           "POST", "/v2/contacts/", body={"Email": "ann@example.com", "EmailType": "Html"},
           setup=setup_unsubscribed, status=400, message="Contact is suppressed. ERROR_CONTACT_SUPPRESSED"),
    Replay("magento", "get_contact_by_email", f"{M2} Model/Apiconnector/Client.php:397-403; Helper/Data.php:645",
           "GET", "/v2/contacts/{email}", setup=setup_member, keys=("id", "email", "status", "dataFields")),
    Replay("magento", "create_data_field_lower_case_enums",
           f"{M2} Model/Connector/Datafield.php:49-53; Model/Connector/DataFieldAutoMapper.php:66; "
           "Model/Apiconnector/Client.php:590-615; Controller/Customer/Newsletter.php:312,320",
           "POST", "/v2/data-fields", body={"name": "CUSTOMER_ID", "type": "numeric", "visibility": "private"},
           status=201, check=data_field_is("CUSTOMER_ID", "Numeric", "Private")),
    Replay("magento", "create_date_data_field", f"{M2} Model/Connector/Datafield.php:69-73; Model/Apiconnector/Client.php:590-615",
           "POST", "/v2/data-fields", body={"name": "DOB", "type": "date", "visibility": "private"},
           status=201, check=data_field_is("DOB", "Date", "Private")),
    Replay("magento", "create_existing_data_field",
           f"{M2} Model/Apiconnector/Client.php:47; Model/Connector/Datafield.php:54-58; "
           "Model/Connector/DataFieldAutoMapper.php:66-69",
           "POST", "/v2/data-fields", body={"name": "FIRSTNAME", "type": "string", "visibility": "private"},
           status=400, message="Field already exists. ERROR_NON_UNIQUE_DATAFIELD"),
    Replay("magento", "send_campaign_to_contactIDs", f"{M2} Model/Apiconnector/Client.php:749-757; Model/Sync/Campaign.php:294-302",
           "POST", "/v2/campaigns/send", body={"campaignId": "{campaign}", "contactIDs": ["{contact}"]},
           setup=setup_campaign, status=202, keys=("id",), check=only_contact_receives),
    Replay("magento", "send_status", f"{M2} Model/Apiconnector/Client.php:1644-1649; Model/Sync/Campaign.php:147-154",
           "GET", "/v2/campaigns/send/{send}", setup=setup_sent, keys=("id", "status", "sendDate"),
           check=send_status_sent),
    Replay("magento", "import_csv_multipart", f"{M2} Model/Apiconnector/Client.php:185-226",
           "POST", "/v2/address-books/{book}/contacts/import", body=magento_multipart, setup=setup_book,
           status=202, keys=("id", "status"), check=import_finishes_with_first_name),
    Replay("magento", "import_status",
           f"{M2} Model/Apiconnector/Client.php:22,1532-1539; Model/Sync/Importer/V2InProgressImportResponseHandler.php:82",
           "GET", "/v2/contacts/import/{import}", setup=setup_import_finished, keys=("id", "status"),
           check=enum_exact("status", "Finished")),
    Replay("magento", "import_report_not_ready", f"{M2_2015} Model/Apiconnector/Client.php:35; {M2} Model/Apiconnector/Client.php:373-380",
           "GET", "/v2/contacts/import/{import}/report", setup=setup_import_running, status=(400, 404),
           message="Import is not processed yet or completed with error. ERROR_IMPORT_REPORT_NOT_FOUND"),
    Replay("magento", "import_report_faults_csv",
           f"{M2} Model/Apiconnector/Client.php:1612-1635; Model/Apiconnector/Rest.php:119,473; "
           "Model/Sync/Importer/ReportHandler/V2ImporterReportHandler.php:54-66,127-135,248-281",
           "GET", "/v2/contacts/import/{import}/report-faults", setup=setup_import_of_unsubscribed,
           check=magento_reads_faults),
    Replay("magento", "suppressed_since_atom_date",
           f"{M2} Model/Apiconnector/Client.php:813-823; Model/Cron/CronFromTimeSetter.php:71-74; "
           "Model/Newsletter/Unsubscriber.php:126-145",
           "GET", "/v2/contacts/suppressed-since/2000-01-01T00:00:00+00:00", query="select=1000&skip=0",
           setup=setup_unsubscribed, keys=("suppressedContact", "dateRemoved"), nonempty=True, check=suppressed_ann),
    Replay("magento", "resubscribe_mixed_case", f"{M2} Model/Apiconnector/Client.php:1148-1158",
           "POST", "/v2/contacts/resubscribe", body={"UnsubscribedContact": {"email": "ann@example.com"}},
           setup=setup_unsubscribed, keys=("contact", "status")),
    Replay("magento", "resubscribe_read_back_contact",
           f"{M2} Model/Sync/Importer/Type/Contact/Update.php:216-229; Model/Apiconnector/Client.php:1115-1125",
           "POST", "/v2/contacts/resubscribe", body=magento_resubscribe_read_back, setup=setup_unsubscribed_read_back,
           keys=("contact", "status")),
    Replay("magento", "delete_contact_from_book", f"{M2} Model/Apiconnector/Client.php:348-356; Model/Apiconnector/Rest.php:418-423",
           "DELETE", "/v2/address-books/{book}/contacts/{contact}", setup=setup_member, status=204),
    # ---- Oro bundle on romanpitak's client ------------------------------------------------------------------
    Replay("oro", "create_address_book",
           f"{ORO} Provider/Transport/DotmailerTransport.php:107-111; Form/Handler/AddressBookHandler.php:49-54; "
           f"{RP} src/Resources/Resources.php:107-109",
           "POST", "/v2/address-books", body={"Name": "Oro Book", "Visibility": "Private"}, status=201,
           keys=("id",), check=enum_exact("visibility", "Private")),
    Replay("oro", "list_address_books",
           f"{ORO} Provider/Transport/Iterator/AddressBookIterator.php:12,25-28; {RP} src/Resources/Resources.php:205-207",
           "GET", "/v2/address-books", query="select=100&skip=0", setup=setup_book, keys=("id", "name", "visibility"),
           nonempty=True, allowed=frozenset({"id", "name", "visibility", "contacts"})),
    Replay("oro", "create_numeric_data_field",
           f"{ORO} Model/DataFieldManager.php:64-68,85-92; {RP} src/Resources/Resources.php:547-549, src/DataTypes/ApiDataField.php:25-30",
           "POST", "/v2/data-fields",
           body={"Name": "ORO_SCORE", "Type": "Numeric", "Visibility": "Public", "DefaultValue": 5},
           status=201, check=data_field_is("ORO_SCORE", "Numeric", "Public", default=5)),
    Replay("oro", "create_boolean_data_field", f"{ORO} Model/DataFieldManager.php:70-72,85-92",
           "POST", "/v2/data-fields",
           body={"Name": "ORO_VIP", "Type": "Boolean", "Visibility": "Private", "DefaultValue": True},
           status=201, check=data_field_is("ORO_VIP", "Boolean", "Private", default=True)),
    Replay("oro", "create_date_data_field", f"{ORO} Model/DataFieldManager.php:74-80,85-92",
           "POST", "/v2/data-fields",
           body={"Name": "ORO_SINCE", "Type": "Date", "Visibility": "Private", "DefaultValue": "2024-05-01T00:00:00"},
           status=201, check=data_field_is("ORO_SINCE", "Date", "Private")),
    Replay("oro", "export_contacts_json_import",
           f"{ORO} Provider/Transport/DotmailerTransport.php:396-399; ImportExport/Writer/ContactsExportWriter.php:147-167; "
           f"Tests/Functional/Model/Fixtures/importFaults.csv:1; {RP} src/DataTypes/ApiFileMedia.php:24-27",
           "POST", "/v2/address-books/{book}/contacts/import",
           body={"FileName": "contacts.csv", "Data": base64.b64encode(ORO_CSV.encode()).decode()},
           setup=setup_book, status=202, keys=("id", "status"), check=import_finishes_with_first_name),
    Replay("oro", "import_status",
           f"{ORO} Model/QueueExportManager.php:106,125; {RP} src/Resources/Resources.php:435-438, "
           "src/DataTypes/ApiContactImportStatuses.php:16-23",
           "GET", "/v2/contacts/import/{import}", setup=setup_import_finished, keys=("id", "status"),
           allowed=frozenset({"id", "status"}), check=enum_exact("status", "Finished")),
    Replay("oro", "book_contacts_modified_since_iso8601",
           f"{ORO} Provider/Transport/Iterator/ContactIterator.php:86-94; {RP} src/Resources/Resources.php:147-151",
           "GET", "/v2/address-books/{book}/contacts/modified-since/2000-01-01T00:00:00+0000",
           query="withFullData=true&select=1000&skip=0", setup=setup_member, keys=("id", "email", "dataFields"),
           nonempty=True, allowed=ORO_CONTACT),
    Replay("oro", "unsubscribed_since_iso8601",
           f"{ORO} Provider/Transport/Iterator/UnsubscribedContactIterator.php:52-57; {RP} src/Resources/Resources.php:166-169",
           "GET", "/v2/address-books/{book}/contacts/unsubscribed-since/2000-01-01T00:00:00+0000",
           query="select=1000&skip=0", setup=setup_unsubscribed_from_book,
           keys=("suppressedContact", "dateRemoved", "reason"), nonempty=True, allowed=ORO_SUPPRESSION),
    Replay("oro", "resubscribe_to_book_empty_strings",
           f"{ORO} Provider/Transport/DotmailerTransport.php:342-357; {RP} src/Resources/Resources.php:154-157, "
           "src/DataTypes/ApiContactResubscription.php:25-29",
           "POST", "/v2/address-books/{book}/contacts/resubscribe",
           body={"UnsubscribedContact": {"Email": "ann@example.com"}, "PreferredLocale": "",
                 "ReturnUrlToUseIfChallenged": ""},
           setup=setup_unsubscribed_from_book, keys=("contact", "status"), allowed=frozenset({"contact", "status"})),
    Replay("oro", "resubscribe_empty_strings",
           f"{ORO} Provider/Transport/DotmailerTransport.php:365-377; {RP} src/Resources/Resources.php:460-462",
           "POST", "/v2/contacts/resubscribe",
           body={"UnsubscribedContact": {"Email": "ann@example.com"}, "PreferredLocale": "",
                 "ReturnUrlToUseIfChallenged": ""},
           setup=setup_unsubscribed, keys=("contact", "status"), allowed=frozenset({"contact", "status"})),
    Replay("oro", "send_campaign", f"{ORO} Provider/Transport/DotmailerTransport.php:451-461; {RP} src/Resources/Resources.php:353-355",
           "POST", "/v2/campaigns/send",
           body={"CampaignId": "{campaign}", "ContactIds": ["{contact}"], "AddressBookIds": []},
           setup=setup_campaign, status=202, keys=("id", "status"), check=only_contact_receives),
    Replay("oro", "remove_contacts_from_book",
           f"{ORO} Provider/Transport/DotmailerTransport.php:384-387; {RP} src/Resources/Resources.php:135-138, "
           "src/DataTypes/JsonArray.php:50-57",
           "POST", "/v2/address-books/{book}/contacts/delete", body=["{contact}", "{other}"],
           setup=setup_two_members, status=202),
    Replay("oro", "account_info_endpoint",
           f"{ORO} Provider/Transport/AdditionalResource.php:39-42; Provider/Transport/DotmailerResourcesFactory.php:95-120",
           "GET", "/v2/account-info", keys=("id", "properties"), check=api_endpoint_is_the_base),
    Replay("oro", "book_campaigns",
           f"{ORO} Provider/Transport/Iterator/CampaignIterator.php:19,43-50; {RP} src/Resources/Resources.php:112-115",
           "GET", "/v2/address-books/{book}/campaigns", query="select=100&skip=0", setup=setup_book),
    Replay("oro", "import_report_faults",
           f"{ORO} Provider/Transport/Iterator/ExportFaultsReportIterator.php:110-115; "
           f"Tests/Functional/Model/Fixtures/importFaults.csv:1; {RP} src/Resources/Resources.php:447-450",
           "GET", "/v2/contacts/import/{import}/report-faults", setup=setup_import_finished,
           check=faults_csv_starts_with_reason),
    Replay("oro", "delete_data_field",
           f"{ORO} Provider/Transport/DotmailerTransport.php:326-329; {RP} src/Resources/Resources.php:557-561; "
           "romanpitak/PHP-REST-Client src/Request.php:183-185",
           "DELETE", "/v2/data-fields/LOYALTY", body=empty_body, setup=setup_data_field, keys=("result",)),
    Replay("oro", "account_contacts_full_data",
           f"{ORO} Provider/Transport/Iterator/ContactIterator.php:63-66; {RP} src/Resources/Resources.php:524-528",
           "GET", "/v2/contacts", query="withFullData=true&select=1000&skip=0", setup=setup_member,
           keys=("id", "email", "dataFields"), nonempty=True, allowed=ORO_CONTACT),
    Replay("oro", "campaign_activities_since_iso8601",
           f"{ORO} Provider/Transport/Iterator/ActivityContactIterator.php:61-71; {RP} src/Resources/Resources.php:260-263",
           "GET", "/v2/campaigns/{campaign}/activities/since-date/2000-01-01T00:00:00+0000", query="select=1000&skip=0",
           setup=setup_activity, keys=("email",), nonempty=True),
    Replay("oro", "campaign_summary",
           f"{ORO} Provider/Transport/Iterator/CampaignSummaryIterator.php:54-60; {RP} src/Resources/Resources.php:338-340",
           "GET", "/v2/campaigns/{campaign}/summary", setup=setup_activity, keys=("numSent", "dateSent")),
    Replay("oro", "big_export_expect_100_continue",
           f"{ORO} ImportExport/Writer/ContactsExportWriter.php:132-147; romanpitak/PHP-REST-Client src/Request.php:155-167",
           "POST", "/v2/address-books/{book}/contacts/import", body=oro_big_export, setup=setup_book, status=202,
           keys=("id", "status"), check=import_finishes_with_first_name),
    # ---- dotdigital-php SDK ---------------------------------------------------------------------------------
    Replay("sdk", "account_info", f"{SDK} src/V2/Resources/AccountInfo.php:18-20; src/V2/Models/AccountInfo.php:18-23",
           "GET", "/v2/account-info", keys=("id", "properties"), allowed=SDK_ACCOUNT,
           check=account_properties_are_strings),
    Replay("sdk", "list_address_books", f"{SDK} src/V2/Resources/AddressBooks.php:15,25-32; src/V2/Models/AddressBook.php:18-33",
           "GET", "/v2/address-books", query="select=50&skip=0", setup=setup_book, keys=("id", "name", "contacts"),
           allowed=SDK_BOOK, nonempty=True, check=book_sizes_are_ints),
    Replay("sdk", "add_contact_to_book_null_enums", f"{SDK} src/V2/Resources/AddressBooks.php:47-61; src/Resources/AbstractResource.php:111-121",
           "POST", "/v2/address-books/{book}/contacts",
           body={"email": "ann@example.com", "optInType": None, "emailType": None,
                 "dataFields": [{"key": "FIRSTNAME", "value": "Ann"}]},
           setup=setup_book, keys=("id", "email"), allowed=SDK_CONTACT, check=field_is("FIRSTNAME", "Ann")),
    Replay("sdk", "add_contact_to_book_enums", f"{SDK} src/V2/Resources/AddressBooks.php:47-61",
           "POST", "/v2/address-books/{book}/contacts",
           body={"email": "ann@example.com", "optInType": "Single", "emailType": "PlainText", "dataFields": []},
           setup=setup_book, keys=("id", "email", "optInType", "emailType"), allowed=SDK_CONTACT,
           check=enum_exact("emailType", "PlainText")),
    Replay("sdk", "add_suppressed_contact_to_book",
           f"{SDK} src/V2/Resources/AddressBooks.php:47-61, src/HttpClient/Message/V2/ResponseMediator.php:26-28; "
           f"{M2} Model/Apiconnector/Client.php:51; Model/Contact/ContactResponseHandler.php:115-119",
           "POST", "/v2/address-books/{book}/contacts",
           body={"email": "ann@example.com", "optInType": None, "emailType": None, "dataFields": []},
           setup=setup_unsubscribed, status=400, message="Contact is suppressed. ERROR_CONTACT_SUPPRESSED"),
    Replay("sdk", "post_contact_mixed_case", f"{SDK} src/V2/Resources/Contacts.php:23-31",
           "POST", "/v2/contacts", body={"email": "new@example.com", "EmailType": "Html"},
           status=201, keys=("id", "email"), allowed=SDK_CONTACT, check=enum_exact("emailType", "Html")),
    Replay("sdk", "resubscribe", f"{SDK} src/V2/Resources/Contacts.php:45-55; src/V2/Models/ContactList.php:12-24",
           "POST", "/v2/contacts/resubscribe", body={"unsubscribedContact": {"email": "ann@example.com", "dataFields": []}},
           setup=setup_unsubscribed, keys=("contact", "status"), check=sdk_resubscribe_shape),
    Replay("sdk", "resubscribe_to_book_nulls", f"{SDK} src/V2/Resources/AddressBooks.php:76-93",
           "POST", "/v2/address-books/{book}/contacts/resubscribe",
           body={"unsubscribedContact": {"email": "ann@example.com", "dataFields": []}, "preferredLocale": None,
                 "returnUrlToUseIfChallenged": None},
           setup=setup_unsubscribed_from_book, keys=("contact", "status"), check=sdk_resubscribe_shape),
    Replay("sdk", "get_contact_by_email", f"{SDK} src/V2/Resources/Contacts.php:65-68; src/V2/Models/Contact.php:13-38",
           "GET", "/v2/contacts/{email}", setup=setup_member, keys=("id", "email", "status"), allowed=SDK_CONTACT),
    Replay("sdk", "list_data_fields", f"{SDK} src/V2/Resources/DataFields.php:19-21; src/V2/Models/DataField.php:18-33",
           "GET", "/v2/data-fields", setup=setup_data_field, keys=("name", "type"), allowed=SDK_DATA_FIELD,
           nonempty=True),
    # ---- PyPI dotmailer wrapper -----------------------------------------------------------------------------
    Replay("pywrapper", "create_address_book", f"{PY} dotmailer/address_books.py:31-35,51-55; dotmailer/connection.py:122-128",
           "POST", "/v2/address-books", body={"Name": "Py Book", "Visibility": "Private"}, status=201,
           keys=("id", "name", "visibility")),
    Replay("pywrapper", "update_address_book", f"{PY} dotmailer/address_books.py:72-76; dotmailer/connection.py:114-120",
           "PUT", "/v2/address-books/{book}", body={"Name": "Py Renamed", "Visibility": "Public"}, setup=setup_book,
           keys=("id", "name"), check=enum_exact("visibility", "Public")),
    Replay("pywrapper", "books_Select_Skip_page", f"{PY} dotmailer/address_books.py:156-159,217-231",
           "GET", "/v2/address-books", query={"Select": 1, "Skip": 1}, setup=setup_three_books, keys=("id",),
           check=skip_pages),
    Replay("pywrapper", "private_books", f"{PY} dotmailer/address_books.py:172-175",
           "GET", "/v2/address-books/private", query={"Select": 1000, "Skip": 0}, setup=setup_three_books,
           keys=("id", "visibility"), check=private_only),
    Replay("pywrapper", "create_contact", f"{PY} dotmailer/contacts.py:86-89,112-136",
           "POST", "/v2/contacts",
           body={"Email": "dee@example.com", "OptInType": "Unknown", "EmailType": "Html",
                 "DataFields": [{"key": "FIRSTNAME", "value": "Dee"}]},
           status=201, keys=("id", "email"), check=field_is("FIRSTNAME", "Dee", email="dee@example.com")),
    Replay("pywrapper", "add_plain_text_contact_to_book",
           f"{PY} dotmailer/address_books.py:248-252; dotmailer/contacts.py:112-124; dotmailer/constants.py:23",
           "POST", "/v2/address-books/{book}/contacts",
           body={"Email": "dee@example.com", "OptInType": "Unknown", "EmailType": "PlainText", "DataFields": []},
           setup=setup_book, keys=("id", "email"), check=enum_exact("emailType", "PlainText")),
    Replay("pywrapper", "book_contacts_withFullData_True", f"{PY} dotmailer/contacts.py:101-109,473-481",
           "GET", "/v2/address-books/{book}/contacts", query={"withFullData": True, "select": 1000, "skip": 0},
           setup=setup_member, keys=("id", "email", "dataFields"), nonempty=True, check=contacts_carry_data_fields),
    Replay("pywrapper", "modified_since_date_only", f"{PY} dotmailer/contacts.py:542-552",
           "GET", "/v2/contacts/modified-since/2000-01-01", query={"withFullData": True, "select": 1000, "skip": 0},
           setup=setup_member, keys=("id", "email", "dataFields"), nonempty=True, check=contacts_carry_data_fields),
    Replay("pywrapper", "unsubscribe", f"{PY} dotmailer/contacts.py:672-684",
           "POST", "/v2/contacts/unsubscribe", body={"Email": "ann@example.com"}, setup=setup_member,
           keys=("suppressedContact", "dateRemoved", "reason")),
    Replay("pywrapper", "resubscribe", f"{PY} dotmailer/contacts.py:704-720",
           "POST", "/v2/contacts/resubscribe", body={"UnsubscribedContact": {"Email": "ann@example.com"}},
           setup=setup_unsubscribed, keys=("contact", "status")),
    Replay("pywrapper", "create_data_field_null_default", f"{PY} dotmailer/contact_data_fields.py:24-27,37-43,67-71",
           "POST", "/v2/data-fields", body={"Name": "PY_AGE", "Type": "Numeric", "Visibility": "Private",
                                            "DefaultValue": None},
           status=201, check=data_field_is("PY_AGE", "Numeric", "Private")),
    Replay("pywrapper", "duplicate_book_error", f"{PY} dotmailer/connection.py:100-112; dotmailer/exceptions.py:14-21",
           "POST", "/v2/address-books", body={"Name": "Py Book", "Visibility": "Private"},
           setup=setup_named_book("Py Book"), status=400, check=py_exception_class("ErrorAddressbookDuplicate")),
    Replay("pywrapper", "write_to_test_book_error", f"{PY} dotmailer/connection.py:102-105; dotmailer/address_books.py:248-252",
           "POST", "/v2/address-books/{book}/contacts",
           body={"Email": "dee@example.com", "OptInType": "Unknown", "EmailType": "Html", "DataFields": []},
           setup=setup_test_book, status=400,
           message="Address book cannot be written to via the API. ERROR_ADDRESSBOOK_NOTWRITABLE",
           check=py_exception_class("ErrorAddressbookNotwritable")),
    Replay("pywrapper", "book_not_found_error", f"{PY} dotmailer/connection.py:102-107; dotmailer/address_books.py:129-132",
           "GET", "/v2/address-books/987654", status=404, message="Error: ERROR_ADDRESSBOOK_NOT_FOUND",
           check=py_exception_class("ErrorAddressbookNotFound")),
    Replay("pywrapper", "import_multipart", f"{PY} dotmailer/contacts.py:400-428; dotmailer/connection.py:122-128",
           "POST", "/v2/address-books/{book}/contacts/import", body=pywrapper_files, setup=setup_book, status=202,
           keys=("id", "status"), check=import_finishes_with_first_name),
    Replay("pywrapper", "import_status_wrong_route", f"{PY} dotmailer/contacts.py:431-442",
           "GET", "/v2/contacts/imports/{import}", setup=setup_import_finished, status=404, message_starts=NO_RESOURCE),
    Replay("pywrapper", "campaigns_Select_Skip", f"{PY} dotmailer/campaigns.py:270-284",
           "GET", "/v2/campaigns", query={"Select": 1000, "Skip": 0}, setup=setup_campaign, keys=("id", "name"),
           nonempty=True),
    Replay("pywrapper", "templates_Select_Skip", f"{PY} dotmailer/templates.py:109-127",
           "GET", "/v2/templates", query={"Select": 1000, "Skip": 0}, keys=("id", "name"), nonempty=True),
]


# -- sending ---------------------------------------------------------------------------------------------------


def _fill(value, ids):
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\{\w+\}", value):
        return ids[value[1:-1]]
    return value


def _send(replay, sandbox, ids):
    url = sandbox.url + replay.path.format(**ids)
    auth = HTTPBasicAuth(sandbox.api_user, sandbox.api_password)
    if replay.client == "pywrapper":
        # dotmailer/connection.py:61-66 and 114-141: requests.<method>(url, auth=..., json=payload / params=...)
        kwargs = {}
        if callable(replay.body):
            kwargs = {"json": {}, "files": replay.body(ids)}  # connection.post(url, {}, files={'file': ...})
        elif replay.method in ("POST", "PUT"):
            kwargs["json"] = _fill(replay.body, ids)
        if replay.method == "GET":
            kwargs["params"] = replay.query
        return requests.request(replay.method.lower(), url, auth=auth, timeout=30, **kwargs)
    headers = {"magento": MAGENTO_HEADERS, "oro": ORO_HEADERS, "sdk": SDK_HEADERS}[replay.client].copy()
    data = None
    if callable(replay.body):
        data, headers["Content-Type"] = replay.body(ids)
        if replay.client == "magento" and headers["Content-Type"].startswith("multipart/"):
            headers.pop("Accept")  # its own curl handle sets only Content-Type (Client.php:219-221)
        if len(data) > 1024 * 1024:
            headers["Expect"] = "100-continue"  # curl, for large uploads (PHP-REST-Client drops its "Expect:")
    elif replay.body is not None:
        data = php_json(_fill(replay.body, ids))
    if replay.query:
        url += "?" + replay.query
    return requests.request(replay.method, url, data=data, headers=headers, auth=auth, timeout=30,
                            allow_redirects=False)


def _check_keys(replay, answer):
    body = answer.json()
    items = body if isinstance(body, list) else [body]
    if replay.nonempty:
        assert items, "empty list"
    for item in items:
        missing = [key for key in replay.keys if key not in item]
        assert not missing, f"keys {missing} missing (the client reads them in this casing): {item}"
        if replay.allowed is not None:
            spelled = {key.lower() for key in item} if replay.client == "oro" else set(item)
            assert spelled <= replay.allowed, f"keys {sorted(spelled - replay.allowed)} would make the client throw"


@pytest.mark.parametrize("replay", REPLAYS, ids=[replay.id for replay in REPLAYS])
def test_client_replay(api, sandbox, build, replay):
    ids = replay.setup(api, sandbox, build) if replay.setup else {}
    answer = _send(replay, sandbox, ids)
    expected = replay.status if isinstance(replay.status, tuple) else (replay.status,)
    assert answer.status_code in expected, f"{answer.status_code} {answer.text[:300]} ({replay.source})"
    if replay.message is not None or replay.message_starts is not None:
        message = answer.json().get("message")
        if replay.message is not None:
            assert message == replay.message, f"message {message!r}; the client's text: {replay.message!r}"
        else:
            assert message and message.startswith(replay.message_starts), f"message {message!r}"
    if replay.keys or replay.allowed is not None:
        _check_keys(replay, answer)
    if replay.check:
        replay.check(answer, ids, api, sandbox)


def test_replays_are_spread_over_the_four_clients():
    counts = {}
    for replay in REPLAYS:
        counts[replay.client] = counts.get(replay.client, 0) + 1
        assert replay.source and ":" in replay.source, replay.id
    assert len({replay.id for replay in REPLAYS}) == len(REPLAYS)
    assert set(counts) == {"magento", "oro", "sdk", "pywrapper"} and min(counts.values()) >= 8, counts
