"""The Campaign Master provider against the sandbox's SOAP services: login and token renewal, paging,
criteria, import jobs as tickets, campaigns, results, and faults."""

import io
from datetime import timedelta

import pytest
from esp_providers import exceptions, records
from esp_providers.base import Capability
from esp_providers.campaign_master import CampaignMasterProvider

MAIN = "/campaignmaster/v1.1/CampaignMasterService.svc"


@pytest.fixture
def client(sandbox):
    provider = CampaignMasterProvider(client_id=1000, username=sandbox.api_user, password=sandbox.api_password,
                                      base_url=f"{sandbox.url}/campaignmaster", backoff_factor=0, timeout=10)
    yield provider
    provider.close()


def soap_calls(sandbox, operation=None):
    return [entry for entry in sandbox.requests_log() if entry["path"].startswith("/campaignmaster/")
            and entry.get("operation") and (operation is None or entry.get("operation") == operation)]


def test_capabilities_say_what_campaign_master_lacks():
    assert CampaignMasterProvider.supports_group("lists")
    assert CampaignMasterProvider.supports_group("campaigns")
    assert CampaignMasterProvider.supports_group("reports")
    assert CampaignMasterProvider.supports(Capability.TEST_SEND)
    for missing in (Capability.SUPPRESSION_FEED, Capability.BOOK_REMOVAL, Capability.RESUBSCRIBE,
                    Capability.WEBHOOKS, Capability.DATA_FIELD_CREATION, Capability.CAMPAIGN_IMPORT):
        assert not CampaignMasterProvider.supports(missing), missing


def test_login_and_wrong_password(sandbox, client):
    info = client.test_connection()
    assert info.account_id == 1000
    wrong = CampaignMasterProvider(client_id=1000, username=sandbox.api_user, password="nope",
                                   base_url=f"{sandbox.url}/campaignmaster", backoff_factor=0, timeout=10)
    with pytest.raises(exceptions.AuthenticationError) as refused:
        wrong.test_connection()
    assert "nope" not in str(refused.value) and "nope" not in repr(refused.value)
    with pytest.raises(exceptions.ConfigurationError):
        CampaignMasterProvider(client_id="", username="u", password="p", base_url=sandbox.url)


def test_token_renewed_once_when_it_expires_mid_run(sandbox, client):
    client.test_connection()
    list(client.iter_address_books())
    sandbox.cm_expire_tokens()
    list(client.iter_address_books())  # one InvalidToken fault, one new login, the call again
    assert [entry["operation"] for entry in soap_calls(sandbox, "Login")] == ["Login", "Login"]
    # By the clock: past the token's minutes, the provider logs in again before calling.
    sandbox.advance_clock(3600)
    client._token_expires = 0  # the provider counts minutes on its own clock, which the sandbox cannot move
    list(client.iter_address_books())
    assert len(soap_calls(sandbox, "Login")) == 3


def test_recipients_paging_and_criteria(sandbox, client):
    sandbox.configure(import_delay=60)
    book = client.create_address_book("Readers")
    payload = "Email,firstName\n" + "".join(f"reader{index}@example.com,R{index}\n" for index in range(2500))
    job = client.start_import(book.id, io.BytesIO(payload.encode()))
    assert job.state == records.IMPORT_PENDING
    assert client.get_import(job.id).state == records.IMPORT_PENDING  # not applied before the import delay
    sandbox.advance_clock(120)
    assert client.get_import(job.id).state == records.IMPORT_DONE
    contacts, next_skip = client.book_contacts_page(book.id)
    assert len(contacts) == 1000 and next_skip == 1000
    everyone = []
    skip = 0
    while skip is not None:
        page, skip = client.book_contacts_page(book.id, skip)
        everyone += page
    assert len({contact.email for contact in everyone}) == 2500
    # Changed since: only what moved after the watermark.
    watermark = client.server_time()
    sandbox.advance_clock(60)
    sandbox.set_contact_status("reader7@example.com", "Unsubscribed")
    changed = list(client.iter_book_contacts_modified_since(book.id, watermark))
    assert [contact.email for contact in changed] == ["reader7@example.com"]
    assert not changed[0].sendable
    gone = list(client.iter_book_unsubscribed_since(book.id, watermark))
    assert [row.email for row in gone] == ["reader7@example.com"]
    assert client.get_contact("READER8@example.com").email == "reader8@example.com"
    assert client.get_contact("nobody@example.com") is None


def test_upsert_never_reactivates(sandbox, client):
    client.upsert_contact("ada@example.com")
    client.unsubscribe_from_book(None, "ada@example.com")
    assert not client.get_contact("ada@example.com").sendable
    client.upsert_contact("ada@example.com")
    assert not client.get_contact("ada@example.com").sendable


def test_catalogue(client):
    assert any(address.email for address in client.iter_from_addresses())
    list(client.iter_templates())
    list(client.iter_data_fields())
    with pytest.raises(exceptions.ValidationError):
        client.create_data_field("COMPANY")


def _content(client, **values):
    address = next(iter(client.iter_from_addresses()))
    return {"name": "Spring", "subject": "Spring news", "from_name": "Shop", "from_address_id": address.id,
            "html": "<p>Hi <a href='https://example.com/a'>a</a> <a href='http://$UNSUB$'>u</a></p>",
            "plain_text": "Hi", "reply_to": "replies@example.com", "marker": "[odoo abc-1]",
            "description": "Spring offers", **values}


def test_campaign_refusals_create_find_test_and_send(sandbox, client):
    with pytest.raises(exceptions.ValidationError) as refused:
        client.create_campaign(_content(client, subject=""))
    assert "Campaign subject is required and has not been provided" in str(refused.value)
    with pytest.raises(exceptions.ValidationError) as refused:
        client.create_campaign(_content(client, description=""))
    assert "Campaign description is required and has not been provided" in str(refused.value)
    campaign = client.create_campaign(_content(client))
    assert campaign.state == records.CAMPAIGN_DRAFT and campaign.subject == "Spring news"
    assert client.find_campaign("[odoo abc-1]").id == campaign.id
    assert client.find_campaign("[odoo nope-2]") is None
    updated = client.update_campaign(campaign.id, _content(client, subject="Spring news 2"))
    assert updated.subject == "Spring news 2"
    client.test_send_campaign(campaign.id, ["qa@example.com"])
    book = client.create_address_book("Buyers")
    payload = "Email\n" + "".join(f"buyer{index}@example.com\n" for index in range(40))
    client.start_import(book.id, io.BytesIO(payload.encode()))
    sandbox.advance_clock(120)
    send = client.send_campaign(campaign.id, book_ids=[book.id])
    assert send.state in (records.SEND_SENDING, records.SEND_SENT)
    sandbox.advance_clock(7200)
    assert client.get_send(send.id).state == records.SEND_SENT
    with pytest.raises(exceptions.ValidationError):
        client.update_campaign(campaign.id, _content(client))
    summary = client.get_campaign_summary(campaign.id)
    assert summary.sent == 40
    rows = list(client.iter_campaign_activities_since(campaign.id, client.limits.feed_epoch))
    assert len(rows) == 40
    assert summary.unique_opens == sum(1 for row in rows if row.opens)
    assert summary.opens == sum(row.opens for row in rows)
    assert summary.unique_clicks == sum(1 for row in rows if row.clicks)
    assert summary.hard_bounces == sum(1 for row in rows if row.hard_bounced)
    assert summary.soft_bounces == sum(1 for row in rows if row.soft_bounced)
    assert summary.views == sum(1 for row in rows if row.opens or row.clicks)
    assert summary.no_activity == summary.sent - summary.views
    assert all(row.first_click_at for row in rows if row.clicks)
    assert [c.id for c in client.iter_campaigns_with_activity_since(client.limits.feed_epoch)] == [campaign.id]
    later = client.server_time() + timedelta(seconds=1)
    assert not list(client.iter_campaign_activities_since(campaign.id, later))


def test_faults(sandbox, client):
    client.test_connection()
    # A server fault on a read is repeated; on one operation only.
    sandbox.inject_fault(MAIN, "soap_fault", count=1, operation="GetLists")
    list(client.iter_address_books())
    assert len(soap_calls(sandbox, "GetLists")) == 2
    sandbox.inject_fault(MAIN, "html_502", count=5)
    with pytest.raises(exceptions.EspError) as failed:
        list(client.iter_address_books())
    assert "HTML" in str(failed.value) or "502" in str(failed.value)
    sandbox.clear_faults()
    # A write is never repeated after a server fault: the change may have been made.
    sandbox.inject_fault(MAIN, "soap_fault", count=1, operation="CreateList")
    with pytest.raises(exceptions.ServerError):
        client.create_address_book("Once")
    assert len(soap_calls(sandbox, "CreateList")) == 1
