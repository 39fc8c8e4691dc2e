"""The sandbox binds requests as dotdigital's ASP.NET Web API and Json.NET stack does (see esp_sandbox/README.md,
"Leniency"): any casing of property names, enum values, query names and literal path segments; trailing and
doubled slashes; unknown names ignored, but never in a way that widens an operation.

The property test sends every write operation the sandbox serves twice, on identical fresh accounts: once in
the spec's spelling, once with every property name (at every depth) and enum value re-cased at random, and
checks the two answers are the same. Examples per operation: ``ESP_LENIENCY_EXAMPLES`` (default 8).
"""

import base64
import os
import re

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esp_sandbox.validation import SCHEMAS

CAMPAIGN_HTML = '<html><body><p>Hi $FIRSTNAME$</p><a href="http://$UNSUB$">Unsubscribe</a></body></html>'
EXAMPLES = int(os.environ.get("ESP_LENIENCY_EXAMPLES", "8"))
NO_RESOURCE = "No HTTP resource was found that matches the request URI"

# Every enum literal of the spec's request schemas: a string value equal to one of them is an enum value.
ENUM_VALUES = {value for schema in SCHEMAS.values() for value in schema.get("enum", ()) if isinstance(value, str)}

CAMPAIGN = {"name": "Casing", "subject": "Hello", "fromName": "Shop", "htmlContent": CAMPAIGN_HTML,
            "plainTextContent": "Hello http://$UNSUB$", "replyAction": "Webmail", "fromAddress": {"id": 1}}
TEMPLATE = {"name": "T", "subject": "S", "fromName": "F", "htmlContent": "<p>x</p>", "plainTextContent": "x"}
CSV = base64.b64encode(b"Email,FIRSTNAME\nnew1@example.com,New\nnew2@example.com,Two\n").decode()


def _setup(api, sandbox):
    """A fresh account holding one of everything the operations act on: ``{placeholder: id}``."""
    sandbox.reset()
    ids = {"book": api.post(api.v2("address-books"), json={"name": "Target", "visibility": "Private"}).json()["id"]}
    known = api.post(api.v2(f"address-books/{ids['book']}/contacts"), json={"email": "known@example.com"})
    ids["contact"] = known.json()["id"]
    api.post(api.v2(f"address-books/{ids['book']}/contacts"), json={"email": "gone@example.com"})
    sandbox.set_contact_status("gone@example.com", "Unsubscribed")
    ids["template"] = api.post(api.v2("templates"), json=TEMPLATE).json()["id"]
    ids["campaign"] = api.post(api.v2("campaigns"), json=CAMPAIGN).json()["id"]
    return ids


# (name, method, path, body): ``{placeholder}`` in the path, and "{placeholder}" strings in the body, are ids.
WRITES = [
    ("create_book", "POST", "address-books", {"name": "Casing", "visibility": "Public"}),
    ("update_book", "PUT", "address-books/{book}", {"name": "Renamed", "visibility": "Public"}),
    ("create_data_field", "POST", "data-fields",
     {"name": "LOYALTY", "type": "Numeric", "visibility": "Private", "defaultValue": 5}),
    ("create_template", "POST", "templates", TEMPLATE),
    ("update_template", "PUT", "templates/{template}", {**TEMPLATE, "subject": "S2"}),
    ("upsert_contact", "POST", "contacts",
     {"email": "casing@example.com", "optInType": "Double", "emailType": "PlainText",
      "dataFields": [{"key": "FIRSTNAME", "value": "Ann"}, {"key": "LASTNAME", "value": "Lee"}]}),
    ("update_contact", "PUT", "contacts/{contact}",
     {"email": "known@example.com", "emailType": "Html", "dataFields": [{"key": "FULLNAME", "value": "K"}]}),
    ("add_book_contact", "POST", "address-books/{book}/contacts",
     {"email": "member@example.com", "optInType": "VerifiedDouble", "dataFields": [{"key": "FIRSTNAME", "value": "M"}]}),
    ("unsubscribe", "POST", "contacts/unsubscribe", {"email": "known@example.com"}),
    ("unsubscribe_from_book", "POST", "address-books/{book}/contacts/unsubscribe", {"email": "known@example.com"}),
    ("resubscribe", "POST", "contacts/resubscribe",
     {"unsubscribedContact": {"email": "gone@example.com"}, "preferredLocale": "en-GB",
      "returnUrlToUseIfChallenged": "https://example.com/back"}),
    ("resubscribe_to_book", "POST", "address-books/{book}/contacts/resubscribe",
     {"unsubscribedContact": {"email": "gone@example.com"}}),
    ("import_book", "POST", "address-books/{book}/contacts/import", {"fileName": "c.csv", "data": CSV}),
    ("create_campaign", "POST", "campaigns", CAMPAIGN),
    ("update_campaign", "PUT", "campaigns/{campaign}", {**CAMPAIGN, "subject": "Again", "replyAction": "Delete"}),
    ("send_campaign", "POST", "campaigns/send", {"campaignId": "{campaign}", "addressBookIds": ["{book}"]}),
]

# (name, path, query in the spec's spelling)
READS = [
    ("books_page", "address-books", {"select": 1, "skip": 1}),
    ("book_contacts", "address-books/{book}/contacts", {"withFullData": "true", "select": 1, "skip": 1}),
    ("campaigns_page", "campaigns", {"select": 1, "skip": 0}),
    ("modified_since", "address-books/{book}/contacts/modified-since/2000-01-01T00:00:00Z",
     {"withFullData": "true", "select": 1, "skip": 1}),
]

CASINGS = [str.lower, str.upper, str.swapcase, str.title, lambda text: text[:1].upper() + text[1:]]


def _fill(value, ids):
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    if isinstance(value, str) and re.fullmatch(r"\{\w+\}", value):
        return ids[value[1:-1]]
    return value


@st.composite
def recased(draw, value):
    """``value`` with every property name and enum value in a casing drawn at random."""
    if isinstance(value, dict):
        return {draw(st.sampled_from(CASINGS))(key): draw(recased(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [draw(recased(item)) for item in value]
    if isinstance(value, str) and value in ENUM_VALUES:
        return draw(st.sampled_from(CASINGS))(value)
    return value


_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _comparable(answer):
    """Status and body, with what differs between two identical accounts (new GUIDs, clock) blanked."""
    try:
        body = answer.json()
    except ValueError:
        body = answer.text

    def blank(value):
        if isinstance(value, dict):
            return {key: blank(item) for key, item in value.items()}
        if isinstance(value, list):
            return [blank(item) for item in value]
        if isinstance(value, str) and (_GUID.match(value) or _DATE.match(value)):
            return "<varies>"
        return value

    return answer.status_code, blank(body)


@pytest.mark.parametrize(("name", "method", "path", "body"), WRITES, ids=[write[0] for write in WRITES])
def test_any_casing_of_names_and_enums_gives_the_same_answer(api, sandbox, name, method, path, body):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def check(data):
        ids = _setup(api, sandbox)
        url = api.v2(path.format(**ids))
        expected = _comparable(api.request(method, url, json=_fill(body, ids)))
        assert expected[0] < 300, expected
        ids = _setup(api, sandbox)
        sent = data.draw(recased(_fill(body, ids)))
        assert _comparable(api.request(method, url, json=sent)) == expected, sent

    check()


@pytest.mark.parametrize(("name", "path", "query"), READS, ids=[read[0] for read in READS])
def test_any_casing_of_query_names_gives_the_same_answer(api, sandbox, name, path, query):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(casings=st.lists(st.sampled_from(CASINGS), min_size=len(query), max_size=len(query)))
    def check(casings):
        url = api.v2(path.format(**ids))
        expected = _comparable(api.get(url, params=query))
        recased_query = {casing(key): value for casing, (key, value) in zip(casings, query.items(), strict=True)}
        assert _comparable(api.get(url, params=recased_query)) == expected, recased_query

    ids = _setup(api, sandbox)
    for index in range(3):
        api.post(api.v2("address-books"), json={"name": f"Extra {index}"})
        api.post(api.v2(f"address-books/{ids['book']}/contacts"), json={"email": f"extra{index}@example.com"})
    check()


# -- paths ---------------------------------------------------------------------------------------------------


def test_skip_in_any_casing_pages(api, sandbox):
    for index in range(3):
        api.post(api.v2("address-books"), json={"name": f"Book {index}"})
    first = api.get(api.v2("address-books"), params={"Select": 1, "Skip": 0}).json()
    second = api.get(api.v2("address-books"), params={"Select": 1, "Skip": 1}).json()
    assert len(first) == len(second) == 1 and first[0]["id"] != second[0]["id"]


@pytest.mark.parametrize("path", ["/v2/address-books/", "/V2/Address-Books", "/v2//address-books", "//v2/address-books/"])
def test_slashes_and_literal_casing_reach_the_route(api, sandbox, path):
    answer = requests.get(f"{sandbox.url}{path}", auth=api.auth, timeout=10, allow_redirects=False)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == api.get(api.v2("address-books")).json()


def test_path_values_keep_their_casing(api, sandbox):
    api.post(api.v2("contacts"), json={"email": "Mixed.Case@Example.com"})
    answer = api.get(f"{sandbox.url}/V2/Contacts/Mixed.Case@Example.com")
    assert answer.status_code == 200 and answer.json()["email"].lower() == "mixed.case@example.com"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "contacts/score"),
    ("POST", "contacts/with-consent-and-preferences"),
    ("GET", "no-such-thing"),
    ("GET", "address-books/1/nothing-here"),
])
def test_routes_not_served_answer_no_http_resource(api, sandbox, method, path):
    answer = api.request(method, api.v2(path), json={} if method == "POST" else None)
    assert answer.status_code == 404
    assert answer.json()["message"].startswith(NO_RESOURCE)


# -- bodies --------------------------------------------------------------------------------------------------


def test_unknown_names_are_ignored(api, sandbox):
    answer = api.post(api.v2("address-books"), json={"Name": "Known", "Colour": "red", "visibility": "public"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "Known" and answer.json()["visibility"] == "Public"
    assert "Colour" not in answer.json() and "colour" not in answer.json()


def test_send_whose_recipients_are_under_an_unknown_name_is_refused(api, sandbox):
    ids = _setup(api, sandbox)
    answer = api.post(api.v2("campaigns/send"), json={"campaignId": ids["campaign"], "contacts": [ids["contact"]]})
    assert answer.status_code == 400
    assert "ERROR_CAMPAIGN_SEND_INVALID" in answer.json()["message"]
    assert not sandbox.state()["sends"]


def test_send_to_contact_ids_in_magentos_spelling_reaches_only_them(api, sandbox):
    ids = _setup(api, sandbox)
    answer = api.post(api.v2("campaigns/send"), json={"CampaignID": ids["campaign"], "ContactIDs": [ids["contact"]]})
    assert answer.status_code == 202, answer.text
    assert answer.json()["contactIds"] == [ids["contact"]] and answer.json()["addressBookIds"] == []


def test_validation_messages_name_the_property_without_a_dotted_path(api, sandbox):
    answer = api.post(api.v2("address-books"), json={"visibility": "Public"})
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert "name is required" in message and "body." not in message
    nested = api.post(api.v2("contacts"), json={"email": "x@example.com", "dataFields": [{"value": 1}]})
    assert nested.status_code == 400 and "body" not in nested.json()["message"] and "[" not in nested.json()["message"]


def test_known_error_texts(api, sandbox):
    api.post(api.v2("address-books"), json={"name": "Twice"})
    duplicate = api.post(api.v2("address-books"), json={"name": "Twice"})
    assert duplicate.json()["message"] == (
        "That name is in use already, please choose another. ERROR_ADDRESSBOOK_DUPLICATE")
    sandbox.configure(import_delay=600)
    book = api.post(api.v2("address-books"), json={"name": "Slow"}).json()["id"]
    started = api.post(api.v2(f"address-books/{book}/contacts/import"), json={"fileName": "c.csv", "data": CSV})
    report = api.get(api.v2(f"contacts/import/{started.json()['id']}/report"))
    assert report.json()["message"] == (
        "Import is not processed yet or completed with error. ERROR_IMPORT_REPORT_NOT_FOUND")


def test_numbers_sent_as_strings_bind_and_back(api, sandbox):
    ids = _setup(api, sandbox)
    # PHP clients send ids read from configuration as strings: "AddressBookIds": ["12"].
    answer = api.post(api.v2("campaigns/send"), json={"campaignId": str(ids["campaign"]),
                                                      "addressBookIds": [str(ids["book"])]})
    assert answer.status_code == 202, answer.text
    assert answer.json()["addressBookIds"] == [ids["book"]]
    book = api.post(api.v2("address-books"), json={"name": 2024})  # a number binds to a string property
    assert book.status_code == 201 and book.json()["name"] == "2024"
