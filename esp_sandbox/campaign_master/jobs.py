"""Campaign Master's Job service (``CampaignMasterJobService.svc``): bulk imports of recipients.

As the recorded traffic shows it (facts.json ``job_service``): ``Login`` and ``GetServerTime`` of the shared
``IAPIService``; ``SubmitImportJob`` with the ``SecurityToken{Value}`` and ``JobDefinition`` SOAP headers (members
in the DataContracts namespace, the settings' members in ``ECM.Model``), ``SubmitJobRequest{FileToImport}`` as
the body and ``JobSubmissionResultMessage{JobId}`` as the answer. ``GetJobResult`` exists (its SOAPAction is
evidenced) but its messages are not: ``GetJobResultRequest{JobId}`` → ``JobResultMessage`` is assumed
(CAMPAIGN_MASTER.md).

``SubmitImportJob`` checks the file's header and answers a job id at once; the rows are applied by the
sandbox's due work (``SandboxApp.tick``) once the import delay has passed on the sandbox clock, exactly when a
v2 import submitted at the same moment would finish; ``GetJobResult`` then tells the counts and each refused
row with its reason.
"""

import csv
import dataclasses
import io
import json

from .. import imports
from . import assumed, service, world
from .soap import DC, MODEL, Array, Complex, Field, Operation, extend, invalid, make_service

PATH = "/campaignmaster/v1.1/CampaignMasterJobService.svc"

SCHEMA = """
CREATE TABLE IF NOT EXISTS cm_jobs (
    id INTEGER PRIMARY KEY, definition TEXT NOT NULL, file BLOB, status TEXT NOT NULL, created REAL NOT NULL,
    due REAL NOT NULL, report TEXT);
"""

TYPES = [
    # The name of the settings' type is not evidenced (as in the rebuilt WSDL); its members and namespace are.
    Complex("ImportSettings", (Field("AllowImport", "boolean"), Field("MakeActive", "boolean"),
                               Field("MakeVerified", "boolean")), ns=MODEL),
    Complex("SecurityToken", (Field("Value", "string"),), ns=DC),
    Complex("JobDefinition", (
        Field("Delimiter", "string"), Field("Filename", "string"), Field("InsertSettings", "ImportSettings"),
        Field("PrimaryKey", "string"), Field("UpdateSettings", "ImportSettings"), Field("UseFirstDuplicate", "boolean"),
    ), ns=DC),
    # The Job service's Login answered TokenString and MinutesTillTokenExpires on the wire.
    Complex("cmLoginToken", (Field("TokenString", "string"), Field("MinutesTillTokenExpires", "long"))),
    # Assumed: GetJobResult's answer (no evidence of its messages).
    Complex("JobResultRow", (Field("RowNumber", "int"), Field("Key", "string"), Field("Reason", "string"))),
    Array("ArrayOfJobResultRow", "JobResultRow"),
]
JOB_STATUSES = ("Pending", "Completed")


def _rows(data, delimiter):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("FileToImport is not UTF-8 text.")
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _columns(known, header, primary_key):
    """The recipient field of each column; the file must have an emailAddress column and its key's column."""
    columns = []
    for name in header:
        field = known.get(name.strip().casefold())
        if field is None:
            raise invalid(f'The file\'s column "{name.strip()}" is not a recipient field.')
        columns.append(field)
    if not any(field.is_email for field in columns):
        raise invalid("The file has no EmailAddress column.")
    key = known.get((primary_key or "").strip().casefold())
    if key is None or key not in columns:
        raise invalid(f'The PrimaryKey "{primary_key}" is not a column of the file.')
    return columns


def login(ctx, params):
    token = service.login(ctx, params)
    return {"TokenString": token["tokenString"], "MinutesTillTokenExpires": token["minutesTillTokenExpires"]}


def submit_import_job(ctx, params):
    store, definition, data = ctx.store, params["JobDefinition"], params["FileToImport"]
    delimiter = definition["Delimiter"] or ""
    if len(delimiter) != 1:
        raise invalid("Delimiter must be one character.")
    rows = _rows(data, delimiter)
    if not rows:
        raise invalid("FileToImport is empty: it needs a header row of field names.")
    _columns(world.field_map(store), rows[0], definition["PrimaryKey"])
    list_id = assumed.job_list(definition) if ctx.extended else None
    if list_id is not None and world.list_row(store, list_id) is None:
        raise world.not_found(f"No list with id {list_id} exists.")
    if not ctx.extended:
        definition = {key: value for key, value in definition.items() if key != "ListId"}
    now = store.now()
    job_id = store.db.execute(
        "INSERT INTO cm_jobs (definition, file, status, created, due) VALUES (?, ?, 'Submitted', ?, ?)",
        (json.dumps(definition), data, now, now + float(ctx.config.import_delay)),
    ).lastrowid
    return {"JobId": job_id}


def get_job_result(ctx, params):
    """Assumed: the job's status (``Pending`` until its rows are applied, then ``Completed``), its counts and
    each refused row (1-based row of the file after the header, its key, the reason)."""
    job = ctx.store.db.execute("SELECT * FROM cm_jobs WHERE id = ?", (params["JobId"] or 0,)).fetchone()
    if job is None:
        raise world.not_found(f"No job with id {params['JobId']} exists.")
    report = json.loads(job["report"] or "{}")
    failures = report.get("failures") or []
    return {"JobId": job["id"], "Status": "Completed" if job["status"] == "Done" else "Pending",
            "Inserted": report.get("inserted", 0), "Updated": report.get("updated", 0), "Failed": len(failures),
            "FailedRows": [{"RowNumber": row, "Key": key, "Reason": reason} for row, key, reason in failures]}


def process_due(store):
    """Apply every submitted job whose time the sandbox clock has reached, oldest first."""
    due = store.db.execute("SELECT * FROM cm_jobs WHERE status = 'Submitted' AND due <= ? ORDER BY id",
                           (store.now(),)).fetchall()
    for job in due:
        report = apply_job(store, json.loads(job["definition"]), job["file"])
        store.db.execute("UPDATE cm_jobs SET status = 'Done', report = ?, file = NULL WHERE id = ?",
                         (json.dumps(report), job["id"]))


def _picked_rows(rows, key_index, use_first):
    """The file's rows with their 1-based numbers, one per primary key value (the first or the last of
    duplicates), and the numbers of rows without a key."""
    width, picked, skipped = len(rows[0]), {}, []
    for number, raw in enumerate(rows[1:], start=1):
        if not "".join(raw).strip():
            continue
        raw = raw + [""] * (width - len(raw))
        key = raw[key_index].strip().casefold()
        if not key:
            skipped.append(number)
        elif use_first:
            picked.setdefault(key, (number, raw))
        else:
            picked[key] = (number, raw)
    return list(picked.values()), skipped


@dataclasses.dataclass
class _Plan:
    """What every row of one job is applied with. Settings left out are false, as WCF reads a missing bool."""

    known: dict
    primary_key: str
    columns: list
    on_insert: dict
    on_update: dict
    list_ids: list

    def values(self, raw):
        return [{"fieldName": field.name, "value": raw[index]} for index, field in enumerate(self.columns)
                if field.key is not None]


def apply_job(store, definition, data):
    """Apply a job's rows in one transaction; returns counts for ``/sandbox/state``."""
    rows = _rows(data, definition["Delimiter"])
    known = world.field_map(store)
    primary_key = definition["PrimaryKey"]
    columns = _columns(known, rows[0], primary_key)
    list_id = assumed.job_list(definition)
    # The list may have been deleted while the job waited: its rows are still applied.
    list_ids = [list_id] if list_id is not None and world.list_row(store, list_id) is not None else []
    plan = _Plan(known, primary_key, columns, definition["InsertSettings"] or {}, definition["UpdateSettings"] or {},
                 list_ids)
    email_at = next(index for index, field in enumerate(columns) if field.is_email)
    picked, skipped = _picked_rows(rows, columns.index(known[primary_key.strip().casefold()]),
                                   definition["UseFirstDuplicate"])
    failures = [(number, "", "The row has no value for the primary key.") for number in skipped]
    report = {"inserted": 0, "updated": 0, "skipped": len(skipped)}
    store.db.execute("BEGIN")
    try:
        for number, raw in picked:
            outcome = _apply_row(store, plan, raw, raw[email_at].strip())
            if outcome not in report:
                failures.append((number, raw[email_at].strip(), outcome))
                outcome = "skipped"
            report[outcome] += 1
        report["failures"] = sorted(failures)
        store.db.execute("COMMIT")
    except Exception:
        store.db.execute("ROLLBACK")
        raise
    return report


def _apply_row(store, plan, raw, email):
    """One row: "inserted", "updated", "skipped" (an insert or update the settings do not allow), or the
    reason the row is refused (a bad email, a refused value)."""
    if not imports.EMAIL_RE.match(email):
        return f"{email!r} is not a valid email address."
    values = plan.values(raw)
    try:
        row = world.find_recipient(store, plan.known, plan.primary_key, {"emailAddress": email, "values": values})
        data, _email = world.merged_values(plan.known, json.loads(row["data"]) if row else {}, values)
    except world.Refusal as refusal:
        return str(refusal)
    if row is None:
        if not plan.on_insert.get("AllowImport"):
            return "skipped"
        if store.contact_by_email(email) is not None:
            return "Another recipient has this email address."
        contact_id = world.insert_recipient(store, email, None, data, active=bool(plan.on_insert.get("MakeActive")),
                                            verified=bool(plan.on_insert.get("MakeVerified")))
        outcome = "inserted"
    else:
        contact_id, outcome = row["id"], "skipped"
        # The recorded client sent AllowImport in UpdateSettings too: it allows the update.
        if plan.on_update.get("AllowImport"):
            # With a data field as the key, the row may carry a new email address, unless another has it.
            moved = email.casefold() != row["email_key"] and store.contact_by_email(email) is None
            world.update_recipient(store, row, email=email if moved else None, data=data,
                                   verified=True if plan.on_update.get("MakeVerified") else None)
            if plan.on_update.get("MakeActive") and assumed.job_activates(row):
                store.update_contact(contact_id, status="Subscribed")
            outcome = "updated"
    # Joining the list does not depend on the update settings: the row names the recipient either way.
    world.join_lists(store, contact_id, plan.list_ids)
    return outcome


SECURITY_TOKEN = Field("SecurityToken", "SecurityToken")

OPERATIONS = [
    Operation("Login", (Field("clientID", "int"), Field("userName", "string"), Field("password", "string")),
              "cmLoginToken", login, contract="IAPIService"),
    Operation("GetServerTime", (), "dateTime", service.get_server_time, contract="IAPIService"),
    Operation("SubmitImportJob", (Field("FileToImport", "base64Binary"),), None, submit_import_job,
              headers=(Field("JobDefinition", "JobDefinition"), SECURITY_TOKEN), input_element="SubmitJobRequest",
              output_element="JobSubmissionResultMessage", output_fields=(Field("JobId", "int"),)),
    # Assumed messages (the operation and its SOAPAction are evidenced).
    Operation("GetJobResult", (Field("JobId", "int"),), None, get_job_result, headers=(SECURITY_TOKEN,),
              input_element="GetJobResultRequest", output_element="JobResultMessage",
              output_fields=(Field("JobId", "int"), Field("Status", "string"), Field("Inserted", "int"),
                             Field("Updated", "int"), Field("Failed", "int"),
                             Field("FailedRows", "ArrayOfJobResultRow"))),
]

SERVICE = make_service("CampaignMasterJobService", "ICampaignMasterJobService", PATH, TYPES, OPERATIONS)
EXTENDED = make_service("CampaignMasterJobService", "ICampaignMasterJobService", PATH,
                        extend(TYPES, assumed.FIELDS), OPERATIONS)
