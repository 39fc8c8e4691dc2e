"""v2 campaigns: editing, sending and reporting."""

import json

from werkzeug.routing import Rule

from . import campaigns, errors, render, web
from .timeutil import to_iso
from .web import flag, json_response, no_content, paging, read_body, since

MAX_SEND_CONTACTS = 10
MAX_REPLIES = 5  # the spec: "You may not request more than 5 records at a time" of a contact's replies
UNSUBSCRIBE_TOKEN = "$UNSUB$"
CAMPAIGN = "/v2/campaigns/<int:campaign_id>"

RULES = [
    Rule("/v2/campaigns", endpoint="list_campaigns", methods=["GET"]),
    Rule("/v2/campaigns", endpoint="create_campaign", methods=["POST"]),
    Rule(CAMPAIGN, endpoint="get_campaign", methods=["GET"]),
    Rule(CAMPAIGN, endpoint="update_campaign", methods=["PUT"]),
    Rule(CAMPAIGN, endpoint="delete_campaign", methods=["DELETE"]),
    Rule(f"{CAMPAIGN}/copy", endpoint="copy_campaign", methods=["POST"]),
    Rule("/v2/campaigns/with-activity-since/<date>", endpoint="list_campaigns_with_activity", methods=["GET"]),
    Rule(f"{CAMPAIGN}/address-books", endpoint="list_campaign_books", methods=["GET"]),
    Rule("/v2/address-books/<int:book_id>/campaigns", endpoint="list_book_campaigns", methods=["GET"]),
    Rule("/v2/campaigns/split-test", endpoint="create_split_test", methods=["POST"]),
    Rule(f"{CAMPAIGN}/split-test", endpoint="split_test_results", methods=["GET"]),
    Rule("/v2/campaigns/send", endpoint="send_campaign", methods=["POST"]),
    Rule("/v2/campaigns/send/<send_id>", endpoint="get_send", methods=["GET"]),
    Rule(f"{CAMPAIGN}/summary", endpoint="campaign_summary", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities", endpoint="list_activities", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/since-date/<date>", endpoint="list_activities_since", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>", endpoint="contact_activity", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/clicks", endpoint="list_contact_clicks", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/opens", endpoint="list_contact_opens", methods=["GET"]),
    Rule(f"{CAMPAIGN}/clicks", endpoint="list_clicks", methods=["GET"]),
    Rule(f"{CAMPAIGN}/clicks/since-date/<date>", endpoint="list_clicks_since", methods=["GET"]),
    Rule(f"{CAMPAIGN}/opens", endpoint="list_opens", methods=["GET"]),
    Rule(f"{CAMPAIGN}/opens/since-date/<date>", endpoint="list_opens_since", methods=["GET"]),
    Rule(f"{CAMPAIGN}/hard-bouncing-contacts", endpoint="list_hard_bouncers", methods=["GET"]),
    # Static segments where /v2/campaigns/<int:campaign_id> stands: the int converter never takes them.
    Rule("/v2/campaigns/with-details", endpoint="list_campaigns_with_details", methods=["GET"]),
    Rule("/v2/campaigns/filtered", endpoint="list_campaigns_filtered", methods=["GET"]),
    Rule("/v2/campaigns/metrics", endpoint="list_campaign_metrics", methods=["GET"]),
    Rule(f"{CAMPAIGN}/with-details", endpoint="campaign_with_details", methods=["GET"]),
    Rule(f"{CAMPAIGN}/page-views/since-date/<date>", endpoint="list_page_views_since", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/page-views", endpoint="list_contact_page_views", methods=["GET"]),
    Rule(f"{CAMPAIGN}/clicks-with-groups", endpoint="list_clicks_with_groups", methods=["GET"]),
    Rule(f"{CAMPAIGN}/clicks-with-groups/since-date/<date>", endpoint="list_clicks_with_groups_since",
         methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/clicks-with-groups", endpoint="list_contact_clicks_with_groups",
         methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/replies", endpoint="list_contact_replies", methods=["GET"]),
    Rule(f"{CAMPAIGN}/roi-details/since-date/<date>", endpoint="list_roi_details_since", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/roi-details", endpoint="list_contact_roi_details",
         methods=["GET"]),
    Rule(f"{CAMPAIGN}/social-bookmark-views", endpoint="list_social_bookmark_views", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/social-bookmark-views",
         endpoint="list_contact_social_bookmark_views", methods=["GET"]),
    Rule(f"{CAMPAIGN}/revenue/since-date/<date>", endpoint="campaign_revenue_since", methods=["GET"]),
    Rule(f"{CAMPAIGN}/activities/<int:contact_id>/revenue", endpoint="contact_revenue", methods=["GET"]),
]


def _campaign_body(body):
    return {key: body.get(key) for key in render.CAMPAIGN_FIELDS}


def _enum_arg(value, names, parameter):
    """A query value spelled as one of ``names`` in any case, answered in the spec's spelling."""
    for name in names:
        if value.casefold() == name.casefold():
            return name
    raise errors.invalid_parameter(parameter)


def _date_arg(request, name, required=False):
    """Epoch seconds of a date-time query parameter; empty or absent is None (or refused when required)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        if required:
            raise errors.invalid_parameter(name)
        return None
    return since(raw, name)


def _filters(request):
    """Conditions of /v2/campaigns/filtered from its ``~``-prefixed query parameters (the spec's names)."""
    args = request.args
    kind = (args.get("~type") or "").strip()
    tags = [tag for tag in args.getlist("~tags") if tag.strip()]
    statuses = [_enum_arg(value.strip(), campaigns.CAMPAIGN_STATUSES, "~statuses")
                for value in args.getlist("~statuses") if value.strip()]
    return campaigns.campaign_filters(
        kind=_enum_arg(kind, campaigns.CAMPAIGN_TYPES, "~type") if kind else None,
        tags=tags,
        sent_since=_date_arg(request, "~sentDate"),
        statuses=statuses,
        scheduled_from=_date_arg(request, "~scheduledDateFrom"),
        scheduled_to=_date_arg(request, "~scheduledDateTo"),
    )


class CampaignsApi:
    """Handlers; ``self.store`` and ``self.config`` come from the application class."""

    def _campaign_or_404(self, campaign_id):
        row = self.store.db.execute("SELECT * FROM campaigns WHERE id = ?", (campaign_id,)).fetchone()
        if row is None:
            raise errors.not_found("ERROR_CAMPAIGN_NOT_FOUND")
        return row

    def _check_from_address(self, body):
        address = body.get("fromAddress")
        if address and address.get("id") is not None:
            row = self.store.from_address(address["id"])
            if row is None:
                raise errors.bad_request("ERROR_CAMPAIGN_INVALID", "The from address is not a custom from address.")
            body["fromAddress"] = {"id": row["id"], "email": row["email"]}

    # -- editing --------------------------------------------------------------------------------------------

    def on_list_campaigns(self, request):
        skip, select = paging(request)
        rows = self.store.db.execute("SELECT * FROM campaigns ORDER BY id LIMIT ? OFFSET ?", (select, skip))
        return json_response([render.campaign(row) for row in rows])

    def on_create_campaign(self, request):
        body = _campaign_body(read_body(request, "ApiCampaignWithType"))
        self._check_from_address(body)
        campaign_id = self.store.db.execute(
            "INSERT INTO campaigns (body, status) VALUES (?, 'Unsent')", (json.dumps(body),)
        ).lastrowid
        return json_response(render.campaign(self._campaign_or_404(campaign_id), with_type=True), 201)

    def on_create_split_test(self, request):
        body = read_body(request, "ApiSplitTestCampaign")
        versions = self._split_versions(body)
        # Version A is also the campaign's own content, as GET /v2/campaigns/{id} shows it.
        campaign = {**_campaign_body(versions[0]), "name": body["name"], "replyAction": body.get("replyAction"),
                    "replyToAddress": body.get("replyToAddress"),
                    "customReplyToAddress": body.get("customReplyToAddress"), "versions": versions}
        campaign_id = self.store.db.execute(
            "INSERT INTO campaigns (body, status) VALUES (?, 'Unsent')", (json.dumps(campaign),)
        ).lastrowid
        return json_response(render.split_test_campaign(self._campaign_or_404(campaign_id)), 201)

    def _split_versions(self, body):
        """One content per version from the arrays of an ApiSplitTestCampaign: every array given holds one entry
        per version (as many as ``plainTextContents``), and a split test has two versions at least."""
        count = len(body["plainTextContents"])
        if count < 2:
            raise errors.bad_request("ERROR_CAMPAIGN_INVALID", "A split test needs two versions at least.")
        arrays = {"subject": "subjects", "fromName": "fromNames", "fromAddress": "fromAddresses",
                  "htmlContent": "htmlContents", "plainTextContent": "plainTextContents"}
        for name in arrays.values():
            if body.get(name) is not None and len(body[name]) != count:
                raise errors.bad_request(
                    "ERROR_CAMPAIGN_INVALID", f"{name} must hold one entry per version ({count}).")
        versions = [{key: (body.get(name) or [None] * count)[index] for key, name in arrays.items()}
                    for index in range(count)]
        for version in versions:
            self._check_from_address(version)
        return versions

    def on_split_test_results(self, request, campaign_id):
        row = self._campaign_or_404(campaign_id)
        body = json.loads(row["body"])
        if not campaigns.split_versions(body):
            raise errors.bad_request("ERROR_CAMPAIGN_INVALID", "This campaign is not a split test.")
        split = self.store.db.execute("SELECT * FROM split_tests WHERE campaign_id = ?", (campaign_id,)).fetchone()
        return json_response(render.split_test_results(body, split, campaigns.split_results(self.store, campaign_id,
                                                                                            split)))

    def on_get_campaign(self, request, campaign_id):
        return json_response(render.campaign(self._campaign_or_404(campaign_id)))

    def on_update_campaign(self, request, campaign_id):
        row = self._campaign_or_404(campaign_id)
        body = _campaign_body(read_body(request, "ApiCampaign"))
        if row["status"] != "Unsent":
            raise errors.bad_request("ERROR_CAMPAIGN_READONLY", "This campaign has been sent and cannot be changed.")
        if campaigns.split_versions(json.loads(row["body"])):
            # The API has no update of a split test's versions: an ApiCampaign would leave them behind.
            raise errors.bad_request("ERROR_CAMPAIGN_INVALID", "A split test campaign cannot be updated.")
        self._check_from_address(body)
        # Members only Campaign Master's API shows (description, externalId, …) survive a v2 update.
        body = {**json.loads(row["body"]), **body}
        self.store.db.execute("UPDATE campaigns SET body = ? WHERE id = ?", (json.dumps(body), campaign_id))
        return json_response(render.campaign(self._campaign_or_404(campaign_id)))

    def on_copy_campaign(self, request, campaign_id):
        body = json.loads(self._campaign_or_404(campaign_id)["body"])
        body["name"] = f"Copy of {body['name']}"[:255]
        copy_id = self.store.db.execute(
            "INSERT INTO campaigns (body, status) VALUES (?, 'Unsent')", (json.dumps(body),)
        ).lastrowid
        return json_response(render.campaign(self._campaign_or_404(copy_id)), 201)

    def on_delete_campaign(self, request, campaign_id):
        self._campaign_or_404(campaign_id)
        pending = self.store.db.execute(
            "SELECT 1 FROM sends WHERE campaign_id = ? AND status IN ('Scheduled', 'Sending')", (campaign_id,)
        ).fetchone()
        if pending:
            raise errors.bad_request("ERROR_CAMPAIGN_SENDNOTPERMITTED", "The campaign is being sent.")
        db = self.store.db
        db.execute("BEGIN")
        for table in ("events", "campaign_books", "sends", "split_tests", "split_recipients"):
            db.execute(f"DELETE FROM {table} WHERE campaign_id = ?", (campaign_id,))  # noqa: S608 - fixed names
        db.execute("DELETE FROM campaigns WHERE id = ?", (campaign_id,))
        db.execute("COMMIT")
        return no_content()

    def on_list_campaigns_with_activity(self, request, date):
        rows = campaigns.campaigns_with_activity_since(self.store, since(date), *paging(request))
        return json_response([render.campaign(row) for row in rows])

    def on_list_campaign_books(self, request, campaign_id):
        skip, select = paging(request)
        self._campaign_or_404(campaign_id)
        rows = self.store.db.execute(
            "SELECT b.* FROM books b JOIN campaign_books cb ON cb.book_id = b.id WHERE cb.campaign_id = ? "
            "ORDER BY b.id LIMIT ? OFFSET ?",
            (campaign_id, select, skip),
        ).fetchall()
        return self._render_books(rows)

    def on_list_book_campaigns(self, request, book_id):
        skip, select = paging(request)
        self._book_or_404(book_id)
        rows = self.store.db.execute(
            "SELECT c.* FROM campaigns c JOIN campaign_books cb ON cb.campaign_id = c.id WHERE cb.book_id = ? "
            "ORDER BY c.id LIMIT ? OFFSET ?",
            (book_id, select, skip),
        )
        return json_response([render.campaign(row) for row in rows])

    # -- sending ----------------------------------------------------------------------------------------------

    def on_send_campaign(self, request):
        body = read_body(request, "ApiCampaignSend")
        row = self._campaign_or_404(body["campaignId"])
        content = json.loads(row["body"])
        versions = campaigns.split_versions(content)
        if any(UNSUBSCRIBE_TOKEN not in (version.get("htmlContent") or "") for version in versions or [content]):
            raise errors.bad_request("ERROR_CAMPAIGN_INVALID", "The campaign has no $UNSUB$ unsubscribe link.")
        options = body.get("splitTestOptions")
        self._check_split_send(row, versions, options)
        book_ids = body.get("addressBookIds") or []
        contact_ids = body.get("contactIds") or []
        if not book_ids and not contact_ids:
            # Recipients under a name the model does not know are dropped by the binding: sending to nobody
            # named must never become a send to the whole account.
            raise errors.bad_request("ERROR_CAMPAIGN_SEND_INVALID",
                                     "A send needs address book ids or contact ids.")
        if len(contact_ids) > MAX_SEND_CONTACTS:
            raise errors.bad_request("ERROR_CAMPAIGN_SEND_INVALID", f"At most {MAX_SEND_CONTACTS} contact ids per send.")
        for book_id in book_ids:
            self._book_or_404(book_id)
        send_at = since(body["sendDate"], "sendDate") if body.get("sendDate") else self.store.now()
        create = campaigns.create_split_send if options else campaigns.create_send
        send_id, status = create(self.store, row["id"], body, send_at)
        answer = {"id": send_id, "campaignId": row["id"], "addressBookIds": book_ids, "contactIds": contact_ids,
                  "sendDate": to_iso(send_at), "splitTestOptions": options, "status": status}
        return json_response(answer, 202)

    def _check_split_send(self, row, versions, options):
        """Split test campaigns are sent with their options, once; other campaigns without."""
        if options and not versions:
            raise errors.bad_request("ERROR_CAMPAIGN_SEND_INVALID",
                                     "splitTestOptions apply to split test campaigns only.")
        if versions and not options:
            raise errors.bad_request("ERROR_CAMPAIGN_SEND_INVALID", "A split test campaign is sent with splitTestOptions.")
        if not versions:
            return
        if options["testMetric"] not in campaigns.SPLIT_METRICS:
            raise errors.bad_request("ERROR_CAMPAIGN_SEND_INVALID",
                                     f"testMetric must be one of {', '.join(campaigns.SPLIT_METRICS)}.")
        if self.store.db.execute("SELECT 1 FROM split_tests WHERE campaign_id = ?", (row["id"],)).fetchone():
            raise errors.bad_request("ERROR_CAMPAIGN_SENDNOTPERMITTED", "This split test has been sent.")

    def on_get_send(self, request, send_id):
        row = self.store.db.execute("SELECT * FROM sends WHERE id = ?", (send_id,)).fetchone()
        if row is None:
            raise errors.not_found("ERROR_CAMPAIGN_SEND_NOT_FOUND")
        body = json.loads(row["body"])
        return json_response({
            "id": row["id"], "campaignId": row["campaign_id"], "addressBookIds": body.get("addressBookIds") or [],
            "contactIds": body.get("contactIds") or [], "sendDate": to_iso(row["send_at"]),
            "splitTestOptions": body.get("splitTestOptions"), "status": row["status"],
        })

    # -- reporting --------------------------------------------------------------------------------------------

    def on_campaign_summary(self, request, campaign_id):
        row = self._campaign_or_404(campaign_id)
        return json_response(render.summary(campaigns.counts(self.store, campaign_id), row["date_sent"]))

    def on_list_activities(self, request, campaign_id):
        page = paging(request)
        self._campaign_or_404(campaign_id)
        rows = campaigns.activities(self.store, campaign_id, *page)
        return json_response([render.activity(row) for row in rows])

    def on_list_activities_since(self, request, campaign_id, date):
        page = paging(request)
        self._campaign_or_404(campaign_id)
        rows = campaigns.activities(self.store, campaign_id, *page, since=since(date))
        return json_response([render.activity(row) for row in rows])

    def on_contact_activity(self, request, campaign_id, contact_id):
        self._campaign_or_404(campaign_id)
        rows = campaigns.activities(self.store, campaign_id, contact_id=contact_id)
        if not rows:
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        return json_response(render.activity(rows[0]))

    def _events(self, request, campaign_id, kind, date=None, contact_id=None, render_row=None):
        page = paging(request)
        self._campaign_or_404(campaign_id)
        rows = campaigns.events(self.store, campaign_id, kind, *page,
                                since=since(date) if date else None, contact_id=contact_id)
        render_row = render_row or {"click": render.click, "open": render.open_, "page_view": render.page_view}[kind]
        return json_response([render_row(row) for row in rows])

    def on_list_clicks(self, request, campaign_id):
        return self._events(request, campaign_id, "click")

    def on_list_clicks_since(self, request, campaign_id, date):
        return self._events(request, campaign_id, "click", date)

    def on_list_contact_clicks(self, request, campaign_id, contact_id):
        return self._events(request, campaign_id, "click", contact_id=contact_id)

    def on_list_opens(self, request, campaign_id):
        return self._events(request, campaign_id, "open")

    def on_list_opens_since(self, request, campaign_id, date):
        return self._events(request, campaign_id, "open", date)

    def on_list_contact_opens(self, request, campaign_id, contact_id):
        return self._events(request, campaign_id, "open", contact_id=contact_id)

    def on_list_hard_bouncers(self, request, campaign_id):
        page = paging(request)
        self._campaign_or_404(campaign_id)
        rows = campaigns.hard_bouncers(self.store, campaign_id, *page)
        return self._contacts(rows, flag(request, "withFullData"))


    # -- detailed listings and metrics -------------------------------------------------------------------------

    def on_list_campaigns_with_details(self, request):
        rows = campaigns.campaigns_with_dates(self.store, *paging(request))
        return json_response([render.campaign_details(row) for row in rows])

    def on_campaign_with_details(self, request, campaign_id):
        self._campaign_or_404(campaign_id)
        return json_response(render.campaign_details(campaigns.campaign_with_dates(self.store, campaign_id)))

    def on_list_campaigns_filtered(self, request):
        page = paging(request)
        rows = campaigns.campaigns_with_dates(self.store, *page, _filters(request))
        return json_response([render.campaign_extended(row) for row in rows])

    def on_list_campaign_metrics(self, request):
        skip, select = paging(request)
        start = _date_arg(request, "startDate", required=True)
        end = _date_arg(request, "endDate", required=True)
        rows = campaigns.campaigns_sent_between(self.store, start, end, skip, select)
        return json_response([render.campaign_metrics(row, campaigns.counts(self.store, row["id"])) for row in rows])

    # -- page views, clicks with link groups ------------------------------------------------------------------

    def on_list_page_views_since(self, request, campaign_id, date):
        return self._events(request, campaign_id, "page_view", date)

    def on_list_contact_page_views(self, request, campaign_id, contact_id):
        return self._events(request, campaign_id, "page_view", contact_id=contact_id)

    def on_list_clicks_with_groups(self, request, campaign_id):
        return self._events(request, campaign_id, "click", render_row=render.click_with_groups)

    def on_list_clicks_with_groups_since(self, request, campaign_id, date):
        return self._events(request, campaign_id, "click", date, render_row=render.click_with_groups)

    def on_list_contact_clicks_with_groups(self, request, campaign_id, contact_id):
        return self._events(request, campaign_id, "click", contact_id=contact_id, render_row=render.click_with_groups)

    # -- reports of things the simulation never produces: always empty or zero, like the summary's figures ----

    def _nothing(self, request, campaign_id, date=None, most=None):
        _skip, select = paging(request, default_select=most or web.MAX_SELECT)
        if most is not None and select > most:
            raise errors.invalid_parameter("select")
        if date is not None:
            since(date)
        self._campaign_or_404(campaign_id)
        return json_response([])

    def on_list_contact_replies(self, request, campaign_id, contact_id):
        # numReplies is 0 everywhere: the simulation sends no replies. The spec allows at most 5 per page.
        return self._nothing(request, campaign_id, most=MAX_REPLIES)

    def on_list_roi_details_since(self, request, campaign_id, date):
        return self._nothing(request, campaign_id, date)

    def on_list_contact_roi_details(self, request, campaign_id, contact_id):
        return self._nothing(request, campaign_id)

    def on_list_social_bookmark_views(self, request, campaign_id):
        return self._nothing(request, campaign_id)

    def on_list_contact_social_bookmark_views(self, request, campaign_id, contact_id):
        return self._nothing(request, campaign_id)

    def on_campaign_revenue_since(self, request, campaign_id, date):
        since(date)
        self._campaign_or_404(campaign_id)
        row = campaigns.campaign_with_dates(self.store, campaign_id)
        return json_response(render.revenue(campaign_id, row["last_sent"]))

    def on_contact_revenue(self, request, campaign_id, contact_id):
        self._campaign_or_404(campaign_id)
        if not campaigns.activities(self.store, campaign_id, contact_id=contact_id):
            raise errors.not_found("ERROR_CONTACT_NOT_FOUND")
        row = campaigns.campaign_with_dates(self.store, campaign_id)
        return json_response(render.revenue(campaign_id, row["last_sent"]))
