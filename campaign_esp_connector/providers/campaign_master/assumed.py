"""Campaign Master operations and fields that no public client shows: the *assumed contract*.

OpenCRM's integration proves that Campaign Master lets an API user create, test and send campaigns and put
recipients into lists, but the names and shapes of those operations are not public. They are defined here, in
the style of the public v1.1 operations (``esp_sandbox/CAMPAIGN_MASTER.md`` is the contract, and the sandbox's
``esp_sandbox/campaign_master/assumed.py`` serves the same). Correcting them against the vendor's real WSDL is
a change in this module only: the provider calls nothing assumed except through these functions.

Each function takes ``call(operation, **parameters)`` (the provider's token-aware call of the main service,
answering plain dicts and lists) and returns :mod:`..records` or plain values.
"""

from .. import records

# -- lists ----------------------------------------------------------------------------------------------------


def iter_lists(call):
    for row in call("GetLists") or ():
        yield records.AddressBook(id=int(row["id"]), name=row.get("name") or "", visibility=None,
                                  contact_count=row.get("recipientCount"), is_system=False)


def create_list(call, name):
    """:return: the new list's id, or the refusal as ``(None, message)``."""
    answer = call("CreateList", name=name) or {}
    return answer.get("listId"), answer


# A criterion that keeps the members of one list (public GetRecipients, assumed field name).
def list_criterion(list_id):
    return {"fieldName": "listId", "operator": "Equals", "operand": str(int(list_id)), "logicalOperator": "And",
            "order": 0, "leftParentheses": 0, "rightParentheses": 0}


# The recipient's lists, on the public cmRecipient (assumed field).
RECIPIENT_LISTS_FIELD = "listIds"
# The target list of an import job, on the public JobDefinition (assumed field).
JOB_LIST_FIELD = "ListId"

# -- catalogue ------------------------------------------------------------------------------------------------


def iter_templates(call):
    for row in call("GetTemplates") or ():
        yield records.Template(id=int(row["id"]), name=row.get("name") or "")


def iter_global_addresses(call):
    for row in call("GetGlobalAddresses") or ():
        yield records.FromAddress(id=int(row["id"]), email=row.get("emailAddress") or "")


# -- campaigns ------------------------------------------------------------------------------------------------

CAMPAIGN_STATES = {
    "Draft": records.CAMPAIGN_DRAFT,
    "Scheduled": records.CAMPAIGN_WAITING,
    "Sending": records.CAMPAIGN_SENDING,
    "Sent": records.CAMPAIGN_SENT,
    "Cancelled": records.CAMPAIGN_CANCELLED,
}
SEND_STATES = {
    "Scheduled": records.SEND_SCHEDULED,
    "Sending": records.SEND_SENDING,
    "Sent": records.SEND_SENT,
    "Cancelled": records.SEND_CANCELLED,
}


def campaign_body(content, from_email):
    """A ``cmEmailCampaign`` from the engine's neutral content. Campaign Master's campaign name is its
    subject; the engine's marker travels as the external id, by which a lost answer's campaign is found."""
    return {
        "externalId": content.get("marker"),
        "name": content["subject"][:255],
        "description": content.get("description") or "",
        "subject": content["subject"],
        "fromName": content.get("from_name"),
        "fromEmail": from_email,
        "redirectEmail": content.get("reply_to") or "",
        "testEmail": content.get("test_email") or "",
        "templateId": int(content["template_id"]) if content.get("template_id") else None,
        "htmlContent": content.get("html") or "",
        "textContent": content.get("plain_text") or "",
    }


def campaign(row):
    status = row.get("status") or "Draft"
    return records.Campaign(
        id=int(row["id"]), name=row.get("name") or "", subject=row.get("subject"), status=status,
        state=CAMPAIGN_STATES.get(status, records.CAMPAIGN_WAITING), from_name=row.get("fromName"),
        html=row.get("htmlContent"), plain_text=row.get("textContent"),
    )


def create_campaign(call, body):
    return call("CreateEmailCampaign", campaign=body) or {}


def update_campaign(call, campaign_id, body):
    return call("UpdateEmailCampaign", campaignId=int(campaign_id), campaign=body) or {}


def get_campaign(call, campaign_id):
    return call("GetEmailCampaign", campaignId=int(campaign_id)) or {}


def get_campaign_by_external_id(call, external_id):
    """:return: the campaign's row, or ``None`` (the operation faults with ``NotFound``)."""
    return call("GetEmailCampaignByExternalId", externalId=external_id, missing_ok=True)


def send_test(call, campaign_id, addresses):
    return call("SendTestEmailCampaign", campaignId=int(campaign_id), emailAddresses={"string": list(addresses)})


def send(call, campaign_id, list_id, send_date=None):
    return call("SendEmailCampaign", campaignId=int(campaign_id), listId=int(list_id), sendDate=send_date)


# -- results: figures and dates beyond the public shapes -------------------------------------------------------

# cmEmailCampaignSummary
SUMMARY_VIEWS = "confirmedTotalViews"
SUMMARY_NO_ACTIVITY = "noActivityTotal"
# cmEmailCampaignResult
RESULT_UNSUBSCRIBED = "unsubscribed"
RESULT_SENT = "sentDate"
RESULT_FIRST_READ = "firstReadDate"
RESULT_LAST_READ = "lastReadDate"
RESULT_FIRST_CLICK = "firstClickDate"
RESULT_LAST_CLICK = "lastClickDate"
