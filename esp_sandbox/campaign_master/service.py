"""Campaign Master's main service (``CampaignMasterService.svc``): the public v1.1 operations, plus the assumed
ones of ``assumed.py``.

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

TYPES = [
    Enum("cmErrorType", ("None", "Application", "System")),
    Enum("cmCallStatus", ("Success", "Failure")),
    Enum("cmOperationType", ("Insert", "Update", "InsertOrUpdate")),
    Enum("cmBooleanBinaryOperator",
         ("Equals", "NotEqual", "GreaterThan", "GreaterThanEquals", "LessThan", "LessThanEquals")),
    Enum("LogicalOperator", ("And", "Or")),
    Enum("EmailContentType", ("HTML", "MultiPart", "Text")),
    Enum("cmDataType", ("Boolean", "Integer", "Date", "Number", "Password", "Text")),
    Enum("cmCampaignType", ("Email", "Fax", "SMS")),
    Enum("cmBounceWeight", ("Hard", "Soft")),
    Array("ArrayOfstring", "string"),
    Complex("cmLoginToken", (Field("tokenString", "string"), Field("minutesTillTokenExpires", "int"))),
    Complex("cmCriterion", (
        Field("fieldName", "string"), Field("operator", "cmBooleanBinaryOperator"), Field("operand", "string"),
        Field("logicalOperator", "LogicalOperator"), Field("order", "int"), Field("leftParentheses", "int"),
        Field("rightParentheses", "int"),
    )),
    Array("ArrayOfcmCriterion", "cmCriterion"),
    Complex("cmRecipientValue", (Field("fieldId", "int"), Field("fieldName", "string"),
                                 Field("dataType", "cmDataType"), Field("value", "string"))),
    Array("ArrayOfcmRecipientValue", "cmRecipientValue"),
    Complex("cmRecipient", (
        Field("id", "int"), Field("emailAddress", "string"), Field("emailContentType", "EmailContentType"),
        Field("isActive", "boolean"), Field("isVerified", "boolean"), Field("createDateTime", "dateTime"),
        Field("createdBy", "string"), Field("createdFromIpAddress", "string"), Field("lastModified", "dateTime"),
        Field("lastModifiedBy", "string"), Field("values", "ArrayOfcmRecipientValue"),
    )),
    Array("ArrayOfcmRecipient", "cmRecipient"),
    Complex("cmPagedRecipientsResponse", (Field("currentPage", "int"), Field("isLastPage", "boolean"),
                                          Field("recipients", "ArrayOfcmRecipient"))),
    Complex("cmRecipientField", (Field("id", "int"), Field("name", "string"), Field("dataType", "cmDataType"),
                                 Field("isSystemField", "boolean"), Field("allowedValues", "ArrayOfstring"))),
    Array("ArrayOfcmRecipientField", "cmRecipientField"),
    Complex("cmServiceReturn", (Field("callStatus", "cmCallStatus"), Field("errorType", "cmErrorType"),
                                Field("message", "string"))),
    Complex("cmCampaign", (Field("id", "int"), Field("campaignType", "cmCampaignType"), Field("name", "string"),
                           Field("description", "string"), Field("sentDate", "dateTime"))),
    Array("ArrayOfcmCampaign", "cmCampaign"),
    Complex("cmBounceSummary", (Field("total", "int"), Field("hard", "int"), Field("soft", "int"))),
    Complex("cmTotalUnique", (Field("total", "int"), Field("unique", "int"))),
    Complex("cmEmailCampaignSummary", (
        Field("campaignId", "int"), Field("started", "dateTime"), Field("completed", "dateTime", nillable=True),
        Field("totalContacts", "int"), Field("totalSelectedRecipients", "int"), Field("totalFailures", "int"),
        Field("totalUnsubscribes", "int"), Field("bounces", "cmBounceSummary"), Field("reads", "cmTotalUnique"),
        Field("clicks", "cmTotalUnique"), Field("forwards", "cmTotalUnique"),
    )),
    Complex("cmEmailCampaignResult", (
        Field("recipientId", "int"), Field("emailAddress", "string"), Field("emailContentType", "EmailContentType"),
        Field("bounced", "boolean"), Field("complained", "boolean"), Field("clicks", "int"),
        Field("forwards", "int"), Field("reads", "int"),
    )),
    Array("ArrayOfcmEmailCampaignResult", "cmEmailCampaignResult"),
    Complex("cmPagedEmailCampaignResults", (Field("currentPage", "int"), Field("isLastPage", "boolean"),
                                            Field("results", "ArrayOfcmEmailCampaignResult"))),
    Complex("cmEmailCampaignBounce", (
        Field("emailAddress", "string"), Field("bounceReason", "string"), Field("bounceWeight", "cmBounceWeight"),
        Field("bounceDate", "dateTime"), Field("resent", "boolean"),
    )),
    Array("ArrayOfcmEmailCampaignBounce", "cmEmailCampaignBounce"),
    Complex("cmPagedEmailCampaignBounces", (Field("currentPage", "int"), Field("isLastPage", "boolean"),
                                            Field("bounces", "ArrayOfcmEmailCampaignBounce"))),
    Complex("cmEmailCampaignOpen", (Field("emailAddress", "string"), Field("openDate", "dateTime"))),
    Array("ArrayOfcmEmailCampaignOpen", "cmEmailCampaignOpen"),
    Complex("cmPagedEmailCampaignOpens", (Field("currentPage", "int"), Field("isLastPage", "boolean"),
                                          Field("opens", "ArrayOfcmEmailCampaignOpen"))),
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


CRITERIA = {"id": _id_condition, "emailaddress": _email_condition, "isactive": _active_condition,
            "lastmodified": _date_condition("c.modified"), "createdatetime": _date_condition("c.created"),
            **assumed.CRITERIA}


def criteria_sql(store, criteria):
    """One SQL condition from criteria: sorted by ``order``, folded left to right with each criterion's
    ``logicalOperator`` (the first one's is ignored; no precedence of And over Or), parentheses honoured."""
    tokens = []
    for index, criterion in enumerate(sorted(criteria, key=lambda c: c["order"] or 0)):
        name = (criterion["fieldName"] or "").strip()
        build = CRITERIA.get(name.casefold())
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


FILTER_FIELDS = ("id", "emailAddress", "isActive", "lastModified", "createDateTime", "listId")


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
    condition, args = criteria_sql(store, params["criteria"] or [])
    rows = store.db.execute(
        f"SELECT c.* FROM contacts c WHERE {condition} ORDER BY c.id LIMIT ? OFFSET ?",  # noqa: S608 - ours
        (*args, limit, skip),
    ).fetchall()
    field_list = world.fields(store)
    extras = assumed.recipient_extras(store, rows)
    recipients = [{**world.recipient(row, field_list, ctx.config.api_user), **extras.get(row["id"], {})}
                  for row in rows]
    return world.paged(params["page"], recipients, "recipients")


def get_recipient_fields(ctx, params):
    return [field.public() for field in world.fields(ctx.store)]


def add_recipient(ctx, params):
    """Insert, Update or InsertOrUpdate one recipient found by its primary key. Refusals are Failures."""
    try:
        _write_recipient(ctx.store, params["recipientInfo"], params["operationType"], params["primaryKeyName"])
    except world.Refusal as refusal:
        return world.failure(str(refusal))
    return world.success()


def _write_recipient(store, info, operation_type, key_name):
    known = world.field_map(store)
    row = world.find_recipient(store, known, key_name, info)
    key = "id" if key_name.strip().casefold() == "id" else known[key_name.strip().casefold()].name
    if operation_type == "Insert" and row is not None:
        raise world.Refusal(f"A recipient with this {key} already exists.")
    if operation_type == "Update" and row is None:
        raise world.Refusal(f"No recipient with this {key} exists.")
    list_ids = assumed.recipient_lists(info)
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
        world.update_recipient(store, row, email=email, content_type=info.get("emailContentType"), data=data,
                               verified=info.get("isVerified"))
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
    return _summary(ctx.store, world.campaign_row(ctx.store, params["campaignId"]))


def get_email_campaign_summary_by_external_id(ctx, params):
    return _summary(ctx.store, world.campaign_by_external_id(ctx.store, params["externalId"]))


def get_email_campaign_results(ctx, params):
    store = ctx.store
    row = world.campaign_row(store, params["campaignId"])
    skip, limit = world.page_bounds(params["page"])
    rows = campaigns.activities(store, row["id"], skip, limit, since=params["resultsUpdatedAfter"])
    ids = [activity["contact_id"] for activity in rows]
    types = dict(store.db.execute(
        f"SELECT id, email_type FROM contacts WHERE id IN ({','.join('?' * len(ids)) or 'NULL'})",  # noqa: S608
        ids,
    ).fetchall())
    results = [{**world.result(activity, types.get(activity["contact_id"])), **assumed.result_extras(activity)}
               for activity in rows]
    return world.paged(params["page"], results, "results")


def get_email_campaign_bounces(ctx, params):
    row = world.campaign_row(ctx.store, params["campaignId"])
    rows = campaigns.bounces(ctx.store, row["id"], *world.page_bounds(params["page"]))
    return world.paged(params["page"], [world.bounce(event) for event in rows], "bounces")


def get_email_campaign_opens(ctx, params):
    row = world.campaign_row(ctx.store, params["campaignId"])
    rows = campaigns.events(ctx.store, row["id"], "open", *world.page_bounds(params["page"]))
    opens = [{"emailAddress": event["email"], "openDate": event["at"]} for event in rows]
    return world.paged(params["page"], opens, "opens")


TOKEN = Field("token", "string")
CAMPAIGN_ID = Field("campaignId", "int")
PAGE = Field("page", "int")

OPERATIONS = [
    Operation("Login", (Field("clientID", "int"), Field("userName", "string"), Field("password", "string")),
              "cmLoginToken", login),
    Operation("GetServerTime", (), "dateTime", get_server_time),
    Operation("GetRecipients", (TOKEN, PAGE, Field("criteria", "ArrayOfcmCriterion", nillable=True)),
              "cmPagedRecipientsResponse", get_recipients),
    Operation("GetRecipientFields", (TOKEN,), "ArrayOfcmRecipientField", get_recipient_fields),
    Operation("AddRecipient", (TOKEN, Field("recipientInfo", "cmRecipient"), Field("operationType", "cmOperationType"),
                               Field("primaryKeyName", "string")), "cmServiceReturn", add_recipient),
    Operation("GetSentCampaigns", (TOKEN, Field("from", "dateTime"), Field("to", "dateTime")), "ArrayOfcmCampaign",
              get_sent_campaigns),
    Operation("GetEmailCampaignSummary", (TOKEN, CAMPAIGN_ID), "cmEmailCampaignSummary",
              get_email_campaign_summary),
    Operation("GetEmailCampaignSummaryByExternalId", (TOKEN, Field("externalId", "string")),
              "cmEmailCampaignSummary", get_email_campaign_summary_by_external_id),
    Operation("GetEmailCampaignResults", (TOKEN, CAMPAIGN_ID, PAGE,
                                          Field("resultsUpdatedAfter", "dateTime", nillable=True)),
              "cmPagedEmailCampaignResults", get_email_campaign_results),
    Operation("GetEmailCampaignBounces", (TOKEN, CAMPAIGN_ID, PAGE), "cmPagedEmailCampaignBounces",
              get_email_campaign_bounces),
    Operation("GetEmailCampaignOpens", (TOKEN, CAMPAIGN_ID, PAGE), "cmPagedEmailCampaignOpens",
              get_email_campaign_opens),
]

SERVICE = make_service("CampaignMasterService", "ICampaignMasterService", PATH,
                       extend(TYPES, assumed.FIELDS) + assumed.TYPES, OPERATIONS + assumed.OPERATIONS)
