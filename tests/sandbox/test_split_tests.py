"""Split tests: ``POST /v2/campaigns/split-test``, a send with ``splitTestOptions`` and the results.

The versions go to the test share of the books at once; the winner, picked by the metric once the test period
has passed on the sandbox clock, goes to everyone else; ``GET /v2/campaigns/{id}/split-test`` tells which.
"""

from openapi_spec import find_operation, response_schema, schema_errors

CAMPAIGN_HTML = (
    '<html><body><p>Hi</p><a href="https://example.com/offer">Offer</a> '
    '<a href="https://example.com/blog">Blog</a> <a href="http://$UNSUB$">Unsubscribe</a></body></html>'
)

RATES = {"hard_bounce": 0, "soft_bounce": 0, "open": 0.5, "click": 0.5, "forward": 0, "unsubscribe": 0,
         "complaint": 0}


def split_body(**overrides):
    html_b = CAMPAIGN_HTML.replace("Offer", "Sale")
    return {
        "name": "Spring split", "subjects": ["Spring A", "Spring B"], "fromNames": ["Shop", "Shop team"],
        "fromAddresses": [{"id": 1}, {"id": 1}], "htmlContents": [CAMPAIGN_HTML, html_b],
        "plainTextContents": ["A http://$UNSUB$", "B http://$UNSUB$"], **overrides,
    }


def create_split(api, **overrides):
    response = api.post(api.v2("campaigns/split-test"), json=split_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def results(api, campaign_id):
    response = api.get(api.v2(f"campaigns/{campaign_id}/split-test"))
    assert response.status_code == 200, response.text
    (spec_path, operation), = find_operation("GET", f"/v2/campaigns/{campaign_id}/split-test")
    assert not schema_errors(response.json(), response_schema(operation, 200)), spec_path
    return response.json()


def sent_events(sandbox, campaign_id):
    store = sandbox.app.store
    with store.lock:
        return store.db.execute(
            "SELECT contact_id, at FROM events WHERE campaign_id = ? AND kind = 'sent' ORDER BY at, contact_id",
            (campaign_id,)).fetchall()


def test_split_test_campaign_keeps_its_versions(api):
    campaign = create_split(api)
    assert campaign["subjects"] == ["Spring A", "Spring B"]
    assert campaign["fromAddresses"][0]["email"] == "news@sandbox.example.com"
    assert campaign["status"] == "Unsent"
    plain = api.get(api.v2(f"campaigns/{campaign['id']}")).json()
    assert plain["isSplitTest"] is True and plain["subject"] == "Spring A"
    before = results(api, campaign["id"])
    assert [v["version"] for v in before["versions"]] == ["A", "B"]
    assert before["splitTestWinnerMetric"] == "NotAvailableInThisVersion"
    assert not any(v["winningVersion"] for v in before["versions"])


def test_split_test_needs_one_entry_per_version_and_two_versions(api):
    response = api.post(api.v2("campaigns/split-test"), json=split_body(subjects=["Only one"]))
    assert response.status_code == 400 and "ERROR_CAMPAIGN_INVALID" in response.json()["message"]
    response = api.post(api.v2("campaigns/split-test"), json=split_body(
        subjects=["A"], fromNames=["A"], fromAddresses=[{"id": 1}], htmlContents=[CAMPAIGN_HTML],
        plainTextContents=["A"]))
    assert response.status_code == 400 and "two versions" in response.json()["message"]
    response = api.post(api.v2("campaigns/split-test"), json={"name": "No plain text"})
    assert response.status_code == 400 and "plainTextContents is required" in response.json()["message"]


def test_split_test_cannot_be_updated_as_a_campaign(api):
    campaign = create_split(api)
    response = api.put(api.v2(f"campaigns/{campaign['id']}"), json={
        "name": "x", "subject": "x", "fromName": "x", "htmlContent": CAMPAIGN_HTML, "plainTextContent": "x"})
    assert response.status_code == 400 and "ERROR_CAMPAIGN_INVALID" in response.json()["message"]
    assert api.delete(api.v2(f"campaigns/{campaign['id']}")).status_code == 204


def test_versions_to_the_test_share_then_the_winner_to_the_rest(api, build, sandbox):
    sandbox.configure(engagement=RATES)
    book_id = build.book()
    build.contacts(book_id, 100)
    campaign_id = create_split(api)["id"]
    options = {"testMetric": "Opens", "testPercentage": 20, "testPeriodHours": 2}
    send = build.send(campaign_id, [book_id], splitTestOptions=options)
    assert send["splitTestOptions"] == options and send["status"] == "Sending"
    assert api.get(api.v2(f"campaigns/send/{send['id']}")).json()["splitTestOptions"] == options

    sandbox.advance_clock(60)
    assert len(sent_events(sandbox, campaign_id)) == 20  # the test share of the book only
    during = results(api, campaign_id)
    assert during["splitTestWinnerMetric"] == "Opens"
    assert not any(v["winningVersion"] for v in during["versions"])
    assert api.get(api.v2(f"campaigns/send/{send['id']}")).json()["status"] == "Sending"
    assert api.get(api.v2(f"campaigns/{campaign_id}")).json()["status"] == "Sending"

    sandbox.advance_clock(2 * 3600)
    events = sent_events(sandbox, campaign_id)
    assert len(events) == 100 and len({row["contact_id"] for row in events}) == 100  # each contact once
    test_at, winner_at = events[0]["at"], events[-1]["at"]
    assert winner_at - test_at == 2 * 3600  # the rest goes out when the period ends, on the sandbox clock
    after = results(api, campaign_id)
    winners = [v for v in after["versions"] if v["winningVersion"]]
    assert len(winners) == 1
    best = max(v["resultsPercentage"] for v in after["versions"])
    assert winners[0]["resultsPercentage"] == best
    assert all(0 <= v["resultsActual"] <= 10 for v in after["versions"])  # 10 recipients each
    assert api.get(api.v2(f"campaigns/send/{send['id']}")).json()["status"] == "Sent"
    assert api.get(api.v2(f"campaigns/{campaign_id}")).json()["status"] == "Sent"
    summary = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()
    assert summary["numSent"] == 100


def test_the_rest_gets_the_winning_versions_content(api, build, sandbox):
    sandbox.configure(engagement={**RATES, "open": 1, "click": 1})
    book_id = build.book()
    build.contacts(book_id, 40)
    html_b = CAMPAIGN_HTML.replace("https://example.com/offer", "https://example.com/b-only")
    campaign_id = create_split(api, htmlContents=[CAMPAIGN_HTML, html_b])["id"]
    build.send(campaign_id, [book_id], splitTestOptions={"testMetric": "Clicks", "testPercentage": 50,
                                                         "testPeriodHours": 1})
    sandbox.advance_clock(3 * 3600)
    after = results(api, campaign_id)
    winner = next(index for index, v in enumerate(after["versions"]) if v["winningVersion"])
    assert after["versions"][0]["resultsPercentage"] == after["versions"][1]["resultsPercentage"] == 100
    assert winner == 0  # a tie goes to the earlier version
    store = sandbox.app.store
    with store.lock:
        urls = {row[0] for row in store.db.execute(
            "SELECT DISTINCT url FROM events WHERE campaign_id = ? AND kind = 'click' AND at >= ?",
            (campaign_id, sent_events(sandbox, campaign_id)[-1]["at"]))}
    assert "https://example.com/b-only" not in urls


def test_split_sends_are_refused_when_they_do_not_fit(api, build):
    book_id = build.book()
    build.contacts(book_id, 5)
    plain_id = build.campaign()
    split_id = create_split(api)["id"]
    options = {"testMetric": "Opens", "testPercentage": 10, "testPeriodHours": 1}
    cases = [
        ({"campaignId": plain_id, "addressBookIds": [book_id], "splitTestOptions": options}, "split test campaigns only"),
        ({"campaignId": split_id, "addressBookIds": [book_id]}, "sent with splitTestOptions"),
        ({"campaignId": split_id, "addressBookIds": [book_id],
          "splitTestOptions": {**options, "testMetric": "NotAvailableInThisVersion"}}, "testMetric"),
        ({"campaignId": split_id, "addressBookIds": [book_id], "splitTestOptions": {**options, "testPercentage": 0}},
         "ERROR_PARAMETER_INVALID"),
        ({"campaignId": split_id, "addressBookIds": [book_id], "splitTestOptions": {**options, "testPeriodHours": 0}},
         "ERROR_PARAMETER_INVALID"),
    ]
    for body, expected in cases:
        response = api.post(api.v2("campaigns/send"), json=body)
        assert response.status_code == 400 and expected in response.json()["message"], (body, response.text)
    build.send(split_id, [book_id], splitTestOptions=options)
    again = api.post(api.v2("campaigns/send"), json={"campaignId": split_id, "addressBookIds": [book_id],
                                                     "splitTestOptions": options})
    assert again.status_code == 400 and "ERROR_CAMPAIGN_SENDNOTPERMITTED" in again.json()["message"]
    response = api.get(api.v2(f"campaigns/{plain_id}/split-test"))
    assert response.status_code == 400 and "not a split test" in response.json()["message"]
