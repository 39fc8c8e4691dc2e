"""Export job: Odoo subscribers whose mapped values changed go out as bulk CSV imports."""

import csv
import tempfile

from .. import providers
from .common import Job, RunAborted, values_hash
from .imports import ImportPollJob
from .optin import subscription_extras

# Rows fetched at a time from the planning cursor.
PLAN_PAGE = 20000

class ExportJob(Job):
    """Plan (SQL) -> CSV files -> ``start_import`` -> record the batch, commit; one file at a time.

    Owns no watermark: what must go out is what differs from the member rows (``confirmed_hash`` and the
    contact version last checked), and only lists with recorded changes are planned at all.
    """

    name = "export"

    def __init__(self, run):
        super().__init__(run)
        self.sent = 0

    def execute(self):
        run, binding = self.run, self.binding
        change_mark = binding._esp_change_mark()
        if not change_mark and not self._has_pending():
            return None  # nothing changed in Odoo since the last complete plan: no planning at all
        in_flight = self.env["esp.import.batch"].search_count(
            [("account_id", "=", run.account.id), ("state", "=", "posted")]
        )
        rows_per_file = max(1, min(int(run.param("rows_per_file", run.limits.rows_per_import)),
                                   run.limits.rows_per_import))
        mappings = run.account.field_mapping_ids._esp_for_list(run.mailing_list)
        header = ["Email", *mappings.mapped("data_field_name")]
        # A provider matching contacts by the Odoo id gets it in a column of its own, last.
        identity = run.client.record_identity_column
        if identity:
            header.append(identity)
        # Consent records and the ESP's double opt-in, where the provider takes them (dotdigital v3).
        consent_columns, optin_column = self._extra_columns()
        header.extend((*consent_columns, *([optin_column] if optin_column else ())))
        export = mappings._esp_exporter()
        self.env.flush_all()
        invalid_email = self.env._("invalid email address")
        checked, problems = [], []
        pending_file, complete = None, True
        for rows in binding._esp_iter_changed_rows(fetch=PLAN_PAGE):
            identities = self._identities(rows) if identity else {}
            extras = self._extras(rows, consent_columns, optin_column)
            for row in rows:
                email = row["email"]
                if not email:
                    continue
                extra_cells, refused = _extra_cells(extras.get(row["contact_id"]), consent_columns, optin_column)
                if not row["valid"] or refused:
                    # A consent is never sent broken: the member fails with the reason until it is completed.
                    refused = refused if row["valid"] else invalid_email
                    problems.append((email, refused))
                    checked.append((email, "failed", None, row["write_date"], refused))
                    continue
                values, row_problems = export(row)
                problems.extend((email, problem) for problem in row_problems)
                digest = _digest(values, extra_cells)
                if row["confirmed_hash"] == digest:
                    checked.append((email, "synced", digest, row["write_date"], None))
                    continue
                if in_flight >= run.limits.imports_in_flight or run.out_of_time():
                    complete = False  # the rest goes out next run; the changes stay recorded
                    break
                if pending_file is None:
                    pending_file = ExportFile(header)
                cells = [email, *values.values(), *([str(identities.get(email, row["contact_id"]))] if identity else ()),
                         *extra_cells]
                pending_file.add(email, cells, digest, row["write_date"], row["member_id"] is not None)
                if len(pending_file) >= rows_per_file:
                    in_flight += self._post(pending_file)
                    pending_file = None
            self.Member._esp_record_checked(self.list_id, checked)
            checked = []
            if not complete:
                break
        if pending_file:
            in_flight += self._post(pending_file)
        if problems:
            run.log._add_lines(problems[:1000])
            run.log.failed += sum(1 for _email, problem in problems if problem == invalid_email)
        if not complete:
            if in_flight >= run.limits.imports_in_flight:
                run.log._add_step(self.env._("The ESP's limit of %(max)s imports in flight is reached: the rest goes out "
                                    "next run.", max=run.limits.imports_in_flight))
            else:
                run.log._add_step(self.env._("Time budget of this run used up: the rest goes out next run."))
            return "partial"
        # Every change recorded up to the mark is planned; changes recorded meanwhile stay for the next run.
        binding._esp_clear_changes(change_mark)
        return None

    def _extra_columns(self):
        consent_columns = tuple(self.run.client.record_consent_columns or ())
        optin_column = self.run.client.record_optin_column if self.binding.double_optin else None
        return consent_columns, optin_column

    def _extras(self, rows, consent_columns, optin_column):
        if not consent_columns and not optin_column:
            return {}
        return subscription_extras(self.env, self.list_id, [row["contact_id"] for row in rows])

    def _identities(self, rows):
        """The Odoo id each email is matched by at the ESP: the oldest mailing contact holding the address, so
        that contacts Odoo holds twice under one email (in two lists, say) stay one ESP contact, as matching by
        email keeps them."""
        self.env.cr.execute(
            "SELECT email_normalized, MIN(id) FROM mailing_contact WHERE email_normalized = ANY(%s) "
            "GROUP BY email_normalized", [[row["email"] for row in rows if row["valid"]]],
        )
        return dict(self.env.cr.fetchall())

    def _has_pending(self):
        self.env.cr.execute(
            "SELECT 1 FROM esp_list_member WHERE list_id = %s AND attention = 'pending' LIMIT 1", [self.list_id]
        )
        return bool(self.env.cr.fetchone())

    def _post(self, export_file):
        """Send one file and record it at once: the ESP now holds an import, whatever happens next.

        :return: 1 if an import was started, 0 if the ESP refused for lack of room (the rows stay to plan)
        """
        run = self.run
        try:
            with export_file:
                job = run.client.start_import(
                    run.binding.remote_id, export_file.fileobj, filename=f"odoo-list-{self.list_id}.csv"
                )
        except providers.ValidationError as error:
            if error.is_retryable:  # no room for another import now (too many in flight at the ESP)
                run.log._add_step(self.env._("The ESP has no room for another import now: the rest goes out next run."))
                return 0
            raise
        batch = self.env["esp.import.batch"].create({
            "list_id": self.list_id,
            "account_id": run.account.id,
            "remote_id": job.id,
            "remote_status": job.status,
            "row_count": len(export_file),
        })
        self.Member._esp_to_exporting(self.list_id, batch.id, export_file.members)
        run.log._add_step(self.env._("Import %(id)s sent with %(rows)s contacts.", id=job.id, rows=len(export_file)))
        self.sent += len(export_file)
        run.binding.sync_progress = self.env._("Sending contacts: %(count)s sent so far", count=self.sent)
        run.commit("export:posted")
        if job.is_finished:
            # The provider processed the push synchronously: settle it now instead of polling for it.
            poll = ImportPollJob(run)
            poll.settle(batch, job)
            if poll.rejected:
                raise RunAborted("rejected", run.log.message)
            run.commit("export:settled")
        return 1

def _digest(values, extra_cells):
    """The row's hash; the consent and opt-in cells weigh in only when set, so members synced before them are
    not sent again."""
    if not any(extra_cells):
        return values_hash(values)
    return values_hash({**values, **{f"extra:{index}": cell for index, cell in enumerate(extra_cells)}})


def _extra_cells(extra, consent_columns, optin_column):
    """``(cells, problem)``: the consent and opt-in cells of one row (see :func:`.optin.subscription_extras`)."""
    consent, problem, pending_optin = extra or (None, None, False)
    if problem:
        return [], problem
    cells = list(consent or [""] * len(consent_columns)) if consent_columns else []
    if optin_column:
        cells.append("verifiedDouble" if pending_optin else "")
    return cells, None


class ExportFile:
    """A CSV file of one import, spooled to disk past 8 MB, with the members it carries."""

    def __init__(self, header):
        self.fileobj = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b")
        self._text = _TextWriter(self.fileobj)
        # Quote every cell: values starting with = + - @ or holding commas and newlines reach the ESP verbatim.
        self._writer = csv.writer(self._text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        self._writer.writerow(header)
        self.members = []

    def add(self, email, cells, digest, write_date, tracked=True):
        self._writer.writerow(cells)
        self.members.append((email, digest, write_date, tracked))

    def __len__(self):
        return len(self.members)

    def __enter__(self):
        self._text.flush()
        self.fileobj.seek(0)
        return self

    def __exit__(self, *exc_info):
        self.fileobj.close()

class _TextWriter:
    """Minimal text-to-bytes adapter for csv.writer over a binary spooled file, a few thousand rows per write
    (one spooled-file write per row was a tenth of a first export's Python time)."""

    BUFFERED = 2000

    def __init__(self, fileobj):
        self._fileobj = fileobj
        self._parts = []

    def write(self, text):
        self._parts.append(text)
        if len(self._parts) >= self.BUFFERED:
            self.flush()
        return len(text)

    def flush(self):
        if self._parts:
            self._fileobj.write("".join(self._parts).encode("utf-8"))
            self._parts = []
