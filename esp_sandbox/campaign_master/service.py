"""Campaign Master's main service (``CampaignMasterService.svc``): the 22 operations of v1.1 the public evidence
shows (``SERVICE``), and with the assumed ones of ``assumed.py`` (``EXTENDED``, served only when the sandbox is
started with ``cm_extended``).

Every handler takes ``(ctx, params)``: the call's context (store, config, tokens) and its parameters by name
(``from`` is a Python keyword, so they stay a dict). Token checks happen before a handler runs.
"""

import json
import math

from .. import campaigns
from ..store import SENDABLE
from ..timeutil import parse_iso
from . import assumed, world
from .soap import Array, Complex, Enum, Field, Operation, SoapFault, extend, invalid, make_service

PATH = "/campaignmaster/v1.1/CampaignMasterService.svc"

# Every type as the evidence shows it (facts.json ``main_service.types``): names, members and their order as
# recorded, bases, enums. XmlSerializer names arrays ``ArrayOfCm…`` and their items after the item type.
TYPES = [
    Enum("cmErrorType", ("Application", "None", "System")),
    Enum("cmCallStatus", ("Failure", "Success")),
    Enum("cmOperationType", ("Insert", "InsertOrUpdate", "Update")),
    Enum("cmBooleanBinaryOperator",
         ("Equals", "GreaterThan", "GreaterThanEquals", "LessThan", "LessThanEquals", "NotEqual")),
    Enum("LogicalOperator", ("And", "Or")),
    Enum("EmailContentType", ("HTML", "MultiPart", "Text")),
    Enum("cmDataType", ("Boolean", "Integer", "Date", "Number", "Password", "Text")),
    Enum("cmCampaignType", ("Email", "Fax", "SMS")),
    Complex("cmLoginToken", (Field("tokenString", "string"), Field("minutesTillTokenExpires", "long"))),
    Complex("cmCriterion", (
        Field("fieldName", "string"), Field("leftParentheses", "int"), Field("logicalOperator", "LogicalOperator"),
        Field("operand", "string"), Field("operator", "cmBooleanBinaryOperator"), Field("order", "int"),
        Field("rightParentheses", "int"),
    )),
    Array("ArrayOfCmCriterion", "cmCriterion"),
    Complex("cmBasePaged", (Field("currentPage", "int"), Field("isLastPage", "boolean"))),
    Complex("cmRecipientValue", (Field("fieldId", "string"), Field("fieldName", "string"),
                                 Field("dataType", "cmDataType"), Field("value", "string"))),
    Array("ArrayOfCmRecipientValue", "cmRecipientValue"),
    Complex("cmRecipient", (
        Field("isActive", "boolean"), Field("isVerified", "boolean"), Field("createdFromIpAddress", "string"),
        Field("createDateTime", "dateTime"), Field("createdBy", "string"), Field("emailAddress", "string"),
        Field("emailContentType", "EmailContentType"), Field("values", "ArrayOfCmRecipientValue"),
        Field("lastModified", "dateTime"), Field("lastModifiedBy", "string"), Field("id", "int"),
    )),
    Array("ArrayOfCmRecipient", "cmRecipient"),
    Complex("cmPagedRecipientsResponse", (Field("recipients", "ArrayOfCmRecipient"),), base="cmBasePaged"),
    Complex("cmNameValue", (Field("name", "string"), Field("value", "string"))),
    Array("ArrayOfCmNameValue", "cmNameValue"),
    Complex("cmRecipientField", (Field("allowedValues", "ArrayOfCmNameValue"), Field("dataType", "cmDataType"),
                                 Field("id", "string"), Field("isSystemField", "boolean"), Field("name", "string"))),
    Array("ArrayOfCmRecipientField", "cmRecipientField"),
    Complex("cmServiceReturn", (Field("returnValue", "anyType"), Field("callStatus", "cmCallStatus"),
                                Field("errorType", "cmErrorType"), Field("message", "string"))),
    Complex("cmCampaign", (Field("id", "int"), Field("campaignType", "cmCampaignType"),
                           Field("description", "string"), Field("name", "string"), Field("sentDate", "dateTime"))),
    Array("ArrayOfCmCampaign", "cmCampaign"),
    Complex("cmCampaignSummary", (
        Field("id", "int"), Field("campaignType", "cmCampaignType"), Field("completed", "dateTime"),
        Field("started", "dateTime"), Field("totalContacts", "int"), Field("totalFailures", "int"),
        Field("totalSelectedRecipients", "int"), Field("totalUnsubscribes", "int"),
    )),
    Complex("cmCounterHolder", (Field("total", "int"), Field("unique", "int"))),
    Complex("cmEmailCampaignSummary", (Field("bounces", "int"), Field("forwards", "cmCounterHolder"),
                                       Field("clicks", "cmCounterHolder"), Field("reads", "cmCounterHolder")),
            base="cmCampaignSummary"),
    Complex("cmFaxCampaignSummary", (), base="cmCampaignSummary"),
    Complex("cmSMSCampaignSummary", (Field("totalReplies", "int"),), base="cmCampaignSummary"),
    Array("ArrayOfAnyType", "anyType"),
    Complex("DataRow", (Field("rowError", "string"), Field("itemArray", "ArrayOfAnyType"))),
    Complex("EmailCampaignResultRow", (
        Field("recipientId", "int"), Field("emailAddress", "string"), Field("emailContentType", "string"),
        Field("bounced", "boolean"), Field("complained", "boolean"), Field("clicks", "int"),
        Field("forwards", "int"), Field("reads", "int"),
    ), base="DataRow"),
    Array("ArrayOfEmailCampaignResultRow", "EmailCampaignResultRow"),
    Complex("FaxCampaignResultRow", (Field("faxNumber", "string"), Field("recipientId", "string"),
                                     Field("sendStatus", "string")), base="DataRow"),
    Array("ArrayOfFaxCampaignResultRow", "FaxCampaignResultRow"),
    Complex("SMSCampaignResultRow", (Field("mobileNumber", "string"), Field("recipientId", "int"),
                                     Field("reply", "string"), Field("sendStatus", "string")), base="DataRow"),
    Array("ArrayOfSMSCampaignResultRow", "SMSCampaignResultRow"),
    Complex("cmPagedCampaignResultsOfEmailCampaignResultRow",
            (Field("resultRows", "ArrayOfEmailCampaignResultRow"),), base="cmBasePaged"),
    Complex("cmPagedCampaignResultsOfFaxCampaignResultRow",
            (Field("resultRows", "ArrayOfFaxCampaignResultRow"),), base="cmBasePaged"),
    Complex("cmPagedCampaignResultsOfSMSCampaignResultRow",
            (Field("resultRows", "ArrayOfSMSCampaignResultRow"),), base="cmBasePaged"),
    Complex("EmailCampaignBounceRow", (
        Field("emailAddress", "string"), Field("bounceReason", "string"), Field("resent", "string"),
        Field("bounceWeight", "string"), Field("bounceDate", "dateTime"),
    ), base="DataRow"),
    Array("ArrayOfEmailCampaignBounceRow", "EmailCampaignBounceRow"),
    Complex("cmPagedCampaignBounces", (Field("resultRows", "ArrayOfEmailCampaignBounceRow"),), base="cmBasePaged"),
    Complex("EmailCampaignOpenRow", (Field("emailAddress", "string"), Field("openDate", "dateTime")),
            base="DataRow"),
    Array("ArrayOfEmailCampaignOpenRow", "EmailCampaignOpenRow"),
    Complex("cmPagedCampaignOpens", (Field("resultRows", "ArrayOfEmailCampaignOpenRow"),), base="cmBasePaged"),
]

# -- login ------------------------------------------------------------------------------------------------------


def login(ctx, params):
    config = ctx.config
    client_ok = params["clientID"] == config.cm_client_id
    if not (client_ok and config.check_login(params["userName"], params["password"])):
        raise SoapFault("InvalidLogin")
    return {"tokenString": ctx.tokens.issue(ctx.store.now(), config.cm_token_minutes),
            "minutesTillTokenExpires": config.cm_token_minutes}


def get_server_time(ctx, params):
    return ctx.store.now()


# -- recipients -------------------------------------------------------------------------------------------------

SQL_OPERATORS = {"Equals": "=", "NotEqual": "<>", "GreaterThan": ">", "GreaterThanEquals": ">=", "LessThan": "<",
                 "LessThanEquals": "<="}


def _id_condition(store, operator, operand):
    try:
        return f"c.id {SQL_OPERATORS[operator]} ?", [int(operand)]
    except (TypeError, ValueError):
        raise invalid(f"id must be a number, not {operand!r}.")


def _email_condition(store, operator, operand):
    return f"c.email_key {SQL_OPERATORS[operator]} ?", [(operand or "").strip().casefold()]


def _active_condition(store, operator, operand):
    if operator not in ("Equals", "NotEqual"):
        raise invalid("The isActive criterion only takes Equals and NotEqual.")
    text = (operand or "").strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise invalid(f"isActive must be true or false, not {operand!r}.")
    marks = ",".join("?" * len(SENDABLE))
    return f"(c.status IN ({marks})) {SQL_OPERATORS[operator]} ?", [*SENDABLE, int(text in ("true", "1"))]


def _date_condition(column):
    """Dates compare at the millisecond the answers show, so an operand copied from an answer's lastModified
    matches that recipient; the bounds stay index ranges on the column."""
    def condition(store, operator, operand):
        try:
            moment = parse_iso(operand or "")
        except ValueError:
            raise invalid(f"{operand!r} is not a date.")
        low = math.floor(moment * 1000 + 1e-3) / 1000  # start of the operand's millisecond
        high = low + 0.001
        bounds = {"GreaterThanEquals": (f"{column} >= ?", [low]), "GreaterThan": (f"{column} >= ?", [high]),
                  "LessThan": (f"{column} < ?", [low]), "LessThanEquals": (f"{column} < ?", [high]),
                  "Equals": (f"({column} >= ? AND {column} < ?)", [low, high]),
                  "NotEqual": (f"({column} < ? OR {column} >= ?)", [low, high])}
        return bounds[operator]
    return condition


# The system fields GetRecipientFields names (evidence: Id, EmailAddress, IsActive, LastModified,
# CreatedDateTime), matched whatever their case.
CRITERIA = {"id": _id_condition, "emailaddress": _email_condition, "isactive": _active_condition,
            "lastmodified": _date_condition("c.modified"), "createddatetime": _date_condition("c.created")}


def criteria_sql(store, criteria, extended=False):
    """One SQL condition from criteria: sorted by ``order``, folded left to right with each criterion's
    ``logicalOperator`` (the first one's is ignored; no precedence of And over Or), parentheses honoured."""
    tokens = []
    for index, criterion in enumerate(sorted(criteria, key=lambda c: c["order"] or 0)):
        name = (criterion["fieldName"] or "").strip()
        build = CRITERIA.get(name.casefold()) or (assumed.CRITERIA.get(name.casefold()) if extended else None)
        if build is None:
            raise invalid(f"Recipients cannot be filtered on {name!r}; the fields are {', '.join(FILTER_FIELDS)}.")
        if criterion["operator"] is None:
            raise invalid(f"The criterion on {name} has no operator.")
        if index:
            tokens.append(criterion["logicalOperator"] or "And")
        tokens += ["("] * max(criterion["leftParentheses"] or 0, 0)
        tokens.append(build(store, criterion["operator"], criterion["operand"]))
        tokens += [")"] * max(criterion["rightParentheses"] or 0, 0)
    if not tokens:
        return "1", []
    position, (sql, args) = _fold(tokens, 0)
    if position != len(tokens):
        raise invalid("The criteria's parentheses do not balance.")
    return sql, args


FILTER_FIELDS = ("Id", "EmailAddress", "IsActive", "LastModified", "CreatedDateTime")


def _fold(tokens, position):
    """Parse ``term (op term)*`` from ``position``; return (next position, (sql, args))."""
    position, (sql, args) = _term(tokens, position)
    while position < len(tokens) and tokens[position] in ("And", "Or"):
        operator = tokens[position]
        position, (right, more) = _term(tokens, position + 1)
        sql, args = f"({sql} {operator.upper()} {right})", args + more
    return position, (sql, args)


def _term(tokens, position):
    if position >= len(tokens) or tokens[position] in ("And", "Or", ")"):
        raise invalid("The criteria's parentheses do not balance.")
    if tokens[position] == "(":
        position, inner = _fold(tokens, position + 1)
        if position >= len(tokens) or tokens[position] != ")":
            raise invalid("The criteria's parentheses do not balance.")
        return position + 1, inner
    return position + 1, tokens[position]


def get_recipients(ctx, params):
    store = ctx.store
    skip, limit = world.page_bounds(params["page"])
    condition, args = criteria_sql(store, params["criteria"] or [], ctx.extended)
    rows = store.db.execute(
        f"SELECT c.* FROM contacts c WHERE {condition} ORDER BY c.id LIMIT ? OFFSET ?",  # noqa: S608 - ours
        (*args, limit, skip),
    ).fetchall()
    field_list = world.fields(store)
    extras = assumed.recipient_extras(store, rows) if ctx.extended else {}
    recipients = [{**world.recipient(row, field_list, ctx.config.api_user), **extras.get(row["id"], {})}
                  for row in rows]
    return world.paged(params["page"], recipients, "recipients")


def get_recipient_fields(ctx, params):
    return [field.public() for field in world.fields(ctx.store)]


def add_recipient(ctx, params):
    """Insert, Update or InsertOrUpdate one recipient found by its primary key. Refusals are Failures."""
    try:
        _write_recipient(ctx.store, params["recipientInfo"], params["operationType"], params["primaryKeyName"],
                         ctx.extended)
    except world.Refusal as refusal:
        return world.failure(str(refusal))
    return world.success()


def _write_recipient(store, info, operation_type, key_name, extended=False):
    known = world.field_map(store)
    row = world.find_recipient(store, known, key_name, info)
    key = "id" if key_name.strip().casefold() == "id" else known[key_name.strip().casefold()].name
    if operation_type == "Insert" and row is not None:
        raise world.Refusal(f"A recipient with this {key} already exists.")
    if operation_type == "Update" and row is None:
        raise world.Refusal(f"No recipient with this {key} exists.")
    list_ids = assumed.recipient_lists(info) if extended else []
    world.check_lists(store, list_ids)
    data, email_value = world.merged_values(known, json.loads(row["data"]) if row else {}, info.get("values"))
    email = (info.get("emailAddress") or "").strip() or email_value
    if email and (row is None or email.casefold() != row["email_key"]):
        world.check_email(email)
        if store.contact_by_email(email) is not None:
            raise world.Refusal("A recipient with this emailAddress already exists.")
    if row is None:
        if not email:
            raise world.Refusal("The recipient has no emailAddress.")
        contact_id = world.insert_recipient(store, email, info.get("emailContentType"), data,
                                            verified=bool(info.get("isVerified")))
    else:
        contact_id = row["id"]
        # XmlSerializer reads a missing boolean as false: an AddRecipient without isVerified unverifies.
        world.update_recipient(store, row, email=email, content_type=info.get("emailContentType"), data=data,
                               verified=bool(info.get("isVerified")))
    if assumed.deactivates(info.get("isActive")):
        world.deactivate(store, contact_id)
    world.join_lists(store, contact_id, list_ids)


# -- campaigns and their results ----------------------------------------------------------------------------------


def get_sent_campaigns(ctx, params):
    # LIMIT -1 is SQLite's "no limit": the operation is not paged.
    rows = campaigns.campaigns_sent_between(ctx.store, params["from"], params["to"], 0, -1)
    return [{**world.sent_campaign(row), **assumed.campaign_extras(world.body(row))} for row in rows]


def _summary(store, row):
    summary, totals = world.summary(store, row)
    return {**summary, **assumed.summary_extras(totals)}


def get_email_campaign_summary(ctx, params):
    return _summary(ctx.store, _campaign_of(ctx, params))


def _campaign_of(ctx, params):
    if "externalId" in params:
        return world.campaign_by_external_id(ctx.store, params["externalId"])
    return world.campaign_row(ctx.store, params["campaignId"])


def get_email_campaign_results(ctx, params):
    store = ctx.store
    row = _campaign_of(ctx, params)
    skip, limit = world.page_bounds(params["page"])
    rows = campaigns.activities(store, row["id"], skip, limit, since=params["resultsUpdatedAfter"])
    ids = [activity["contact_id"] for activity in rows]
    types = dict(store.db.execute(
        f"SELECT id, email_type FROM contacts WHERE id IN ({','.join('?' * len(ids)) or 'NULL'})",  # noqa: S608
        ids,
    ).fetchall())
    results = [{**world.result(activity, types.get(activity["contact_id"])), **assumed.result_extras(activity)}
               for activity in rows]
    return world.paged(params["page"], results, "resultRows")


def get_email_campaign_bounces(ctx, params):
    row = _campaign_of(ctx, params)
    rows = campaigns.bounces(ctx.store, row["id"], *world.page_bounds(params["page"]))
    return world.paged(params["page"], [world.bounce(event) for event in rows], "resultRows")


def get_email_campaign_opens(ctx, params):
    row = _campaign_of(ctx, params)
    rows = campaigns.events(ctx.store, row["id"], "open", *world.page_bounds(params["page"]))
    opens = [{"emailAddress": event["email"], "openDate": event["at"]} for event in rows]
    return world.paged(params["page"], opens, "resultRows")


def no_such_campaign(ctx, params):
    """Fax and SMS campaigns: the sandbox's world has email campaigns only."""
    wanted = params.get("campaignId") or params.get("externalId")
    raise world.not_found(f"No campaign with id {wanted} exists.")


TOKEN = Field("token", "string")
CAMPAIGN_ID = Field("campaignId", "int")
EXTERNAL_ID = Field("externalId", "string")
PAGE = Field("page", "int")
UPDATED_AFTER = Field("resultsUpdatedAfter", "dateTime", nillable=True)


def _by_id_and_external_id(name, params, result, handler):
    """``GetXxx(token, campaignId, …)`` and ``GetXxxByExternalId(token, externalId, …)``."""
    return [Operation(name, (TOKEN, CAMPAIGN_ID, *params), result, handler),
            Operation(f"{name}ByExternalId", (TOKEN, EXTERNAL_ID, *params), result, handler)]


OPERATIONS = [
    Operation("Login", (Field("clientID", "int"), Field("userName", "string"), Field("password", "string")),
              "cmLoginToken", login, contract="IAPIService"),
    Operation("GetServerTime", (), "dateTime", get_server_time, contract="IAPIService"),
    Operation("GetRecipients", (TOKEN, PAGE, Field("criteria", "ArrayOfCmCriterion", nillable=True)),
              "cmPagedRecipientsResponse", get_recipients),
    Operation("GetRecipientFields", (TOKEN,), "ArrayOfCmRecipientField", get_recipient_fields),
    Operation("GetSentCampaigns", (TOKEN, Field("from", "dateTime"), Field("to", "dateTime")), "ArrayOfCmCampaign",
              get_sent_campaigns),
    *_by_id_and_external_id("GetEmailCampaignSummary", (), "cmEmailCampaignSummary", get_email_campaign_summary),
    *_by_id_and_external_id("GetFaxCampaignSummary", (), "cmFaxCampaignSummary", no_such_campaign),
    *_by_id_and_external_id("GetSMSCampaignSummary", (), "cmSMSCampaignSummary", no_such_campaign),
    *_by_id_and_external_id("GetEmailCampaignResults", (PAGE, UPDATED_AFTER),
                            "cmPagedCampaignResultsOfEmailCampaignResultRow", get_email_campaign_results),
    *_by_id_and_external_id("GetFaxCampaignResults", (PAGE, UPDATED_AFTER),
                            "cmPagedCampaignResultsOfFaxCampaignResultRow", no_such_campaign),
    *_by_id_and_external_id("GetSMSCampaignResults", (PAGE, UPDATED_AFTER),
                            "cmPagedCampaignResultsOfSMSCampaignResultRow", no_such_campaign),
    *_by_id_and_external_id("GetEmailCampaignBounces", (PAGE,), "cmPagedCampaignBounces",
                            get_email_campaign_bounces),
    *_by_id_and_external_id("GetEmailCampaignOpens", (PAGE,), "cmPagedCampaignOpens", get_email_campaign_opens),
    Operation("AddRecipient", (TOKEN, Field("recipientInfo", "cmRecipient"), Field("operationType", "cmOperationType"),
                               Field("primaryKeyName", "string")), "cmServiceReturn", add_recipient),
]

# The service the evidence shows, and the same with the assumed operations and members (``cm_extended``).
SERVICE = make_service("CampaignMasterService", "ICampaignMasterService", PATH, TYPES, OPERATIONS,
                       recorded_case=True)
EXTENDED = make_service("CampaignMasterService", "ICampaignMasterService", PATH,
                        extend(TYPES, assumed.FIELDS) + assumed.TYPES, OPERATIONS + assumed.OPERATIONS,
                        recorded_case=True)
