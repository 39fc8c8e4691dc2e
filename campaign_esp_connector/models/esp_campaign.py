from odoo import fields, models

CAMPAIGN_STATES = [
    ("draft", "Not Synced"),
    ("synced", "Synced"),
    ("queued", "Send Queued"),
    # The send was asked of the ESP, and its answer is not recorded yet (in flight, lost, or its worker died):
    # the send job looks the send up at the ESP before anything is sent again.
    ("posting", "Send Requested"),
    ("scheduled", "Scheduled"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("failed", "Failed"),
]


class EspCampaign(models.Model):
    """A mailing's campaign at the ESP: the binding that owns the remote identity and the send's state.

    One per mailing. Written by the campaign engine (``sync/campaigns.py``) through the transitions below;
    users read it through the mailing's related fields.
    """

    _name = "esp.campaign"
    _description = "ESP Campaign"
    _order = "id desc"

    mailing_id = fields.Many2one("mailing.mailing", required=True, ondelete="cascade", index=True)
    account_id = fields.Many2one("esp.account", required=True, ondelete="restrict", index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    remote_id = fields.Char(string="ESP Campaign ID", readonly=True, copy=False)
    state = fields.Selection(CAMPAIGN_STATES, default="draft", required=True, readonly=True, copy=False)
    remote_status = fields.Char(string="ESP Status", readonly=True, copy=False)
    send_remote_id = fields.Char(string="ESP Send ID", readonly=True, copy=False)
    send_date = fields.Datetime(readonly=True, copy=False)
    send_requested_date = fields.Datetime(
        string="Send Requested For", readonly=True, copy=False,
        help="The time the send was asked for (empty: at once); how a scheduled send whose answer was lost is "
             "found at the ESP.")
    last_error = fields.Text(readonly=True, copy=False)
    last_sync_datetime = fields.Datetime(string="Last Synced", readonly=True, copy=False)
    made_in_esp = fields.Boolean(string="Made in the ESP", readonly=True, copy=False)
    template_locked = fields.Boolean(readonly=True, copy=False)
    activity_watermark = fields.Datetime(string="Activity Read Until", readonly=True, copy=False)
    # The activity read in progress (``sync/activity.py``): the ESP's clock when it started (the watermark it
    # stores once both feeds were read whole), the feed and the skip of its next page. A run that stops
    # between two pages (time budget, crash) leaves them here and the next run goes on from that page.
    activity_pass_started = fields.Datetime(string="Activity Read Started", readonly=True, copy=False)
    activity_feed = fields.Selection([("activities", "Recipients"), ("clicks", "Clicks")], readonly=True, copy=False)
    activity_skip = fields.Integer(readonly=True, copy=False)
    # Where the page before ``activity_skip`` ended, as the provider tells it (its last rows' keys): the next
    # page must start with it, else rows moved and the provider reads again before it (no row is skipped).
    activity_anchor = fields.Char(readonly=True, copy=False)
    # Waiting for the activity cron: every recent send at the start of its round, and a read left unfinished by
    # a button or the statistics cron. The round's reruns take only these.
    activity_queued = fields.Boolean(readonly=True, copy=False)
    # An A/B test sent as one split test campaign (``sync/split_test.py``): the options the send carried.
    split_test = fields.Boolean(string="Split Test", readonly=True, copy=False)
    split_test_metric = fields.Selection(
        [("opens", "Opens"), ("clicks", "Clicks"), ("roi", "ROI")], string="Winner Picked By", readonly=True,
        copy=False)
    split_test_percentage = fields.Integer(string="Test Share (%)", readonly=True, copy=False)
    split_test_period_hours = fields.Integer(string="Test Period (Hours)", readonly=True, copy=False)

    _sql_constraints = [
        ("mailing_uniq", "unique(mailing_id)", "A mailing has one campaign at the ESP."),
        ("remote_id_account_uniq", "unique(account_id, remote_id)", "This ESP campaign is already linked."),
    ]

    # ------------------------------------------------------------
    # TRANSITIONS
    # ------------------------------------------------------------

    def _esp_synced(self, campaign):
        """The ESP holds this campaign (created, found again, or updated)."""
        values = {
            "remote_id": str(campaign.id),
            "remote_status": campaign.status,
            "last_sync_datetime": fields.Datetime.now(),
            "last_error": False,
            "template_locked": True,
        }
        if self.state in ("draft", "failed"):
            values["state"] = "synced"
        if campaign.state == "sent":
            values["state"] = "sent"
        self.write(values)

    def _esp_failed(self, message):
        """A refusal or an error. A send already asked of the ESP (``posting``) keeps its state: the ESP may
        hold it, and only the send job's look-up at the ESP decides."""
        self.write({"last_error": message, "state": "failed" if self.state in ("queued", "draft") else self.state})

    def _esp_send_posting(self, send_date):
        """The send is about to be asked of the ESP (committed before the call)."""
        self.write({"state": "posting", "send_requested_date": send_date, "last_error": False})

    def _esp_send_unconfirmed(self, message):
        """The ESP's answer to the send was lost: the send job looks it up before anything is sent again."""
        self.write({"state": "posting", "last_error": message})

    def _esp_queued(self):
        self.write({"state": "queued", "last_error": False})

    def _esp_send_started(self, send):
        self.write({
            "send_remote_id": send.id or False,  # a send found again after a lost answer may have no id
            "send_date": (send.send_date and send.send_date.replace(tzinfo=None)) or self.send_requested_date or False,
            "state": "scheduled" if send.state == "scheduled" else "sending",
            "remote_status": send.status,
            "last_error": False,
        })

    def _esp_activity_queue(self):
        """Have the activity cron read these campaigns' activity (in its current round, or its next one)."""
        self.filtered(lambda binding: not binding.activity_queued).write({"activity_queued": True})

    def _esp_activity_started(self, server_now):
        """A read of the activity begins; ``server_now`` (the ESP's clock) is the watermark it stores at its end."""
        self.write({"activity_pass_started": server_now, "activity_feed": "activities", "activity_skip": 0,
                    "activity_anchor": False})

    def _esp_activity_progress(self, feed, skip, anchor=None):
        """The rows before ``skip`` of ``feed`` are written: a run that stops here goes on from that page, which
        must start with ``anchor`` (the provider's; ``None``: nothing to check)."""
        self.write({"activity_feed": feed, "activity_skip": skip, "activity_anchor": anchor or False})

    def _esp_activity_done(self):
        """Both feeds were read whole: the watermark moves to the clock read when this read began."""
        for binding in self:
            binding.write({"activity_watermark": binding.activity_pass_started, "activity_pass_started": False,
                           "activity_feed": False, "activity_skip": 0, "activity_anchor": False,
                           "activity_queued": False})

    def _esp_activity_failed(self, message):
        """The ESP refused a page: the read keeps its position for the next round, the error is shown."""
        self.write({"last_error": message, "activity_queued": False})

    def _esp_send_state(self, send):
        """The ESP's answer about the send: ``scheduled``, ``sending``, ``sent``, ``cancelled`` or ``failed``."""
        state = {"scheduled": "scheduled", "sending": "sending", "sent": "sent"}.get(send.state, "failed")
        self.write({"state": state, "remote_status": send.status,
                    "last_error": False if state != "failed" else self.env._(
                        "The ESP ended the send as %(status)s.", status=send.status)})
