"""The Campaign Master provider against the sandbox's SOAP services, as the public evidence shows them: both
rebuilt casings of the member names, an account with only the evidenced v1.1 operations and one with the
assumed extension; login and token renewal, recipients, import jobs and their results, sent campaigns with
their summary, results, opens and bounces, strict parsing and faults."""

import io
from datetime import date, timedelta

import pytest
from esp_providers import exceptions, records
from esp_providers.base import Capability
from esp_providers.campaign_master import CampaignMasterProvider
from esp_providers.campaign_master.provider import ALL_RECIPIENTS
from zeep.cache import InMemoryCache

MAIN = "/campaignmaster/v1.1/CampaignMasterService.svc"
JOBS = "/campaignmaster/v1.1/CampaignMasterJobService.svc"
EPOCH = date(2000, 1, 1)
RATES = {"hard_bounce": 0.1, "soft_bounce": 0.1, "open": 0.6, "click": 0.5, "forward": 0.1, "unsubscribe": 0.05,
         "complaint": 0.0}
HTML = ('<html><body><p>Hi</p><a href="https://example.com/offer">Offer</a> '
        '<a href="http://$UNSUB$">Unsubscribe</a></body></html>')

EVIDENCED = [("wire-inferred", False), ("as-recorded", False)]
ACCOUNTS = [*EVIDENCED, ("wire-inferred", True)]


def account_id(account):
    case, extended = account
    return f"{case}{'-extended' if extended else ''}"


def provider_for(sandbox, password=None):
    return CampaignMasterProvider(client_id=1000, username=sandbox.api_user, password=password or sandbox.api_password,
                                  base_url=f"{sandbox.url}/campaignmaster", backoff_factor=0, timeout=10)


def serve(sandbox, case, extended):
    """The sandbox serving one rebuilt casing, with or without the extension; zeep's WSDL cache (an hour,
    shared by every client of the process) forgets the descriptions of the previous test."""
    sandbox.configure(cm_member_case=case, cm_extended=extended)
    InMemoryCache._cache.clear()


@pytest.fixture(params=ACCOUNTS, ids=account_id)
def account(request, sandbox):
    serve(sandbox, *request.param)
    return request.param


@pytest.fixture(params=EVIDENCED, ids=account_id)
def evidenced(request, sandbox):
    serve(sandbox, *request.param)
    return request.param


@pytest.fixture
def client(sandbox):
    provider = provider_for(sandbox)
    yield provider
    provider.close()


def soap_calls(sandbox, operation=None):
    return [entry for entry in sandbox.requests_log() if entry["path"].startswith("/campaignmaster/")
            and entry.get("operation") and (operation is None or entry.get("operation") == operation)]


def book_of(client, name="Readers"):
    """A list to sync with: a new list on an extended account, the account's recipients otherwise."""
    if client.extended:
        return client.create_address_book(name).id
    return ALL_RECIPIENTS


def imported(sandbox, client, book_id, count, domain="example.com"):
    payload = "Email,FIRSTNAME\n" + "".join(f"user{index}@{domain},U{index}\n" for index in range(count))
    job = client.start_import(book_id, io.BytesIO(payload.encode()))
    sandbox.advance_clock(1)
    assert client.get_import(job.id).state == records.IMPORT_DONE
    return [f"user{index}@{domain}" for index in range(count)]


def sent_in_campaign_master(sandbox, api, emails):
    """A campaign made and sent in Campaign Master's own UI: the sandbox's one world does it through its v2
    API, to a book holding ``emails``."""
    book = api.post(api.v2("address-books"), json={"name": "Sent to"}).json()["id"]
    for email in emails:
        assert api.post(api.v2(f"address-books/{book}/contacts"), json={"email": email}).status_code in (200, 201)
    campaign = api.post(api.v2("campaigns"), json={"name": "Spring sale", "subject": "Spring sale", "fromName": "Shop",
                                                   "htmlContent": HTML, "plainTextContent": "Hi http://$UNSUB$"})
    campaign_id = campaign.json()["id"]
    answer = api.post(api.v2("campaigns/send"), json={"campaignId": campaign_id, "addressBookIds": [book]})
    assert answer.status_code == 202, answer.text
    sandbox.advance_clock(7200)
    return campaign_id


# -- what the account offers ----------------------------------------------------------------------------------


def test_capabilities_follow_the_accounts_wsdl(sandbox, account, client):
    _case, extended = account
    offered = client.offered_capabilities()
    for always in (Capability.BULK_IMPORT, Capability.LIST_CHANGE_FEED, Capability.CONTACT_ACTIVITY,
                   Capability.BOOK_LISTING, Capability.DATA_FIELDS):
        assert always in offered
    for assumed in (Capability.CAMPAIGN_CREATION, Capability.TEST_SEND, Capability.TEMPLATES,
                    Capability.FROM_ADDRESSES, Capability.SCHEDULING):
        assert (assumed in offered) is extended, assumed
    for never in (Capability.SUPPRESSION_FEED, Capability.BOOK_REMOVAL, Capability.RESUBSCRIBE,
                  Capability.WEBHOOKS, Capability.DATA_FIELD_CREATION):
        assert never not in offered
    # Sent campaigns are imported when the account's one list is all its recipients.
    assert (Capability.CAMPAIGN_IMPORT in offered) is not extended
    assert client.supports_group("campaigns") is extended
    assert CampaignMasterProvider.supports(Capability.CAMPAIGN_IMPORT)
    assert not CampaignMasterProvider.supports_group("campaigns")
    books = list(client.iter_address_books())
    if extended:
        assert all(book.id != ALL_RECIPIENTS or book.name != "All recipients" for book in books)
    else:
        assert [(book.id, book.name) for book in books] == [(ALL_RECIPIENTS, "All recipients")]
        with pytest.raises(exceptions.ValidationError):
            client.create_address_book("Readers")
        assert list(client.iter_templates()) == [] and list(client.iter_from_addresses()) == []
        with pytest.raises(exceptions.ValidationError) as refused:
            client.create_campaign({"subject": "x"})
        assert refused.value.code == "NoSuchOperation"


# -- login ----------------------------------------------------------------------------------------------------


def test_login_wrong_password_is_a_credentials_error_never_repeated(sandbox, account, client):
    info = client.test_connection()
    assert info.account_id == 1000
    sandbox.clear_log()
    wrong = provider_for(sandbox, password="nope")
    with pytest.raises(exceptions.AuthenticationError) as refused:
        list(wrong.iter_data_fields())
    assert refused.value.code == "InvalidLogin"
    assert not refused.value.is_retryable
    assert "nope" not in str(refused.value) and "nope" not in repr(refused.value)
    assert len(soap_calls(sandbox, "Login")) == 1
    with pytest.raises(exceptions.ConfigurationError):
        CampaignMasterProvider(client_id="", username="u", password="p", base_url=sandbox.url)


def test_token_renewed_once_when_it_expires(sandbox, evidenced, client):
    list(client.iter_data_fields())
    sandbox.cm_expire_tokens()
    client._field_names = None
    list(client.iter_data_fields())  # one token fault, one new login, the call again
    assert [entry["operation"] for entry in soap_calls(sandbox, "Login")] == ["Login", "Login"]
    assert len(soap_calls(sandbox, "GetRecipientFields")) == 3


# -- recipients ------------------------------------------------------------------------------------------------


def test_recipients_both_ways(sandbox, account, client):
    fields = [field.name for field in client.iter_data_fields()]
    assert "FIRSTNAME" in fields and "EmailAddress" not in fields and "IsActive" not in fields
    book_id = book_of(client)
    sandbox.configure(import_delay=60)
    payload = "Email,FIRSTNAME\n" + "".join(f"reader{index}@example.com,R{index}\n" for index in range(1200))
    job = client.start_import(book_id, io.BytesIO(payload.encode()))
    assert job.state == records.IMPORT_PENDING
    # Recipients changing meanwhile never confirm an import: only its job's result does.
    client.upsert_contact("someone.else@example.com")
    assert client.get_import(job.id).state == records.IMPORT_PENDING
    sandbox.advance_clock(120)
    assert client.get_import(job.id).state == records.IMPORT_DONE
    everyone, skip = [], 0
    while skip is not None:
        page, skip = client.book_contacts_page(book_id, skip)
        everyone += page
    assert {f"reader{index}@example.com" for index in range(1200)} <= {contact.email for contact in everyone}
    assert client.get_contact("READER8@example.com").data_fields["FIRSTNAME"] == "R8"
    assert client.get_contact("nobody@example.com") is None
    # Changed since: only what moved after the watermark (criteria compare to the second).
    sandbox.advance_clock(5)
    watermark = client.server_time()
    sandbox.advance_clock(60)
    sandbox.set_contact_status("reader7@example.com", "Unsubscribed")
    changed = list(client.iter_book_contacts_modified_since(book_id, watermark))
    assert [contact.email for contact in changed] == ["reader7@example.com"]
    assert not changed[0].sendable
    gone = list(client.iter_book_unsubscribed_since(book_id, watermark))
    assert [row.email for row in gone] == ["reader7@example.com"]


def test_import_refused_rows_are_failed_members_with_their_reason(sandbox, account, client):
    book_id = book_of(client)
    payload = "Email,FIRSTNAME\nada@example.com,Ada\nnot-an-email,Bad\n,Nobody\nbob@example.com,Bob\n"
    job = client.start_import(book_id, io.BytesIO(payload.encode()))
    sandbox.advance_clock(1)
    assert client.get_import(job.id).state == records.IMPORT_DONE
    faults = list(client.iter_import_faults(job.id))
    assert sorted((fault.row["row"], fault.email) for fault in faults) == [(2, "not-an-email"), (3, None)]
    assert all(fault.reason for fault in faults)
    assert "not a valid email" in next(fault.reason for fault in faults if fault.email)
    assert client.get_contact("bob@example.com") is not None
    with pytest.raises(exceptions.NotFound):
        client.get_import("999")


def test_upsert_sends_the_recipients_own_booleans(sandbox, account, client):
    client.upsert_contact("ada@example.com")
    client.unsubscribe_from_book(book_of(client), "ada@example.com")
    assert not client.get_contact("ada@example.com").sendable
    sandbox.clear_log()
    client.upsert_contact("ada@example.com")
    assert not client.get_contact("ada@example.com").sendable
    # A verified recipient stays verified: the upsert sends its IsVerified, never a missing (false) boolean.
    store = sandbox.app.store
    store.db.execute("UPDATE contacts SET opt_in_type = 'VerifiedDouble' WHERE email = 'ada@example.com'")
    client.upsert_contact("ada@example.com")
    assert store.contact_by_email("ada@example.com")["opt_in_type"] == "VerifiedDouble"


# -- campaigns made and sent in Campaign Master -------------------------------------------------------------------


def test_sent_campaigns_summary_results_opens_and_bounces(sandbox, account, api, client):
    sandbox.configure(engagement=RATES)
    emails = [f"reader{index}@example.com" for index in range(60)]
    campaign_id = sent_in_campaign_master(sandbox, api, emails)
    assert [campaign.id for campaign in client.iter_campaigns()] == [campaign_id]
    if not client.extended:
        assert [campaign.id for campaign in client.iter_book_campaigns(ALL_RECIPIENTS)] == [campaign_id]
    assert [c.id for c in client.iter_campaigns_with_activity_since(EPOCH)] == [campaign_id]
    summary = client.get_campaign_summary(campaign_id)
    assert summary.sent == 60
    rows = list(client.iter_campaign_activities_since(campaign_id, EPOCH))
    assert len(rows) == 60
    assert summary.unique_opens == sum(1 for row in rows if row.opens)
    assert summary.opens == sum(row.opens for row in rows)
    assert summary.unique_clicks == sum(1 for row in rows if row.clicks)
    # One bounces figure in the summary, split hard and soft by the bounces listing.
    assert summary.hard_bounces == sum(1 for row in rows if row.hard_bounced)
    assert summary.soft_bounces == sum(1 for row in rows if row.soft_bounced)
    assert summary.soft_bounces and summary.hard_bounces
    # Open dates come from the opens listing.
    assert all(row.first_open_at and row.last_open_at and row.first_open_at <= row.last_open_at
               for row in rows if row.opens)
    assert not any(row.first_open_at for row in rows if not row.opens)
    later = client.server_time() + timedelta(seconds=1)
    assert not list(client.iter_campaign_activities_since(campaign_id, later))


# -- strict parsing and faults --------------------------------------------------------------------------------


def test_a_cut_answer_is_an_error_and_the_read_is_repeated(sandbox, evidenced, client):
    book_id = book_of(client)
    imported(sandbox, client, book_id, 600)
    sandbox.inject_fault(MAIN, "truncated_answer", count=1, operation="GetRecipients")
    contacts, _next = client.book_contacts_page(book_id)
    assert len(contacts) == 600
    assert len(soap_calls(sandbox, "GetRecipients")) == 2
    sandbox.inject_fault(MAIN, "truncated_answer", count=5, operation="GetRecipients")
    with pytest.raises(exceptions.InvalidResponse) as cut:
        list(client.iter_book_contacts_modified_since(book_id, EPOCH))
    assert cut.value.is_retryable


def test_faults(sandbox, evidenced, client):
    client.test_connection()
    # A server fault on a read is repeated; on one operation only.
    sandbox.inject_fault(MAIN, "soap_fault", count=1, operation="GetRecipientFields")
    list(client.iter_data_fields())
    assert len(soap_calls(sandbox, "GetRecipientFields")) == 2
    client._field_names = None
    sandbox.inject_fault(MAIN, "html_502", count=5)
    with pytest.raises(exceptions.EspError) as failed:
        list(client.iter_data_fields())
    assert "HTML" in str(failed.value) or "502" in str(failed.value)
    sandbox.clear_faults()
    # A write is never repeated after a server fault: the change may have been made.
    sandbox.inject_fault(MAIN, "soap_fault", count=1, operation="AddRecipient")
    with pytest.raises(exceptions.ServerError):
        client.upsert_contact("once@example.com")
    assert len(soap_calls(sandbox, "AddRecipient")) == 1


# -- the extension ----------------------------------------------------------------------------------------------


@pytest.fixture
def extended_client(sandbox, client):
    serve(sandbox, "wire-inferred", True)
    return client


def _content(client, **values):
    address = next(iter(client.iter_from_addresses()))
    return {"name": "Spring", "subject": "Spring news", "from_name": "Shop", "from_address_id": address.id,
            "html": "<p>Hi <a href='https://example.com/a'>a</a> <a href='http://$UNSUB$'>u</a></p>",
            "plain_text": "Hi", "reply_to": "replies@example.com", "marker": "[odoo abc-1]",
            "description": "Spring offers", **values}


def test_extension_lists_and_campaign_create_find_test_and_send(sandbox, extended_client):
    client = extended_client
    with pytest.raises(exceptions.InvalidContent) as refused:
        client.create_campaign(_content(client, subject=""))
    assert "Campaign subject is required and has not been provided" in str(refused.value)
    campaign = client.create_campaign(_content(client))
    assert campaign.state == records.CAMPAIGN_DRAFT and campaign.subject == "Spring news"
    assert client.find_campaign("[odoo abc-1]").id == campaign.id
    assert client.find_campaign("[odoo nope-2]") is None
    assert client.update_campaign(campaign.id, _content(client, subject="Spring news 2")).subject == "Spring news 2"
    client.test_send_campaign(campaign.id, ["qa@example.com"])
    book = client.create_address_book("Buyers")
    with pytest.raises(exceptions.AlreadyExists):
        client.create_address_book("Buyers")
    imported(sandbox, client, book.id, 40, domain="buyers.example.com")
    send = client.send_campaign(campaign.id, book_ids=[book.id])
    assert send.state in (records.SEND_SENDING, records.SEND_SENT)
    sandbox.advance_clock(7200)
    assert client.get_send(send.id).state == records.SEND_SENT
    with pytest.raises(exceptions.ValidationError):
        client.update_campaign(campaign.id, _content(client))
    assert client.get_campaign_summary(campaign.id).sent == 40
