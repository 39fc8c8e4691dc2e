"""Campaigns, sends and the simulated engagement behind the reports."""

import pytest
from openapi_spec import find_operation, response_schema, schema_errors

RATES = {"hard_bounce": 0.05, "soft_bounce": 0.05, "open": 0.6, "click": 0.5, "forward": 0.1, "unsubscribe": 0.1,
         "complaint": 0.03}


def sent_campaign(build, sandbox, recipients=200, rates=RATES):
    sandbox.configure(engagement=rates)
    book_id = build.book()
    build.contacts(book_id, recipients)
    campaign_id = build.campaign()
    build.send(campaign_id, [book_id])
    sandbox.advance_clock(7200)
    return book_id, campaign_id


def all_pages(api, path):
    rows, skip = [], 0
    while True:
        page = api.get(api.v2(path), params={"select": 1000, "skip": skip}).json()
        rows += page
        if len(page) < 1000:
            return rows
        skip += 1000


def test_campaign_crud_copy_and_delete(api, build):
    campaign_id = build.campaign()
    campaign = api.get(api.v2(f"campaigns/{campaign_id}")).json()
    assert campaign["status"] == "Unsent" and "type" not in campaign
    body = {k: campaign[k] for k in ("name", "subject", "fromName", "htmlContent", "plainTextContent")}
    updated = api.put(api.v2(f"campaigns/{campaign_id}"), json={**body, "subject": "New subject"}).json()
    assert updated["subject"] == "New subject"
    copy = api.post(api.v2(f"campaigns/{campaign_id}/copy"))
    assert copy.status_code == 201 and copy.json()["name"] == "Copy of Spring sale"
    assert api.delete(api.v2(f"campaigns/{copy.json()['id']}")).status_code == 204
    assert api.get(api.v2(f"campaigns/{copy.json()['id']}")).json() == {"message": "Error: ERROR_CAMPAIGN_NOT_FOUND"}


def test_sent_campaign_is_read_only(api, build, sandbox):
    book_id, campaign_id = sent_campaign(build, sandbox, recipients=3)
    campaign = api.get(api.v2(f"campaigns/{campaign_id}")).json()
    assert campaign["status"] == "Sent"
    body = {k: campaign[k] for k in ("name", "subject", "fromName", "htmlContent", "plainTextContent")}
    refused = api.put(api.v2(f"campaigns/{campaign_id}"), json=body)
    assert refused.status_code == 400 and refused.json()["message"].endswith("ERROR_CAMPAIGN_READONLY")
    assert [b["id"] for b in api.get(api.v2(f"campaigns/{campaign_id}/address-books")).json()] == [book_id]
    assert [c["id"] for c in api.get(api.v2(f"address-books/{book_id}/campaigns")).json()] == [campaign_id]


def test_send_status_and_scheduled_send(api, build, sandbox):
    book_id = build.book()
    build.contacts(book_id, 2)
    campaign_id = build.campaign()
    later = "2100-01-01T00:00:00Z"
    send = build.send(campaign_id, [book_id], sendDate=later)
    assert send["status"] == "Scheduled"
    assert api.get(api.v2(f"campaigns/send/{send['id']}")).json()["status"] == "Scheduled"
    sandbox.advance_clock(4102444800 - sandbox.now()["epoch"] + 1)
    assert api.get(api.v2(f"campaigns/send/{send['id']}")).json()["status"] == "Sent"


def test_send_rules(api, build):
    campaign_id = build.campaign()
    too_many = api.post(api.v2("campaigns/send"), json={"campaignId": campaign_id, "contactIds": list(range(1, 12))})
    assert "ERROR_CAMPAIGN_SEND_INVALID" in too_many.json()["message"]
    no_book = api.post(api.v2("campaigns/send"), json={"campaignId": campaign_id, "addressBookIds": [999]})
    assert no_book.status_code == 404
    no_unsub = build.campaign(name="No unsubscribe link", html='<a href="https://example.com">x</a>')
    refused = api.post(api.v2("campaigns/send"), json={"campaignId": no_unsub})
    assert "ERROR_CAMPAIGN_INVALID" in refused.json()["message"]


def test_send_without_books_or_contacts_is_refused(api, build, sandbox):
    # The swagger summary (and the legacy SOAP text) say an empty send goes to All Contacts; dotdigital's
    # current send-campaign documentation requires at least one address book or contact id. The sandbox
    # follows the documentation: nothing named must never mean everybody.
    build.contacts(build.book("A"), 3)
    campaign_id = build.campaign()
    for body in ({"campaignId": campaign_id}, {"campaignId": campaign_id, "addressBookIds": [], "contactIds": []}):
        refused = api.post(api.v2("campaigns/send"), json=body)
        assert refused.status_code == 400
        assert "ERROR_CAMPAIGN_SEND_INVALID" in refused.json()["message"]
    assert not sandbox.state()["sends"]


def test_send_to_contact_ids_only(api, build, sandbox):
    contact = build.contact("solo@example.com")
    build.contact("other@example.com")
    campaign_id = build.campaign()
    build.send(campaign_id, contact_ids=[contact["id"]])
    sandbox.advance_clock(7200)
    assert [a["email"] for a in api.get(api.v2(f"campaigns/{campaign_id}/activities")).json()] == ["solo@example.com"]


def test_summary_equals_the_sum_of_activities(api, build, sandbox):
    _, campaign_id = sent_campaign(build, sandbox)
    summary = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()
    activities = all_pages(api, f"campaigns/{campaign_id}/activities")
    assert summary["numSent"] == len(activities) == 200
    assert summary["numOpens"] == sum(a["numOpens"] for a in activities)
    assert summary["numUniqueOpens"] == sum(a["numOpens"] > 0 for a in activities)
    assert summary["numClicks"] == sum(a["numClicks"] for a in activities)
    assert summary["numRecipientsClicked"] == sum(a["numClicks"] > 0 for a in activities)
    assert summary["numForwards"] == sum(a["numForwards"] for a in activities)
    assert summary["numUnsubscribes"] == sum(a["unsubscribed"] for a in activities)
    assert summary["numHardBounces"] == sum(a["hardBounced"] for a in activities)
    assert summary["numSoftBounces"] == sum(a["softBounced"] for a in activities)
    assert summary["numDelivered"] == summary["numSent"] - summary["numHardBounces"] - summary["numSoftBounces"]
    assert summary["numOpens"] == len(all_pages(api, f"campaigns/{campaign_id}/opens"))
    assert summary["numClicks"] == len(all_pages(api, f"campaigns/{campaign_id}/clicks"))
    assert summary["numOpens"] > summary["numUniqueOpens"] > 0  # several opens per person
    assert summary["numIspComplaints"] > 0


def test_same_seed_gives_the_same_figures(api, build, sandbox):
    figures = []
    for seed in (7, 7, 8):
        sandbox.reset(seed=seed)
        _, campaign_id = sent_campaign(build, sandbox, recipients=100)
        summary = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()
        figures.append({k: v for k, v in summary.items() if k != "dateSent"})
    assert figures[0] == figures[1]
    assert figures[0] != figures[2]


def test_clicks_use_the_campaign_links(api, build, sandbox):
    _, campaign_id = sent_campaign(build, sandbox, recipients=50)
    urls = {c["url"] for c in api.get(api.v2(f"campaigns/{campaign_id}/clicks")).json()}
    assert urls == {"https://example.com/offer", "https://example.com/blog"}


def test_engagement_shows_as_the_clock_moves(api, build, sandbox):
    sandbox.configure(engagement={"open": 1, "hard_bounce": 0, "soft_bounce": 0, "window_seconds": 3600})
    book_id = build.book()
    build.contacts(book_id, 20)
    campaign_id = build.campaign()
    build.send(campaign_id, [book_id])
    sent = sandbox.now()["now"]
    opens_now = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()["numOpens"]
    sandbox.advance_clock(3601)
    opens_later = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()["numOpens"]
    assert opens_now < opens_later
    assert api.get(api.v2(f"campaigns/with-activity-since/{sent}")).json()[0]["id"] == campaign_id
    after = sandbox.now()["now"]
    assert api.get(api.v2(f"campaigns/with-activity-since/{after}")).json() == []
    assert api.get(api.v2(f"campaigns/{campaign_id}/opens/since-date/{after}")).json() == []


def test_engagement_changes_contact_statuses_and_feeds(api, build, sandbox):
    start = sandbox.now()["now"]
    book_id, campaign_id = sent_campaign(build, sandbox)
    activities = all_pages(api, f"campaigns/{campaign_id}/activities")
    statuses = {c["email"]: c["status"] for c in all_pages(api, f"address-books/{book_id}/contacts")}
    hard = {a["email"] for a in activities if a["hardBounced"]}
    assert hard and all(statuses[email] == "HardBounced" for email in hard)
    bouncers = api.get(api.v2(f"campaigns/{campaign_id}/hard-bouncing-contacts")).json()
    assert {c["email"] for c in bouncers} == hard
    reasons = {}
    for row in all_pages(api, f"contacts/suppressed-since/{start}"):
        reasons[row["suppressedContact"]["email"]] = row["reason"]
    assert set(reasons.values()) == {"HardBounced", "Unsubscribed", "IspComplained"}
    assert all(statuses[email] == reason for email, reason in reasons.items())
    book_feed = all_pages(api, f"address-books/{book_id}/contacts/unsubscribed-since/{start}")
    assert {r["suppressedContact"]["email"] for r in book_feed} == set(reasons)
    assert reasons.keys() == {e for e, s in statuses.items() if s not in ("Subscribed", "SoftBounced")}


def test_contact_activity_clicks_and_opens(api, build, sandbox):
    _, campaign_id = sent_campaign(build, sandbox, recipients=30, rates={**RATES, "open": 1, "click": 1})
    activity = api.get(api.v2(f"campaigns/{campaign_id}/activities")).json()
    clicker = next(a for a in activity if a["numClicks"])
    one = api.get(api.v2(f"campaigns/{campaign_id}/activities/{clicker['contactId']}")).json()
    assert one == clicker
    clicks = api.get(api.v2(f"campaigns/{campaign_id}/activities/{clicker['contactId']}/clicks")).json()
    opens = api.get(api.v2(f"campaigns/{campaign_id}/activities/{clicker['contactId']}/opens")).json()
    assert len(clicks) == clicker["numClicks"] and len(opens) == clicker["numOpens"]
    assert opens[0]["dateOpened"] == clicker["dateFirstOpened"]


@pytest.mark.parametrize("path", ["summary", "activities", "clicks", "opens"])
def test_reports_of_unknown_campaign(api, path):
    assert api.get(api.v2(f"campaigns/999/{path}")).json() == {"message": "Error: ERROR_CAMPAIGN_NOT_FOUND"}


# -- with-details, filtered, metrics, page views and the other reports -----------------------------------------

SINCE = "2000-01-01T00:00:00Z"
FAR = "2100-01-01T00:00:00Z"
MIN_DATE = "0001-01-01T00:00:00Z"
DETAILS = ("type", "tags", "splitTestOptions", "sentDate")


def conforming(api, path, params=None, status=200):
    """GET a v2 path and check the answer against the spec's response schema of that operation."""
    response = api.get(api.v2(path), params=params)
    assert response.status_code == status, (path, response.status_code, response.text)
    (spec_path, operation), *_ = find_operation("GET", "/v2/" + path)
    problems = schema_errors(response.json(), response_schema(operation, status))
    assert not problems, (spec_path, problems)
    return response.json()


def refused(api, path, params=None):
    response = api.get(api.v2(path), params=params)
    assert response.status_code == 400, (path, params, response.text)
    assert response.json()["message"].endswith("ERROR_PARAMETER_INVALID")


def three_campaigns(build, sandbox):
    """A sent campaign, one scheduled for 2100 (still Unsent) and one never sent, in id order."""
    sent_book, sent = sent_campaign(build, sandbox, recipients=40, rates={**RATES, "open": 1, "click": 1})
    scheduled = build.campaign(name="Scheduled")
    build.send(scheduled, [sent_book], sendDate=FAR)
    draft = build.campaign(name="Draft")
    return sent, scheduled, draft


def test_with_details_is_the_campaign_plus_details(api, build, sandbox):
    sent, scheduled, draft = three_campaigns(build, sandbox)
    summary = api.get(api.v2(f"campaigns/{sent}/summary")).json()
    singles = []
    for campaign_id in (sent, scheduled, draft):
        details = conforming(api, f"campaigns/{campaign_id}/with-details")
        campaign = api.get(api.v2(f"campaigns/{campaign_id}")).json()
        assert {k: v for k, v in details.items() if k not in DETAILS} == campaign
        assert details["type"] == "Standard" and details["tags"] == [] and details["splitTestOptions"] is None
        singles.append(details)
    assert singles[0]["sentDate"] == summary["dateSent"] != MIN_DATE
    assert singles[1]["sentDate"] == singles[2]["sentDate"] == MIN_DATE
    assert conforming(api, "campaigns/with-details") == singles
    assert conforming(api, "campaigns/with-details", {"select": 2, "skip": 1}) == singles[1:]
    assert [c["id"] for c in api.get(api.v2("campaigns/with-details")).json()] == \
        [c["id"] for c in api.get(api.v2("campaigns")).json()]
    assert api.get(api.v2("campaigns/999/with-details")).json() == {"message": "Error: ERROR_CAMPAIGN_NOT_FOUND"}
    refused(api, "campaigns/with-details", {"select": 1001})


def test_filtered_campaigns(api, build, sandbox):
    sent, scheduled, draft = three_campaigns(build, sandbox)
    sent_date = api.get(api.v2(f"campaigns/{sent}/summary")).json()["dateSent"]
    now = sandbox.now()["now"]

    def ids(**params):
        query = {f"~{name}": value for name, value in params.items()}
        return [c["id"] for c in conforming(api, "campaigns/filtered", query)]

    every = conforming(api, "campaigns/filtered")
    assert [c["id"] for c in every] == [sent, scheduled, draft]
    for row in every:
        plain = api.get(api.v2(f"campaigns/{row['id']}")).json()
        assert {k: v for k, v in row.items() if k not in ("type", "tags", "sentDate", "scheduledDate")} == plain
        assert row["type"] == "Standard" and row["tags"] == []
    assert [(c["sentDate"], c["scheduledDate"]) for c in every] == [
        (sent_date, None), (None, "2100-01-01T00:00:00.000Z"), (None, None)]
    assert ids(statuses="Sent") == ids(statuses="sent") == [sent]
    assert ids(statuses=["Unsent", "Sent"]) == [sent, scheduled, draft]
    assert ids(statuses="Unsent") == [scheduled, draft]
    assert ids(statuses="Paused") == []
    assert ids(type="Standard") == ids(type="standard") == [sent, scheduled, draft]
    assert ids(type="Triggered") == []
    assert ids(tags="Promotion") == []
    assert ids(sentDate=SINCE) == [sent]
    assert ids(sentDate=now) == []
    assert ids(scheduledDateFrom="2099-12-31T00:00:00Z", scheduledDateTo="2100-01-02T00:00:00Z") == [scheduled]
    assert ids(scheduledDateTo="2099-12-31T00:00:00Z") == []
    assert ids(statuses="Unsent", scheduledDateFrom=SINCE) == [scheduled]
    assert ids(type="", statuses="") == [sent, scheduled, draft]  # empty values filter nothing
    assert [c["id"] for c in conforming(api, "campaigns/filtered", {"select": 1, "skip": 1})] == [scheduled]
    for name, value in (("~statuses", "Bogus"), ("~type", "Newsletter"), ("~sentDate", "yesterday"),
                        ("~scheduledDateFrom", "soon"), ("select", 1001)):
        refused(api, "campaigns/filtered", {name: value})


def summary_as_metrics(summary):
    """The figures of a summary under the metrics' names, as the sandbox promises they agree."""
    names = {"sent": "numSent", "delivered": "numDelivered", "opens": "numOpens", "uniqueOpens": "numUniqueOpens",
             "clicks": "numClicks", "uniqueClicks": "numRecipientsClicked", "hardBounces": "numHardBounces",
             "softBounces": "numSoftBounces", "unsubscribes": "numUnsubscribes", "forwards": "numForwards",
             "complaints": "numIspComplaints", "pageViews": "numPageViews", "replies": "numReplies",
             "mailBlocks": "numMailBlocks", "orders": "numOrders", "assistedOrders": "numAssistedOrders",
             "dateSent": "dateSent", "percentageDelivered": "percentageDelivered",
             "percentageUniqueOpens": "percentageUniqueOpens", "percentageHardBounces": "percentageHardBounces",
             "percentageSoftBounces": "percentageSoftBounces", "percentageReplies": "percentageReplies",
             "percentageUnsubscribes": "percentageUnsubscribes", "percentageUniqueClicks": "percentageUsersClicked",
             "percentageUniqueClicksToOpens": "percentageClicksToOpens", "conversionRate": "conversionRate"}
    return {metric: summary[name] for metric, name in names.items()}


def test_metrics_are_the_summaries_of_campaigns_sent_in_the_range(api, build, sandbox):
    sandbox.configure(engagement={**RATES, "click": 1})
    book_id = build.book()
    build.contacts(book_id, 120)
    first = build.campaign(name="First")
    build.send(first, [book_id])
    sandbox.advance_clock(7200)
    between = sandbox.now()["now"]
    second = build.campaign(name="Second")
    build.send(second, [book_id])
    sandbox.advance_clock(7200)
    build.campaign(name="Never sent")
    summaries = {c: api.get(api.v2(f"campaigns/{c}/summary")).json() for c in (first, second)}

    rows = conforming(api, "campaigns/metrics", {"startDate": SINCE, "endDate": FAR})
    assert [r["campaignId"] for r in rows] == [first, second]
    for row in rows:
        assert {k: row[k] for k in summary_as_metrics(summaries[row["campaignId"]])} == \
            summary_as_metrics(summaries[row["campaignId"]])
        details = api.get(api.v2(f"campaigns/{row['campaignId']}/with-details")).json()
        assert (row["campaignName"], row["subjectLine"], row["fromName"], row["dateSent"]) == \
            (details["name"], details["subject"], details["fromName"], details["sentDate"])
        assert row["revenue"] == row["assistedRevenue"] == 0 and row["sendStatusFails"] == 0
    assert rows[0]["pageViews"] > 0
    total = sum(s["numOpens"] for s in summaries.values())
    assert sum(r["opens"] for r in rows) == total

    early = conforming(api, "campaigns/metrics", {"startDate": SINCE, "endDate": between})
    late = conforming(api, "campaigns/metrics", {"startDate": between, "endDate": FAR})
    assert [r["campaignId"] for r in early] == [first] and [r["campaignId"] for r in late] == [second]
    assert early + late == rows
    assert conforming(api, "campaigns/metrics", {"startDate": FAR, "endDate": FAR}) == []
    assert conforming(api, "campaigns/metrics", {"startDate": SINCE, "endDate": FAR, "select": 1, "skip": 1}) == late
    refused(api, "campaigns/metrics")
    refused(api, "campaigns/metrics", {"startDate": SINCE})
    refused(api, "campaigns/metrics", {"startDate": "not a date", "endDate": FAR})


def test_page_views_agree_with_summary_and_activities(api, build, sandbox):
    _, campaign_id = sent_campaign(build, sandbox, recipients=150, rates={**RATES, "click": 1})
    summary = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()
    activities = {a["contactId"]: a for a in all_pages(api, f"campaigns/{campaign_id}/activities")}
    views = conforming(api, f"campaigns/{campaign_id}/page-views/since-date/{SINCE}")
    assert summary["numPageViews"] == summary["numTotalPageViews"] == len(views) > 0
    assert summary["numPageViews"] == sum(a["numPageViews"] for a in activities.values())
    first_click = {}
    for click in all_pages(api, f"campaigns/{campaign_id}/clicks"):
        first_click.setdefault(click["contactId"], click["dateClicked"])
    assert [v["dateViewed"] for v in views] == sorted(v["dateViewed"] for v in views)
    for viewer in {v["contactId"] for v in views}:
        own = conforming(api, f"campaigns/{campaign_id}/activities/{viewer}/page-views")
        assert own == [v for v in views if v["contactId"] == viewer]
        assert len(own) == activities[viewer]["numPageViews"]
        assert own[0]["email"] == activities[viewer]["email"]
        assert own[0]["dateViewed"] > first_click[viewer]  # a visit follows a click
    assert all(v["url"].startswith("https://example.com/") for v in views)
    assert {v["url"] for v in views} > {"https://example.com/offer", "https://example.com/blog"}
    middle = views[len(views) // 2]["dateViewed"]
    assert api.get(api.v2(f"campaigns/{campaign_id}/page-views/since-date/{middle}")).json() == \
        [v for v in views if v["dateViewed"] >= middle]
    pages = [api.get(api.v2(f"campaigns/{campaign_id}/page-views/since-date/{SINCE}"),
                     params={"select": 10, "skip": skip}).json() for skip in range(0, len(views), 10)]
    assert [v for page in pages for v in page] == views
    assert api.get(api.v2(f"campaigns/{campaign_id}/activities/999/page-views")).json() == []


def test_page_views_show_as_the_clock_moves_and_follow_the_seed(api, build, sandbox):
    figures = []
    for seed in (7, 7, 8):
        sandbox.reset(seed=seed)
        sandbox.configure(engagement={**RATES, "click": 1})
        book_id = build.book()
        build.contacts(book_id, 60)
        campaign_id = build.campaign()
        sent = sandbox.now()["now"]
        build.send(campaign_id, [book_id])
        assert api.get(api.v2(f"campaigns/{campaign_id}/page-views/since-date/{sent}")).json() == []
        sandbox.advance_clock(7200)
        views = api.get(api.v2(f"campaigns/{campaign_id}/page-views/since-date/{sent}")).json()
        assert views
        others = [c["dateClicked"] for c in api.get(api.v2(f"campaigns/{campaign_id}/clicks")).json()]
        others += [o["dateOpened"] for o in api.get(api.v2(f"campaigns/{campaign_id}/opens")).json()]
        late = [v["dateViewed"] for v in views if v["dateViewed"] > max(others)]
        if late:  # only a page view makes it a campaign with activity since then
            assert [c["id"] for c in api.get(api.v2(f"campaigns/with-activity-since/{late[-1]}")).json()] == \
                [campaign_id]
        figures.append(([(v["email"], v["url"]) for v in views], bool(late)))
    assert figures[0] == figures[1] != figures[2]
    assert any(late for _views, late in figures)


def test_clicks_with_groups_are_the_clicks(api, build, sandbox):
    _, campaign_id = sent_campaign(build, sandbox, recipients=30, rates={**RATES, "open": 1, "click": 1})
    clicks = api.get(api.v2(f"campaigns/{campaign_id}/clicks")).json()
    assert clicks
    with_groups = conforming(api, f"campaigns/{campaign_id}/clicks-with-groups")
    assert with_groups == [{**c, "groups": []} for c in clicks]
    middle = clicks[len(clicks) // 2]["dateClicked"]
    since_middle = conforming(api, f"campaigns/{campaign_id}/clicks-with-groups/since-date/{middle}")
    assert since_middle == [{**c, "groups": []} for c in clicks if c["dateClicked"] >= middle]
    clicker = clicks[0]["contactId"]
    own = conforming(api, f"campaigns/{campaign_id}/activities/{clicker}/clicks-with-groups")
    assert own == [{**c, "groups": []} for c in clicks if c["contactId"] == clicker]
    assert conforming(api, f"campaigns/{campaign_id}/clicks-with-groups", {"select": 2, "skip": 1}) == with_groups[1:3]


def test_reports_the_simulation_keeps_at_zero(api, build, sandbox):
    _, campaign_id = sent_campaign(build, sandbox, recipients=20)
    summary = api.get(api.v2(f"campaigns/{campaign_id}/summary")).json()
    contact_id = api.get(api.v2(f"campaigns/{campaign_id}/activities")).json()[0]["contactId"]
    for path in (f"activities/{contact_id}/replies", f"roi-details/since-date/{SINCE}",
                 f"activities/{contact_id}/roi-details", "social-bookmark-views",
                 f"activities/{contact_id}/social-bookmark-views"):
        assert conforming(api, f"campaigns/{campaign_id}/{path}") == []
    assert summary["numReplies"] == 0 and summary["revenue"] == "0" and summary["numOrders"] == 0
    expected = {"campaignID": campaign_id, "dateLastSent": summary["dateSent"], "currency": None, "revenue": 0,
                "numOrders": 0, "conversionRate": 0}
    assert conforming(api, f"campaigns/{campaign_id}/revenue/since-date/{SINCE}") == expected
    assert conforming(api, f"campaigns/{campaign_id}/activities/{contact_id}/revenue") == expected
    assert api.get(api.v2(f"campaigns/{campaign_id}/activities/999/revenue")).status_code == 404
    assert conforming(api, f"campaigns/{campaign_id}/activities/{contact_id}/replies", {"select": 5}) == []
    refused(api, f"campaigns/{campaign_id}/activities/{contact_id}/replies", {"select": 6})
    refused(api, f"campaigns/{campaign_id}/revenue/since-date/not-a-date")
    unsent = build.campaign(name="Unsent")
    assert api.get(api.v2(f"campaigns/{unsent}/revenue/since-date/{SINCE}")).json()["dateLastSent"] == MIN_DATE


@pytest.mark.parametrize("path", [
    "with-details", f"page-views/since-date/{SINCE}", "activities/1/page-views", "clicks-with-groups",
    f"clicks-with-groups/since-date/{SINCE}", "activities/1/clicks-with-groups", "activities/1/replies",
    f"roi-details/since-date/{SINCE}", "activities/1/roi-details", "social-bookmark-views",
    "activities/1/social-bookmark-views", f"revenue/since-date/{SINCE}", "activities/1/revenue",
])
def test_new_reports_of_unknown_campaign(api, path):
    assert api.get(api.v2(f"campaigns/999/{path}")).json() == {"message": "Error: ERROR_CAMPAIGN_NOT_FOUND"}


def test_personalized_campaign_fills_data_field_tags(api, build, sandbox):
    """What a recipient reads: @FIELD@ tags filled from the contact (any case), the field's default when blank,
    @EMAIL@ the address; a tag naming no data field stays, so a test sees it."""
    created = api.post(api.v2("data-fields"), json={"name": "CITY", "type": "String", "visibility": "Private",
                                                     "defaultValue": "your town"})
    assert created.status_code == 201, created.text
    build.contact("ada@example.com", FIRSTNAME="Ada")
    build.contact("bob@example.com")
    html = "<p>Hi @FIRSTNAME@ from @city@ (@EMAIL@), @NOSUCHFIELD@</p>"
    campaign_id = build.campaign(html=html)
    ada = sandbox.personalized_campaign(campaign_id, "ada@example.com")
    assert ada["htmlContent"] == "<p>Hi Ada from your town (ada@example.com), @NOSUCHFIELD@</p>"
    assert ada["subject"] == "Spring sale"
    bob = sandbox.personalized_campaign(campaign_id, "bob@example.com")
    assert bob["htmlContent"] == "<p>Hi  from your town (bob@example.com), @NOSUCHFIELD@</p>"
    with pytest.raises(Exception, match="No campaign"):
        sandbox.personalized_campaign(campaign_id, "nobody@example.com")
