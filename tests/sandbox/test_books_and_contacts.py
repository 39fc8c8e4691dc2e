"""Address books, contacts, feeds, unsubscribe/resubscribe and bulk deletion behave as dotdigital's do."""

import pytest


def test_new_account_is_seeded(api):
    books = api.get(api.v2("address-books")).json()
    assert [b["name"] for b in books] == ["All Contacts", "Test"]
    fields = {f["name"] for f in api.get(api.v2("data-fields")).json()}
    assert {"FIRSTNAME", "LASTNAME", "FULLNAME", "GENDER", "POSTCODE"} <= fields
    assert api.get(api.v2("custom-from-addresses")).json()
    assert api.get(api.v2("templates")).json()


def test_account_info_points_at_the_sandbox(api, sandbox):
    properties = {p["name"]: p["value"] for p in api.get(api.v2("account-info")).json()["properties"]}
    assert properties["ApiEndpoint"] == sandbox.url


@pytest.mark.parametrize("name", ["All Contacts", "test", "Newsletter"])
def test_reserved_or_existing_book_names_are_refused(api, build, name):
    build.book("Newsletter")
    response = api.post(api.v2("address-books"), json={"name": name})
    assert response.status_code == 400
    assert response.json()["message"].endswith("ERROR_ADDRESSBOOK_DUPLICATE")


def test_book_crud_and_visibility_lists(api, build):
    public_id = build.book("Public one", "Public")
    private_id = build.book("Private one")
    assert [b["id"] for b in api.get(api.v2("address-books/public")).json()] == [public_id]
    assert private_id in [b["id"] for b in api.get(api.v2("address-books/private")).json()]
    updated = api.put(api.v2(f"address-books/{private_id}"), json={"name": "Renamed", "visibility": "Public"}).json()
    assert updated["name"] == "Renamed" and updated["visibility"] == "Public"
    assert api.delete(api.v2(f"address-books/{private_id}")).status_code == 200
    missing = api.get(api.v2(f"address-books/{private_id}"))
    assert missing.status_code == 404
    assert missing.json() == {"message": "Error: ERROR_ADDRESSBOOK_NOT_FOUND"}


def test_contacts_are_matched_by_email_case_insensitively(api, build):
    first = build.contact("Ann@Example.com", FIRSTNAME="Ann")
    again = build.contact("ann@EXAMPLE.com", LASTNAME="Lee")
    assert again["id"] == first["id"]
    fetched = api.get(api.v2("contacts/ANN@example.COM")).json()
    values = {d["key"]: d["value"] for d in fetched["dataFields"]}
    assert values["FIRSTNAME"] == "Ann" and values["LASTNAME"] == "Lee"


def test_unknown_data_field_in_upsert_is_refused(api):
    response = api.post(api.v2("contacts"), json={"email": "a@example.com", "dataFields": [{"key": "NOPE", "value": 1}]})
    assert response.status_code == 400
    assert "ERROR_DATAFIELD_NOTFOUND" in response.json()["message"]


def test_with_full_data_adds_data_fields(api, build):
    book_id = build.book()
    build.contacts(book_id, 2)
    plain = api.get(api.v2(f"address-books/{book_id}/contacts")).json()
    full = api.get(api.v2(f"address-books/{book_id}/contacts"), params={"withFullData": "true"}).json()
    assert plain[0]["dataFields"] is None
    assert {"key": "FIRSTNAME", "value": "First0"} in full[0]["dataFields"]


def test_paging_with_select_and_skip(api, build):
    book_id = build.book()
    emails = build.contacts(book_id, 25)
    pages = [api.get(api.v2(f"address-books/{book_id}/contacts"), params={"select": 10, "skip": skip}).json()
             for skip in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [c["email"] for page in pages for c in page] == emails


def test_paging_stays_dense_after_removals(api, build):
    book_id = build.book()
    build.contacts(book_id, 12)
    listed = api.get(api.v2(f"address-books/{book_id}/contacts")).json()
    ids = [c["id"] for c in listed]
    assert api.delete(api.v2(f"address-books/{book_id}/contacts/{ids[0]}")).status_code == 204
    assert api.post(api.v2(f"address-books/{book_id}/contacts/delete"), json=ids[1:3]).status_code == 202
    page = api.get(api.v2(f"address-books/{book_id}/contacts"), params={"select": 5, "skip": 5}).json()
    assert [c["id"] for c in page] == ids[8:12]


def test_select_over_1000_is_refused(api):
    response = api.get(api.v2("address-books"), params={"select": 1001})
    assert response.status_code == 400
    assert "ERROR_PARAMETER_INVALID" in response.json()["message"]


def test_bulk_delete_status_and_limit(api, build):
    book_id = build.book()
    build.contacts(book_id, 3)
    ids = [c["id"] for c in api.get(api.v2(f"address-books/{book_id}/contacts")).json()]
    deletion = api.post(api.v2(f"address-books/{book_id}/contacts/delete"), json=ids[:2])
    assert deletion.status_code == 202 and deletion.json()["status"] == "Started"
    assert api.get(api.v2(f"contacts/deletion/{deletion.json()['id']}")).json()["status"] == "Completed"
    assert [c["id"] for c in api.get(api.v2(f"address-books/{book_id}/contacts")).json()] == ids[2:]
    # Removal from a book neither deletes nor unsubscribes the contact.
    assert api.get(api.v2(f"contacts/{ids[0]}")).json()["status"] == "Subscribed"
    too_many = api.post(api.v2(f"address-books/{book_id}/contacts/delete"), json=list(range(1, 1002)))
    assert too_many.status_code == 400


def test_book_unsubscribe_shows_in_book_feed_only(api, build, sandbox):
    book_id = build.book()
    build.contacts(book_id, 2)
    start = sandbox.now()["now"]
    sandbox.advance_clock(10)
    answer = api.post(api.v2(f"address-books/{book_id}/contacts/unsubscribe"), json={"email": "user0@example.com"})
    assert answer.status_code == 200 and answer.json()["reason"] == "Unsubscribed"
    feed = api.get(api.v2(f"address-books/{book_id}/contacts/unsubscribed-since/{start}")).json()
    assert [s["suppressedContact"]["email"] for s in feed] == ["user0@example.com"]
    assert api.get(api.v2(f"contacts/suppressed-since/{start}")).json() == []
    listed = {c["email"]: c["status"] for c in api.get(api.v2(f"address-books/{book_id}/contacts")).json()}
    assert listed == {"user0@example.com": "Unsubscribed", "user1@example.com": "Subscribed"}


def test_account_unsubscribe_feeds_and_lookup(api, build, sandbox):
    contact = build.contact("gone@example.com")
    start = sandbox.now()["now"]
    sandbox.advance_clock(5)
    api.post(api.v2("contacts/unsubscribe"), json={"email": "GONE@example.com"})
    for feed in ("suppressed-since", "unsubscribed-since"):
        rows = api.get(api.v2(f"contacts/{feed}/{start}")).json()
        assert [(r["suppressedContact"]["email"], r["reason"]) for r in rows] == [("gone@example.com", "Unsubscribed")]
    later = sandbox.now()["now"]
    assert api.get(api.v2(f"contacts/suppressed-since/{later}")).json() == []
    # The spec: unsubscribed contacts are not retrieved by id; by email they are, with their status.
    assert api.get(api.v2(f"contacts/{contact['id']}")).status_code == 404
    assert api.get(api.v2("contacts/gone@example.com")).json()["status"] == "Unsubscribed"
    refused = api.post(api.v2("contacts"), json={"email": "gone@example.com"})
    assert refused.json()["message"] == "Contact is suppressed. ERROR_CONTACT_SUPPRESSED"


@pytest.mark.parametrize(
    ("status", "endpoint", "expected", "after"),
    [
        ("Unsubscribed", "contacts/resubscribe", "ContactChallenged", "Unsubscribed"),
        ("Unsubscribed", "contacts/resubscribe-with-no-challenge", "ContactAdded", "Subscribed"),
        ("HardBounced", "contacts/resubscribe-with-no-challenge", "ContactCannotBeUnsuppressed", "HardBounced"),
        ("IspComplained", "contacts/resubscribe", "ContactCannotBeUnsuppressed", "IspComplained"),
        ("Subscribed", "contacts/resubscribe", "ContactAdded", "Subscribed"),
    ],
)
def test_resubscribe_outcomes(api, build, sandbox, status, endpoint, expected, after):
    build.contact("back@example.com")
    sandbox.set_contact_status("back@example.com", status)
    answer = api.post(api.v2(endpoint), json={"unsubscribedContact": {"email": "back@example.com"}}).json()
    assert answer["status"] == expected
    assert api.get(api.v2("contacts/back@example.com")).json()["status"] == after


def test_resubscribe_to_book_restores_membership(api, build):
    book_id = build.book()
    build.contacts(book_id, 1)
    api.post(api.v2(f"address-books/{book_id}/contacts/unsubscribe"), json={"email": "user0@example.com"})
    refused = api.post(api.v2(f"address-books/{book_id}/contacts"), json={"email": "user0@example.com"})
    assert "ERROR_CONTACT_SUPPRESSEDFORADDRESSBOOK" in refused.json()["message"]
    answer = api.post(api.v2(f"address-books/{book_id}/contacts/resubscribe-with-no-challenge"),
                      json={"unsubscribedContact": {"email": "user0@example.com"}}).json()
    assert answer["status"] == "ContactAdded"
    assert api.get(api.v2(f"address-books/{book_id}/contacts")).json()[0]["status"] == "Subscribed"


def test_modified_since_feeds_follow_the_sandbox_clock(api, build, sandbox):
    book_id = build.book()
    build.contacts(book_id, 3)
    sandbox.advance_clock(60)
    mark = sandbox.now()["now"]
    sandbox.advance_clock(60)
    build.contact("user1@example.com", LASTNAME="Changed")
    for path in (f"address-books/{book_id}/contacts/modified-since/{mark}", f"contacts/modified-since/{mark}"):
        assert [c["email"] for c in api.get(api.v2(path)).json()] == ["user1@example.com"]
    assert [c["email"] for c in api.get(api.v2(f"contacts/created-since/{mark}")).json()] == []
    assert api.get(api.v2("contacts/modified-since/not-a-date")).status_code == 400


def test_data_field_rules(api):
    def create(name, kind="String", **extra):
        return api.post(api.v2("data-fields"), json={"name": name, "type": kind, **extra})

    assert create("LOYALTY_TIER-2").status_code == 201
    assert "ERROR_NON_UNIQUE_DATAFIELD" in create("loyalty_tier-2").json()["message"]
    assert "ERROR_DATAFIELD_INVALID" in create("A" * 21).json()["message"]
    assert "ERROR_DATAFIELD_INVALID" in create("HAS SPACE").json()["message"]
    assert create("BAD_TYPE", "Text").status_code == 400
    assert create("POINTS", "Numeric", defaultValue="many").status_code == 400
    assert create("POINTS", "Numeric", defaultValue=3).json()["defaultValue"] == 3
    assert api.delete(api.v2("data-fields/POINTS")).json() == {"dependencies": [], "result": True}
    assert api.delete(api.v2("data-fields/POINTS")).status_code == 404


def test_templates_and_from_addresses(api):
    body = {"name": "T", "subject": "S", "fromName": "F", "htmlContent": "<p>x</p>", "plainTextContent": "x"}
    created = api.post(api.v2("templates"), json=body).json()
    api.put(api.v2(f"templates/{created['id']}"), json={**body, "subject": "New"})
    assert api.get(api.v2(f"templates/{created['id']}")).json()["subject"] == "New"
    assert api.get(api.v2("templates/999")).json() == {"message": "Error: ERROR_TEMPLATE_NOT_FOUND"}
    addresses = api.get(api.v2("custom-from-addresses"), params={"select": 1}).json()
    assert len(addresses) == 1 and "@" in addresses[0]["email"]


def test_paging_after_many_removals_renumbers_the_book(api, build, sandbox, monkeypatch):
    monkeypatch.setattr("esp_sandbox.store.MAX_HOLES", 3)
    book_id = build.book()
    build.contacts(book_id, 10)
    ids = [c["id"] for c in api.get(api.v2(f"address-books/{book_id}/contacts")).json()]
    api.post(api.v2(f"address-books/{book_id}/contacts/delete"), json=ids[2:6])
    holes = sandbox.app.store.db.execute("SELECT COUNT(*) FROM holes WHERE book_id = ?", (book_id,)).fetchone()[0]
    assert holes == 0
    page = api.get(api.v2(f"address-books/{book_id}/contacts"), params={"select": 3, "skip": 2}).json()
    assert [c["id"] for c in page] == ids[6:9]


@pytest.mark.parametrize("date", ["2000-01-01T00:00:00+0000", "2000-01-01T00:00:00+00:00", "2000-01-01T00:00:00Z",
                                  "2000-01-01T00:00:00", "2000-01-01"])
def test_since_dates_in_the_formats_clients_send(api, build, date):
    build.contact("dated@example.com")
    rows = api.get(api.v2(f"contacts/modified-since/{date}")).json()
    assert [c["email"] for c in rows] == ["dated@example.com"]
