"""Everything of Campaign Master's contract that no public client shows: the *assumed* contract.

OpenCRM's integration proves that Campaign Master's API creates, tests and sends campaigns and puts recipients
into lists, but not what those operations are called or look like; ``CAMPAIGN_MASTER.md`` defines them in the
style of the public v1.1 operations, and marks each one *assumed*. This module holds all of them: the assumed
operations and their types, the assumed members of public types, the assumed ``listId`` criterion, the assumed
behaviours (what a write does to ``isActive``) and the rate limits, which Campaign Master does not publish.
Correcting one against the vendor's real WSDL is a change here only (and in the provider's own
``providers/campaign_master/assumed.py``).
"""

import json

from .. import campaigns
from ..store import SENDABLE
from . import world
from .soap import Array, Complex, Enum, Field, Operation, SoapFault

# -- members added to public types ---------------------------------------------------------------------------

FIELDS = {
    "cmRecipient": (Field("listIds", "ArrayOfInt"),),
    "cmCampaign": (Field("externalId", "string"),),
    "cmEmailCampaignSummary": (Field("confirmedTotalViews", "int"), Field("noActivityTotal", "int")),
    "EmailCampaignResultRow": (
        Field("unsubscribed", "boolean"),
        Field("sentDate", "dateTime", nillable=True),
        Field("firstReadDate", "dateTime", nillable=True),
        Field("lastReadDate", "dateTime", nillable=True),
        Field("firstClickDate", "dateTime", nillable=True),
        Field("lastClickDate", "dateTime", nillable=True),
    ),
    "JobDefinition": (Field("ListId", "int"),),
}


def recipient_extras(store, rows):
    """{contact id: assumed members of its cmRecipient}: the lists it is in."""
    lists = world.list_ids_of(store, [row["id"] for row in rows])
    return {contact_id: {"listIds": ids} for contact_id, ids in lists.items()}


def recipient_lists(info):
    """The lists an AddRecipient puts the recipient in (added to its lists, never removed from any)."""
    return [int(list_id) for list_id in info.get("listIds") or () if list_id]


def campaign_extras(content):
    return {"externalId": content.get("externalId")}


def summary_extras(totals):
    """Recipients who opened and/or clicked, and those sent to who did neither, from the same events."""
    return {"confirmedTotalViews": totals["viewers"], "noActivityTotal": totals["sent"] - totals["viewers"]}


def result_extras(row):
    return {
        "unsubscribed": bool(row["unsubscribed"]),
        "sentDate": row["date_sent"],
        "firstReadDate": row["first_open"],
        "lastReadDate": row["last_open"],
        "firstClickDate": row["first_click"],
        "lastClickDate": row["last_click"],
    }


def job_list(definition):
    """The list every row of an import job joins, or None."""
    return definition.get("ListId") or None


# -- behaviours ------------------------------------------------------------------------------------------------


def deactivates(requested):
    """Whether an AddRecipient (any operation type) makes its recipient inactive: ``isActive`` false
    unsubscribes it; ``isActive`` true never reactivates an inactive one (only Campaign Master's UI does)."""
    return requested is False


def job_activates(row):
    """Whether an import row with ``MakeActive`` activates an existing inactive recipient: only one that never
    was active; an unsubscribed, bounced or complaining recipient stays inactive whatever the file says."""
    return row["status"] == world.NOT_YET_ACTIVE


# -- criteria --------------------------------------------------------------------------------------------------


def _list_condition(store, operator, operand):
    if operator != "Equals":
        raise SoapFault("InvalidArgument", "The listId criterion only takes the Equals operator.")
    try:
        list_id = int(operand)
    except (TypeError, ValueError):
        raise SoapFault("InvalidArgument", f"listId must be a list id, not {operand!r}.")
    if world.list_row(store, list_id) is None:
        return "0", []
    return "c.id IN (SELECT contact_id FROM members WHERE book_id = ?)", [list_id]


# Criteria fields, by case-folded name: (store, operator, operand) -> (SQL condition on contacts c, arguments).
CRITERIA = {"listid": _list_condition}

# -- rate limits ------------------------------------------------------------------------------------------------

# Campaign Master publishes no rate limits. Its calls count in the sandbox's rate limiter like v2 calls: bulk
# operations in the "low" tier, paged reads in "medium", the rest in "high"; a refused call answers this Fault.
TIERS = {"SubmitImportJob": "low", "SendEmailCampaign": "low", "GetRecipients": "medium",
         "GetSentCampaigns": "medium", "GetEmailCampaignResults": "medium", "GetEmailCampaignBounces": "medium",
         "GetEmailCampaignOpens": "medium"}
THROTTLED = ("TooManyRequests", "Too many requests: the account's API rate limit is reached. Try again later.")


def tier(operation):
    return TIERS.get(operation, "high")


def throttled():
    code, message = THROTTLED
    return SoapFault(code, message)


# -- assumed operations: types ------------------------------------------------------------------------------------

TYPES = [
    Array("ArrayOfInt", "int"),
    Array("ArrayOfString", "string"),
    Complex("cmList", (Field("id", "int"), Field("name", "string"), Field("recipientCount", "int"),
                       Field("createDateTime", "dateTime"))),
    Array("ArrayOfCmList", "cmList"),
    Complex("cmListReturn", (Field("callStatus", "cmCallStatus"), Field("errorType", "cmErrorType"),
                             Field("message", "string"), Field("listId", "int"))),
    Complex("cmTemplate", (Field("id", "int"), Field("name", "string"))),
    Array("ArrayOfCmTemplate", "cmTemplate"),
    Complex("cmGlobalAddress", (Field("id", "int"), Field("emailAddress", "string"), Field("name", "string"))),
    Array("ArrayOfCmGlobalAddress", "cmGlobalAddress"),
    Enum("cmCampaignStatus", ("Draft", "Scheduled", "Sending", "Sent", "Cancelled")),
    Complex("cmEmailCampaign", (
        Field("id", "int"), Field("externalId", "string"), Field("name", "string"), Field("description", "string"),
        Field("subject", "string"), Field("fromName", "string"), Field("fromEmail", "string"),
        Field("redirectEmail", "string"), Field("testEmail", "string"), Field("templateId", "int"),
        Field("htmlContent", "string"), Field("textContent", "string"), Field("status", "cmCampaignStatus"),
        Field("sendDate", "dateTime", nillable=True), Field("sentDate", "dateTime", nillable=True),
    )),
    Complex("cmCampaignReturn", (Field("callStatus", "cmCallStatus"), Field("errorType", "cmErrorType"),
                                 Field("message", "string"), Field("campaignId", "int"))),
]

TOKEN = Field("token", "string")
CAMPAIGN_ID = Field("campaignId", "int")

SCHEMA = """
CREATE TABLE IF NOT EXISTS cm_test_sends (
    id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL, emails TEXT NOT NULL, at REAL NOT NULL);
"""

# cmEmailCampaign member -> key of the campaign's JSON body (the v2 names where v2 has the same thing; the
# others are Campaign Master's own and only it reads them).
CAMPAIGN_KEYS = {"name": "name", "subject": "subject", "fromName": "fromName", "htmlContent": "htmlContent",
                 "textContent": "plainTextContent", "description": "description", "externalId": "externalId",
                 "redirectEmail": "redirectEmail", "testEmail": "testEmail"}
NOT_DRAFT = "Only draft campaigns can be changed."
TEMPLATE_LOCKED = "The template of a campaign cannot be changed after it was created."


# -- lists, templates, global addresses -----------------------------------------------------------------------


def get_lists(ctx, params):
    rows = ctx.store.db.execute("SELECT * FROM books WHERE system = 0 ORDER BY id").fetchall()
    return [{"id": row["id"], "name": row["name"], "recipientCount": ctx.store.book_count(row["id"]),
             "createDateTime": row["created"] if row["created"] is not None else world.MIN_DATE} for row in rows]


def create_list(ctx, params):
    name = (params["name"] or "").strip()
    if not name:
        return world.failure("List name is required and has not been provided", listId=0)
    # The system books' names are taken too: a list cannot be called "All Contacts".
    if ctx.store.book_by_name(name) is not None:
        return world.failure(f'A list named "{name}" already exists.', listId=0)
    return world.success(listId=ctx.store.create_book(name, "Private"))


def get_templates(ctx, params):
    # LIMIT -1 is SQLite's "no limit": every template, in id order.
    return [{"id": row["id"], "name": json.loads(row["body"]).get("name")} for row in ctx.store.templates(0, -1)]


def get_global_addresses(ctx, params):
    return [{"id": row["id"], "emailAddress": row["email"], "name": row["email"].split("@")[0].capitalize()}
            for row in ctx.store.from_addresses(0, -1)]


# -- campaigns --------------------------------------------------------------------------------------------------


def email_campaign(row):
    """cmEmailCampaign of a campaign row with its send dates."""
    content = world.body(row)
    value = {member: content.get(key) for member, key in CAMPAIGN_KEYS.items()}
    value.update(
        id=row["id"],
        name=content.get("name") or content.get("subject"),
        fromEmail=(content.get("fromAddress") or {}).get("email"),
        templateId=content.get("templateId") or 0,
        status=world.status(row),
        sendDate=row["scheduled_at"] if row["scheduled_at"] is not None else row["date_sent"],
        sentDate=row["date_sent"],
    )
    return value


def _content(store, given, current=None):
    """The campaign body after a cmEmailCampaign; members absent or nil keep their value.

    :raises Refusal: with the contract's messages, subject first, then description, from email, template.
    """
    content = dict(current or {})
    for member, key in CAMPAIGN_KEYS.items():
        if given.get(member) is not None:
            content[key] = given[member]
    if not (content.get("name") or "").strip():
        content["name"] = content.get("subject")
    if not (content.get("subject") or "").strip():
        raise world.Refusal("Campaign subject is required and has not been provided")
    if not (content.get("description") or "").strip():
        raise world.Refusal("Campaign description is required and has not been provided")
    if given.get("fromEmail"):
        address = store.db.execute("SELECT * FROM from_addresses WHERE lower(email) = lower(?)",
                                   (given["fromEmail"].strip(),)).fetchone()
        if address is None:
            raise world.Refusal("The from email is not a global address of this account.")
        content["fromAddress"] = {"id": address["id"], "email": address["email"]}
    template_id = given.get("templateId") or None
    if template_id is not None and current is not None and template_id != current.get("templateId"):
        raise world.Refusal(TEMPLATE_LOCKED)
    if template_id is not None and current is None:
        template = store.template(template_id)
        if template is None:
            raise world.Refusal(f"No template with id {template_id} exists.")
        # A campaign made from a template starts with the template's content.
        design = json.loads(template["body"])
        content["templateId"] = template_id
        content.setdefault("htmlContent", design.get("htmlContent"))
        content.setdefault("plainTextContent", design.get("plainTextContent"))
    return content


def create_email_campaign(ctx, params):
    try:
        content = _content(ctx.store, params["campaign"])
    except world.Refusal as refusal:
        return world.failure(str(refusal), campaignId=0)
    campaign_id = ctx.store.db.execute("INSERT INTO campaigns (body, status) VALUES (?, 'Unsent')",
                                       (json.dumps(content),)).lastrowid
    return world.success(campaignId=campaign_id)


def update_email_campaign(ctx, params):
    row = world.campaign_row(ctx.store, params["campaignId"])
    try:
        if world.status(row) != "Draft":
            raise world.Refusal(NOT_DRAFT)
        content = _content(ctx.store, params["campaign"], world.body(row))
    except world.Refusal as refusal:
        return world.failure(str(refusal), campaignId=row["id"])
    ctx.store.db.execute("UPDATE campaigns SET body = ? WHERE id = ?", (json.dumps(content), row["id"]))
    return world.success(campaignId=row["id"])


def get_email_campaign(ctx, params):
    return email_campaign(world.campaign_row(ctx.store, params["campaignId"]))


def get_email_campaign_by_external_id(ctx, params):
    return email_campaign(world.campaign_by_external_id(ctx.store, params["externalId"]))


def send_test_email_campaign(ctx, params):
    """A proof: recorded (``/sandbox/state``), never sent through the simulation, so it adds nothing to the
    campaign's figures, as v2 reports leave test sends out."""
    row = world.campaign_row(ctx.store, params["campaignId"])
    addresses = [address.strip() for address in params["emailAddresses"] or () if address and address.strip()]
    try:
        if not addresses:
            raise world.Refusal("At least one email address is required.")
        for address in addresses:
            world.check_email(address)
    except world.Refusal as refusal:
        return world.failure(str(refusal))
    ctx.store.db.execute("INSERT INTO cm_test_sends (campaign_id, emails, at) VALUES (?, ?, ?)",
                         (row["id"], json.dumps(addresses), ctx.store.now()))
    return world.success()


def send_email_campaign(ctx, params):
    """Send to the list's active members through v2's send machinery: the same recipients, events and
    figures. A campaign may be sent to another list later; who already received it is left out."""
    store = ctx.store
    row = world.campaign_row(store, params["campaignId"])
    list_id = params["listId"]
    if world.list_row(store, list_id) is None:
        return world.failure(f"No list with id {list_id} exists.")
    active = store.db.execute(
        f"SELECT COUNT(*) FROM members m JOIN contacts c ON c.id = m.contact_id WHERE m.book_id = ? "  # noqa: S608
        f"AND m.unsubscribed = 0 AND c.status IN ({','.join('?' * len(SENDABLE))})",
        (list_id, *SENDABLE),
    ).fetchone()[0]
    if not active:
        return world.failure(f"The list {list_id} has no active recipients.")
    send_at = max(params["sendDate"] or 0, store.now())
    campaigns.create_send(store, row["id"], {"addressBookIds": [list_id], "contactIds": []}, send_at)
    return world.success()


OPERATIONS = [
    Operation("GetLists", (TOKEN,), "ArrayOfCmList", get_lists),
    Operation("CreateList", (TOKEN, Field("name", "string")), "cmListReturn", create_list),
    Operation("GetTemplates", (TOKEN,), "ArrayOfCmTemplate", get_templates),
    Operation("GetGlobalAddresses", (TOKEN,), "ArrayOfCmGlobalAddress", get_global_addresses),
    Operation("CreateEmailCampaign", (TOKEN, Field("campaign", "cmEmailCampaign")), "cmCampaignReturn",
              create_email_campaign),
    Operation("UpdateEmailCampaign", (TOKEN, CAMPAIGN_ID, Field("campaign", "cmEmailCampaign")),
              "cmCampaignReturn", update_email_campaign),
    Operation("GetEmailCampaign", (TOKEN, CAMPAIGN_ID), "cmEmailCampaign", get_email_campaign),
    Operation("GetEmailCampaignByExternalId", (TOKEN, Field("externalId", "string")), "cmEmailCampaign",
              get_email_campaign_by_external_id),
    Operation("SendTestEmailCampaign", (TOKEN, CAMPAIGN_ID, Field("emailAddresses", "ArrayOfString")),
              "cmServiceReturn", send_test_email_campaign),
    Operation("SendEmailCampaign", (TOKEN, CAMPAIGN_ID, Field("listId", "int"),
                                    Field("sendDate", "dateTime", nillable=True)), "cmServiceReturn",
              send_email_campaign),
]
