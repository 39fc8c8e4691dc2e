from odoo import _, fields, models
from odoo.exceptions import UserError

from .. import providers


class EspListMember(models.Model):
    """What the connector knows about one email of a connected mailing list at the ESP.

    One row per (list, email), written in bulk with SQL by the sync engine. ``state`` follows an export from
    ``pending`` (must go out) to ``exporting`` (in an import the ESP has not confirmed yet) to ``synced``
    (``confirmed_hash`` equals what the ESP holds); ``failed`` rows carry the ESP's reason. A row whose email
    left the list is removed from the book, then deleted; books' contacts without a row are never touched.
    """

    _name = "esp.list.member"
    _description = "ESP Address Book Member"
    _order = "list_id, email"
    _rec_name = "email"
    # Technical rows written in bulk (100,000s at a time): no audit columns, fewer indexes and foreign keys.
    _log_access = False

    # Indexed through the (list_id, email) unique constraint.
    list_id = fields.Many2one("mailing.list", string="Mailing List", required=True, ondelete="cascade")
    # Found by email when displayed: a stored link would cost an index and a foreign key on every bulk write.
    contact_id = fields.Many2one("mailing.contact", string="Contact", compute="_compute_contact_id")
    email = fields.Char(required=True, readonly=True, help="Normalized (lower-case) email address.")
    remote_contact_id = fields.Char(string="ESP Contact ID", readonly=True)
    state = fields.Selection(
        [
            ("pending", "Pending Export"),
            ("exporting", "Exporting"),
            ("synced", "Synced"),
            ("failed", "Failed"),
            ("opted_out", "Opted Out"),
            ("rejected", "Rejected"),
        ],
        default="pending",
        required=True,
        readonly=True,
    )
    batch_id = fields.Many2one(
        "esp.import.batch", string="Import", readonly=True, ondelete="set null", index="btree_not_null"
    )
    sent_hash = fields.Char(readonly=True)
    confirmed_hash = fields.Char(readonly=True)
    # The contact's write_date when its values were last hashed: a different one means "look again". An equality
    # test, not "modified after", so a change committed by a transaction that started before a sync is seen.
    checked_datetime = fields.Datetime(string="Contact Version Checked", readonly=True)
    exported_datetime = fields.Datetime(string="Last Confirmed Export", readonly=True)
    failure_reason = fields.Char(readonly=True)

    _sql_constraints = [
        ("list_email_uniq", "unique(list_id, email)", "An email is tracked once per mailing list."),
    ]

    def _compute_contact_id(self):
        contacts = self.env["mailing.contact"].search([
            ("email_normalized", "in", self.mapped("email")), ("list_ids", "in", self.list_id.ids),
        ])
        by_key = {}
        for contact in contacts:
            for mailing_list in contact.list_ids:
                by_key.setdefault((mailing_list.id, contact.email_normalized), contact)
        for member in self:
            member.contact_id = by_key.get((member.list_id.id, member.email), False)

    def action_retry(self):
        """Send failed or rejected members again at the next sync."""
        self.filtered(lambda member: member.state in ("failed", "rejected")).write(
            {"state": "pending", "failure_reason": False, "batch_id": False}
        )
        lists = self.list_id
        lists._esp_trigger_sync()
        return True

    def action_esp_resubscribe(self):
        """Re-subscribe these opted-out members at the ESP: only ever on a person's explicit request.

        The ESP may add them back, send them a confirmation email first (challenged), or refuse (hard bounces,
        complaints). The Odoo subscription is re-activated only when the ESP added the contact back.
        """
        outcomes = {"added": [], "challenged": [], "refused": []}
        for member in self.filtered(lambda member: member.state == "opted_out"):
            mailing_list = member.list_id
            account = mailing_list.esp_account_id
            if not account:
                raise UserError(_("The mailing list “%(list)s” is not connected to an ESP.", list=mailing_list.name))
            outcome = account._esp_call(lambda client, member=member: client.resubscribe(
                member.email, book_id=member.list_id.esp_address_book_id.remote_id
            ))
            if outcome.state == providers.records.RESUBSCRIBE_ADDED:
                member.write({"state": "pending", "failure_reason": False})
                mailing_list._update_subscription_from_email(member.email, opt_out=False, force_message=False)
                outcomes["added"].append(member.email)
            elif outcome.state == providers.records.RESUBSCRIBE_CHALLENGED:
                member.failure_reason = _("Confirmation email sent by the ESP")
                outcomes["challenged"].append(member.email)
            else:
                member.failure_reason = _("The ESP refuses to re-subscribe this address (%(status)s)",
                                          status=outcome.status or "?")
                outcomes["refused"].append(member.email)
        message = _(
            "Re-subscribed: %(added)s. Confirmation email sent: %(challenged)s. Refused by the ESP: %(refused)s.",
            added=", ".join(outcomes["added"]) or "-",
            challenged=", ".join(outcomes["challenged"]) or "-",
            refused=", ".join(outcomes["refused"]) or "-",
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": "warning" if outcomes["refused"] else "success", "sticky": True},
        }
