"""v2 campaigns: editing, sending and reporting."""

import json

from werkzeug.routing import Rule

from . import campaigns, errors, render
from .timeutil import to_iso
from .web import flag, json_response, no_content, paging, read_body, since

MAX_SEND_CONTACTS = 10
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
]


def _campaign_body(body):
    return {key: body.get(key) for key in render.CAMPAIGN_FIELDS}


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

    def on_get_campaign(self, request, campaign_id):
        return json_response(render.campaign(self._campaign_or_404(campaign_id)))

    def on_update_campaign(self, request, campaign_id):
        row = self._campaign_or_404(campaign_id)
        body = _campaign_body(read_body(request, "ApiCampaign"))
        if row["status"] != "Unsent":
            raise errors.bad_request("ERROR_CAMPAIGN_READONLY", "This campaign has been sent and cannot be changed.")
        self._check_from_address(body)
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
        for table in ("events", "campaign_books", "sends"):
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
        if UNSUBSCRIBE_TOKEN not in (content.get("htmlContent") or ""):
            raise errors.bad_request("ERROR_CAMPAIGN_INVALID", "The campaign has no $UNSUB$ unsubscribe link.")
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
        send_id, status = campaigns.create_send(self.store, row["id"], body, send_at)
        if status == "Sending":
            self.store.db.execute("UPDATE campaigns SET status = 'Sending' WHERE id = ?", (row["id"],))
        answer = {"id": send_id, "campaignId": row["id"], "addressBookIds": book_ids, "contactIds": contact_ids,
                  "sendDate": to_iso(send_at), "status": status}
        return json_response(answer, 202)

    def on_get_send(self, request, send_id):
        row = self.store.db.execute("SELECT * FROM sends WHERE id = ?", (send_id,)).fetchone()
        if row is None:
            raise errors.not_found("ERROR_CAMPAIGN_SEND_NOT_FOUND")
        body = json.loads(row["body"])
        return json_response({
            "id": row["id"], "campaignId": row["campaign_id"], "addressBookIds": body.get("addressBookIds") or [],
            "contactIds": body.get("contactIds") or [], "sendDate": to_iso(row["send_at"]), "status": row["status"],
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

    def _events(self, request, campaign_id, kind, date=None, contact_id=None):
        page = paging(request)
        self._campaign_or_404(campaign_id)
        rows = campaigns.events(self.store, campaign_id, kind, *page,
                                since=since(date) if date else None, contact_id=contact_id)
        return json_response([(render.click if kind == "click" else render.open_)(row) for row in rows])

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

