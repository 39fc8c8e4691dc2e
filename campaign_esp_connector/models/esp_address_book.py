from odoo import _, api, fields, models


class EspAddressBook(models.Model):
    """An address book (list) of an ESP account, as last read from the ESP."""

    _name = "esp.address.book"
    _description = "ESP Address Book"
    _inherit = ["esp.catalogue.mixin"]
    _order = "is_system desc, name, id"

    remote_id = fields.Char(string="ESP ID", required=True, readonly=True, index=True)
    name = fields.Char(required=True)
    visibility = fields.Selection([("Private", "Private"), ("Public", "Public")], default="Private")
    contact_count = fields.Integer(string="Contacts at ESP", readonly=True)
    is_system = fields.Boolean(
        string="System Book",
        readonly=True,
        help="Books the ESP itself manages (\"All Contacts\", \"Test\"): never connected to a mailing list.",
    )
    mailing_list_id = fields.Many2one(
        "mailing.list", string="Mailing List", readonly=True, copy=False, index="btree_not_null", ondelete="set null"
    )

    _sql_constraints = [
        ("remote_id_account_uniq", "unique(account_id, remote_id)", "This address book is already known."),
        ("mailing_list_uniq", "unique(mailing_list_id)", "A mailing list can be connected to one address book only."),
    ]

    @api.depends("name", "account_id.name")
    def _compute_display_name(self):
        for book in self:
            book.display_name = _("%(book)s (%(account)s)", book=book.name, account=book.account_id.name)

    @api.model
    def _esp_values_from_record(self, record):
        return {
            "remote_id": str(record.id),
            "name": record.name,
            "visibility": record.visibility if record.visibility in ("Private", "Public") else "Private",
            "contact_count": record.contact_count or 0,
            "is_system": record.is_system,
        }
