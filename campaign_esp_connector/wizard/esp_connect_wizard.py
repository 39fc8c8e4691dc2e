from odoo import _, api, fields, models
from odoo.exceptions import UserError


class EspConnectWizard(models.TransientModel):
    """Connect a mailing list to an ESP address book, existing or created at the ESP from the dialog.

    Also opened as "Connection Settings" on a connected list, to switch books or change two-way creation.
    The confirm button only calls ``mailing.list._esp_connect``, where every rule lives.
    """

    _name = "esp.connect.wizard"
    _description = "Connect a Mailing List to an ESP Address Book"

    # ------------------------------------------------------------
    # DEFAULTS
    # ------------------------------------------------------------

    @api.model
    def default_get(self, fields_list):
        res = super().default_get(fields_list)
        if "mailing_list_id" in fields_list and not res.get("mailing_list_id"):
            context = self.env.context
            if context.get("active_model") != "mailing.list" or not context.get("active_id"):
                raise UserError(_("You can only connect a mailing list to an ESP address book."))
            res["mailing_list_id"] = context["active_id"]
        if "account_id" in fields_list and not res.get("account_id"):
            # One connected account (the usual case) needs no choice.
            accounts = self.env["esp.account"].search([("state", "=", "connected")], limit=2)
            if len(accounts) == 1:
                res["account_id"] = accounts.id
        return res

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    mailing_list_id = fields.Many2one("mailing.list", string="Mailing List", required=True, ondelete="cascade")
    account_id = fields.Many2one(
        "esp.account", string="ESP Account", domain="[('state', '=', 'connected')]", ondelete="cascade"
    )
    address_book_id = fields.Many2one(
        "esp.address.book",
        string="Address Book",
        ondelete="cascade",
        # Books a list may take: this account's, still at the ESP, not managed by the ESP, and free (or ours).
        domain="[('account_id', '=', account_id), ('active', '=', True), ('is_system', '=', False), "
        "'|', ('mailing_list_id', '=', False), ('mailing_list_id', '=', mailing_list_id)]",
    )
    new_address_book_name = fields.Char(
        string="New Address Book", help="Create an address book with this name at the ESP and connect it instead."
    )
    create_contacts = fields.Boolean(
        string="Create new contacts",
        help="Two-way sync: contacts added to the address book at the ESP (sign-up forms, imports made there) are "
        "created in this mailing list. Without it, only contacts already in the list are updated from the ESP.",
    )

    # ------------------------------------------------------------
    # ONCHANGE
    # ------------------------------------------------------------

    @api.onchange("account_id")
    def _onchange_account_id(self):
        if self.address_book_id and self.address_book_id.account_id != self.account_id:
            self.address_book_id = False

    @api.onchange("address_book_id")
    def _onchange_address_book_id(self):
        # An existing book or a new one: picking one clears the other.
        if self.address_book_id:
            self.new_address_book_name = False

    @api.onchange("new_address_book_name")
    def _onchange_new_address_book_name(self):
        if self.new_address_book_name:
            self.address_book_id = False

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_connect(self):
        self.ensure_one()
        mailing_list = self.mailing_list_id
        # _esp_connect checks the user may edit the list, then acts for the connector on the book.
        book = self._get_address_book()
        mailing_list._esp_connect(book, create_contacts=self.create_contacts)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": _("Connected to ESP"),
                "message": _(
                    "The mailing list “%(list)s” is connected to the address book “%(book)s”. Its contacts are "
                    "sent at the next synchronization.",
                    list=mailing_list.name,
                    book=book.name,
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _get_address_book(self):
        """The chosen book, or a book created at the ESP under the typed name (exactly one of both)."""
        self.ensure_one()
        name = (self.new_address_book_name or "").strip()
        if self.address_book_id and name:
            raise UserError(_("Choose an existing address book or type the name of a new one, not both."))
        if not self.address_book_id and not name:
            raise UserError(
                _("Choose the address book to connect, or type the name of a new address book to create at the ESP.")
            )
        if self.address_book_id:
            self.address_book_id.check_access("read")
            return self.address_book_id
        account = self.account_id
        if not account:
            raise UserError(_("Choose the ESP account in which to create the address book “%(book)s”.", book=name))
        # Checked before the remote call too, so a refused connection never leaves a stray book at the ESP.
        if account.state != "connected":
            raise UserError(_("Test the connection of the ESP account “%(account)s” first.", account=account.name))
        account.check_access("read")
        return account._esp_create_address_book(name)
