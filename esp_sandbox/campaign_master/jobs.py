"""Campaign Master's Job service (``CampaignMasterJobService.svc``): bulk imports of recipients.

``SubmitImportJob`` checks the file's header and answers a job id at once; the rows are applied by the
sandbox's due work (``SandboxApp.tick``) once the import delay has passed on the sandbox clock, exactly when a
v2 import submitted at the same moment would finish. There is no status call: a job is done when its rows can
be read back with ``GetRecipients``.
"""

import csv
import dataclasses
import io
import json

from .. import imports
from . import assumed, world
from .soap import Complex, Field, Operation, extend, invalid, make_service

PATH = "/campaignmaster/v1.1/CampaignMasterJobService.svc"

SCHEMA = """
CREATE TABLE IF NOT EXISTS cm_jobs (
    id INTEGER PRIMARY KEY, definition TEXT NOT NULL, file BLOB, status TEXT NOT NULL, created REAL NOT NULL,
    due REAL NOT NULL, report TEXT);
"""

TYPES = [
    Complex("InsertSettings", (Field("AllowImport", "boolean"), Field("MakeActive", "boolean"),
                               Field("MakeVerified", "boolean"))),
    Complex("UpdateSettings", (Field("AllowUpdate", "boolean"), Field("MakeActive", "boolean"),
                               Field("MakeVerified", "boolean"))),
    Complex("JobDefinition", (
        Field("Delimiter", "string"), Field("Filename", "string"), Field("PrimaryKey", "string"),
        Field("InsertSettings", "InsertSettings"), Field("UpdateSettings", "UpdateSettings"),
        Field("UseFirstDuplicate", "boolean"),
    )),
]


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
    if not any(field.key is None for field in columns):
        raise invalid("The file has no emailAddress column.")
    key = known.get((primary_key or "").strip().casefold())
    if key is None or key not in columns:
        raise invalid(f'The PrimaryKey "{primary_key}" is not a column of the file.')
    return columns


def submit_import_job(ctx, params):
    store, definition, data = ctx.store, params["JobDefinition"], params["FileToImport"]
    delimiter = definition["Delimiter"] or ""
    if len(delimiter) != 1:
        raise invalid("Delimiter must be one character.")
    rows = _rows(data, delimiter)
    if not rows:
        raise invalid("FileToImport is empty: it needs a header row of field names.")
    _columns(world.field_map(store), rows[0], definition["PrimaryKey"])
    list_id = assumed.job_list(definition)
    if list_id is not None and world.list_row(store, list_id) is None:
        raise world.not_found(f"No list with id {list_id} exists.")
    now = store.now()
    return store.db.execute(
        "INSERT INTO cm_jobs (definition, file, status, created, due) VALUES (?, ?, 'Submitted', ?, ?)",
        (json.dumps(definition), data, now, now + float(ctx.config.import_delay)),
    ).lastrowid


def process_due(store):
    """Apply every submitted job whose time the sandbox clock has reached, oldest first."""
    due = store.db.execute("SELECT * FROM cm_jobs WHERE status = 'Submitted' AND due <= ? ORDER BY id",
                           (store.now(),)).fetchall()
    for job in due:
        report = apply_job(store, json.loads(job["definition"]), job["file"])
        store.db.execute("UPDATE cm_jobs SET status = 'Done', report = ?, file = NULL WHERE id = ?",
                         (json.dumps(report), job["id"]))


def _picked_rows(rows, key_index, use_first):
    """The file's rows, one per primary key value: the first or the last of duplicates."""
    width, picked, skipped = len(rows[0]), {}, 0
    for raw in rows[1:]:
        if not "".join(raw).strip():
            continue
        raw = raw + [""] * (width - len(raw))
        key = raw[key_index].strip().casefold()
        if not key:
            skipped += 1
        elif use_first:
            picked.setdefault(key, raw)
        else:
            picked[key] = raw
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
    email_at = next(index for index, field in enumerate(columns) if field.key is None)
    picked, skipped = _picked_rows(rows, columns.index(known[primary_key.strip().casefold()]),
                                   definition["UseFirstDuplicate"])
    report = {"inserted": 0, "updated": 0, "skipped": skipped}
    store.db.execute("BEGIN")
    try:
        for raw in picked:
            report[_apply_row(store, plan, raw, raw[email_at].strip())] += 1
        store.db.execute("COMMIT")
    except Exception:
        store.db.execute("ROLLBACK")
        raise
    return report


def _apply_row(store, plan, raw, email):
    """One row: "inserted", "updated" or "skipped" (a bad email, a refused value, an insert or update the
    settings do not allow)."""
    if not imports.EMAIL_RE.match(email):
        return "skipped"
    values = plan.values(raw)
    try:
        row = world.find_recipient(store, plan.known, plan.primary_key, {"emailAddress": email, "values": values})
        data, _email = world.merged_values(plan.known, json.loads(row["data"]) if row else {}, values)
    except world.Refusal:
        return "skipped"
    if row is None:
        if not plan.on_insert.get("AllowImport") or store.contact_by_email(email) is not None:
            return "skipped"
        contact_id = world.insert_recipient(store, email, None, data, active=bool(plan.on_insert.get("MakeActive")),
                                            verified=bool(plan.on_insert.get("MakeVerified")))
        outcome = "inserted"
    else:
        contact_id, outcome = row["id"], "skipped"
        if plan.on_update.get("AllowUpdate"):
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


OPERATIONS = [
    Operation("SubmitImportJob", (Field("JobDefinition", "JobDefinition"), Field("FileToImport", "base64Binary")),
              "int", submit_import_job, result_name="JobId", headers=(Field("SecurityToken", "string"),)),
]

SERVICE = make_service("CampaignMasterJobService", "ICampaignMasterJobService", PATH,
                       extend(TYPES, assumed.FIELDS), OPERATIONS)
