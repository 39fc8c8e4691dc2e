"""dotdigital split tests through the provider, against the sandbox: create, send with options, results."""

import io
import json

import pytest
from esp_providers import Capability, ValidationError, records
from esp_providers.campaign_master import CampaignMasterProvider
from esp_providers.dotdigital import DotdigitalProvider

HTML = '<p>Hello <a href="https://example.com/{0}">{0}</a> <a href="http://$UNSUB$">Unsubscribe</a></p>'


@pytest.fixture
def provider(sandbox):
    client = DotdigitalProvider(sandbox.api_user, sandbox.api_password, sandbox.url, timeout=(2.0, 5.0),
                                max_retries=1, backoff_factor=0.01, max_wait=1.0)
    client.test_connection()
    sandbox.clear_log()
    yield client
    client.close()


def version(name, reply_to=None):
    return {"name": "ignored", "subject": f"Subject {name}", "from_name": "Shop", "from_address_id": 1,
            "html": HTML.format(name), "plain_text": f"{name} http://$UNSUB$", "reply_to": reply_to}


def book_with_contacts(provider, count):
    book = provider.create_address_book("Split book")
    rows = "".join(f"user{index}@example.com\n" for index in range(count))
    job = provider.start_import(book.id, io.BytesIO(f"Email\n{rows}".encode()))
    assert provider.get_import(job.id).state == records.IMPORT_DONE
    return book.id


def test_capability_is_dotdigitals_only():
    assert DotdigitalProvider.supports(Capability.SPLIT_TEST)
    assert not CampaignMasterProvider.supports(Capability.SPLIT_TEST)
    assert Capability.SPLIT_TEST in Capability.ALL


def test_create_send_and_read_the_winner(sandbox, provider):
    sandbox.configure(engagement={"open": 0.6, "click": 0.3, "hard_bounce": 0, "soft_bounce": 0})
    book_id = book_with_contacts(provider, 60)
    campaign = provider.create_split_test("Spring [odoo x-1]", [version("a", "replies@example.com"), version("b")])
    assert campaign.subject == "Subject a" and campaign.state == records.CAMPAIGN_DRAFT
    assert provider.find_campaign("[odoo x-1]").id == campaign.id
    before = provider.get_split_test_results(campaign.id)
    assert before.metric is None and before.winner is None
    assert [v.label for v in before.versions] == ["A", "B"]

    send = provider.send_split_test(campaign.id, [book_id], records.SPLIT_METRIC_OPENS, 20, 3)
    assert send.state == records.SEND_SENDING
    body = json.loads(sandbox.app.store.db.execute("SELECT body FROM sends WHERE id = ?", (send.id,)).fetchone()[0])
    assert body["splitTestOptions"] == {"testMetric": "Opens", "testPercentage": 20, "testPeriodHours": 3}
    assert body["addressBookIds"] == [book_id] and body["contactIds"] == []

    sandbox.advance_clock(60)
    during = provider.get_split_test_results(campaign.id)
    assert during.metric == records.SPLIT_METRIC_OPENS and during.winner is None
    assert provider.get_send(send.id).state == records.SEND_SENDING
    sandbox.advance_clock(3 * 3600)
    after = provider.get_split_test_results(campaign.id)
    assert after.winner in (0, 1)
    assert after.versions[after.winner].percentage == max(v.percentage for v in after.versions)
    assert provider.get_send(send.id).state == records.SEND_SENT


def test_refused_before_any_call(sandbox, provider):
    with pytest.raises(ValidationError):
        provider.create_split_test("One", [version("a")])
    with pytest.raises(ValidationError):
        provider.send_split_test(1, [], records.SPLIT_METRIC_OPENS, 10, 1)
    with pytest.raises(ValidationError):
        provider.send_split_test(1, [3], "replies", 10, 1)
    with pytest.raises(ValidationError):
        provider.send_split_test(1, [3], records.SPLIT_METRIC_CLICKS, 0, 1)
    with pytest.raises(ValidationError):
        provider.send_split_test(1, [3], records.SPLIT_METRIC_CLICKS, 10, 0)
    assert not [entry for entry in sandbox.requests_log() if entry["path"].startswith("/v2/")]


def test_a_split_test_is_deleted_and_created_again(sandbox, provider):
    first = provider.create_split_test("Spring", [version("a"), version("b")])
    provider.delete_campaign(first.id)
    provider.delete_campaign(first.id)  # already gone: no error
    second = provider.create_split_test("Spring", [version("a"), version("c")])
    assert [campaign.id for campaign in provider.iter_campaigns()] == [second.id]
    assert [v.subject for v in provider.get_split_test_results(second.id).versions] == ["Subject a", "Subject c"]
    assert [entry["method"] for entry in sandbox.requests_log() if entry["path"] == f"/v2/campaigns/{first.id}"] == [
        "DELETE", "DELETE"]
