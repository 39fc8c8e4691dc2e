from odoo import _, api, fields, models
from odoo.exceptions import UserError

# Which recipients each criterion keeps, on esp_mailing_activity rows ``a``.
CRITERIA = {
    "opened": "a.opens > 0",
    "not_opened": "a.opens = 0 AND NOT a.hard_bounced AND NOT a.soft_bounced",
    "clicked": "a.clicks > 0",
    "not_clicked": "a.clicks = 0 AND NOT a.hard_bounced AND NOT a.soft_bounced",
    "bounced": "(a.hard_bounced OR a.soft_bounced)",
}
# The bounced contacts a "did not" criterion leaves out: they did not open or click because nothing reached them.
BOUNCES_LEFT_OUT = {
    "not_opened": "a.contact_id IS NOT NULL AND a.opens = 0 AND (a.hard_bounced OR a.soft_bounced)",
    "not_clicked": "a.contact_id IS NOT NULL AND a.clicks = 0 AND (a.hard_bounced OR a.soft_bounced)",
}


class EspEngagementListWizard(models.TransientModel):
    """Create the next mailing list from the recipients' engagement with an ESP mailing, in one insert."""

    _name = "esp.engagement.list.wizard"
    _description = "Mailing List from ESP Engagement"

    mailing_id = fields.Many2one("mailing.mailing", string="Mailing", required=True, ondelete="cascade")
    criterion = fields.Selection([
        ("opened", "Opened"),
        ("not_opened", "Did not open"),
        ("clicked", "Clicked"),
        ("not_clicked", "Did not click"),
        ("bounced", "Bounced"),
    ], required=True, default="opened")
    list_name = fields.Char(string="New List", compute="_compute_list_name", store=True, readonly=False)
    summary = fields.Text(compute="_compute_summary")

    @api.depends("mailing_id", "criterion")
    def _compute_list_name(self):
        labels = dict(self._fields["criterion"]._description_selection(self.env))
        for wizard in self:
            if wizard.mailing_id and wizard.criterion:
                wizard.list_name = _("%(mailing)s: %(criterion)s", mailing=wizard.mailing_id.subject,
                                     criterion=labels[wizard.criterion])

    @api.depends("mailing_id", "criterion")
    def _compute_summary(self):
        for wizard in self:
            if not wizard.mailing_id or not wizard.criterion:
                wizard.summary = False
                continue
            kept, left_out = wizard._counts()
            bounced, no_contact, unread = wizard._left_out_counts()
            lines = [_("%(kept)s contacts will join the new list.", kept=kept)]
            if left_out:
                lines.append(_("Left out because they opted out or are blacklisted: %(count)s.", count=left_out))
            if bounced:
                lines.append(_("Left out because their email bounced, so the mailing never reached them: "
                               "%(count)s.", count=bounced))
            if no_contact:
                lines.append(_("Left out because no Odoo contact has their email: %(count)s.", count=no_contact))
            if unread:
                lines.append(_("Not counted because their activity is not read from the ESP yet (Read Recipient "
                               "Activity): %(count)s recipients.", count=unread))
            wizard.summary = "\n".join(lines)

    def _left_out_counts(self):
        """What the criterion leaves out besides opt-outs, counted: ``(bounced contacts a "did not" criterion
        leaves out, matching recipients without an Odoo contact, recipients whose activity is not read yet)``."""
        self.env.flush_all()
        # Only fixed fragments of CRITERIA and BOUNCES_LEFT_OUT are joined in; the mailing is a parameter.
        bounced = BOUNCES_LEFT_OUT.get(self.criterion, "FALSE")
        self.env.cr.execute(f"""
            SELECT COUNT(DISTINCT a.contact_id) FILTER (WHERE {bounced}),
                   COUNT(*) FILTER (WHERE a.contact_id IS NULL AND {CRITERIA[self.criterion]}),
                   COUNT(*)
              FROM esp_mailing_activity a
             WHERE a.mailing_id = %(mailing)s
            """, {"mailing": self.mailing_id.id})  # noqa: S608
        bounced, no_contact, rows = self.env.cr.fetchone()
        return bounced, no_contact, max(self.mailing_id.esp_stat_sent - rows, 0)

    def _matching_sql(self):
        # Only fixed fragments of CRITERIA are joined in; every value is a parameter.
        return f"""
            SELECT DISTINCT a.contact_id,
                   (b.id IS NOT NULL OR EXISTS (
                        SELECT 1 FROM mailing_subscription s JOIN mail_mass_mailing_list_rel r
                          ON r.mailing_list_id = s.list_id AND r.mailing_mailing_id = a.mailing_id
                         WHERE s.contact_id = a.contact_id AND s.opt_out)) AS excluded
              FROM esp_mailing_activity a
              JOIN mailing_contact c ON c.id = a.contact_id
         LEFT JOIN mail_blacklist b ON b.email = c.email_normalized AND b.active
             WHERE a.mailing_id = %(mailing)s AND {CRITERIA[self.criterion]}
        """  # noqa: S608

    def _counts(self):
        self.env.flush_all()
        self.env.cr.execute(
            f"SELECT count(*) FILTER (WHERE NOT excluded), count(*) FILTER (WHERE excluded) "  # noqa: S608
            f"FROM ({self._matching_sql()}) m", {"mailing": self.mailing_id.id})
        return self.env.cr.fetchone()

    def action_create_list(self):
        self.ensure_one()
        self.mailing_id.check_access("read")
        self.env.flush_all()
        self.env.cr.execute("SELECT 1 FROM esp_mailing_activity WHERE mailing_id = %s LIMIT 1", [self.mailing_id.id])
        if not self.env.cr.fetchone():
            raise UserError(_("No recipient activity was read from the ESP for this mailing yet (Read Recipient "
                              "Activity on its ESP Statistics tab)."))
        if not (self.list_name or "").strip():
            raise UserError(_("Name the new mailing list."))
        new_list = self.env["mailing.list"].create({"name": self.list_name.strip()})
        self.env.flush_all()
        self.env.cr.execute(
            f"""
            INSERT INTO mailing_subscription (contact_id, list_id, opt_out, create_date, write_date, create_uid,
                                              write_uid)
            SELECT m.contact_id, %(list)s, FALSE, now() at time zone 'UTC', now() at time zone 'UTC', %(uid)s,
                   %(uid)s
              FROM ({self._matching_sql()}) m WHERE NOT m.excluded
            """,  # noqa: S608
            {"mailing": self.mailing_id.id, "list": new_list.id, "uid": self.env.uid},
        )
        self.env["mailing.subscription"].invalidate_model()
        new_list.invalidate_recordset()
        return {
            "type": "ir.actions.act_window",
            "res_model": "mailing.list",
            "res_id": new_list.id,
            "view_mode": "form",
            "target": "current",
        }
