"""The *extension*: Campaign Master operations, members and messages that no public evidence shows.

The public evidence of v1.1 (``specs/campaign-master/facts.json``) has no lists, list membership, templates,
from addresses or campaign create/update/test/send, and shows that ``GetJobResult`` exists but not its messages.
What the add-on assumes of them is defined here, in the style of the public operations
(``esp_sandbox/CAMPAIGN_MASTER.md``; the sandbox serves the same only when started with ``cm_extended``).
The provider calls nothing assumed except through this module, and calls the assumed operations only when the
account's WSDL offers them (:data:`OPERATIONS`). Correcting them against the vendor's real WSDL is a change here.

Each function takes ``call(operation, **parameters)`` (the provider's token-aware call, answering plain dicts and
lists whose member names are case-folded) and returns :mod:`..records` or plain values.
"""

from .. import records
from ..exceptions import AlreadyExists, ValidationError

# The assumed operations of the main service: an account's service that has them all is "extended".
OPERATIONS = frozenset({
    "GetLists", "CreateList", "GetTemplates", "GetGlobalAddresses", "CreateEmailCampaign", "UpdateEmailCampaign",
    "GetEmailCampaign", "GetEmailCampaignByExternalId", "SendTestEmailCampaign", "SendEmailCampaign",
})

# -- lists ----------------------------------------------------------------------------------------------------


def iter_lists(call):
    for row in call("GetLists") or ():
        yield records.AddressBook(id=int(row["id"]), name=row.get("name") or "", visibility=None,
                                  contact_count=row.get("recipientcount"), is_system=False)


def create_list(call, name):
    """:return: the new list; :class:`AlreadyExists` when the account has a list of that name."""
    answer = call("CreateList", name=name) or {}
    if not answer.get("listid"):
        message = f"Campaign Master refused CreateList: {answer.get('message') or '?'}"
        raise (AlreadyExists if "already exists" in (answer.get("message") or "") else ValidationError)(message)
    return records.AddressBook(id=int(answer["listid"]), name=name, contact_count=0)


# A criterion that keeps the members of one list (public GetRecipients, assumed field name).
def list_criterion(list_id):
    return {"fieldName": "ListId", "leftParentheses": 1, "logicalOperator": "And", "operand": str(int(list_id)),
            "operator": "Equals", "order": 1, "rightParentheses": 1}


# The target list of an import job, on the public JobDefinition (assumed member).
JOB_LIST_FIELD = "ListId"

# -- import jobs: GetJobResult exists (evidence), its messages are assumed ---------------------------------------

JOB_STATES = {"Completed": records.IMPORT_DONE, "Failed": records.IMPORT_FAILED}


def job_result(job_call, job_id):
    """``GetJobResultRequest{JobId}`` with the ``SecurityToken`` header → ``JobResultMessage{JobId, Status,
    Inserted, Updated, Failed, FailedRows{JobResultRow{RowNumber, Key, Reason}}}``.

    :return: ``{"status", "state", "failed_rows": [{"row", "key", "reason"}]}``
    """
    answer = job_call("GetJobResult", JobId=int(job_id)) or {}
    status = answer.get("status") or "Pending"
    rows = answer.get("failedrows") or {}
    rows = rows.get("jobresultrow") if isinstance(rows, dict) else rows
    return {"status": status, "state": JOB_STATES.get(status, records.IMPORT_PENDING),
            "failed_rows": [{"row": row.get("rownumber"), "key": row.get("key"), "reason": row.get("reason")}
                            for row in rows or ()]}

# -- catalogue ------------------------------------------------------------------------------------------------


def iter_templates(call):
    for row in call("GetTemplates") or ():
        yield records.Template(id=int(row["id"]), name=row.get("name") or "")


def iter_global_addresses(call):
    for row in call("GetGlobalAddresses") or ():
        yield records.FromAddress(id=int(row["id"]), email=row.get("emailaddress") or "")


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
        state=CAMPAIGN_STATES.get(status, records.CAMPAIGN_WAITING), from_name=row.get("fromname"),
        html=row.get("htmlcontent"), plain_text=row.get("textcontent"),
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


# -- results: members of EmailCampaignResultRow no evidence shows (read when the account's answers have them) ---

RESULT_UNSUBSCRIBED = "unsubscribed"
RESULT_SENT = "sentdate"
RESULT_FIRST_READ = "firstreaddate"
RESULT_LAST_READ = "lastreaddate"
RESULT_FIRST_CLICK = "firstclickdate"
RESULT_LAST_CLICK = "lastclickdate"
