"""The hybrid dotdigital provider against the sandbox: v3 for contacts, v2 for the rest."""

import datetime
import io

import pytest
import requests
from esp_providers import records
from esp_providers.dotdigital import DotdigitalProvider

UTC = datetime.timezone.utc


def make_provider(sandbox, **options):
    return DotdigitalProvider(sandbox.api_user, sandbox.api_password, sandbox.url, timeout=(2.0, 5.0), max_retries=1,
                              backoff_factor=0.01, max_wait=1.0, **options)


@pytest.fixture
def v3_sandbox(sandbox):
    sandbox.configure(v3_contacts=True)
    return sandbox


@pytest.fixture
def provider(v3_sandbox):
    client = make_provider(v3_sandbox, contacts_api="v3")
    client.test_connection()
    v3_sandbox.clear_log()
    yield client
    client.close()


def book(client, name="Newsletter"):
    return client.create_address_book(name).id


def imported(client, book_id, text):
    job = client.start_import(book_id, io.BytesIO(text.encode()))
    assert job.state == records.IMPORT_PENDING
    job = client.get_import(job.id)
    assert job.state == records.IMPORT_DONE, job
    return job, list(client.iter_import_faults(job.id))


def test_test_connection_finds_out_the_contacts_api(sandbox):
    with make_provider(sandbox) as client:
        client.test_connection()
        assert client.detect_contacts_api() == ("v2", None)  # v3 answers 403 to this API user
    sandbox.configure(v3_contacts=True)
    with make_provider(sandbox) as client:
        assert client.detect_contacts_api() == ("v3", None)
    sandbox.configure(custom_identifiers=["crmId", "ODOOID"])
    with make_provider(sandbox) as client:
        assert client.detect_contacts_api() == ("v3", "ODOOID")  # the account's spelling
    # A refused v3 probe does not make the provider look for another region.
    sandbox.configure(v3_contacts=False)
    sandbox.clear_log()
    with make_provider(sandbox) as client:
        client.test_connection()
        client.detect_contacts_api()
    assert [entry["path"] for entry in sandbox.requests_log()] == ["/v2/account-info", "/contacts/v3"]


def test_import_goes_out_as_v3_json_and_faults_come_from_its_rows(provider, v3_sandbox):
    book_id = book(provider)
    v3_sandbox.clear_log()
    job, faults = imported(provider, book_id, '"Email","FIRSTNAME"\r\n"a@example.com","Ann"\r\n"bad","X"\r\n'
                                              '"a@example.com","Dup"\r\n')
    assert [(entry["method"], entry["path"]) for entry in v3_sandbox.requests_log()] == [
        ("GET", "/v2/data-fields"), ("PUT", "/contacts/v3/import"), ("GET", f"/contacts/v3/import/{job.id}")]
    assert sorted((fault.email, fault.kind, fault.reason.rsplit("(", 1)[1]) for fault in faults) == [
        ("a@example.com", records.FAULT_INVALID, "duplicateIdentifier)"),
        ("bad", records.FAULT_INVALID, "invalidEmail)"),
    ]
    # The same contact through v2.
    contact = provider.get_contact("a@example.com")
    assert contact.status == "Subscribed" and contact.data_fields["FIRSTNAME"] == "Ann"


def test_suppressed_rows_are_opt_outs(provider, v3_sandbox):
    book_id = book(provider)
    imported(provider, book_id, "Email\r\na@example.com\r\nb@example.com\r\n")
    v3_sandbox.set_contact_status("a@example.com", "HardBounced")
    provider.unsubscribe_from_book(book_id, "b@example.com")  # v2
    _job, faults = imported(provider, book_id, "Email\r\na@example.com\r\nb@example.com\r\n")
    assert sorted((fault.email, fault.kind) for fault in faults) == [
        ("a@example.com", records.FAULT_SUPPRESSED), ("b@example.com", records.FAULT_SUPPRESSED)]


def test_change_feed_and_book_pages_through_the_cursor(v3_sandbox):
    client = make_provider(v3_sandbox, contacts_api="v3", v3_page_size=2)
    book_id = book(client)
    imported(client, book_id, "Email,FIRSTNAME\r\n" + "".join(f"u{i}@example.com,U{i}\r\n" for i in range(5)))
    v3_sandbox.clear_log()
    pages, position = [], 0
    while position is not None:
        contacts, position = client.book_contacts_page(book_id, position)
        pages.append([contact.email for contact in contacts])
        assert position is None or isinstance(position, str)
    assert pages == [["u0@example.com", "u1@example.com"], ["u2@example.com", "u3@example.com"], ["u4@example.com"]]
    # The first page asks for the book (v3's feed answers an empty page for a deleted list).
    assert {entry["path"] for entry in v3_sandbox.requests_log()} == {"/contacts/v3", f"/v2/address-books/{book_id}"}
    client.unsubscribe_from_book(book_id, "u1@example.com")
    since = datetime.datetime(2000, 1, 1, tzinfo=UTC)
    feed = {contact.email: contact for contact in client.iter_book_contacts_modified_since(book_id, since)}
    assert len(feed) == 5 and feed["u0@example.com"].data_fields["FIRSTNAME"] == "U0"
    assert feed["u1@example.com"].status == "Unsubscribed" and not feed["u1@example.com"].sendable
    client.close()


def test_v2_stays_for_books_removal_and_suppressions(provider, v3_sandbox):
    book_id = book(provider)
    imported(provider, book_id, "Email\r\na@example.com\r\nb@example.com\r\n")
    contact = provider.get_contact("a@example.com")  # v3 lookup
    provider.remove_contacts_from_book(book_id, [contact.id])
    provider.unsubscribe_from_book(book_id, "b@example.com")
    list(provider.iter_suppressed_since(datetime.datetime(2000, 1, 1, tzinfo=UTC)))
    paths = {entry["path"] for entry in v3_sandbox.requests_log()}
    assert "/contacts/v3/email/a@example.com" in paths
    assert f"/v2/address-books/{book_id}/contacts/delete" in paths
    assert f"/v2/address-books/{book_id}/contacts/unsubscribe" in paths
    contacts, _next = provider.book_contacts_page(book_id)
    assert [c.email for c in contacts] == ["b@example.com"]


def test_identity_follows_an_email_change(v3_sandbox):
    v3_sandbox.configure(custom_identifiers=["odooId"])
    client = make_provider(v3_sandbox, contacts_api="v3", contact_identifier="odooId")
    column = client.record_identity_column
    assert column == "identifier:odooId"
    book_id = book(client)
    imported(client, book_id, f"Email,{column}\r\nold@example.com,42\r\n")
    first = client.get_contact("old@example.com")
    _job, faults = imported(client, book_id, f"Email,{column}\r\nnew@example.com,42\r\n")
    assert faults == []
    assert client.get_contact("old@example.com") is None
    assert client.get_contact("new@example.com").id == first.id
    client.close()


def test_identity_attached_to_a_contact_known_by_email_only(v3_sandbox):
    """A contact exported before the account had the identifier (or added at the ESP) collides by email: the
    provider gives it the Odoo id and the row comes back to be sent again, and then matches."""
    book_id = book(make_provider(v3_sandbox))
    plain = make_provider(v3_sandbox, contacts_api="v3")
    imported(plain, book_id, "Email\r\nkept@example.com\r\n")
    known = plain.get_contact("kept@example.com")
    v3_sandbox.configure(custom_identifiers=["odooId"])
    client = make_provider(v3_sandbox, contacts_api="v3", contact_identifier="odooId")
    column = client.record_identity_column
    _job, faults = imported(client, book_id, f"Email,{column}\r\nkept@example.com,7\r\n")
    assert [(fault.email, fault.kind) for fault in faults] == [("kept@example.com", records.FAULT_RETRY)]
    _job, faults = imported(client, book_id, f"Email,{column}\r\nrenamed@example.com,7\r\n")
    assert faults == []
    assert client.get_contact("renamed@example.com").id == known.id


def test_import_posted_on_v2_is_followed_on_v2_after_the_move(v3_sandbox):
    """An account that moves to v3 with v2 imports in flight: their ids are unknown to v3, so they are polled and
    their fault reports read on v2."""
    v2 = make_provider(v3_sandbox)
    book_id = book(v2)
    job = v2.start_import(book_id, io.BytesIO(b"Email\r\nok@example.com\r\nbad\r\n"))
    client = make_provider(v3_sandbox, contacts_api="v3")
    assert client.get_import(job.id).state == records.IMPORT_DONE
    assert [(fault.email, fault.kind) for fault in client.iter_import_faults(job.id)] == [
        ("bad", records.FAULT_INVALID)]


def test_a_deleted_book_is_book_not_found_on_v3(provider, v3_sandbox):
    """An import into a list deleted at the ESP, and a book check of it, say the book is missing, as v2's 404s
    do, rather than failing rows or reading an empty book."""
    from esp_providers.exceptions import BookNotFound

    book_id = book(provider)
    imported(provider, book_id, "Email\r\na@example.com\r\n")
    answer = requests.delete(f"{v3_sandbox.url}/v2/address-books/{book_id}", timeout=10,
                             auth=(v3_sandbox.api_user, v3_sandbox.api_password))
    assert answer.status_code == 200, answer.text
    job = provider.start_import(book_id, io.BytesIO(b"Email\r\nb@example.com\r\n"))
    provider.get_import(job.id)
    with pytest.raises(BookNotFound):
        list(provider.iter_import_faults(job.id))
    with pytest.raises(BookNotFound):
        provider.book_contacts_page(book_id)


def test_consent_and_double_optin_go_out_and_read_back(provider, v3_sandbox):
    """The export's consent and opt-in columns become v3 ``consentRecords`` and ``channelProperties``; a broken
    consent (a field missing) is never sent; v2 takes neither."""
    book_id = book(provider)
    assert provider.record_consent_columns == ("consent:text", "consent:dateTimeConsented", "consent:url",
                                               "consent:ipAddress", "consent:userAgent")
    assert provider.record_optin_column == "channel:optInType"
    header = ",".join(f'"{column}"' for column in ("Email", *provider.record_consent_columns,
                                                   provider.record_optin_column))
    text = (f'{header}\r\n'
            '"a@example.com","Yes, the newsletter","2024-01-26T21:29:00Z","https://shop.example.com/news",'
            '"203.0.113.7","Mozilla/5.0","verifiedDouble"\r\n'
            '"b@example.com","Yes","2024-01-26T21:29:00Z","","203.0.113.7","Mozilla/5.0",""\r\n')
    _job, faults = imported(provider, book_id, text)
    assert faults == []
    body = next(entry for entry in v3_sandbox.requests_log() if entry["path"] == "/contacts/v3/import")
    assert body["method"] == "PUT"
    [consent] = provider.get_contact_consents("a@example.com")
    assert (consent.text, consent.url, consent.ip_address, consent.user_agent) == (
        "Yes, the newsletter", "https://shop.example.com/news", "203.0.113.7", "Mozilla/5.0")
    assert consent.consented_at.startswith("2024-01-26T21:29") and consent.created_at
    assert provider.get_contact_consents("b@example.com") == []  # incomplete: not sent at all
    assert provider.get_contact_consents("nobody@example.com") is None
    statuses = {contact.email: (contact.status, contact.sendable)
                for contact in provider.iter_book_contacts_modified_since(book_id, datetime.datetime(2000, 1, 1,
                                                                                                     tzinfo=UTC))}
    assert statuses == {"a@example.com": ("PendingOptIn", False), "b@example.com": ("Subscribed", True)}
    v3_sandbox.confirm_optin("a@example.com")
    contact = provider.get_contact("a@example.com")
    assert (contact.status, contact.sendable) == ("Subscribed", True)
    with make_provider(v3_sandbox) as v2:
        assert v2.record_consent_columns == () and v2.record_optin_column is None
        with pytest.raises(NotImplementedError):
            v2.get_contact_consents("a@example.com")
