from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..sync.campaigns import recipient_problems, recipient_warning


class MailingMailing(models.Model):
    """Who sends a mailing's lists: the ESP (every list connected to one account's address books) or Odoo's own
    mail server (no list connected). A mailing whose lists mix both, or two ESP accounts, is sent by neither until
    a person removes lists or chooses Odoo's mail server for it (``esp_send_through_odoo``, tracked).

    Kept apart from ``mailing_mailing.py``: these overrides wrap the ESP ones there (this module is loaded after
    it), so every Odoo send path sees the check first.
    """

    _inherit = "mailing.mailing"

    esp_send_through_odoo = fields.Boolean(
        string="Send through Odoo's mail server, without the ESP's suppressions and tracking",
        copy=False, tracking=True,
        help="The lists of this mailing are connected to an ESP, but not all to one account: Odoo's own mail server "
             "sends it to every contact of its lists, including the ESP's. The ESP's unsubscribes, bounces and "
             "suppressions are not applied, and its tracking does not see the send.")
    esp_recipients_warning = fields.Text(string="Recipients Warning", compute="_compute_esp_recipients_warning")

    @api.depends("contact_list_ids.esp_account_id", "esp_account_id", "mailing_model_real")
    def _compute_esp_recipients_warning(self):
        for mailing in self:
            mailing.esp_recipients_warning = recipient_warning(mailing)

    # ------------------------------------------------------------
    # SEND PATHS
    # ------------------------------------------------------------

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
        return super().action_put_in_queue()

    def action_schedule(self):
        # Before the date dialog, not after it.
        self._esp_check_recipients_decided()
        return super().action_schedule()

    def action_test(self):
        self._esp_check_recipients_decided()
        return super().action_test()

    def action_send_mail(self, res_ids=None):
        self.filtered(lambda mailing: not mailing.esp_account_id)._esp_check_recipients_decided()
        return super().action_send_mail(res_ids=res_ids)

    def _action_send_mail(self, res_ids=None):
        # The last door before mail.mail records are made, whoever calls it. ESP mailings never pass it (see
        # mailing_mailing.py); Odoo's queue calls it for them too, and must not fail on them.
        self.filtered(lambda mailing: not mailing.esp_account_id)._esp_check_recipients_decided()
        return super()._action_send_mail(res_ids=res_ids)

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
        return super()._process_mass_mailing_queue()
