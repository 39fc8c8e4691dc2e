"""Database rows rendered as the spec's JSON objects (property names and enum spellings as in the spec)."""

import json

from .timeutil import to_iso

# .NET's DateTime.MinValue: what dotdigital puts in non-nullable dates that never happened (not opened yet).
MIN_DATE = "0001-01-01T00:00:00Z"

CAMPAIGN_FIELDS = ("name", "subject", "fromName", "fromAddress", "htmlContent", "plainTextContent", "replyAction",
                   "replyToAddress", "customReplyToAddress")


def book(row, count):
    return {"id": row["id"], "name": row["name"], "visibility": row["visibility"], "contacts": count}


def contact(row, fields=None):
    """ApiContact; with ``fields`` (name list) the data fields are included, as ``withFullData=true`` does."""
    status = "Unsubscribed" if row["book_unsubscribed"] else row["status"]
    data = {
        "id": row["id"],
        "email": row["email"],
        "optInType": row["opt_in_type"],
        "emailType": row["email_type"],
        "dataFields": None,
        "status": status,
    }
    if fields is not None:
        values = json.loads(row["data"])
        data["dataFields"] = [{"key": name, "value": values.get(name)} for name in fields]
    return data


def suppression(row):
    return {"suppressedContact": contact(row), "dateRemoved": to_iso(row["at"]), "reason": row["reason"]}


def data_field(row):
    return {"name": row["name"], "type": row["type"], "visibility": row["visibility"],
            "defaultValue": json.loads(row["default_value"])}


def template(row):
    return {"id": row["id"], **json.loads(row["body"])}


def campaign(row, with_type=False):
    body = json.loads(row["body"])
    data = {"id": row["id"], **{key: body.get(key) for key in CAMPAIGN_FIELDS},
            "isSplitTest": bool(body.get("versions")), "status": row["status"]}
    if data["replyAction"] is None:
        data["replyAction"] = "Unset"
    if with_type:
        data["type"] = "Standard"
    return data


def version_label(index):
    """dotdigital names a split test's versions by letter: A, B, C, …"""
    return chr(ord("A") + index) if index < 26 else str(index + 1)


def split_test_campaign(row):
    """ApiSplitTestCampaign: the campaign's versions as arrays, one entry per version."""
    body = json.loads(row["body"])
    versions = body["versions"]

    def array(key):  # an array left out of the request stays null
        values = [version[key] for version in versions]
        return None if all(value is None for value in values) else values

    return {
        "id": row["id"], "name": body["name"], "subjects": array("subject"), "fromNames": array("fromName"),
        "fromAddresses": array("fromAddress"), "htmlContents": array("htmlContent"),
        "plainTextContents": [version["plainTextContent"] for version in versions],
        "replyAction": body.get("replyAction") or "Unset", "replyToAddress": body.get("replyToAddress"),
        "status": row["status"], "customReplyToAddress": body.get("customReplyToAddress"),
    }


def split_test_results(body, split, results):
    """ApiCampaignSplitTestResults: each version with its result (``resultsActual`` recipients who did what the
    metric counts, ``resultsPercentage`` their share of the version's recipients) and the winner once picked."""
    versions = []
    for index, (version, (size, result)) in enumerate(zip(body["versions"], results, strict=True)):
        versions.append({
            "subjectLine": version.get("subject"), "fromName": version.get("fromName"),
            "fromAddress": (version.get("fromAddress") or {}).get("email"),
            "htmlContent": version.get("htmlContent"), "plainTextContent": version.get("plainTextContent"),
            "version": version_label(index),
            "winningVersion": split is not None and split["winner"] == index,
            "resultsActual": result, "resultsPercentage": _pct(result, size),
        })
    metric = split["metric"] if split is not None else "NotAvailableInThisVersion"
    return {"versions": versions, "splitTestWinnerMetric": metric}


def activity(row):
    return {
        "contactId": row["contact_id"],
        "email": row["email"],
        "numOpens": row["opens"],
        "numPageViews": row["page_views"],
        "numClicks": row["clicks"],
        "numForwards": row["forwards"],
        "numEstimatedForwards": row["forwards"],
        "numReplies": 0,
        "dateSent": to_iso(row["date_sent"]),
        "dateFirstOpened": to_iso(row["first_open"]) or MIN_DATE,
        "dateLastOpened": to_iso(row["last_open"]) or MIN_DATE,
        "firstOpenIp": row["first_open_ip"] or "",
        "unsubscribed": bool(row["unsubscribed"]),
        "softBounced": bool(row["soft"]),
        "hardBounced": bool(row["hard"]),
    }


def click(row):
    return {"contactId": row["contact_id"], "email": row["email"], "url": row["url"], "ipAddress": row["ip"],
            "userAgent": row["user_agent"], "dateClicked": to_iso(row["at"]), "keyword": ""}


def open_(row):
    client, version = row["mail_client"].split("|", 1)
    return {"contactId": row["contact_id"], "email": row["email"], "mailClient": client,
            "mailClientVersion": version, "ipAddress": row["ip"], "userAgent": row["user_agent"], "isHtml": True,
            "isForward": False, "dateOpened": to_iso(row["at"])}


def _pct(part, whole):
    return round(100.0 * part / whole, 2) if whole else 0.0


def summary(totals, date_sent):
    """ApiCampaignSummary from event totals; HTML counters carry everything, text ones stay 0 (HTML-only sends)."""
    per_kind = {
        "UniqueOpens": totals["unique_opens"], "Opens": totals["opens"], "Clicks": totals["clicks"],
        "PageViews": totals.get("page_views", 0), "Forwards": totals["forwards"], "EstimatedForwards": totals["forwards"], "Replies": 0,
        "HardBounces": totals["hard"], "SoftBounces": totals["soft"], "Unsubscribes": totals["unsubscribes"],
        "IspComplaints": totals["complaints"], "MailBlocks": 0, "Sent": totals["sent"],
        "Delivered": totals["delivered"],
    }
    data = {"dateSent": to_iso(date_sent) or MIN_DATE}
    for name, value in per_kind.items():
        data[f"num{name}"] = value
        data[f"numText{name}"] = 0
        data[f"numTotal{name}"] = value
    # The spec's own spellings: no numTotalForwards, and the text variant of UniqueOpens is numUniqueTextOpens.
    data.pop("numTotalForwards")
    data["numUniqueTextOpens"] = data.pop("numTextUniqueOpens")
    data["numRecipientsClicked"] = totals["clickers"]
    sent, delivered = totals["sent"], totals["delivered"]
    data.update(
        percentageDelivered=_pct(delivered, sent),
        percentageUniqueOpens=_pct(totals["unique_opens"], delivered),
        percentageOpens=_pct(totals["opens"], delivered),
        percentageUnsubscribes=_pct(totals["unsubscribes"], delivered),
        percentageReplies=0.0,
        percentageHardBounces=_pct(totals["hard"], sent),
        percentageSoftBounces=_pct(totals["soft"], sent),
        percentageUsersClicked=_pct(totals["clickers"], delivered),
        percentageClicksToOpens=_pct(totals["clickers"], totals["unique_opens"]),
        revenue="0", conversionRate=0.0, assistedRevenue="0", numOrders=0, numAssistedOrders=0,
    )
    return data


# -- detailed listings, metrics and the reports the simulation keeps at zero ------------------------------


def campaign_details(row):
    """ApiCampaignDetails: the campaign as ``GET /v2/campaigns/{id}`` shows it, plus type, tags, split-test
    options and the date of its first send."""
    return {**campaign(row), "type": "Standard", "tags": [], "splitTestOptions": None,
            "sentDate": to_iso(row["date_sent"]) or MIN_DATE}


def campaign_extended(row):
    """ApiCampaignExtended (``/v2/campaigns/filtered``): the campaign plus type, tags, first send and next
    scheduled send (null when none)."""
    return {**campaign(row), "type": "Standard", "tags": [], "sentDate": to_iso(row["date_sent"]),
            "scheduledDate": to_iso(row["scheduled_at"])}


def campaign_metrics(row, totals):
    """ApiCampaignReportModelExtended: the campaign's summary figures under the metrics' names (percentages
    are the summary's own: unique opens, unsubscribes and unique clicks per delivered, bounces per sent)."""
    figures = summary(totals, row["date_sent"])
    body = json.loads(row["body"])
    return {
        "campaignId": row["id"], "dateSent": figures["dateSent"], "campaignName": body.get("name"),
        "campaignType": "Standard", "sent": totals["sent"], "delivered": totals["delivered"],
        "uniqueOpens": totals["unique_opens"], "clicks": totals["clicks"], "hardBounces": totals["hard"],
        "softBounces": totals["soft"], "replies": 0, "unsubscribes": totals["unsubscribes"],
        "forwards": totals["forwards"], "uniqueClicks": totals["clickers"], "sendStatusFails": 0, "mailBlocks": 0,
        "opens": totals["opens"], "complaints": totals["complaints"], "pageViews": totals.get("page_views", 0),
        "percentageDelivered": figures["percentageDelivered"],
        "percentageUniqueOpens": figures["percentageUniqueOpens"],
        "percentageHardBounces": figures["percentageHardBounces"],
        "percentageSoftBounces": figures["percentageSoftBounces"],
        "percentageReplies": figures["percentageReplies"],
        "percentageUnsubscribes": figures["percentageUnsubscribes"],
        "percentageUniqueClicks": figures["percentageUsersClicked"],
        "percentageUniqueClicksToOpens": figures["percentageClicksToOpens"],
        "revenue": 0, "conversionRate": figures["conversionRate"], "assistedRevenue": 0,
        "orders": figures["numOrders"], "assistedOrders": figures["numAssistedOrders"], "tags": [],
        "subjectLine": body.get("subject"), "fromName": body.get("fromName"),
        "fromAddress": (body.get("fromAddress") or {}).get("email"), "isSplitTest": bool(body.get("versions")),
    }


def page_view(row):
    return {"contactId": row["contact_id"], "email": row["email"], "url": row["url"], "dateViewed": to_iso(row["at"])}


def click_with_groups(row):
    """ApiCampaignContactClickWithGroups: the click; sandbox campaigns assign no link groups."""
    return {**click(row), "groups": []}


def revenue(campaign_id, last_sent):
    """ApiCampaignRevenueAttributionDetail: the simulation places no orders, like the summary's zero revenue."""
    return {"campaignID": campaign_id, "dateLastSent": to_iso(last_sent) or MIN_DATE, "currency": None,
            "revenue": 0, "numOrders": 0, "conversionRate": 0}
