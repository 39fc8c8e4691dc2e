"""The sandbox's v3 Contacts and Configuration operations: conformance to dotdigital's v3 files, one store with
v2, per-row import results, cursor paging, identity by a custom identifier, rate tiers, and replays of the two
production v3 clients.

Every answer in this module goes through ``check``, which validates it against the response schema of the
operation it is an instance of in ``specs/dotdigital-v3/contacts-3.4.3.json`` or ``configuration-3.0.2.json``;
``test_every_v3_route_is_checked`` proves each served v3 route was.
"""

import json
import urllib.parse

import pytest
from openapi_spec import response_schema, spec_path_of, v3_operation, v3_schema_errors

from esp_sandbox import api_contacts_v3

CHECKED = set()


class V3Checker:
    def __init__(self, api, sandbox):
        self.api = api
        self.sandbox = sandbox

    def __call__(self, method, path, expect=200, **kwargs):
        response = self.api.request(method, f"{self.sandbox.url}{path}", **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        concrete = urllib.parse.urlsplit(path).path.rstrip("/")
        found = v3_operation(method, concrete)
        assert found, f"{method} {concrete} is not an operation of the v3 specs"
        file_name, spec_path, operation = found
        assert str(expect) in operation["responses"], f"{method} {spec_path} never answers {expect} in the spec"
        schema = response_schema(operation, expect)
        if schema is not None:
            problems = v3_schema_errors(file_name, response.json(), schema)
            assert not problems, f"{method} {spec_path}: {problems}"
        CHECKED.add((method, spec_path_of(spec_path)))
        return response


@pytest.fixture
def check(api, sandbox):
    sandbox.configure(v3_contacts=True)  # an API user with v3 access (the sandbox's default user has none)
    return V3Checker(api, sandbox)


def imported(check, contacts, merge_option="overwrite"):
    """PUT a v3 import, then read its result (the sandbox finishes it at the next call)."""
    import_id = check("PUT", "/contacts/v3/import", 202,
                      json={"mergeOption": merge_option, "contacts": contacts}).json()["importId"]
    result = check("GET", f"/contacts/v3/import/{import_id}").json()
    assert result["status"] == "Finished", result
    return result


def contact(email, book_id=None, **extra):
    body = {"matchIdentifier": "email", "identifiers": {"email": email}, **extra}
    if book_id is not None:
        body["lists"] = [book_id]
    return body


# -- conformance -------------------------------------------------------------------------------------------------


def test_import_and_its_per_row_results(check, build):
    book_id = build.book()
    build.contacts(book_id, 1, domain="old.example.com")  # user0@old.example.com, through v2
    result = imported(check, [
        contact("new@example.com", book_id, dataFields={"FIRSTNAME": "Ann"},
                channelProperties={"email": {"emailType": "html", "optInType": "single", "status": "subscribed"}}),
        contact("user0@old.example.com", book_id, dataFields={"firstname": "Bob"}),
        contact("not-an-email", book_id),
        contact("new@example.com", book_id),
        contact("x@example.com", 999999),
        contact("y@example.com", book_id, dataFields={"NOPE": 1}),
    ])
    assert result["summary"] == {"newContacts": 1, "updatedContacts": 1, "globallySuppressed": 0,
                                 "invalidEntries": 3, "duplicateIdentifiers": 1}
    assert [row["identifiers"]["email"] for row in result["created"]] == ["new@example.com"]
    assert [row["identifiers"]["email"] for row in result["updated"]] == ["user0@old.example.com"]
    codes = {row["identifiers"]["email"]: row["failures"][0]["failureCode"] for row in result["failures"]}
    assert codes == {"not-an-email": "invalidEmail", "new@example.com": "duplicateIdentifier",
                     "x@example.com": "listNotFound", "y@example.com": "invalidDataField"}
    # The duplicate names the contact it collided with.
    duplicate = next(row for row in result["failures"] if row["failures"][0]["failureCode"] == "duplicateIdentifier")
    assert duplicate["contactId"] == result["created"][0]["contactId"]


def test_unknown_import_and_bad_bodies(check):
    answer = check("GET", "/contacts/v3/import/2b1c0c8e-0000-0000-0000-000000000000", 404).json()
    assert answer["errorCode"] == "contacts:importNotFound"
    assert check("PUT", "/contacts/v3/import", 400, data="{", headers={"Content-Type": "application/json"}
                 ).json()["errorCode"] == "contacts:badJson"
    assert check("PUT", "/contacts/v3/import", 400, json={"contacts": []}).json()["errorCode"] == \
        "contacts:noContactsSpecified"


def test_one_store_with_v2(check, build, api, sandbox):
    book_id = build.book()
    build.contacts(book_id, 2)  # through a v2 CSV import
    imported(check, [contact("v3@example.com", book_id, dataFields={"FIRSTNAME": "Vee"})])
    v2_rows = api.get(api.v2(f"address-books/{book_id}/contacts?withFullData=true")).json()
    assert {row["email"] for row in v2_rows} == {"user0@example.com", "user1@example.com", "v3@example.com"}
    v3_row = next(row for row in v2_rows if row["email"] == "v3@example.com")
    assert {"key": "FIRSTNAME", "value": "Vee"} in v3_row["dataFields"]
    items = check("GET", f"/contacts/v3?~listId={book_id}&include=channelProperties|lists&data-fields=FIRSTNAME"
                  ).json()["_items"]
    assert [item["identifiers"]["email"] for item in items] == ["user0@example.com", "user1@example.com",
                                                                 "v3@example.com"]
    assert items[0]["dataFields"] == {"FIRSTNAME": "First0"}
    assert items[0]["lists"] == [{"id": book_id, "name": "Newsletter", "status": "subscribed"}]
    # A v2 unsubscribe from the book reads back as a suppressed list membership in v3.
    api.post(api.v2(f"address-books/{book_id}/contacts/unsubscribe"), json={"email": "user1@example.com"})
    row = check("GET", "/contacts/v3/email/user1@example.com").json()
    assert row["lists"] == [{"id": book_id, "name": "Newsletter", "status": "suppressed"}]
    assert row["channelProperties"]["email"]["status"] == "subscribed"
    assert check("GET", "/contacts/v3/email/nobody@example.com", 404).json()["errorCode"] == "contacts:contactNotFound"
    assert check("GET", f"/contacts/v3/contactId/{row['contactId']}").json()["identifiers"]["email"] == \
        "user1@example.com"


def test_suppressed_rows_fail_and_change_nothing(check, build, api, sandbox):
    book_id = build.book()
    build.contacts(book_id, 2)
    sandbox.set_contact_status("user0@example.com", "HardBounced")
    api.post(api.v2(f"address-books/{book_id}/contacts/unsubscribe"), json={"email": "user1@example.com"})
    result = imported(check, [contact("user0@example.com", book_id), contact("user1@example.com", book_id)])
    assert {row["identifiers"]["email"]: row["failures"][0]["failureCode"] for row in result["failures"]} == {
        "user0@example.com": "globallySuppressed", "user1@example.com": "listSuppressed"}
    assert result["summary"]["globallySuppressed"] == 2
    assert all("contactId" in row for row in result["failures"])
    assert check("GET", "/contacts/v3/email/user1@example.com").json()["lists"][0]["status"] == "suppressed"


def test_cursor_paging_and_filters(check, build, api, sandbox):
    book_id = build.book()
    build.contacts(book_id, 12)
    first = check("GET", f"/contacts/v3?~listId={book_id}&limit=5").json()
    assert len(first["_items"]) == 5 and "next" in first["_links"]
    # Removing contacts already read does not move the rest across the cursor (no skip to shift).
    removed = [item["contactId"] for item in first["_items"][:3]]
    api.post(api.v2(f"address-books/{book_id}/contacts/delete"), json=removed)
    emails = [item["identifiers"]["email"] for item in first["_items"]]
    page = first
    while "next" in page["_links"]:
        page = check("GET", f"/contacts/v3?~listId={book_id}&limit=5&marker={page['_links']['next']['marker']}"
                     ).json()
        emails += [item["identifiers"]["email"] for item in page["_items"]]
    assert emails == [f"user{i}@example.com" for i in range(12)]
    sandbox.advance_clock(60)
    since = sandbox.now()["now"][:19] + "Z"  # whole seconds, as the spec's pattern has them
    api.post(api.v2("contacts"), json={"email": "user7@example.com", "dataFields": [{"key": "FIRSTNAME",
                                                                                      "value": "Changed"}]})
    changed = check("GET", f"/contacts/v3?~listId={book_id}&~modified=gte::{since}&data-fields=[[ALL]]").json()
    assert [item["identifiers"]["email"] for item in changed["_items"]] == ["user7@example.com"]
    assert check("GET", "/contacts/v3?limit=5001", 400).json()["errorCode"] == "contacts:invalidLimit"
    assert check("GET", "/contacts/v3?~modified=yesterday", 400).json()["errorCode"] == "contacts:invalidFilter"
    assert check("GET", "/contacts/v3?marker=%%%", 400).json()["errorCode"] == "contacts:invalidMarker"


def test_custom_identifier_survives_an_email_change(check, build, api, sandbox):
    book_id = build.book()
    assert check("GET", "/configuration/v3/customIdentifiers").json() == []
    sandbox.configure(custom_identifiers=["odooId"])
    assert [row["name"] for row in check("GET", "/configuration/v3/customIdentifiers").json()] == ["odooId"]
    first = imported(check, [{"matchIdentifier": "odooId", "identifiers": {"email": "old@example.com", "odooId": "7"},
                              "lists": [book_id]}])
    contact_id = first["created"][0]["contactId"]
    second = imported(check, [{"matchIdentifier": "odooId", "identifiers": {"email": "new@example.com", "odooId": "7"},
                               "lists": [book_id]}])
    assert second["updated"] == [{"contactId": contact_id, "identifiers": {"email": "new@example.com",
                                                                            "odooId": "7"}}]
    assert api.get(api.v2(f"contacts/{contact_id}")).json()["email"] == "new@example.com"
    assert api.get(api.v2("contacts/old@example.com")).status_code == 404
    # An email that another contact holds cannot be taken.
    build.contact("taken@example.com")
    third = imported(check, [{"matchIdentifier": "odooId", "identifiers": {"email": "taken@example.com",
                                                                           "odooId": "7"}}])
    assert third["failures"][0]["failures"][0]["failureCode"] == "duplicateIdentifier"
    # An identifier the account does not have.
    fourth = imported(check, [{"matchIdentifier": "crmId", "identifiers": {"email": "z@example.com", "crmId": "1"}}])
    assert fourth["failures"][0]["failures"][0]["failureCode"] == "invalidIdentifier"
    # PATCH by the custom identifier.
    patched = check("PATCH", "/contacts/v3/odooId/7", json={"dataFields": {"FIRSTNAME": "Pat"}}).json()
    assert patched["contactId"] == contact_id and patched["dataFields"]["FIRSTNAME"] == "Pat"
    created = check("PATCH", "/contacts/v3/email/fresh@example.com", 201, json={"lists": [book_id]}).json()
    assert created["lists"] == [{"id": book_id, "name": "Newsletter", "status": "subscribed"}]


def test_consent_records_are_kept_five_at_most(check, build):
    book_id = build.book()
    consent = {"text": "Yes please", "dateTimeConsented": "2024-01-26T21:29:00Z", "url": "https://example.com/s",
               "ipAddress": "129.168.0.2", "userAgent": "Mozilla/5.0"}
    imported(check, [contact("c@example.com", book_id, consentRecords=[consent] * 3)])
    imported(check, [contact("c@example.com", book_id, consentRecords=[consent] * 3)])
    assert len(check("GET", "/contacts/v3/email/c@example.com").json()["consentRecords"]) == 5
    broken = imported(check, [contact("d@example.com", book_id, consentRecords=[{**consent, "ipAddress": ""}])])
    assert broken["failures"][0]["failures"][0]["failureCode"] == "consentRecordsNotApplied"


def test_v3_refused_to_an_api_user_without_it(check, sandbox):
    sandbox.configure(v3_contacts=False)
    response = check.api.get(f"{sandbox.url}/contacts/v3?limit=1")
    assert response.status_code == 403
    assert response.json()["errorCode"] == "forbidden"


def test_v3_rate_tiers_per_minute(check, api, sandbox):
    sandbox.configure(rate_limit={"mode": "flat", "calls_per_hour": 1000, "tiers": {"medium": 2}})
    # v3 has no hourly scheme: its calls count per minute in their tier whatever the API user's v2 scheme.
    response = check("GET", "/contacts/v3?limit=1")
    assert response.headers["X-RateLimit-Scope"] == "medium"
    assert response.headers["X-RateLimit-Limit"] == "2"
    assert response.headers["X-RateLimit-Remaining"] == "1"
    check("GET", "/contacts/v3?limit=1")
    refused = api.get(f"{sandbox.url}/contacts/v3?limit=1")
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0" and int(refused.headers["Retry-After"]) >= 1
    assert set(refused.json()) == {"errorCode", "description"}
    sandbox.advance_clock(60)
    assert api.get(f"{sandbox.url}/contacts/v3?limit=1").status_code == 200
    assert "X-RateLimit-Scope" not in api.get(api.v2("account-info")).headers  # v2 stays on its hourly count


# -- replays of production v3 clients ----------------------------------------------------------------------------


def test_replay_magento_sdk_contact_builder(check, build):
    """dotmailer/dotmailer-magento2-extension Model/Sync/Export/SdkContactBuilder.php (createSdkContact):
    ``matchIdentifier`` email, ``identifiers.email``, ``lists`` [listId], ``channelProperties.email`` with
    ``emailType`` ``html`` (lower case) and the optional opt-in type, ``dataFields`` keyed by data-field name;
    the SDK PUTs ``{mergeOption: overwrite, contacts}`` (dotmailer/dotdigital-php src/V3/Resources/Contacts.php,
    import())."""
    book_id = build.book()
    body = {"mergeOption": "overwrite", "contacts": [{
        "matchIdentifier": "email", "identifiers": {"email": "m2@example.com"}, "lists": [book_id],
        "channelProperties": {"email": {"emailType": "html", "optInType": "Double"}},
        "dataFields": {"FIRSTNAME": "Mag", "LASTNAME": "Ento"},
    }]}
    import_id = check("PUT", "/contacts/v3/import", 202, json=body).json()["importId"]
    result = check("GET", f"/contacts/v3/import/{import_id}").json()  # Contacts.php getImportById()
    assert result["status"] == "Finished" and result["created"][0]["identifiers"]["email"] == "m2@example.com"
    row = check("GET", "/contacts/v3/email/m2@example.com").json()  # Contacts.php getByIdentifier()
    assert row["channelProperties"]["email"] == {"emailType": "Html", "optInType": "Double", "status": "subscribed"}


def test_replay_php_sdk_paginator(check, build, sandbox):
    """dotmailer/dotdigital-php: Contacts.php getPaged() GETs ``/contacts/v3/?`` + http_build_query (a slash
    before the query); src/V3/Utility/Pagination/Parameter.php setValue() writes ``~modified`` as ``gte::`` +
    Carbon's toIso8601String (``+00:00``, not ``Z``), percent-encoded by http_build_query; Paginator.php next()
    sends the ``next`` link's marker with the same parameters."""
    book_id = build.book()
    build.contacts(book_id, 3)
    query = urllib.parse.urlencode({"~listId": book_id, "~modified": "gte::2000-01-01T00:00:00+00:00",
                                    "limit": 2, "include": "channelProperties"})
    page = check("GET", f"/contacts/v3/?{query}").json()
    assert len(page["_items"]) == 2
    marker = page["_links"]["next"]["marker"]
    page = check("GET", f"/contacts/v3/?{query}&{urllib.parse.urlencode({'marker': marker})}").json()
    assert [item["identifiers"]["email"] for item in page["_items"]] == ["user2@example.com"]
    assert "next" not in page["_links"]


def test_double_optin_pending_confirmed_and_expired(check, build, sandbox):
    """A ``verifiedDouble`` contact waits ``pendingOptIn`` until it confirms (a control call, as clicking the
    email's link), or expires to ``noSubscription`` after ``optin_expiry_days`` of sandbox clock."""
    sandbox.configure(optin_expiry_days=7)
    book_id = build.book()
    double = {"channelProperties": {"email": {"optInType": "verifiedDouble"}}}
    imported(check, [contact("yes@example.com", book_id, **double), contact("late@example.com", book_id, **double)])
    query = urllib.parse.urlencode({"~listId": book_id, "include": "channelProperties|lists"})
    channel = {item["identifiers"]["email"]: (item["channelProperties"]["email"], item["lists"][0]["status"])
               for item in check("GET", f"/contacts/v3?{query}").json()["_items"]}
    assert channel["yes@example.com"][0]["status"] == "pendingOptIn"
    assert channel["yes@example.com"][0]["optInType"] == "VerifiedDouble"
    assert channel["yes@example.com"][1] == "pending"
    assert sandbox.confirm_optin("yes@example.com")["status"] == "Subscribed"
    sandbox.advance_clock(8 * 86400)
    channel = {item["identifiers"]["email"]: (item["channelProperties"]["email"]["status"], item["lists"][0]["status"])
               for item in check("GET", f"/contacts/v3?{query}").json()["_items"]}
    assert channel == {"yes@example.com": ("subscribed", "subscribed"),
                       "late@example.com": ("noSubscription", "suppressed")}
    # Expired is not suppressed: the v2 suppression feeds do not list it.
    assert not check.api.get(f"{sandbox.url}/v2/contacts/suppressed-since/2000-01-01").json()
    with pytest.raises(Exception, match="not waiting"):
        sandbox.confirm_optin("late@example.com")


def _store_state(store):
    """A store's contacts, identifiers, memberships and consents keyed by email, and whether every book's
    positions are still dense (ids and positions differ with the order rows are applied in)."""
    db = store.db
    contacts = {row["email_key"]: (row["email"], row["status"], row["opt_in_type"], row["email_type"],
                                   json.loads(row["data"])) for row in db.execute("SELECT * FROM contacts")}
    identifiers = set(db.execute("SELECT i.name, i.value_key, i.value, c.email_key FROM identifiers i "
                                 "JOIN contacts c ON c.id = i.contact_id").fetchall())
    members = set(db.execute("SELECT m.book_id, c.email_key, m.unsubscribed FROM members m "
                             "JOIN contacts c ON c.id = m.contact_id").fetchall())
    consents = sorted(db.execute("SELECT c.email_key, s.body FROM consents s JOIN contacts c ON c.id = s.contact_id"
                                 ).fetchall())
    dense = all(count == top + 1 == next_position for count, top, next_position in db.execute(
        "SELECT COUNT(*), MAX(m.position), b.next_position FROM members m JOIN books b ON b.id = m.book_id "
        "GROUP BY m.book_id"))
    return contacts, identifiers, members, [tuple(row) for row in consents], dense


def _by_email(references):
    """Per-row results without their contact ids (given in another order by the two paths)."""
    return sorted(json.dumps({**reference, **({"contactId": "ID"} if "contactId" in reference else {})},
                             sort_keys=True) for reference in references)


def test_bulk_import_path_gives_the_row_by_row_results():
    """The bulk path (rows that can only create a contact, in a few statements: what a million-row first export
    needs) ends in the same store and the same per-row results as applying every row one by one, on an import
    mixing new rows with every kind of row that must go one by one."""
    from esp_sandbox.config import SandboxConfig
    from esp_sandbox.store import Store

    config = SandboxConfig(v3_contacts=True, custom_identifiers=["odooId"])
    consent = {"text": "Yes", "dateTimeConsented": "2026-01-02T03:04:05Z", "url": "https://example.com/s",
               "ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"}
    results, states = [], []
    for bulk in (True, False):
        store = Store()
        book = store.create_book("Newsletter", "Private")
        other = store.create_book("Other", "Private")
        api_contacts_v3.apply_import(store, config, [
            {"matchIdentifier": "odooId", "identifiers": {"email": "old@example.com", "odooId": "1"}, "lists": [book]},
            {"matchIdentifier": "email", "identifiers": {"email": "gone@example.com"}, "lists": [book]},
        ], "overwrite", bulk=False)
        store.set_status(store.contact_by_email("gone@example.com")["id"], "Unsubscribed")
        rows = [
            *({"matchIdentifier": "odooId", "identifiers": {"email": f"new{i}@example.com", "odooId": str(100 + i)},
               "lists": [book, other, book], "dataFields": {"firstname": f"N{i}", "LASTNAME": ""},
               "channelProperties": {"email": {"optInType": "verifiedDouble" if i == 3 else "single",
                                               "emailType": "plaintext"}}} for i in range(6)),
            {"matchIdentifier": "odooId", "identifiers": {"email": "renamed@example.com", "odooId": "1"},
             "lists": [book]},  # an existing contact, matched by its id: an update
            {"matchIdentifier": "email", "identifiers": {"email": "gone@example.com"}, "lists": [book]},  # suppressed
            {"matchIdentifier": "email", "identifiers": {"email": "twice@example.com"}, "lists": [book]},
            {"matchIdentifier": "email", "identifiers": {"email": "TWICE@example.com"}, "lists": [other]},
            {"matchIdentifier": "odooId", "identifiers": {"email": "a@example.com", "odooId": "200"}, "lists": [book]},
            {"matchIdentifier": "odooId", "identifiers": {"email": "b@example.com", "odooId": "200"}, "lists": [book]},
            {"matchIdentifier": "email", "identifiers": {"email": "bad@"}, "lists": [book]},
            {"matchIdentifier": "email", "identifiers": {"email": "nolist@example.com"}, "lists": [9999]},
            {"matchIdentifier": "email", "identifiers": {"email": "field@example.com"}, "dataFields": {"NOPE": 1}},
            {"matchIdentifier": "email", "identifiers": {"email": "string@example.com"}, "lists": [str(book)]},
            {"matchIdentifier": "crmId", "identifiers": {"email": "crm@example.com", "crmId": "5"}},
            {"matchIdentifier": "email", "identifiers": {"email": "consent@example.com"}, "consentRecords": [consent]},
            {"matchIdentifier": "email", "identifiers": {"email": "out@example.com"}, "lists": [book],
             "channelProperties": {"email": {"status": "unsubscribed"}}},
            {"identifiers": {"email": "nomatch@example.com"}, "lists": [other]},
            {"matchIdentifier": "ODOOID", "identifiers": {"email": "case@example.com", "ODOOID": "300"}},
            {"matchIdentifier": "odooId", "identifiers": {"email": "case2@example.com", "odooId": "300"}},
            "not a contact",
        ]
        store.db.execute("BEGIN")
        result = api_contacts_v3.apply_import(store, config, rows, "overwrite", bulk=bulk)
        store.db.execute("COMMIT")
        results.append(result)
        states.append(_store_state(store))
    with_bulk, one_by_one = results
    assert with_bulk["summary"] == one_by_one["summary"]
    assert with_bulk["summary"]["newContacts"] == 13, with_bulk["summary"]
    assert _by_email(with_bulk["created"]) == _by_email(one_by_one["created"])
    assert _by_email(with_bulk["updated"]) == _by_email(one_by_one["updated"])
    assert _by_email(with_bulk["failures"]) == _by_email(one_by_one["failures"])
    assert states[0] == states[1]
    assert states[0][4], "book positions are no longer dense"


def test_every_v3_route_is_checked():
    """Every v3 route the sandbox serves was validated by the tests above (run with them)."""
    if not CHECKED:
        pytest.skip("run with the rest of the module")
    served = {(method, spec_path_of(rule.rule)) for rule in api_contacts_v3.RULES for method in rule.methods
              if method not in ("HEAD", "OPTIONS")}
    assert served <= CHECKED, served - CHECKED
