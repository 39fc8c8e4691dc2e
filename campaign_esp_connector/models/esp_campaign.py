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

    def _esp_send_state(self, send):
        """The ESP's answer about the send: ``scheduled``, ``sending``, ``sent``, ``cancelled`` or ``failed``."""
        state = {"scheduled": "scheduled", "sending": "sending", "sent": "sent"}.get(send.state, "failed")
        self.write({"state": state, "remote_status": send.status,
                    "last_error": False if state != "failed" else self.env._(
                        "The ESP ended the send as %(status)s.", status=send.status)})
