from email.utils import parseaddr

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize, float_round, format_datetime, formatLang

from ..sync import mailing_audience, split_test, statistics
from ..sync.campaigns import (
    MAX_TEST_ADDRESSES,
    CampaignSync,
    handover_datetime,
    lists_account,
    odoo_send_reason,
    recipient_problems,
    recipient_warning,
    test_addresses,
)
from .esp_campaign import CAMPAIGN_STATES

# What the ESP holds once a send is handed over (body, subject, sender, lists, date): written to a mailing whose
# send the ESP holds, it would never reach the ESP, so it is refused (and read-only on the form).
ESP_LOCKED_FIELDS = (
    "subject", "preview", "body_arch", "body_html", "email_from", "reply_to", "mailing_model_id",
    "contact_list_ids", "schedule_type", "schedule_date", "esp_account_id", "esp_from_name",
    "esp_from_address_id", "esp_reply_to", "esp_description", "esp_template_id", "mailing_domain",
)
# Campaign states in which the ESP holds the send (or may: ``posting`` is looked up before anything else).
ESP_HANDED_OVER_STATES = ("posting", "scheduled", "sending")


class MailingMailing(models.Model):
    _inherit = "mailing.mailing"

    esp_account_id = fields.Many2one(
        "esp.account", string="Send through ESP", compute="_compute_esp_account_id", store=True, readonly=False,
        domain="[('state', '=', 'connected'), ('support_campaigns', '=', True)]",
        help="The ESP sends this mailing as a campaign to the address books of its lists; Odoo's own mail queue "
             "never sends it.",
    )
    esp_from_name = fields.Char(string="From Name", compute="_compute_esp_from_name", store=True, readonly=False)
    esp_from_address_id = fields.Many2one(
        "esp.from.address", string="ESP From Address", domain="[('account_id', '=', esp_account_id)]",
        compute="_compute_esp_from_address_id", store=True, readonly=False,
    )
    esp_reply_to = fields.Char(string="Forward Replies To")
    esp_test_address = fields.Char(string="Test Addresses", help="One or more addresses, separated by commas.")
    esp_description = fields.Char(
        string="Campaign Description",
        help="What the campaign is about, as the ESP lists it. Campaign Master requires one.")
    esp_support_campaign_description = fields.Boolean(related="esp_account_id.support_campaign_description")
    esp_support_list_at_send = fields.Boolean(related="esp_account_id.support_list_at_send")
    esp_support_test_send = fields.Boolean(related="esp_account_id.support_test_send")
    esp_template_id = fields.Many2one("esp.template", string="ESP Template",
                                      domain="[('account_id', '=', esp_account_id)]")
    esp_activity_ids = fields.One2many("esp.mailing.activity", "mailing_id", string="ESP Activity")
    esp_activity_count = fields.Integer(string="ESP Activity Rows", compute="_compute_esp_activity_count")
    esp_campaign_ids = fields.One2many("esp.campaign", "mailing_id", string="ESP Campaigns")
    esp_campaign_id = fields.Many2one("esp.campaign", compute="_compute_esp_campaign_id", store=True, index="btree_not_null")
    esp_campaign_remote_id = fields.Char(string="ESP Campaign ID", related="esp_campaign_id.remote_id")
    esp_campaign_state = fields.Selection(CAMPAIGN_STATES, string="ESP Campaign", compute="_compute_esp_campaign_state")
    esp_last_error = fields.Text(related="esp_campaign_id.last_error", string="ESP Error")
    esp_last_sync_datetime = fields.Datetime(related="esp_campaign_id.last_sync_datetime", string="Last Synced")
    esp_made_in_esp = fields.Boolean(related="esp_campaign_id.made_in_esp", string="Made in the ESP")
    esp_template_locked = fields.Boolean(related="esp_campaign_id.template_locked")
    esp_support_campaigns = fields.Boolean(related="esp_account_id.support_campaigns")
    esp_send_locked = fields.Boolean(
        string="Held by the ESP", compute="_compute_esp_send_locked",
        help="The ESP holds this mailing's send: its content, sender, lists and date can no longer change here.")
    esp_handover_datetime = fields.Datetime(
        string="Handed to the ESP At", compute="_compute_esp_handover_datetime",
        help="A scheduled mailing stays in Odoo (editable, cancellable) until this time, then the ESP holds its "
             "send.")
    esp_support_click_urls = fields.Boolean(related="esp_account_id.support_click_urls")
    # A/B testing through the ESP: the versions are one split test campaign (``sync/split_test.py``).
    esp_support_split_test = fields.Boolean(related="esp_account_id.support_split_test")
    esp_ab_refusal = fields.Text(string="A/B Test Refused by the ESP", compute="_compute_esp_ab")
    esp_ab_summary = fields.Text(string="A/B Test at the ESP", compute="_compute_esp_ab")
    esp_ab_lead_id = fields.Many2one("mailing.mailing", string="Split Test Campaign On", compute="_compute_esp_ab",
                                     help="The version whose ESP campaign holds every version of the A/B test.")
    esp_ab_version = fields.Char(string="ESP Version", readonly=True, copy=False,
                                 help="The ESP's name of this version in the split test.")
    esp_ab_result = fields.Float(string="ESP Test Result (%)", readonly=True, copy=False,
                                 help="The share of this version's test recipients who opened (or clicked, as the "
                                      "winner is picked), as the ESP reports it.")
    esp_ab_result_count = fields.Integer(string="ESP Test Recipients Counted", readonly=True, copy=False)
    esp_ab_winner = fields.Boolean(string="ESP Winner", readonly=True, copy=False,
                                   help="The ESP picked this version and sent it to the rest of the recipients.")

    # Who sends the mailing's lists (the ESP, or Odoo's mail server by a person's explicit choice).
    esp_send_through_odoo = fields.Boolean(
        string="Send through Odoo's mail server, without the ESP's suppressions and tracking",
        copy=False, tracking=True,
        help="The lists of this mailing are connected to an ESP, but not all to one account: Odoo's own mail server "
             "sends it to every contact of its lists, including the ESP's. The ESP's unsubscribes, bounces and "
             "suppressions are not applied, and its tracking does not see the send.")
    esp_recipients_warning = fields.Text(string="Recipients Warning", compute="_compute_esp_recipients_warning")
    esp_odoo_send_reason = fields.Text(
        string="Why Odoo Sends It", compute="_compute_esp_odoo_send_reason",
        help="Why Odoo's own mail server, not an ESP, sends this mailing.")

    # A mailing to a model and domain (Contacts, Leads, ...): the ESP sends to the book of a list with a source
    # (``sync/mailing_audience.py``).
    esp_audience_list_id = fields.Many2one(
        "mailing.list", string="ESP Recipients List", readonly=True, copy=False, ondelete="set null",
        help="The list whose address book the ESP sent this mailing to: the connected filter of its recipients, "
             "or the list made from its recipients when it was sent, kept for the statistics.")
    esp_audience_own = fields.Boolean(string="List of Its Own", readonly=True, copy=False)
    esp_audience_filter_id = fields.Many2one(
        "mailing.list", string="Connected Filter", compute="_compute_esp_audience_filter_id",
        help="A filter connected to an address book of this account, with the mailing's model and filter: the ESP "
             "sends the mailing to that book.")

    # Campaign summary, as the ESP reports it (refreshed every 30 minutes for campaigns with new activity).
    esp_stat_sent = fields.Integer(string="Sent (ESP)", readonly=True, copy=False, aggregator="sum")
    esp_stat_delivered = fields.Integer(string="Delivered (ESP)", readonly=True, copy=False, aggregator="sum")
    esp_stat_hard_bounces = fields.Integer(string="Hard Bounces", readonly=True, copy=False, aggregator="sum")
    esp_stat_soft_bounces = fields.Integer(string="Soft Bounces", readonly=True, copy=False, aggregator="sum")
    esp_stat_unsubscribes = fields.Integer(string="Unsubscribes", readonly=True, copy=False, aggregator="sum")
    esp_stat_complaints = fields.Integer(string="Complaints", readonly=True, copy=False, aggregator="sum")
    esp_stat_opens = fields.Integer(string="Opens (all)", readonly=True, copy=False, aggregator="sum")
    esp_stat_unique_opens = fields.Integer(string="Unique Opens", readonly=True, copy=False, aggregator="sum")
    esp_stat_clicks = fields.Integer(string="Clicks (all)", readonly=True, copy=False, aggregator="sum")
    esp_stat_unique_clicks = fields.Integer(string="Recipients Who Clicked", readonly=True, copy=False,
                                            aggregator="sum")
    esp_stat_forwards = fields.Integer(string="Forwards", readonly=True, copy=False, aggregator="sum")
    # Figures some ESPs do not report (dotdigital among them): those are counted from the recipients' ESP
    # activity rows, so they are as recent as the last activity import.
    esp_stat_unique_forwards = fields.Integer(
        string="Recipients Who Forwarded", readonly=True, copy=False, aggregator="sum",
        help="Recipients who forwarded the email at least once. When the ESP does not report it (dotdigital), "
             "counted from the ESP activity of each recipient, as of its last import.")
    esp_stat_views = fields.Integer(
        string="Confirmed Views", readonly=True, copy=False, aggregator="sum",
        help="Recipients who loaded the images and/or clicked a link (Campaign Master's \"confirmed total "
             "views\"). When the ESP does not report it (dotdigital), counted from the ESP activity of each "
             "recipient, as of its last import.")
    esp_stat_no_activity = fields.Integer(
        string="No Activity", readonly=True, copy=False, aggregator="sum",
        help="Recipients with neither an open nor a click (bounced recipients included). When the ESP does "
             "not report it (dotdigital), counted from the ESP activity of each recipient, as of its last "
             "import.")
    esp_stat_esp_open_rate = fields.Float(
        string="Unique Opens per Delivered (%)", readonly=True, copy=False, aggregator="avg",
        help="Recipients who opened / delivered (the ESP's open rate), from the same summary read as every other "
             "figure of the tab.")
    esp_stats_datetime = fields.Datetime(string="Statistics Updated", readonly=True, copy=False)
    # Rates as OpenCRM defines them.
    esp_stat_total_bounces = fields.Integer(string="Total Bounces", compute="_compute_esp_stat_rates")
    esp_stat_successful = fields.Integer(string="Successful", compute="_compute_esp_stat_rates",
                                         help="Delivered, as the ESP reports it.")
    esp_stat_pending = fields.Integer(
        string="Awaiting Outcome", compute="_compute_esp_stat_rates",
        help="Sent, and neither delivered nor bounced yet as the ESP reports it: a bounce can come back minutes "
             "after a send. Sent = Delivered + Total Bounces + Awaiting Outcome.")
    esp_stat_unsubscribe_rate = fields.Float(string="Unsubscribe Rate (%)", compute="_compute_esp_stat_rates")
    esp_stat_click_rate = fields.Float(
        string="Clicks per Sent (%)", compute="_compute_esp_stat_rates",
        help="All clicks (a recipient may click several times) / sent, as OpenCRM counts it. Recipients who "
             "clicked / sent is Odoo's own Clicked figure.")
    esp_stat_open_rate = fields.Float(
        string="All Opens per Sent (%)", compute="_compute_esp_stat_rates",
        help="All opens (a recipient may open several times) / sent, as OpenCRM counts it: it can exceed 100 %. "
             "Recipients who opened / delivered is Unique Opens per Delivered.")

    @api.depends("esp_stat_sent", "esp_stat_delivered", "esp_stat_hard_bounces", "esp_stat_soft_bounces",
                 "esp_stat_unsubscribes", "esp_stat_clicks", "esp_stat_opens")
    def _compute_esp_stat_rates(self):
        # One definition of each figure, all from the stored summary (one read): Successful is the ESP's
        # Delivered, never Sent minus the bounces reported so far, which right after a send counts the
        # recipients whose bounce has not come back yet.
        for mailing in self:
            sent = mailing.esp_stat_sent
            bounces = mailing.esp_stat_hard_bounces + mailing.esp_stat_soft_bounces
            mailing.esp_stat_total_bounces = bounces
            mailing.esp_stat_successful = mailing.esp_stat_delivered
            mailing.esp_stat_pending = max(sent - mailing.esp_stat_delivered - bounces, 0)
            mailing.esp_stat_unsubscribe_rate = 100.0 * mailing.esp_stat_unsubscribes / sent if sent else 0.0
            mailing.esp_stat_click_rate = 100.0 * mailing.esp_stat_clicks / sent if sent else 0.0
            mailing.esp_stat_open_rate = 100.0 * mailing.esp_stat_opens / sent if sent else 0.0

    def _compute_clicks_ratio(self):
        # Odoo counts the clicks its own link trackers recorded; an ESP mailing's clicks are the ESP's, on the
        # traces that follow its activity (the share Odoo shows as "Clicked").
        esp = self.filtered("esp_account_id")
        super(MailingMailing, self - esp)._compute_clicks_ratio()
        if not esp:
            return
        self.env["mailing.trace"].flush_model(["mass_mailing_id", "trace_status", "links_click_datetime"])
        self.env.cr.execute("""
            SELECT mass_mailing_id, COUNT(*), COUNT(links_click_datetime)
              FROM mailing_trace
             WHERE mass_mailing_id = ANY(%s) AND trace_status NOT IN ('bounce', 'cancel', 'error')
             GROUP BY mass_mailing_id
        """, [esp.ids])
        ratios = {mailing_id: float_round(100.0 * clicked / traces, precision_digits=2)
                  for mailing_id, traces, clicked in self.env.cr.fetchall() if traces}
        for mailing in esp:
            mailing.clicks_ratio = ratios.get(mailing.id, 0.0)

    def _action_view_documents_filtered(self, view_filter):
        # Odoo's Clicked lists the recipients whose trace has link clicks. An ESP mailing's clickers are those
        # the ESP reports (the traces' click date, which Odoo's Clicked figure counts too): also for an ESP that
        # does not say which link was clicked, so has no link tracker click.
        action = super()._action_view_documents_filtered(view_filter)
        if view_filter == "clicked" and self.esp_account_id:
            traces = self.env["mailing.trace"].search_read(
                [("mass_mailing_id", "=", self.id), ("links_click_datetime", "!=", False)], ["res_id"])
            action["domain"] = [("id", "in", [trace["res_id"] for trace in traces])]
        return action

    @api.depends("contact_list_ids.esp_address_book_id.account_id", "mailing_model_real", "state",
                 "esp_send_through_odoo")
    def _compute_esp_account_id(self):
        for mailing in self:
            # Only drafts: a mailing Odoo already sent (or queued) stays Odoo's when its lists get connected.
            account = mailing.esp_account_id
            if not account and mailing.mailing_model_real == "mailing.contact" and mailing.state == "draft":
                account = lists_account(mailing) or account
            if mailing.esp_send_through_odoo and mailing.state == "draft":
                # A person chose Odoo's mail server for lists the ESP cannot send together.
                account = False
            mailing.esp_account_id = account

    @api.depends("esp_account_id", "mailing_model_id", "mailing_domain")
    def _compute_esp_audience_filter_id(self):
        for mailing in self:
            mailing.esp_audience_filter_id = mailing_audience.connected_filter(mailing)

    @api.depends("email_from")
    def _compute_esp_from_name(self):
        for mailing in self:
            mailing.esp_from_name = (mailing.esp_from_name or parseaddr(mailing.email_from or "")[0]
                                     or mailing.env.company.name)

    @api.depends("esp_account_id", "email_from")
    def _compute_esp_from_address_id(self):
        for mailing in self:
            if mailing.esp_from_address_id.account_id == mailing.esp_account_id and mailing.esp_from_address_id:
                mailing.esp_from_address_id = mailing.esp_from_address_id
                continue
            addresses = mailing.esp_account_id.sudo().from_address_ids if mailing.esp_account_id else False
            if not addresses:
                mailing.esp_from_address_id = False
                continue
            wanted = parseaddr(mailing.email_from or "")[1].lower()
            mailing.esp_from_address_id = (
                addresses.filtered(lambda address, wanted=wanted: address.email.lower() == wanted)[:1] or addresses[:1]
            )

    def _compute_esp_activity_count(self):
        counts = dict(self.env["esp.mailing.activity"]._read_group(
            [("mailing_id", "in", self.ids)], ["mailing_id"], ["__count"]))
        for mailing in self:
            mailing.esp_activity_count = counts.get(mailing, 0)

    @api.depends("esp_campaign_ids")
    def _compute_esp_campaign_id(self):
        for mailing in self:
            mailing.esp_campaign_id = mailing.esp_campaign_ids[:1]

    @api.depends("esp_campaign_id.state", "campaign_id.mailing_mail_ids.esp_campaign_id.state")
    def _compute_esp_campaign_state(self):
        for mailing in self:
            # The versions of an A/B test follow the split test's campaign, held by the first version.
            binding = mailing.esp_campaign_id or split_test.lead(mailing).esp_campaign_id
            mailing.esp_campaign_state = binding.state or "draft"

    @api.depends("ab_testing_enabled", "ab_testing_pc", "ab_testing_winner_selection", "ab_testing_schedule_datetime",
                 "esp_account_id", "contact_list_ids", "campaign_id", "state", "schedule_type", "schedule_date",
                 "campaign_id.mailing_mail_ids.ab_testing_pc", "campaign_id.mailing_mail_ids.contact_list_ids",
                 "campaign_id.mailing_mail_ids.state")
    def _compute_esp_ab(self):
        for mailing in self:
            refusal = split_test.refusal(mailing)
            versions = split_test.versions(mailing)
            mailing.esp_ab_refusal = refusal
            mailing.esp_ab_summary = split_test.summary(mailing) if versions and not refusal else False
            lead = versions[:1]._origin
            mailing.esp_ab_lead_id = lead if len(versions) > 1 and lead != mailing._origin else False

    @api.depends("esp_account_id", "esp_campaign_state")
    def _compute_esp_send_locked(self):
        for mailing in self:
            # The versions of an A/B test are locked with the split test's campaign, held by the first one.
            mailing.esp_send_locked = bool(mailing.esp_account_id) and \
                mailing.esp_campaign_state in ESP_HANDED_OVER_STATES

    @api.depends("esp_account_id", "schedule_type", "schedule_date")
    def _compute_esp_handover_datetime(self):
        for mailing in self:
            mailing.esp_handover_datetime = mailing.esp_account_id and handover_datetime(mailing) or False

    @api.depends("contact_list_ids.esp_account_id", "esp_account_id", "mailing_model_real")
    def _compute_esp_recipients_warning(self):
        for mailing in self:
            mailing.esp_recipients_warning = recipient_warning(mailing)

    @api.depends("esp_account_id", "contact_list_ids.esp_account_id", "mailing_model_real", "mailing_domain",
                 "mailing_type", "state", "esp_send_through_odoo")
    def _compute_esp_odoo_send_reason(self):
        for mailing in self:
            mailing.esp_odoo_send_reason = odoo_send_reason(mailing)

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_esp_sync_campaign(self):
        """Sync with ESP: create the campaign there the first time, update it afterwards."""
        self.ensure_one()
        self.check_access("write")
        known = self.esp_campaign_id.remote_id
        sync = CampaignSync(self)
        sync.validate()
        binding = sync.account._esp_call(sync.push)
        if binding.remote_id == known:
            self._esp_post_note(_("Synced with the ESP account “%(account)s”: campaign %(id)s updated.",
                                  account=sync.account.name, id=binding.remote_id))
        else:
            self._esp_post_note(_("Synced with the ESP account “%(account)s”: campaign %(id)s created.",
                                  account=sync.account.name, id=binding.remote_id))
        return self._esp_notify(_("Campaign synced with the ESP (campaign %(id)s).", id=binding.remote_id))

    def action_esp_test_send(self):
        """Send the campaign at the ESP to the test addresses only."""
        self.ensure_one()
        self.check_access("write")
        addresses = test_addresses(self.esp_test_address)
        if not addresses:
            raise UserError(_("Give one or more test addresses (Test Addresses) first."))
        if len(addresses) > MAX_TEST_ADDRESSES:
            raise UserError(_("A test send goes to at most %(max)s addresses.", max=MAX_TEST_ADDRESSES))
        invalid = [address for address in addresses if not email_normalize(address)]
        if invalid:
            raise UserError(_("These test addresses are not valid email addresses: %(addresses)s",
                              addresses=", ".join(invalid)))
        sync = CampaignSync(self)
        sync.validate()
        sync.account._esp_call(lambda client: sync.test_send(client, addresses))
        self._esp_post_note(_("Test sent by the ESP account “%(account)s” to %(addresses)s.",
                              account=sync.account.name, addresses=", ".join(addresses)))
        return self._esp_notify(_(
            "Test sent by the ESP to %(addresses)s. Test sends appear in the ESP's reporting.",
            addresses=", ".join(addresses)))

    def action_esp_send(self):
        """Send (or schedule) through the ESP: queued for the cron, which refreshes the lists first."""
        for mailing in self:
            mailing.check_access("write")
            sync = CampaignSync(mailing)
            # Lists waiting for a person stop the send now; pending contacts go out when the cron refreshes
            # the lists right before sending.
            sync.validate(for_send=True, pending_too=False)
            sync.binding()._esp_queued()
            # An A/B test's versions go together, when this one was asked for.
            (sync.versions or mailing).write({"state": "in_queue", "schedule_type": mailing.schedule_type,
                                              "schedule_date": mailing.schedule_date})
        self._esp_trigger_handover()
        return True

    def _esp_trigger_handover(self):
        """Have the send job run when these queued mailings are due: now, or at a scheduled one's hand-over."""
        now = fields.Datetime.now()
        for at in {max(mailing.esp_handover_datetime or now, now) for mailing in self}:
            self.env["esp.sync.job.campaign.send"]._esp_job_come_back(at)

    def action_test(self):
        self.ensure_one()
        self._esp_check_recipients_decided()
        if self.esp_account_id:
            # What the ESP would refuse (a placeholder it cannot fill, no from address, ...) is said before the
            # dialog, not after the person typed the addresses.
            CampaignSync(self).validate()
        action = super().action_test()
        if self.esp_account_id:
            # Odoo's own test dialog, its Send handing the test to the ESP (mailing.mailing.test), pre-filled
            # with the ESP tab's test addresses (the dialog takes one address a line).
            addresses = test_addresses(self.esp_test_address)
            if addresses:
                action["context"] = dict(action.get("context") or {}, default_email_to="\n".join(addresses))
        return action

    def _esp_undecided(self):
        """Mailings whose lists cannot go out the way the mailing is sent, and no person chose Odoo's server.

        Through an ESP account the choice does not help (the ESP sends to its own books only); through Odoo's mail
        server it is the person's explicit decision to bypass the ESP.
        """
        return self.filtered(lambda mailing: (mailing.esp_account_id or not mailing.esp_send_through_odoo)
                             and recipient_problems(mailing))

    def _esp_check_recipients_decided(self):
        """Refuse to send, schedule or test mailings a person has not decided on, naming their lists."""
        undecided = self._esp_undecided()
        if undecided:
            raise UserError("\n\n".join(
                _("“%(mailing)s” cannot be sent yet. %(warning)s", mailing=mailing.subject or mailing.display_name,
                  warning=recipient_warning(mailing))
                for mailing in undecided))

    def action_put_in_queue(self):
        self._esp_check_recipients_decided()
        esp = self.filtered("esp_account_id")
        if esp:
            esp.action_esp_send()
        return super(MailingMailing, self - esp).action_put_in_queue() if self - esp else True

    def action_schedule(self):
        # Before the date dialog, not after it.
        self._esp_check_recipients_decided()
        return super().action_schedule()

    def action_cancel(self):
        # The versions of an A/B test through the ESP are one campaign there: they are cancelled together.
        mailings = self | self.filtered("esp_account_id").mapped(split_test.versions)
        for mailing in mailings.filtered("esp_account_id"):
            if mailing.esp_send_locked:
                raise UserError(mailing._esp_locked_reason())
            if mailing.esp_campaign_id.state == "sent":
                raise UserError(_("The ESP cannot cancel a send through its API: cancel it in the ESP itself."))
            if mailing.esp_campaign_id.state == "queued":
                mailing.esp_campaign_id.sudo().write({"state": "synced" if mailing.esp_campaign_remote_id else "draft"})
        return super(MailingMailing, mailings).action_cancel()

    def action_send_winner_mailing(self):
        # The ESP sends the winner of an A/B test it runs: Odoo's final mailing would mail the rest a second time.
        if any(split_test.is_split_test(mailing) for mailing in self):
            if self.env.context.get("esp_ab_testing_cron"):
                return False
            raise UserError(_("The ESP picks and sends the winner of this A/B test after the test period: Odoo sends "
                              "no final mailing."))
        return super().action_send_winner_mailing()

    def action_select_as_winner(self):
        if split_test.is_split_test(self):
            raise UserError(_("The ESP picks and sends the winner of this A/B test after the test period: Odoo sends "
                              "no final mailing."))
        return super().action_select_as_winner()

    def _esp_locked_reason(self):
        self.ensure_one()
        if self.schedule_type == "scheduled" and self.esp_campaign_id.state in ("posting", "scheduled"):
            return _("The ESP holds this mailing's scheduled send, and its API cannot cancel or change a send: the "
                     "body, subject, sender, lists and date can no longer change here. To change or stop it, "
                     "cancel the send in the ESP itself.")
        return _("The ESP has been asked to send this mailing: it can no longer change or be cancelled here.")

    def write(self, vals):
        locked = [name for name in ESP_LOCKED_FIELDS if name in vals]
        if locked:
            for mailing in self.filtered("esp_send_locked"):
                if any(mailing._esp_changes(name, vals[name]) for name in locked):
                    raise UserError(mailing._esp_locked_reason())
        rescheduled = self.filtered(lambda mailing: any(
            mailing._esp_changes(name, vals[name]) for name in ("schedule_type", "schedule_date") if name in vals))
        res = super().write(vals)
        # Rescheduled while still queued in Odoo: the send job comes at the new hand-over time.
        rescheduled.filtered(lambda mailing: mailing.esp_account_id and mailing.state == "in_queue"
                             and mailing.esp_campaign_id.state == "queued")._esp_trigger_handover()
        return res

    def _esp_changes(self, name, value):
        """Whether writing ``value`` to field ``name`` changes it (a form may send back what it shows)."""
        field = self._fields[name]
        return field.convert_to_record(field.convert_to_cache(value, self), self) != self[name]

    def _action_send_mail(self, res_ids=None):
        # The last door before mail.mail records are made, whoever calls it (ESP mailings never pass it).
        self.filtered(lambda mailing: not mailing.esp_account_id)._esp_check_recipients_decided()
        # Odoo's own queue never sends an ESP mailing: no mail.mail is created for it, whatever cron runs.
        return super(MailingMailing, self.filtered(lambda mailing: not mailing.esp_account_id))._action_send_mail(
            res_ids=res_ids
        )

    def action_send_mail(self, res_ids=None):
        self.filtered(lambda mailing: not mailing.esp_account_id)._esp_check_recipients_decided()
        return super(MailingMailing, self.filtered(lambda mailing: not mailing.esp_account_id)).action_send_mail(
            res_ids=res_ids
        )

    @api.model
    def _process_mass_mailing_queue(self):
        # A mailing queued before its lists were connected (or a queue written to by hand): back to draft with the
        # reason in its chatter, rather than an error that would stop the queue for every other mailing.
        queued = self.search([("esp_account_id", "=", False), ("state", "in", ("in_queue", "sending"))])
        for mailing in queued._esp_undecided():
            mailing.write({"state": "draft"})
            mailing.message_post(body=_(
                "Not sent by Odoo's mail server and put back to draft: %(warning)s",
                warning=recipient_warning(mailing)))
        # ESP mailings are the ESP's: Odoo's queue neither sends them nor moves their state.
        esp = self.search([("esp_account_id", "!=", False), ("state", "in", ("in_queue", "sending"))])
        states = {mailing.id: mailing.state for mailing in esp}
        res = super()._process_mass_mailing_queue()
        for mailing in esp:
            if mailing.state != states[mailing.id]:
                mailing.state = states[mailing.id]
        return res

    def _esp_read_campaign(self, operation):
        """Run ``operation(binding, client)`` for this mailing's remote campaign, on a user's request."""
        self.ensure_one()
        self.check_access("read")
        binding = self.esp_campaign_id.sudo()
        if not binding.remote_id:
            raise UserError(_("This mailing has no campaign at the ESP yet."))
        return binding.account_id._esp_call(lambda client: operation(binding, client))

    def action_esp_refresh_statistics(self):
        """Read this mailing's campaign summary and its recipients' activity from the ESP now."""
        # A person expects every figure on the page to agree: Odoo's own follow the recipients' activity.
        self._esp_read_campaign(lambda binding, client: statistics.refresh_mailing(binding, client, with_activity=True))
        # Only a person's Refresh is recorded: the statistics cron refreshes every 30 minutes, and a note each time
        # would bury the mailing's history.
        self._esp_post_note(_(
            "Statistics refreshed from the ESP: %(sent)s sent, %(delivered)s delivered, %(opens)s unique opens, "
            "%(clicks)s recipients who clicked, %(bounces)s bounces, %(unsubscribes)s unsubscribes.",
            sent=self._esp_format_count(self.esp_stat_sent), delivered=self._esp_format_count(self.esp_stat_delivered),
            opens=self._esp_format_count(self.esp_stat_unique_opens),
            clicks=self._esp_format_count(self.esp_stat_unique_clicks),
            bounces=self._esp_format_count(self.esp_stat_total_bounces),
            unsubscribes=self._esp_format_count(self.esp_stat_unsubscribes)))
        return self._esp_notify(_("Statistics and recipient activity read from the ESP."))

    def action_esp_import_activity(self):
        """Read each recipient's activity from the ESP now (also daily by cron)."""
        # The feed gives the recipients with activity since the last complete read (the ESP's clock then): "0
        # read" would read as "no activity", so it says since when nothing came.
        previous = self.esp_campaign_id.sudo().activity_watermark
        count = self._esp_read_campaign(statistics.read_activity)
        return self._esp_notify(self._esp_activity_read_message(count, previous))

    def _esp_activity_read_message(self, count, previous):
        """What a person reads after Read Recipient Activity.

        :param count: recipients whose activity the ESP sent back (new or changed since ``previous``)
        :param previous: when the last complete read began (naive UTC), or False before the first one
        """
        since = format_datetime(self.env, previous, dt_format=False) if previous else False
        if self.esp_campaign_id.activity_queued:
            message = (
                _("%(count)s recipient activities since %(date)s read from the ESP; the rest is read in the "
                  "background.", count=self._esp_format_count(count), date=since) if since else
                _("%(count)s recipient activities read from the ESP; the rest is read in the background.",
                  count=self._esp_format_count(count)))
        elif count and since:
            message = _("%(count)s new recipient activities read from the ESP since %(date)s.",
                        count=self._esp_format_count(count), date=since)
        elif count:
            message = _("%(count)s recipient activities read from the ESP.", count=self._esp_format_count(count))
        elif since:
            message = _("Nothing new since %(date)s.", date=since)
        else:
            message = _("No recipient activity at the ESP yet.")
        return message

    def action_view_esp_activity(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.esp_mailing_activity_action")
        action["domain"] = [("mailing_id", "=", self.id)]
        return action

    def _esp_post_note(self, message):
        """Record in the mailing's chatter what the ESP answered to a person's action (its author says who)."""
        self.message_post(body=message, subtype_xmlid="mail.mt_note")

    def _esp_format_count(self, count):
        return formatLang(self.env, count, digits=0)

    def _esp_notify(self, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": "success", "next": {"type": "ir.actions.client",
                                                                       "tag": "soft_reload"}},
        }

    # ------------------------------------------------------------
    # CRONS
    # ------------------------------------------------------------

    @api.model
    def _cron_esp_send_campaigns(self):
        """Queued ESP mailings sent, exactly once (``esp.sync.job.campaign.send``)."""
        self.env["esp.sync.job.campaign.send"]._esp_job_cron()

    @api.model
    def _cron_esp_sync_activity(self):
        """Each recipient's activity of the ESP mailings sent in the last 30 days (``esp.sync.job.activity``); a
        big campaign is read over several runs, each going on from the page the previous one stopped at."""
        self.env["esp.sync.job.activity"]._esp_job_cron()

    @api.model
    def _cron_esp_sync_statistics(self):
        """Campaigns made in the ESP appear in Odoo, and campaign summaries are refreshed
        (``esp.sync.job.statistics``)."""
        self.env["esp.sync.job.statistics"]._esp_job_cron()
