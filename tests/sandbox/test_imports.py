"""Bulk imports: asynchronous, never re-subscribing, reported with counters and a faults CSV."""

import base64
import csv
import io

import pytest


def faults_of(api, import_id):
    text = api.get(api.v2(f"contacts/import/{import_id}/report-faults")).content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_import_is_asynchronous_and_reported(api, build):
    book_id = build.book()
    answer = build.start_import(book_id, "email,FirstName\nA@example.com,Ann\nb@example.com,Bob\nA@EXAMPLE.com,Dup\n"
                                         "not-an-email,Nope\n")
    assert answer.status_code == 202 and answer.json()["status"] == "NotFinished"
    import_id = answer.json()["id"]
    assert api.get(api.v2(f"contacts/import/{import_id}")).json() == {"id": import_id, "status": "Finished"}
    report = api.get(api.v2(f"contacts/import/{import_id}/report")).json()
    assert (report["newContacts"], report["invalidEntries"], report["duplicateEmails"]) == (2, 1, 1)
    assert faults_of(api, import_id) == [["Reason", "email", "FirstName"], ["Invalid Entries", "not-an-email", "Nope"]]
    book = api.get(api.v2(f"address-books/{book_id}")).json()
    assert book["contacts"] == 2
    all_contacts = api.get(api.v2("address-books")).json()[0]
    assert all_contacts["name"] == "All Contacts" and all_contacts["contacts"] == 2


def test_import_delay_follows_the_sandbox_clock(api, build, sandbox):
    sandbox.configure(import_delay=120)
    book_id = build.book()
    import_id = build.start_import(book_id, "Email\na@example.com\n").json()["id"]
    assert api.get(api.v2(f"contacts/import/{import_id}")).json()["status"] == "NotFinished"
    assert api.get(api.v2(f"contacts/import/{import_id}/report")).status_code == 404
    sandbox.advance_clock(121)
    assert api.get(api.v2(f"contacts/import/{import_id}")).json()["status"] == "Finished"


def test_multipart_import_with_one_named_file(api, build):
    book_id = build.book()
    files = {"file": ("contacts.csv", b"Email,LASTNAME\nm@example.com,Multi\n", "text/csv")}
    answer = api.post(api.v2(f"address-books/{book_id}/contacts/import"), files=files)
    assert answer.status_code == 202
    assert api.get(api.v2(f"contacts/import/{answer.json()['id']}")).json()["status"] == "Finished"
    two = {"a": ("a.csv", b"Email\n", "text/csv"), "b": ("b.csv", b"Email\n", "text/csv")}
    refused = api.post(api.v2(f"address-books/{book_id}/contacts/import"), files=two)
    assert "ERROR_MULTI_FILE_UPLOAD_NOT_ALLOWED" in refused.json()["message"]
    unnamed = api.post(api.v2(f"address-books/{book_id}/contacts/import"), files={"file": ("", b"Email\n")})
    assert unnamed.status_code == 400


def test_suppressed_and_unsubscribed_contacts_are_not_resubscribed(api, build, sandbox):
    book_id = build.book()
    build.contacts(book_id, 4)
    sandbox.set_contact_status("user0@example.com", "Unsubscribed")
    sandbox.set_contact_status("user1@example.com", "HardBounced")
    sandbox.set_contact_status("user2@example.com", "IspComplained")
    sandbox.set_contact_status("user3@example.com", "Unsubscribed", book_id=book_id)
    rows = "\n".join(f"user{i}@example.com,Again" for i in range(4))
    import_id = build.imported(book_id, f"Email,FIRSTNAME\n{rows}\nnew@example.com,New\n")
    report = api.get(api.v2(f"contacts/import/{import_id}/report")).json()
    assert (report["unsubscribed"], report["hardBounced"], report["ispComplaints"], report["newContacts"]) == (2, 1, 1, 1)
    reasons = {row[1]: row[0] for row in faults_of(api, import_id)[1:]}
    assert reasons == {"user0@example.com": "Unsubscribed", "user1@example.com": "Hard Bounced",
                       "user2@example.com": "Isp Complaints", "user3@example.com": "Unsubscribed"}
    statuses = {c["email"]: c["status"] for c in api.get(api.v2(f"address-books/{book_id}/contacts")).json()}
    assert statuses["user0@example.com"] == "Unsubscribed" and statuses["user3@example.com"] == "Unsubscribed"


def test_missing_email_column_and_unknown_fields(api, build):
    book_id = build.book()
    no_email = build.start_import(book_id, "Mail,FIRSTNAME\na@example.com,A\n")
    assert no_email.status_code == 400 and no_email.json()["message"].endswith("ERROR_NO_EMAIL_COLUMN")
    unknown = build.start_import(book_id, "Email,SHOE_SIZE\na@example.com,42\n")
    assert unknown.status_code == 202
    assert api.get(api.v2(f"contacts/import/{unknown.json()['id']}")).json()["status"] == "Failed"
    assert api.get(api.v2(f"address-books/{book_id}")).json()["contacts"] == 0


def test_excel_or_binary_file_is_an_invalid_format(api, build):
    book_id = build.book()
    data = base64.b64encode(b"PK\x03\x04\xff\xfe binary").decode()
    answer = api.post(api.v2(f"address-books/{book_id}/contacts/import"), json={"fileName": "c.xlsx", "data": data})
    assert api.get(api.v2(f"contacts/import/{answer.json()['id']}")).json()["status"] == "InvalidFileFormat"


def test_import_into_test_book_is_refused(api):
    test_book = next(b for b in api.get(api.v2("address-books")).json() if b["name"] == "Test")
    data = base64.b64encode(b"Email\na@example.com\n").decode()
    answer = api.post(api.v2(f"address-books/{test_book['id']}/contacts/import"), json={"fileName": "c.csv", "data": data})
    assert answer.status_code == 400 and answer.json()["message"].endswith("ERROR_ADDRESSBOOK_NOTWRITABLE")


def test_at_most_25_imports_in_flight(api, build, sandbox):
    sandbox.configure(import_delay=600)
    book_id = build.book()
    for _ in range(25):
        assert build.start_import(book_id, "Email\na@example.com\n").status_code == 202
    refused = build.start_import(book_id, "Email\na@example.com\n")
    assert refused.status_code == 400 and refused.json()["message"].endswith("ERROR_IMPORT_TOOMANYACTIVEIMPORTS")
    sandbox.advance_clock(601)
    assert build.start_import(book_id, "Email\na@example.com\n").status_code == 202


@pytest.mark.parametrize(
    ("merge_option", "expected"),
    [
        ("Overwrite", {"FIRSTNAME": None, "LASTNAME": "New"}),
        ("OnlyOverwriteIfNotEmpty", {"FIRSTNAME": "Old", "LASTNAME": "New"}),
        ("OnlyOverwriteIfContactDataNotPopulated", {"FIRSTNAME": "Old", "LASTNAME": "Keep"}),
    ],
)
def test_merge_options(api, build, merge_option, expected):
    book_id = build.book()
    build.imported(book_id, "Email,FIRSTNAME,LASTNAME\nm@example.com,Old,Keep\n")
    build.imported(book_id, "Email,FIRSTNAME,LASTNAME\nm@example.com,,New\n", merge_option=merge_option)
    values = {d["key"]: d["value"] for d in api.get(api.v2("contacts/m@example.com")).json()["dataFields"]}
    assert {k: values[k] for k in expected} == expected


def test_account_level_import_and_unknown_merge_option(api, build):
    data = base64.b64encode(b"Email\nacc@example.com\n").decode()
    answer = api.post(api.v2("contacts/import"), json={"fileName": "c.csv", "data": data})
    assert api.get(api.v2(f"contacts/import/{answer.json()['id']}")).json()["status"] == "Finished"
    assert api.get(api.v2("contacts/count")).json() == 1
    bad = api.post(api.v2("contacts/import/with-merge-option/Sometimes"), json={"fileName": "c.csv", "data": data})
    assert bad.status_code == 400


@pytest.mark.parametrize("kind", ["RejectedByWatchdog", "Failed"])
def test_planned_import_outcomes(api, build, sandbox, kind):
    book_id = build.book()
    sandbox.inject_import_fault(kind)
    planned = build.start_import(book_id, "Email\na@example.com\n").json()["id"]
    normal = build.start_import(book_id, "Email\nb@example.com\n").json()["id"]
    assert api.get(api.v2(f"contacts/import/{planned}")).json()["status"] == kind
    assert api.get(api.v2(f"contacts/import/{normal}")).json()["status"] == "Finished"
    assert [c["email"] for c in api.get(api.v2(f"address-books/{book_id}/contacts")).json()] == ["b@example.com"]


def test_planned_stuck_import_counts_as_in_flight(api, build, sandbox):
    book_id = build.book()
    sandbox.inject_import_fault("NotFinished", count=2)
    stuck = [build.start_import(book_id, "Email\na@example.com\n").json()["id"] for _ in range(2)]
    sandbox.advance_clock(86400)
    assert {api.get(api.v2(f"contacts/import/{i}")).json()["status"] for i in stuck} == {"NotFinished"}
    assert [i["status"] for i in sandbox.state()["imports"]] == ["NotFinished", "NotFinished"]


def test_unknown_import_id(api):
    response = api.get(api.v2("contacts/import/00000000-0000-0000-0000-000000000000"))
    assert response.status_code == 404 and response.json() == {"message": "Error: ERROR_IMPORT_NOT_FOUND"}


def test_import_into_a_book_deleted_meanwhile_fails(api, build, sandbox):
    sandbox.configure(import_delay=60)
    book_id = build.book()
    import_id = build.start_import(book_id, "Email\na@example.com\n").json()["id"]
    api.delete(api.v2(f"address-books/{book_id}"))
    sandbox.advance_clock(61)
    assert api.get(api.v2(f"contacts/import/{import_id}")).json()["status"] == "Failed"


def test_numeric_and_boolean_cells_become_json_values(api, build):
    api.post(api.v2("data-fields"), json={"name": "POINTS", "type": "Numeric"})
    api.post(api.v2("data-fields"), json={"name": "VIP", "type": "Boolean"})
    build.imported(build.book(), "Email,POINTS,VIP,POSTCODE\nn@example.com,12.5,Yes,0123\n")
    values = {d["key"]: d["value"] for d in api.get(api.v2("contacts/n@example.com")).json()["dataFields"]}
    assert (values["POINTS"], values["VIP"], values["POSTCODE"]) == (12.5, True, "0123")
