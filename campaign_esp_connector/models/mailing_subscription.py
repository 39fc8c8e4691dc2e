from datetime import datetime, timezone

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.http import request

from .. import providers
from ..sync.words import status_words

ESP_GROUP = "campaign_esp_connector.campaign_esp_connector_group_user"


class MailingSubscription(models.Model):
    _inherit = "mailing.subscription"

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    # What the ESP holds for this subscription, shown on the contact's ESP tab (one row per connected list).
    esp_address_book_id = fields.Many2one(related="list_id.esp_address_book_id", string="ESP Address Book",
                                          groups=ESP_GROUP)
    esp_member_id = fields.Many2one("esp.list.member", string="ESP Member", compute="_compute_esp_member_id",
                                    groups=ESP_GROUP)
    esp_member_state = fields.Selection(selection="_selection_esp_member_state", string="ESP Status",
                                        compute="_compute_esp_member_id", groups=ESP_GROUP)
    esp_status_detail = fields.Char(string="ESP Says", compute="_compute_esp_member_id", groups=ESP_GROUP,
                                    help="The ESP's reason (unsubscribed, bounced, suppressed, refused), or why the "
                                         "contact is not at the ESP yet.")
    esp_exported_datetime = fields.Datetime(string="Last Export", compute="_compute_esp_member_id", groups=ESP_GROUP)
    esp_opted_out_datetime = fields.Datetime(string="Opted Out at ESP Since", compute="_compute_esp_member_id",
                                             groups=ESP_GROUP)
    # When a person last subscribed this row (created it, or opted it back in), on the ESP's clock: the only
    # Odoo moment an ESP opt-out (unsubscribe, bounce, complaint, dated by the ESP) is compared with. Any other
    # write (a name, a mapped field, the list) is no re-subscription and must not undo the ESP's opt-out.
    esp_optin_datetime = fields.Datetime(
        string="Subscribed in Odoo At (ESP Clock)", readonly=True, copy=False, groups=ESP_GROUP,
        help="When this subscription was created or opted back in, in the ESP's time: an opt-out the ESP made "
             "after it is applied, one made before it is reported in the sync history and not applied.")
    esp_support_resubscribe = fields.Boolean(
        string="Can Be Re-subscribed at ESP", compute="_compute_esp_member_id", groups=ESP_GROUP,
        help="The ESP's API re-subscribes, and what it holds against the address is an unsubscribe (a hard bounce, "
             "a complaint or a suppression is never lifted that way).")

    # A consent record (what the person agreed to, when, on which page, from which IP address and browser), sent
    # with the subscriber where the ESP stores consent (dotdigital v3 consentRecords). All five or none: a
    # partial record fails the member with the missing fields instead of going out broken.
    esp_consent_text = fields.Text(string="Consent Text", copy=False, groups=ESP_GROUP,
                                   help="The consent wording the person accepted.")
    esp_consent_datetime = fields.Datetime(string="Consented At", copy=False, groups=ESP_GROUP)
    esp_consent_url = fields.Char(string="Consent Page", copy=False, groups=ESP_GROUP,
                                  help="The page on which the consent was given.")
    esp_consent_ip = fields.Char(string="Consent IP Address", copy=False, groups=ESP_GROUP)
    esp_consent_user_agent = fields.Char(string="Consent Browser", copy=False, groups=ESP_GROUP,
                                         help="The user agent of the browser the consent was given with.")
    esp_consent_at_esp = fields.Text(string="Consent Held by the ESP", readonly=True, copy=False, groups=ESP_GROUP,
                                     help="The consent records the ESP holds, as last read with Read Consent.")
    # Double opt-in run by the ESP: subscribed in Odoo, not yet confirmed at the ESP. Neither counted nor mailed
    # as subscribed (see mailing.list) until the list's sync reads the ESP's confirmation.
    esp_pending_optin = fields.Boolean(
        string="Pending Confirmation", readonly=True, copy=False, groups=ESP_GROUP,
        help="The ESP emailed this subscriber a link to confirm the subscription (double opt-in); until they "
             "click it they are neither counted nor mailed as a subscriber.")
    esp_contacts_api = fields.Selection(related="list_id.esp_account_id.contacts_api", string="ESP Contacts API",
                                        groups=ESP_GROUP)

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    @api.depends("list_id.esp_address_book_id", "contact_id.email_normalized")
    def _compute_esp_member_id(self):
        # Members are keyed by (list, normalized email), as the ESP keys contacts by email.
        connected = self.filtered(lambda subscription: subscription.list_id.esp_address_book_id)
        emails = [email for email in connected.contact_id.mapped("email_normalized") if email]
        members = self.env["esp.list.member"].search(
            [("list_id", "in", connected.list_id.ids), ("email", "in", emails)]
        ) if emails else self.env["esp.list.member"]
        by_key = {(member.list_id.id, member.email): member for member in members}
        for subscription in self:
            member = by_key.get((subscription.list_id.id, subscription.contact_id.email_normalized))
            subscription.esp_member_id = member
            subscription.esp_member_state = member.state if member else False
            subscription.esp_exported_datetime = member.exported_datetime if member else False
            subscription.esp_opted_out_datetime = member.opted_out_datetime if member else False
            provider = (providers.get_provider_class(subscription.list_id.esp_account_id.provider)
                        if member and subscription.list_id.esp_account_id else None)
            subscription.esp_support_resubscribe = bool(
                provider and subscription.list_id.esp_account_id.support_resubscribe
                and member.failure_reason not in provider.statuses_never_resubscribed)
            if member:
                reason = member.failure_reason
                subscription.esp_status_detail = status_words(self.env, provider, reason)
            elif subscription in connected:
                subscription.esp_status_detail = (
                    _("Not exported yet: sent at the next synchronization")
                    if subscription.contact_id.email_normalized and not subscription.opt_out
                    else _("Not sent to the ESP (opted out or no valid email)")
                )
            else:
                subscription.esp_status_detail = False
            if subscription.esp_pending_optin and not subscription.opt_out:
                subscription.esp_status_detail = _(
                    "Pending confirmation: the ESP emailed a link to confirm the subscription (double opt-in)")

    # ------------------------------------------------------------
    # SELECTIONS
    # ------------------------------------------------------------

    def _selection_esp_member_state(self):
        return self.env["esp.list.member"]._fields["state"]._description_selection(self.env)

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        self._esp_check_not_filtered(self.env["mailing.list"].browse(
            [vals["list_id"] for vals in vals_list if vals.get("list_id")]))
        subscriptions = super().create(vals_list)
        subscribed = subscriptions.filtered(lambda subscription: not subscription.opt_out)
        subscribed._esp_record_optin()
        subscribed._esp_mark_pending_optin()
        if subscribed and request and getattr(request, "is_frontend", False):
            # A subscription made on the website (website_mass_mailing's forms): its consent is this request.
            subscribed.sudo()._esp_set_consent_from_request()
        subscriptions._esp_mark_changed()
        return subscriptions

    def write(self, vals):
        lists_before = self.list_id
        # Only opted out -> subscribed is a re-subscription; writing opt_out False on a subscribed row is not.
        resubscribed = self.filtered("opt_out") if "opt_out" in vals and not vals["opt_out"] else self.browse()
        res = super().write(vals)
        resubscribed._esp_record_optin()
        self.env["esp.address.book"]._esp_mark_changed((lists_before | self.list_id).ids)
        return res

    def unlink(self):
        lists = self.list_id
        self._esp_check_not_filtered(lists)
        res = super().unlink()
        self.env["esp.address.book"]._esp_mark_changed(lists.ids)
        return res

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_esp_read_consent(self):
        """Read the consent records the ESP holds for this contact (one call) and show them on the ESP tab."""
        self.ensure_one()
        account = self.list_id.esp_account_id
        if not account or account.contacts_api != "v3":
            raise UserError(_("Only a dotdigital account on the v3 contacts API keeps consent records."))
        email = self.contact_id.email_normalized
        if not email:
            raise UserError(_("This contact has no valid email address."))
        consents = account._esp_call(lambda client: client.get_contact_consents(email))
        if consents is None:
            text = _("The ESP has no contact with this email address.")
        elif not consents:
            text = _("The ESP holds no consent record for this contact.")
        else:
            text = "\n".join(
                _("%(when)s: “%(text)s” on %(url)s from %(ip)s (%(agent)s), recorded %(created)s", when=consent.consented_at,
                  text=consent.text, url=consent.url, ip=consent.ip_address, agent=consent.user_agent,
                  created=consent.created_at or "-")
                for consent in consents)
        self.esp_consent_at_esp = text
        return True

    def action_esp_resubscribe(self):
        """Re-subscribe at the ESP, from the contact's ESP tab: the member's own action (capability check,
        the ESP's answer reported, the Odoo subscription re-activated only when the ESP added the contact)."""
        members = self.esp_member_id.filtered(lambda member: member.state == "opted_out")
        if not members:
            raise UserError(_("Only a contact the ESP holds opted out of the list can be re-subscribed there."))
        return members.action_esp_resubscribe()

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _esp_mark_changed(self):
        self.env["esp.address.book"]._esp_mark_changed(self.list_id.ids)

    @api.model
    def _esp_check_not_filtered(self, mailing_lists):
        """Members of a list connected to a filter are the filter's records: only its refresh adds or removes
        them (opting out stays open to everyone)."""
        filtered = mailing_lists.sudo().filtered("esp_source_kind")
        if filtered and not self.env.su:
            raise UserError(_(
                "The members of the mailing list “%(list)s” are the records of its filter: change the filter, then "
                "Refresh from Filter, instead of adding or removing contacts by hand.", list=filtered[0].name))

    def _esp_record_optin(self):
        """Date these subscriptions' opt-in now, on the ESP's clock of each list's account (Odoo's clock plus
        the offset the last sync measured; Odoo's own clock for a list not connected). One statement."""
        if not self:
            return
        self.flush_recordset(["list_id"])
        self.env["mailing.list"].flush_model(["esp_account_id"])
        self.env["esp.account"].flush_model(["clock_offset"])
        # Odoo's time to the microsecond, as the offset was measured: the ESP dates its events to the millisecond.
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        self.env.cr.execute(
            """
            UPDATE mailing_subscription s
               SET esp_optin_datetime = %s + make_interval(secs => COALESCE(a.clock_offset, 0))
              FROM mailing_list l LEFT JOIN esp_account a ON a.id = l.esp_account_id
             WHERE l.id = s.list_id AND s.id = ANY(%s)
            """,
            [now, self.ids],
        )
        self.invalidate_recordset(["esp_optin_datetime"])

    # ------------------------------------------------------------
    # CONSENT AND DOUBLE OPT-IN
    # ------------------------------------------------------------

    def _esp_set_consent(self, text, url, ip_address, user_agent, consented_at=None):
        """Record the consent given for these subscriptions; the next sync sends it to the ESP with the contact
        (where the ESP keeps consent). What a subscription form calls once the person submitted it.

        :param consented_at: naive UTC datetime, now by default
        """
        self.write({
            "esp_consent_text": text, "esp_consent_url": url, "esp_consent_ip": ip_address,
            "esp_consent_user_agent": user_agent, "esp_consent_datetime": consented_at or fields.Datetime.now(),
        })
        # A new consent is a change of the contact for the export (which compares contact versions).
        self.env["mailing.contact"].flush_model()
        self.env.cr.execute("UPDATE mailing_contact SET write_date = clock_timestamp() at time zone 'UTC' WHERE id = ANY(%s)",
                            [self.contact_id.ids])
        self.contact_id.invalidate_recordset(["write_date"])

    def _esp_set_consent_from_request(self, text=None):
        """Record the current HTTP request (a website subscription form) as these subscriptions' consent: its
        page, the visitor's IP address and browser."""
        if not request:
            return
        http = request.httprequest
        text = text or _("Subscribed to the mailing list “%(list)s” through the website form.",
                         list=", ".join(self.list_id.mapped("name")))
        url = http.referrer or http.url
        self._esp_set_consent(text, url, http.remote_addr, http.user_agent.string if http.user_agent else "")

    def _esp_mark_pending_optin(self):
        """New subscribers of a list whose ESP runs double opt-in wait for the ESP's confirmation. One statement."""
        if not self:
            return
        self.flush_recordset(["list_id", "opt_out"])
        self.env["esp.address.book"].flush_model(["double_optin", "mailing_list_id"])
        self.env.cr.execute(
            """
            UPDATE mailing_subscription s SET esp_pending_optin = TRUE
              FROM esp_address_book b
             WHERE b.mailing_list_id = s.list_id AND b.double_optin AND s.id = ANY(%s) AND s.opt_out IS NOT TRUE
            """,
            [self.ids],
        )
        self.invalidate_recordset(["esp_pending_optin"])

