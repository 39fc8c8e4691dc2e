import os
from unittest import mock

from odoo.addons.campaign_esp_connector.tests.common import EspListSyncCommon
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job


class EspQueueCommon(EspListSyncCommon):
    """The sandbox ESP and a connected account, with the crons queueing their units.

    ``scripts/test`` runs the whole suite under queue_job's ``QUEUE_JOB__NO_DELAY`` (every other test expects the
    crons inline); these tests lift it. Queued jobs are performed as the job runner's ``/queue_job/runjob``
    would, but in the test's cursor: outside tests ``allow_commit`` gives them a cursor of their own, whose
    commits are the job base's commit points, which are savepoints under tests."""

    def setUp(self):
        super().setUp()
        patcher = mock.patch.dict(os.environ)
        patcher.start()
        self.addCleanup(patcher.stop)
        os.environ.pop("QUEUE_JOB__NO_DELAY", None)

    def _jobs(self, model=None):
        domain = [("model_name", "=like", "esp.sync.job%")]
        if model:
            domain = [("model_name", "=", model)]
        return self.env["queue.job"].search(domain, order="id")

    def _perform(self, job_record):
        """Run one queued job as ``Job.perform`` does, in the test's cursor; a ``RetryableJobError`` postpones it,
        as the job runner does, and is returned."""
        self.env.flush_all()
        job = Job.load(self.env, job_record.uuid)
        job.set_started()
        job.store()
        job.retry += 1
        try:
            result = job.func(*tuple(job.args), **job.kwargs)
        except RetryableJobError as error:
            if error.ignore_retry:
                job.retry -= 1
            job.postpone(result=str(error), seconds=error.seconds)
            job.set_pending(reset_retry=False)
            job.store()
            return error
        job.set_done(result=result)
        job.store()
        return None
