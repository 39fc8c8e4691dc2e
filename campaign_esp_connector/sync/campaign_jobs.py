"""Campaign jobs: the send (a queued mailing becomes a send at the ESP, exactly once) and its follow-up (the
send's state until the ESP reports it done, then its first figures). Both claim the campaign in the same lock
namespace, so one worker at a time handles a campaign, whatever cron or server runs them.

Exactly once: the campaign is marked ``posting`` and committed *before* the send is asked of the ESP. A
campaign found ``posting`` (the answer was lost, or the worker died after the call) is never sent again
blindly, and never goes back to draft: the job first asks the ESP whether it holds a send of the campaign,
records it when it does, and asks again only when it does not.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import providers
from . import mailing_audience, split_test, statistics
from .campaigns import CampaignSync, esp_lists, handover_datetime
from .common import crash_point
from .runner import ListSyncRunner

_logger = logging.getLogger(__name__)

FOLLOW_UP_SECONDS = 30
UNCONFIRMED_RETRY_SECONDS = 60


class EspSyncJobCampaignSend(models.AbstractModel):
    _name = "esp.sync.job.campaign.send"
    _inherit = "esp.sync.job"
    _description = "ESP Job: Send Campaigns"

    _esp_job_kind = "campaign"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_send_campaigns"

    @api.model
    def _esp_job_units(self):
        return self.env["esp.campaign"].search([("state", "in", ("queued", "posting"))], order="id").filtered(
            self._esp_job_due)

    @api.model
    def _esp_job_current(self, unit):
        # Read again after the claim: the mailing may have been cancelled or rescheduled meanwhile.
        return bool(unit.exists()) and unit.state in ("queued", "posting") and self._esp_job_due(unit)

    @api.model
    def _esp_job_due(self, binding):
        """A queued scheduled mailing waits in Odoo for its hand-over time; anything else is due now."""
        if binding.state == "posting":
            return True
        handover = handover_datetime(binding.mailing_id)
        return handover is None or handover <= fields.Datetime.now()

    @api.model
    def _esp_job_steps(self):
        return ["_esp_step_look_up", "_esp_step_refresh_lists", "_esp_step_check", "_esp_step_push",
                "_esp_step_send"]

    @api.model
    def _esp_job_failed(self, unit, error, kind, message):
        super()._esp_job_failed(unit, error, kind, message)
        unit._esp_failed(message)
        if unit.state == "failed":
            split_test.group(unit.mailing_id).write({"state": "draft"})

    # -- steps ---------------------------------------------------------------------------------------------------

    @api.model
    def _esp_step_look_up(self, binding, run):
        """A send asked of the ESP whose answer was never recorded: does the ESP hold it?"""
        if binding.state != "posting":
            return None
        client = run.client(binding.account_id)
        send = client.find_send(int(binding.remote_id), binding.send_requested_date)
        if send is None:
            _logger.info("ESP campaign %s: no send at the ESP after an unrecorded answer; sending again",
                         binding.remote_id)
            return None
        _logger.info("ESP campaign %s: its send was found at the ESP after an unrecorded answer", binding.remote_id)
        self._esp_record_send(binding, send)
        run.commit("campaign:found")
        return "stop"

    @api.model
    def _esp_step_refresh_lists(self, binding, run):
        """Export what is pending and read opt-outs first: the send must reach today's lists."""
        if binding.state == "posting":
            return None  # refreshed before the first request
        mailing = binding.mailing_id
        audience_list = None
        if mailing_audience.is_model_mailing(mailing):
            # A model + domain: the connected filter's list, or one of the mailing's own filled from its
            # recipients now. Committed before its sync: its book exists at the ESP.
            audience_list = mailing_audience.prepare(mailing)
            run.commit("campaign:audience")
        books = esp_lists(mailing).esp_address_book_id
        runner = ListSyncRunner(self.env, trigger="cron")
        runner.run(books)
        books.invalidate_recordset()
        if runner.held or (audience_list and mailing_audience.waiting(audience_list)):
            # Another worker is syncing one of the lists right now, or the ESP is still importing the
            # recipients just exported: come back once it is done, rather than send to a list half-way through
            # its sync or refuse the send.
            self._esp_job_come_back(fields.Datetime.now() + timedelta(seconds=FOLLOW_UP_SECONDS))
            return "stop"
        return None

    @api.model
    def _esp_step_check(self, binding, run):
        CampaignSync(binding.mailing_id).validate(for_send=binding.state != "posting")

    @api.model
    def _esp_step_push(self, binding, run):
        if binding.state == "posting":
            return None  # the campaign's content was pushed before the first request
        CampaignSync(binding.mailing_id).push(run.client(binding.account_id))
        run.commit("campaign:pushed")
        return None

    @api.model
    def _esp_step_send(self, binding, run):
        mailing = binding.mailing_id
        client = run.client(binding.account_id)
        send_date = mailing.schedule_date if mailing.schedule_type == "scheduled" else None
        if send_date and send_date <= fields.Datetime.now():
            send_date = None
        book_ids = [int(book.remote_id) for book in esp_lists(mailing).esp_address_book_id]
        if not book_ids:
            # dotdigital mails All Contacts when a send names no book: never.
            raise UserError(self.env._("The mailing has no address book to be sent to at the ESP."))
        options = None
        if binding.split_test:
            # The A/B test's versions: one send of the split test, with its options (``split_test.py``).
            options = split_test.options(mailing, send_date or fields.Datetime.now())
            binding.write({f"split_test_{name}": value for name, value in options.items()})
        # Durable before the call: whatever happens to the answer or to this worker, the next run looks the
        # send up at the ESP instead of sending it again.
        binding._esp_send_posting(send_date)
        run.commit("campaign:posting")
        try:
            if options:
                send = client.send_split_test(int(binding.remote_id), book_ids, send_date=send_date, **options)
            else:
                send = client.send_campaign(int(binding.remote_id), book_ids=book_ids, send_date=send_date)
        except providers.RateLimited as error:
            # Throttled: the ESP took nothing. Asked again once its budget refills.
            binding.write({"state": "queued", "last_error": binding.account_id._esp_error_message(error)})
            run.commit("campaign:throttled")
            self._esp_job_come_back(fields.Datetime.now() + timedelta(seconds=max(int(error.retry_after or 60), 1)))
            return "stop"
        except (providers.EspConnectionError, providers.ServerError, providers.InvalidResponse) as error:
            # No answer, a server error or a broken answer: the ESP may have the send.
            binding._esp_send_unconfirmed(self.env._(
                "The ESP's answer to the send was lost (%(error)s). Before anything is sent again, the ESP is "
                "asked whether it has the send.", error=binding.account_id._esp_error_message(error)))
            run.commit("campaign:unconfirmed")
            self._esp_job_come_back(fields.Datetime.now() + timedelta(seconds=UNCONFIRMED_RETRY_SECONDS))
            return "stop"
        except providers.EspError as error:
            # A refusal the ESP answered (invalid, not found, not allowed). A provider that sends list by list
            # (Campaign Master) may have sent to some before refusing another: look before calling it refused.
            try:
                found = client.find_send(int(binding.remote_id), send_date)
            except providers.EspError:
                found = None
            if found is not None:
                self._esp_record_send(binding, found)
                binding.last_error = CampaignSync(mailing)._refusal(error) \
                    if isinstance(error, providers.ValidationError) else binding.account_id._esp_error_message(error)
                run.commit("campaign:sent")
                return "stop"
            binding.write({"state": "failed"})
            message = (CampaignSync(mailing)._refusal(error) if isinstance(error, providers.ValidationError)
                       else binding.account_id._esp_error_message(error))
            self._esp_job_failed(binding, error, "failed", message)
            run.commit("campaign:refused")
            return "stop"
        crash_point("campaign:posted")
        self._esp_record_send(binding, send)
        run.commit("campaign:sent")
        return "stop"

    @api.model
    def _esp_record_send(self, binding, send):
        binding._esp_send_started(send)
        split_test.group(binding.mailing_id).write({"state": "sending" if binding.state != "scheduled" else "in_queue"})
        at = max(binding.send_date or fields.Datetime.now(), fields.Datetime.now())
        self.env["esp.sync.job.campaign.follow"]._esp_job_come_back(at + timedelta(seconds=FOLLOW_UP_SECONDS))


class EspSyncJobCampaignFollow(models.AbstractModel):
    _name = "esp.sync.job.campaign.follow"
    _inherit = "esp.sync.job"
    _description = "ESP Job: Follow Campaign Sends"

    _esp_job_kind = "campaign"
    _esp_job_cron_xmlid = "campaign_esp_connector.ir_cron_esp_follow_campaigns"

    @api.model
    def _esp_job_units(self):
        return self.env["esp.campaign"].search([("state", "in", ("scheduled", "sending")),
                                                ("remote_id", "!=", False)], order="id")

    @api.model
    def _esp_job_current(self, unit):
        return bool(unit.exists()) and unit.state in ("scheduled", "sending")

    @api.model
    def _esp_job_steps(self):
        return ["_esp_step_poll", "_esp_step_first_figures"]

    @api.model
    def _esp_job_failed(self, unit, error, kind, message):
        super()._esp_job_failed(unit, error, kind, message)
        unit.last_error = message

    @api.model
    def _esp_step_poll(self, binding, run):
        client = run.client(binding.account_id)
        if binding.send_remote_id:
            send = client.get_send(binding.send_remote_id)
        else:
            # Found again after a lost answer: followed through the campaign itself.
            send = client.find_send(int(binding.remote_id), binding.send_requested_date)
            if send is None:
                return "stop"
        binding._esp_send_state(send)
        if binding.state == "sent":
            split_test.group(binding.mailing_id).write({"state": "done", "sent_date": fields.Datetime.now()})
        elif binding.state == "sending":
            split_test.group(binding.mailing_id).write({"state": "sending"})
            # A split test sends on at the end of its test period (hours away): no call a minute until then.
            ends = split_test.test_ends(binding)
            self._esp_job_come_back(max(fields.Datetime.now() + timedelta(minutes=1),
                                        ends + timedelta(seconds=FOLLOW_UP_SECONDS) if ends else fields.Datetime.now()))
        elif binding.state == "failed":
            # Cancelled in the ESP (what a locked scheduled mailing tells a person to do), or ended there: the
            # mailing is a draft again, with the ESP's reason.
            split_test.group(binding.mailing_id).write({"state": "draft"})
        run.commit("campaign:polled")  # the send's end is recorded whatever the figures do
        return None if binding.state == "sent" else "stop"

    @api.model
    def _esp_step_first_figures(self, binding, run):
        # A mailing that turns Sent with "0 emails have been sent" reads as a failure: its first summary and
        # recipients come with the state, not 30 minutes later with the statistics cron.
        if not binding.account_id.support_reports:
            return None
        try:
            statistics.refresh_mailing(binding, run.client(binding.account_id), with_activity=True)
        except providers.EspError as error:
            run.rollback()
            _logger.info("ESP campaign %s sent; its first figures are left to the statistics cron: %s",
                         binding.remote_id, binding.account_id._esp_error_message(error))
        return None
