"""dotdigital operations against the sandbox: paging, books, data fields, imports, change feeds."""

import datetime
import io

import pytest
from esp_providers import Capability, NotFound, ValidationError, records
from esp_providers.dotdigital import DotdigitalProvider

UTC = datetime.timezone.utc


@pytest.fixture
def provider(sandbox):
    client = DotdigitalProvider(
        sandbox.api_user,
        sandbox.api_password,
        sandbox.url,
        timeout=(2.0, 5.0),
        max_retries=1,
        backoff_factor=0.01,
        max_wait=1.0,
    )
    client.test_connection()
    sandbox.clear_log()
    yield client
    client.close()


def import_csv(provider, book_id, text, **kwargs):
    job = provider.start_import(book_id, io.BytesIO(text.encode()), **kwargs)
    assert job.state == records.IMPORT_PENDING
    return provider.get_import(job.id)


# ----------------------------------------------------------------------------------------------------------
# Paging
# ----------------------------------------------------------------------------------------------------------


def test_catalogue_of_2500_books_in_three_calls(sandbox, provider, api_calls, seed_books):
    seed_books(2500)
    books = list(provider.iter_address_books())
    assert len(books) == 2502 == len({book.id for book in books})
    # select=1000 with a 100-row overlap: skip 0, 900, 1800 (short page of 702).
    assert [entry["query"] for entry in api_calls()] == [
        "select=1000&skip=0",
        "select=1000&skip=900",
        "select=1000&skip=1800",
    ]
    system = {book.name for book in books if book.is_system}
    assert system == {"Test", "All Contacts"}
    assert all(isinstance(book, records.AddressBook) for book in books)


def test_rows_moving_during_paging_are_not_skipped(sandbox, provider, seed_books):
    seed_books(2500)
    pages = provider.iter_address_books()
    first_page = [next(pages) for _ in range(1000)]
    # 50 books of the first page disappear: every later row moves up 50 places between two calls.
    gone = {book.id for book in first_page[100:150]}
    with sandbox.app.store.lock:
        for book_id in gone:
            sandbox.app.store.delete_book(book_id)
    rest = list(pages)
    seen = [book.id for book in first_page + rest]
    assert len(seen) == len(set(seen)), "rows read twice in the overlap must be dropped"
    expected = {book.id for book in provider.iter_address_books()}
    assert expected - set(seen) == set()


def test_small_pages_with_overlap_yield_each_book_once(sandbox, seed_books):
    seed_books(250)
    with DotdigitalProvider(
        sandbox.api_user, sandbox.api_password, sandbox.url, page_size=100, page_overlap=10
    ) as client:
        books = list(client.iter_address_books())
        assert len(books) == 252 == len({book.id for book in books})
        # skips 0, 90, 180 (72 rows: short)
        assert client.stats.calls == 1 + 3


def test_data_fields_in_one_call(sandbox, provider, api_calls):
    for index in range(40):
        provider.create_data_field(f"FIELD_{index:02d}", "Numeric" if index % 2 else "String")
    sandbox.clear_log()
    fields = list(provider.iter_data_fields())
    names = {field.name for field in fields}
    assert {"FIRSTNAME", "FIELD_00", "FIELD_39"} <= names
    assert len(api_calls()) == 1  # /v2/data-fields has no select/skip in the spec
    assert next(field for field in fields if field.name == "FIELD_01").type == "Numeric"


def test_templates_and_from_addresses(sandbox, provider, api_calls):
    templates = list(provider.iter_templates())
    assert templates and all(isinstance(template, records.Template) for template in templates)
    addresses = list(provider.iter_from_addresses())
    assert {address.email for address in addresses} >= {"news@sandbox.example.com"}
    assert len(api_calls()) == 2


def test_server_time_is_aware_utc(provider):
    now = provider.server_time()
    assert now.tzinfo is not None
    assert abs((now - datetime.datetime.now(UTC)).total_seconds()) < 60


# ----------------------------------------------------------------------------------------------------------
# Address books and data fields
# ----------------------------------------------------------------------------------------------------------


def test_create_and_get_address_book(sandbox, provider):
    book = provider.create_address_book("Newsletter FR", "Public")
    assert book.name == "Newsletter FR" and book.visibility == "Public" and not book.is_system
    assert provider.get_address_book(book.id) == records.AddressBook(book.id, "Newsletter FR", "Public", 0, False)
    with pytest.raises(ValidationError) as info:
        provider.create_address_book("Newsletter FR")
    assert info.value.code == "ERROR_ADDRESSBOOK_DUPLICATE"
    with pytest.raises(NotFound) as info:
        provider.get_address_book(999999)
    assert info.value.code == "ERROR_ADDRESSBOOK_NOT_FOUND"


def test_reserved_book_names_refused_before_any_call(sandbox, provider, api_calls):
    for name in ("Test", "all contacts", "  "):
        with pytest.raises(ValidationError):
            provider.create_address_book(name)
    assert api_calls() == []


def test_data_field_lifecycle(sandbox, provider, api_calls):
    with pytest.raises(ValidationError, match="1 to 20"):
        provider.create_data_field("Too long a data field name", "String")
    with pytest.raises(ValidationError, match="data field type"):
        provider.create_data_field("LOYALTY", "Money")
    assert api_calls() == []
    field = provider.create_data_field("LOYALTY", "Numeric", "Private", 0)
    assert field == records.DataField("LOYALTY", "Numeric", "Private", 0)
    with pytest.raises(ValidationError) as info:
        provider.create_data_field("LOYALTY", "Numeric")
    assert info.value.code == "ERROR_NON_UNIQUE_DATAFIELD"
    assert provider.delete_data_field("LOYALTY").deleted
    with pytest.raises(NotFound):
        provider.delete_data_field("LOYALTY")


# ----------------------------------------------------------------------------------------------------------
# Imports and feeds
# ----------------------------------------------------------------------------------------------------------


def test_import_json_and_multipart(sandbox, provider):
    book = provider.create_address_book("Customers")
    done = import_csv(provider, book.id, "Email,FIRSTNAME\nann@example.com,Ann\nbob@example.com,Bob\n")
    assert done.state == records.IMPORT_DONE and done.is_finished
    done = import_csv(provider, book.id, "Email\ncid@example.com\n", multipart=True, filename="batch-2.csv")
    assert done.status == "Finished"
    assert provider.get_address_book(book.id).contact_count == 3


def test_import_outcome_rejected_is_neutral(sandbox, provider):
    book = provider.create_address_book("Watched")
    sandbox.inject_import_fault("RejectedByWatchdog")
    job = import_csv(provider, book.id, "Email\nann@example.com\n")
    assert job.status == "RejectedByWatchdog" and job.state == records.IMPORT_REJECTED


def test_import_fault_kinds_are_neutral(sandbox, provider):
    book = provider.create_address_book("Kinds")
    import_csv(provider, book.id, "Email\nann@example.com\n")
    sandbox.set_contact_status("ann@example.com", "Unsubscribed")
    job = import_csv(provider, book.id, "Email\nann@example.com\nnot-an-email\n")
    kinds = {fault.email: fault.kind for fault in provider.iter_import_faults(job.id)}
    assert kinds.get("ann@example.com") == records.FAULT_SUPPRESSED


def test_import_faults_are_parsed(sandbox, provider):
    book = provider.create_address_book("Faulty")
    import_csv(provider, book.id, "Email,FIRSTNAME\nann@example.com,Ann\nbob@example.com,Bob\n")
    sandbox.set_contact_status("bob@example.com", "Unsubscribed")
    job = import_csv(provider, book.id, "Email,FIRSTNAME\nann@example.com,Ann\nbob@example.com,Bobby\n")
    faults = list(provider.iter_import_faults(job.id))
    assert [(fault.reason, fault.email) for fault in faults] == [("Unsubscribed", "bob@example.com")]
    assert faults[0].row.get("FIRSTNAME") == "Bobby"
    with pytest.raises(NotFound):
        list(provider.iter_import_faults("00000000-0000-0000-0000-000000000000"))


def test_change_feeds(sandbox, provider):
    start = provider.server_time() - datetime.timedelta(seconds=1)
    book = provider.create_address_book("Feeds")
    import_csv(provider, book.id, "Email,FIRSTNAME\nann@example.com,Ann\nbob@example.com,Bob\ncid@example.com,Cid\n")
    contacts = list(provider.iter_book_contacts_modified_since(book.id, start))
    assert {contact.email for contact in contacts} == {"ann@example.com", "bob@example.com", "cid@example.com"}
    ann = next(contact for contact in contacts if contact.email == "ann@example.com")
    assert ann.data_fields.get("FIRSTNAME") == "Ann" and ann.sendable and ann.id

    suppression = provider.unsubscribe_from_book(book.id, "bob@example.com")
    assert suppression.email == "bob@example.com"
    unsubscribed = list(provider.iter_book_unsubscribed_since(book.id, start))
    assert [item.email for item in unsubscribed] == ["bob@example.com"]
    assert unsubscribed[0].removed_at.tzinfo is not None

    sandbox.set_contact_status("cid@example.com", "HardBounced")
    suppressed = list(provider.iter_suppressed_since(start))
    assert ("cid@example.com", "HardBounced") in {(item.email, item.reason) for item in suppressed}


def test_book_listing_pages_resume_with_overlap(sandbox):
    with DotdigitalProvider(sandbox.api_user, sandbox.api_password, sandbox.url, page_size=3, page_overlap=1) as client:
        book = client.create_address_book("Listed")
        emails = [f"l{index}@example.com" for index in range(7)]
        import_csv(client, book.id, "Email\n" + "".join(f"{email}\n" for email in emails))
        seen, skips, skip = [], [], 0
        while skip is not None:
            skips.append(skip)
            contacts, skip = client.book_contacts_page(book.id, skip)
            seen.extend(contact.email for contact in contacts)
            assert all(contact.id and not contact.data_fields for contact in contacts)
        assert skips == [0, 2, 4, 6]  # each page starts one row back
        assert set(seen) == set(emails)
        assert client.supports(Capability.BOOK_LISTING)


def test_resubscribe_outcome(sandbox, provider):
    book = provider.create_address_book("Resub")
    import_csv(provider, book.id, "Email\nann@example.com\n")
    provider.unsubscribe_from_book(book.id, "ann@example.com")
    outcome = provider.resubscribe("ann@example.com", book_id=book.id)
    assert outcome.email == "ann@example.com"
    assert outcome.state in (records.RESUBSCRIBE_ADDED, records.RESUBSCRIBE_CHALLENGED)
    account = provider.resubscribe("ann@example.com")
    assert account.state != records.RESUBSCRIBE_UNKNOWN


def test_remove_contacts_is_chunked(sandbox, provider, api_calls):
    book = provider.create_address_book("Removals")
    import_csv(provider, book.id, "Email\nann@example.com\nbob@example.com\n")
    ids = [contact.id for contact in provider.iter_book_contacts_modified_since(book.id, datetime.date(2000, 1, 1))]
    sandbox.clear_log()
    removals = provider.remove_contacts_from_book(book.id, iter(ids + list(range(10**6, 10**6 + 2498))))
    assert [removal.contact_count for removal in removals] == [1000, 1000, 500]
    assert all(removal.id for removal in removals)
    assert len(api_calls()) == 3
    assert provider.get_address_book(book.id).contact_count == 0


def test_get_contact_by_email(sandbox, api):
    client = DotdigitalProvider(sandbox.api_user, sandbox.api_password, sandbox.url)
    assert client.get_contact("nobody@example.com") is None
    api.post(api.v2("contacts"), json={"email": "Found@Example.com"}, timeout=10)
    contact = client.get_contact("found@example.com")
    assert contact.email.lower() == "found@example.com"
    assert contact.id


def test_get_contacts_reads_a_thousand_per_call(sandbox, api):
    client = DotdigitalProvider(sandbox.api_user, sandbox.api_password, sandbox.url)
    book = client.create_address_book("Batch book")
    import_csv(client, book.id, "Email\n" + "".join(f"batch{i}@example.com\n" for i in range(1500)))
    sandbox.clear_log()
    wanted = [f"Batch{i}@Example.com" for i in range(1500)] + ["nobody@example.com"]
    found = client.get_contacts(iter(wanted))
    assert len(found) == 1500 and "nobody@example.com" not in found
    assert found["batch7@example.com"].id
    assert [entry["path"] for entry in sandbox.requests_log()] == ["/v2/contacts/retrieve-collection"] * 2


def test_campaign_create_update_send_and_poll(sandbox, provider):
    book = provider.create_address_book("Campaign book")
    import_csv(provider, book.id, "Email\nann@example.com\nbob@example.com\n")
    content = {"name": "Odoo mailing 1", "subject": "Hello", "from_name": "Shop", "from_address_id": 1,
               "html": '<p>Hi</p><a href="http://$UNSUB$">Unsubscribe</a>', "plain_text": "Hi http://$UNSUB$"}
    campaign = provider.create_campaign(content)
    assert campaign.state == records.CAMPAIGN_DRAFT and campaign.subject == "Hello"
    campaign = provider.update_campaign(campaign.id, {**content, "subject": "Hello again"})
    assert provider.get_campaign(campaign.id).subject == "Hello again"
    assert campaign.id in {found.id for found in provider.iter_campaigns()}
    with pytest.raises(ValidationError):
        provider.send_campaign(campaign.id)  # nobody named: never All Contacts
    send = provider.send_campaign(campaign.id, book_ids=[book.id])
    assert send.campaign_id == campaign.id and send.state in (records.SEND_SENDING, records.SEND_SENT)
    assert provider.get_send(send.id).state == records.SEND_SENT
    assert provider.get_campaign(campaign.id).is_read_only
    with pytest.raises(ValidationError) as refused:
        provider.update_campaign(campaign.id, content)
    assert refused.value.code == "ERROR_CAMPAIGN_READONLY"
    assert [found.id for found in provider.iter_book_campaigns(book.id)] == [campaign.id]


def test_test_send_to_contacts_only(sandbox, provider):
    contact = provider.upsert_contact("tester@example.com")
    assert contact.id and contact.email == "tester@example.com"
    content = {"name": "T", "subject": "S", "from_name": "F", "html": '<a href="http://$UNSUB$">u</a>',
               "plain_text": "u http://$UNSUB$"}
    campaign = provider.create_campaign(content)
    send = provider.send_campaign(campaign.id, contact_ids=[contact.id])
    assert send.id
    with pytest.raises(ValidationError):
        provider.send_campaign(campaign.id, contact_ids=range(1, 12))
