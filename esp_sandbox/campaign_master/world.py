"""Campaign Master's view of the sandbox's one simulated world.

Recipients are the store's contacts, lists its (non-system) address books, recipient fields its data fields
plus three system fields, campaigns the same campaigns table the v2 API edits. Nothing is copied: a change
made through one API is what the other reads.
"""

import dataclasses
import json

from .. import campaigns, imports, render
from ..store import SENDABLE
from ..timeutil import parse_iso
from .soap import SoapFault

# System fields as GetRecipientFields names them (evidence: facts.json main_service.recipient_field_names_observed):
# (id, name, data type). Their values are the recipient's own members, not values; the account's data fields
# (FIRSTNAME, …) are its custom fields, named as the account names them.
SYSTEM_FIELDS = (
    ("1", "Id", "Integer"), ("2", "EmailAddress", "Text"), ("3", "IsVerified", "Boolean"), ("4", "IsActive", "Boolean"),
    ("5", "ClientId", "Integer"), ("6", "LastModified", "Date"), ("7", "LastModifiedBy", "Text"),
    ("8", "EmailContentType", "Text"), ("9", "CreatedBy", "Text"), ("10", "CreatedFromIpAddress", "Text"),
    ("11", "CreatedDateTime", "Date"), ("12", "BounceType", "Text"),
)
EMAIL_FIELD = "EmailAddress"
DATA_FIELD_IDS = 100  # a data field's id is this plus its row number, clear of the system fields' ids
DATA_TYPES = {"String": "Text", "Numeric": "Number", "Date": "Date", "Boolean": "Boolean"}
# dotdigital has no multipart type: MultiPart is stored as Html (the richer part), so it reads back as HTML.
CONTENT_TYPES = {"Html": "HTML", "PlainText": "Text"}
STORED_CONTENT_TYPES = {"HTML": "Html", "MultiPart": "Html", "Text": "PlainText"}
VERIFIED = "VerifiedDouble"
# A recipient an import creates without MakeActive has not opted in yet; one made inactive (isActive false)
# has unsubscribed. Both are unsendable for both APIs; only the first may be activated (a later MakeActive).
NOT_YET_ACTIVE = "PendingOptIn"
MADE_INACTIVE = "Unsubscribed"
PAGE_SIZE = 1000
# What a non-nullable date holds when the thing never happened, as in v2's answers.
MIN_DATE = parse_iso(render.MIN_DATE)


class Refusal(Exception):
    """A business refusal: answered as ``cmServiceReturn{Failure, Application, message}``, not as a Fault."""


def success(**extra):
    return {"callStatus": "Success", "errorType": "None", "message": "", **extra}


def failure(message, **extra):
    return {"callStatus": "Failure", "errorType": "Application", "message": message, **extra}


def not_found(message):
    return SoapFault("NotFound", message)


def page_bounds(page):
    """(skip, limit) of a 1-based page, one row more than a page so the answer knows whether it is the last."""
    if page < 1:
        raise SoapFault("InvalidArgument", "page is 1-based: the first page is 1.")
    return (page - 1) * PAGE_SIZE, PAGE_SIZE + 1


def paged(page, rows, key):
    return {"currentPage": page, "isLastPage": len(rows) <= PAGE_SIZE, key: rows[:PAGE_SIZE]}


# -- recipient fields ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RecipientField:
    id: str
    name: str
    data_type: str
    is_system: bool
    key: str | None  # where the value lives in the contact's data; None for a system field

    @property
    def is_email(self):
        return self.name == EMAIL_FIELD

    def public(self):
        return {"id": self.id, "name": self.name, "dataType": self.data_type, "isSystemField": self.is_system,
                "allowedValues": []}


def fields(store):
    """The account's recipient fields, system fields first, then data fields in creation order."""
    result = [RecipientField(field_id, name, data_type, True, None) for field_id, name, data_type in SYSTEM_FIELDS]
    system = {name.casefold() for _id, name, _type in SYSTEM_FIELDS}
    for row in store.db.execute("SELECT rowid, name, type FROM data_fields ORDER BY rowid"):
        if row["name"].casefold() not in system:
            result.append(RecipientField(str(DATA_FIELD_IDS + row["rowid"]), row["name"],
                                         DATA_TYPES.get(row["type"], "Text"), False, row["name"]))
    return result


def field_map(store):
    """Fields by case-folded name (Campaign Master matches field names whatever their case)."""
    return {field.name.casefold(): field for field in fields(store)}


def value_text(value):
    """A stored data value as Campaign Master's string ``value``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def stored_value(field, text):
    """A written ``value`` as stored: numbers and booleans as JSON ones (like the v2 importer), dates checked."""
    if field.data_type == "Number":
        return imports.CONVERTERS["Numeric"](text)
    if field.data_type == "Boolean":
        return imports.CONVERTERS["Boolean"](text)
    if field.data_type == "Date":
        try:
            parse_iso(text)
        except ValueError:
            raise Refusal(f'The value of recipient field "{field.name}" is not a date: {text!r}.')
    return text


def merged_values(known, data, values):
    """The contact's data after a recipient's ``values`` (by ``fieldName``, else ``fieldId``); an empty value
    clears the field. Returns (data, email given as a value or None).

    :raises Refusal: "Unknown recipient field …" for a name the account does not have.
    """
    data, email = dict(data), None
    by_id = {field.id: field for field in known.values()}
    for item in values or ():
        name = (item.get("fieldName") or "").strip()
        field = known.get(name.casefold()) if name else by_id.get(item.get("fieldId"))
        if field is None:
            raise Refusal(f'Unknown recipient field "{name or item.get("fieldId")}".')
        text = item.get("value")
        if field.is_email:
            email = (text or "").strip() or None
        elif field.key is None:
            continue  # the other system fields are the recipient's members, not values
        elif text is None or not text.strip():
            data.pop(field.key, None)
        else:
            data[field.key] = stored_value(field, text.strip())
    return data, email


# -- recipients -----------------------------------------------------------------------------------------------


def is_active(row):
    return row["status"] in SENDABLE


def recipient(row, field_list, user):
    """cmRecipient of a contact row (public members; assumed ones are added by ``assumed``)."""
    data = json.loads(row["data"])
    values = [{"fieldId": field.id, "fieldName": field.name, "dataType": field.data_type,
               "value": value_text(data.get(field.key))} for field in field_list if field.key is not None]
    return {
        "id": row["id"],
        "emailAddress": row["email"],
        "emailContentType": CONTENT_TYPES.get(row["email_type"], "HTML"),
        "isActive": is_active(row),
        "isVerified": row["opt_in_type"] == VERIFIED,
        "createDateTime": row["created"],
        # The sandbox has one API user; every change is made under its name, whichever API made it.
        "createdBy": user,
        "createdFromIpAddress": None,
        "lastModified": row["modified"],
        "lastModifiedBy": user,
        "values": values,
    }


def find_recipient(store, known, key_name, info):
    """The contact ``info`` names by its primary key (``emailAddress``, ``id`` or a data field), or None.

    :raises Refusal: when the key is not a field or ``info`` carries no value for it.
    """
    key = (key_name or "").strip()
    if key.casefold() == "id":
        return store.contact(info["id"]) if info.get("id") else None
    field = known.get(key.casefold())
    if field is None:
        raise Refusal(f'Unknown recipient field "{key}".')
    if field.key is None and not field.is_email:
        raise Refusal(f'The system field "{field.name}" cannot be a primary key.')
    if field.is_email:
        email = (info.get("emailAddress") or "").strip()
        if not email:
            raise Refusal("The recipient has no emailAddress.")
        return store.contact_by_email(email)
    wanted = next((item.get("value") for item in info.get("values") or ()
                   if (item.get("fieldName") or "").casefold() == field.name.casefold()), None)
    if not wanted:
        raise Refusal(f'The recipient has no value for its primary key "{field.name}".')
    return store.db.execute(
        "SELECT c.*, 0 AS book_unsubscribed FROM contacts c WHERE json_extract(c.data, '$.\"' || ? || '\"') = ? "
        "ORDER BY c.id LIMIT 1",
        (field.key, stored_value(field, wanted.strip())),
    ).fetchone()


def check_email(email):
    if not email or not imports.EMAIL_RE.match(email):
        raise Refusal(f"{email!r} is not a valid email address.")
    return email


def insert_recipient(store, email, content_type, data, active=True, verified=False):
    contact_id = store.create_contact(email, VERIFIED if verified else "Unknown",
                                      STORED_CONTENT_TYPES.get(content_type or "HTML", "Html"), data)
    if not active:
        store.update_contact(contact_id, status=NOT_YET_ACTIVE)
    return contact_id


def update_recipient(store, row, email=None, content_type=None, data=None, verified=None):
    """Change what is given of a contact; ``lastModified`` moves even when nothing else does, as a write is
    a change to Campaign Master."""
    values = {"data": data if data is not None else json.loads(row["data"])}
    if email and email != row["email"]:
        values["email"] = email
    if content_type:
        values["email_type"] = STORED_CONTENT_TYPES.get(content_type, "Html")
    if verified:
        values["opt_in_type"] = VERIFIED
    elif verified is False and row["opt_in_type"] == VERIFIED:
        values["opt_in_type"] = "Single"
    store.update_contact(row["id"], **values)


def deactivate(store, contact_id):
    """Make a sendable contact inactive as an unsubscribe, seen by v2's suppression feeds too."""
    if is_active(store.contact(contact_id)):
        store.set_status(contact_id, MADE_INACTIVE)


# -- lists ------------------------------------------------------------------------------------------------------


def list_row(store, list_id):
    """The address book behind a list; system books (All Contacts, Test) are no lists."""
    row = store.book(list_id) if list_id else None
    return row if row is not None and not row["system"] else None


def join_lists(store, contact_id, list_ids):
    """Add a contact to lists, never removing it from any; joining one is a change of the recipient."""
    joined = False
    for list_id in list_ids:
        if store.member(list_id, contact_id) is None:
            store.add_member(list_id, contact_id)
            joined = True
    if joined:
        store.update_contact(contact_id)


def check_lists(store, list_ids):
    for list_id in list_ids:
        if list_row(store, list_id) is None:
            raise Refusal(f"No list with id {list_id} exists.")


def list_ids_of(store, contact_ids):
    """{contact id: [list ids]} for a page of contacts, in one query."""
    result = {contact_id: [] for contact_id in contact_ids}
    marks = ",".join("?" * len(contact_ids)) or "NULL"
    for row in store.db.execute(
        f"SELECT m.contact_id, m.book_id FROM members m JOIN books b ON b.id = m.book_id "  # noqa: S608
        f"WHERE b.system = 0 AND m.contact_id IN ({marks}) ORDER BY m.book_id",
        tuple(contact_ids),
    ):
        result[row["contact_id"]].append(row["book_id"])
    return result


# -- campaigns ----------------------------------------------------------------------------------------------


def campaign_row(store, campaign_id):
    """A campaign with its send dates (``scheduled_at``, ``last_sent``); NotFound when there is none."""
    row = campaigns.campaign_with_dates(store, campaign_id) if campaign_id else None
    if row is None:
        raise not_found(f"No campaign with id {campaign_id} exists.")
    return row


def campaign_by_external_id(store, external_id):
    """The first campaign created with that external id (ids are the caller's, so several may share one)."""
    found = store.db.execute(
        "SELECT id FROM campaigns WHERE json_extract(body, '$.externalId') = ? ORDER BY id LIMIT 1",
        (external_id or "",),
    ).fetchone()
    if found is None:
        raise not_found(f"No campaign with external id {external_id!r} exists.")
    return campaign_row(store, found["id"])


def body(row):
    return json.loads(row["body"])


def status(row):
    """Campaign Master's status of a campaign row; a v2 campaign waiting for a scheduled send is Scheduled."""
    if row["status"] in ("Sending", "Sent", "Cancelled"):
        return row["status"]
    return "Scheduled" if row["scheduled_at"] is not None else "Draft"


def sent_campaign(row):
    """cmCampaign (GetSentCampaigns)."""
    content = body(row)
    return {"id": row["id"], "campaignType": "Email", "name": content.get("name") or content.get("subject"),
            "description": content.get("description"), "sentDate": row["date_sent"]}


def summary(store, row):
    """cmEmailCampaignSummary, and the event totals it comes from (v2's summary is made of the same)."""
    totals = campaigns.counts(store, row["id"])
    pending = row["scheduled_at"] is not None or row["status"] == "Sending"
    # Everyone the sends considered: the members of the lists sent to, and the contacts sent to directly.
    contacts = store.db.execute(
        "SELECT COUNT(*) FROM (SELECT contact_id FROM members WHERE book_id IN "
        "(SELECT book_id FROM campaign_books WHERE campaign_id = ?) "
        "UNION SELECT contact_id FROM events WHERE campaign_id = ? AND kind = 'sent')",
        (row["id"], row["id"]),
    ).fetchone()[0]
    return {
        "id": row["id"],
        "campaignType": "Email",
        # dateTime is a value type: a campaign not completed (or not started) shows the minimum date.
        "started": row["date_sent"] if row["date_sent"] is not None else MIN_DATE,
        "completed": row["last_sent"] if row["last_sent"] is not None and not pending else MIN_DATE,
        "totalContacts": contacts,
        "totalSelectedRecipients": totals["sent"],
        "totalFailures": totals["hard"] + totals["soft"],
        "totalUnsubscribes": totals["unsubscribes"],
        # One figure (evidence: bounces is an int); the hard/soft split is in GetEmailCampaignBounces.
        "bounces": totals["hard"] + totals["soft"],
        "reads": {"total": totals["opens"], "unique": totals["unique_opens"]},
        "clicks": {"total": totals["clicks"], "unique": totals["clickers"]},
        "forwards": {"total": totals["forwards"], "unique": totals["forwarders"]},
    }, totals


def result(row, content_type):
    """EmailCampaignResultRow of an activity row (``campaigns.activities``); its content type is a string."""
    return {
        "recipientId": row["contact_id"],
        "emailAddress": row["email"],
        "emailContentType": CONTENT_TYPES.get(content_type, "HTML"),
        "bounced": bool(row["hard"] or row["soft"]),
        "complained": bool(row["complained"]),
        "clicks": row["clicks"],
        "forwards": row["forwards"],
        "reads": row["opens"],
    }


BOUNCE_REASONS = {"hard": ("Hard", "The mailbox does not exist."), "soft": ("Soft", "The mailbox is full.")}


def bounce(row):
    weight, reason = BOUNCE_REASONS[row["kind"]]
    # bounceWeight and resent are strings whose values no evidence shows: "Hard"/"Soft" and "false" are assumed.
    return {"emailAddress": row["email"], "bounceReason": reason, "bounceWeight": weight, "bounceDate": row["at"],
            "resent": "false"}
