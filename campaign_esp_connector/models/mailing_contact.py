from odoo import api, fields, models

# Contact fields an export reads (see esp.field.mapping's sources), and the memberships: writing one of them
# is a change the connected lists must look at.
EXPORTED_FIELDS = frozenset({"email", "name", "first_name", "last_name", "company_name", "mobile", "country_id"})
MEMBERSHIP_FIELDS = frozenset({"list_ids", "subscription_ids"})


class MailingContact(models.Model):
    _inherit = "mailing.contact"

    # Indexed: the activity job matches each page of an ESP's recipients to contacts by normalized email.
    email_normalized = fields.Char(index="btree_not_null")
    # Same definition as mass_mailing_sms, so both modules can be installed together.
    mobile = fields.Char(string="Mobile")
    esp_activity_ids = fields.One2many("esp.mailing.activity", "contact_id", string="ESP Activity")
    # The contact's subscriptions to lists connected to an ESP, each with what the ESP holds (the ESP tab).
    esp_subscription_ids = fields.One2many(
        "mailing.subscription", "contact_id", string="ESP Lists", readonly=True,
        domain=[("list_id.esp_address_book_id", "!=", False)],
        groups="campaign_esp_connector.campaign_esp_connector_group_user",
    )
    esp_activity_count = fields.Integer(string="ESP Campaigns Received", compute="_compute_esp_activity_count")
    # A contact of a list connected to a filter stands for one record of the filter's model (the lowest id among
    # the records sharing its email): written in bulk by sync/audience.py, one contact per email and list.
    # The id of that list, without a foreign key: a filter inserts a contact per email (a million on a first
    # fill) and PostgreSQL checks a foreign key row by row (3.6 s a million). mailing.list.unlink deletes the
    # contacts of a deleted list, as "ondelete cascade" did.
    esp_source_list_id = fields.Integer(
        string="Filled by the Filter of", readonly=True,
        help="This contact is managed by the filter of this mailing list: it follows the record it stands for.")
    esp_source_model = fields.Char(string="Source Model", readonly=True)
    esp_source_res_id = fields.Integer(string="Source Record ID", readonly=True)
    # The record's mapped values (``{field path: text}``), read in SQL by the filter's refresh: what the export
    # sends for mappings of source "Field of the Filtered Records".
    esp_source_values = fields.Json(string="Source Values", readonly=True, copy=False)

    def init(self):
        super().init()
        # The unique index below serves every look-up by list (its first column): a second index on the list alone
        # cost one more index write per contact a filter inserts. Dropped where an earlier version made it.
        self.env.cr.execute("DROP INDEX IF EXISTS mailing_contact__esp_source_list_id_index")
        # The key of the audience's upsert (INSERT ... ON CONFLICT): one contact per email in each filter's list.
        self.env.cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS mailing_contact_esp_source_email_uniq "
            "ON mailing_contact (esp_source_list_id, email_normalized) WHERE esp_source_list_id IS NOT NULL"
        )

    def _compute_esp_activity_count(self):
        counts = dict(self.env["esp.mailing.activity"]._read_group(
            [("contact_id", "in", self.ids)], ["contact_id"], ["__count"]))
        for contact in self:
            contact.esp_activity_count = counts.get(contact, 0)

    def action_view_esp_activity(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("campaign_esp_connector.esp_mailing_activity_action")
        action["domain"] = [("contact_id", "=", self.id)]
        return action

    @api.model_create_multi
    def create(self, vals_list):
        contacts = super().create(vals_list)
        contacts._esp_mark_changed()
        # Subscriptions written through list_ids bypass mailing.subscription.create: a new contact's are all new
        # (the relation's rows exist once flushed; the one2many's cache does not know them yet).
        contacts.flush_recordset(["list_ids"])
        contacts.invalidate_recordset(["subscription_ids"])
        contacts.subscription_ids.filtered(lambda subscription: not subscription.opt_out)._esp_mark_pending_optin()
        return contacts

    def write(self, vals):
        # Memberships written through list_ids bypass mailing.subscription's own methods: the lists a contact
        # leaves must hear of it too.
        lists_before = self.list_ids.ids if MEMBERSHIP_FIELDS.intersection(vals) else []
        subscriptions_before = self.subscription_ids if MEMBERSHIP_FIELDS.intersection(vals) else None
        res = super().write(vals)
        if subscriptions_before is not None:
            # Lists joined through list_ids: their subscriptions are new (mailing.subscription.create is bypassed).
            self.flush_recordset(["list_ids"])
            self.invalidate_recordset(["subscription_ids"])
            (self.subscription_ids - subscriptions_before).filtered(
                lambda subscription: not subscription.opt_out)._esp_mark_pending_optin()
        if EXPORTED_FIELDS.intersection(vals) or lists_before or MEMBERSHIP_FIELDS.intersection(vals) \
                or self._esp_mapped_fields().intersection(vals):
            self._esp_mark_changed(lists_before)
        return res

    def _esp_mapped_fields(self):
        """The contact's fields that mappings of source "contact" send (the first field of each path): changing
        one changes what the contact's lists send. A change of the related record itself (a tag renamed) goes
        out with the contact's next change, or with Refresh Data Fields."""
        mappings = self.env["esp.field.mapping"].sudo().search_fetch([("source", "=", "contact")], ["source_path"])
        return {path.split(".", 1)[0] for path in mappings.mapped("source_path") if path}

    def unlink(self):
        # The subscriptions go by cascade once the contact row is gone, too late for the trigger that records
        # emails leaving a connected list: record them now.
        self.env["esp.list.member"].sudo()._esp_removing_contacts(self.ids)
        self._esp_mark_changed()
        return super().unlink()

    def _esp_mark_changed(self, other_list_ids=()):
        """Record a change for every connected list these contacts belong to (one statement)."""
        if not self:
            return
        self.flush_recordset(["list_ids", "subscription_ids"])
        self.env["mailing.subscription"].flush_model(["contact_id", "list_id"])
        self.env["esp.address.book"].flush_model(["mailing_list_id"])
        self.env.cr.execute(
            """
            INSERT INTO esp_list_change (list_id)
            SELECT b.mailing_list_id FROM esp_address_book b
             WHERE b.mailing_list_id = ANY(%s)
                OR b.mailing_list_id IN (SELECT s.list_id FROM mailing_subscription s WHERE s.contact_id = ANY(%s))
            """,
            [list(other_list_ids), self.ids],
        )
