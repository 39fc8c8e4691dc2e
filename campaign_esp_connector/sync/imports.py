"""Import poll job: follow the imports in flight until their faults are read."""

from odoo import fields

from .. import providers
from .common import Job
from .optouts import apply_esp_opt_outs


class ImportPollJob(Job):
    """Confirm finished imports (after reading their fault report), re-queue failed or stuck ones, stop the
    list on a rejection that needs a person. Owns no watermark and never moves another job's: contacts
    changed at the ESP while an import was in flight are the pull job's, read from its own watermark."""

    name = "poll"

    def __init__(self, run):
        super().__init__(run)
        self.rejected = False

    def execute(self):
        run = self.run
        outcome = None
        batches = self.env["esp.import.batch"].search(
            [("list_id", "=", run.mailing_list.id), ("state", "=", "posted")], order="id"
        )
        for batch in batches:
            if run.out_of_time():
                return "partial"
            job = run.client.get_import(batch.remote_id)
            batch.write({"poll_count": batch.poll_count + 1})
            if not self.settle(batch, job):
                outcome = "partial"
            run.commit("poll:batch")
        if self.rejected or self._has_rejected_members():
            # Also after a crash between the rejection and the run's end: the list waits for a person.
            return "rejected"
        return outcome

    def _has_rejected_members(self):
        self.env.cr.execute(
            "SELECT 1 FROM esp_list_member WHERE list_id = %s AND attention = 'rejected' LIMIT 1", [self.list_id]
        )
        return bool(self.env.cr.fetchone())

    def settle(self, batch, job):
        """Act on what the provider says of ``batch`` (also called right after a push the provider finished
        at once). :return: False while the import is still being processed"""
        run = self.run
        batch.remote_status = job.status
        if job.state == providers.records.IMPORT_PENDING:
            if batch.poll_count < run.limits.max_import_polls:
                return False
            batch.write({"state": "timeout", "done_datetime": fields.Datetime.now()})
            self._requeue(batch)
            run.log._add_step(
                self.env._("Import %(id)s still not finished after %(count)s checks: gave up, its %(rows)s contacts "
                  "will be sent again.", id=batch.remote_id, count=batch.poll_count, rows=batch.row_count)
            )
        elif job.state == providers.records.IMPORT_REJECTED:
            self.reject(batch)
        elif job.state == providers.records.IMPORT_FAILED:
            batch.write({"state": "failed", "done_datetime": fields.Datetime.now()})
            self._requeue(batch)
            run.log._add_step(self.env._("Import %(id)s ended as %(status)s: its contacts will be sent again.",
                                id=batch.remote_id, status=job.status))
        else:
            self.confirm(batch)
        return True

    def _requeue(self, batch):
        self.Member._esp_requeue(batch)
        # A change to look at: some of these members may have left the list meanwhile (their removal waited
        # for the import), and only runs with recorded changes plan removals.
        self.env["esp.address.book"]._esp_mark_changed([self.list_id])

    def reject(self, batch):
        run = self.run
        reason = self.env._("Rejected by the ESP's watchdog")
        batch.write({"state": "rejected", "done_datetime": fields.Datetime.now()})
        self.Member._esp_requeue(batch, state="rejected", reason=reason)
        message = self.env._(
            "The ESP's watchdog rejected import %(id)s (%(rows)s contacts): it suspects the list was not "
            "collected with consent. Nothing is sent again automatically; contact the ESP, then use "
            "“Retry Rejected” on the list.", id=batch.remote_id, rows=batch.row_count,
        )
        run.log._add_step(message)
        run.log.message = message
        self.rejected = True

    def confirm(self, batch):
        run = self.run
        refused, suppressed, retry = {}, {}, {}
        for fault in run.client.iter_import_faults(batch.remote_id):
            if not fault.email:
                continue
            email = fault.email.strip().lower()
            if fault.kind == providers.records.FAULT_RETRY:
                retry[email] = fault.reason
            elif fault.kind == providers.records.FAULT_SUPPRESSED:
                suppressed[email] = fault.reason or self.env._("Suppressed")
            else:
                refused[email] = fault.reason or self.env._("Refused by the ESP")
        confirmed = self.Member._esp_confirm(batch, {**refused, **retry})
        if retry:
            # Set right at the ESP meanwhile: they go out again with the next export.
            self.Member._esp_mark(self.list_id, list(retry), "pending")
        if refused:
            run.log._add_lines(refused.items())
        if suppressed:
            # The ESP refused them as unsubscribed or suppressed: they must not be mailed from Odoo either.
            apply_esp_opt_outs(run, [(email, reason, None, False) for email, reason in suppressed.items()])
        batch.write({"state": "done", "fault_count": len(refused) + len(suppressed),
                     "done_datetime": fields.Datetime.now()})
        run.log.exported += confirmed
        run.log.failed += len(refused)
        run.log._add_step(self.env._("Import %(id)s confirmed: %(ok)s exported, %(faults)s refused.",
                            id=batch.remote_id, ok=confirmed, faults=len(refused) + len(suppressed)))
