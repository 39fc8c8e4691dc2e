from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_list

# Books connected to other lists named in the dialog's hint; more are counted.
MAX_NAMED_BOOKS = 5


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
        "('connected_elsewhere_id', '=', False), "
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
    # Opened by "Connection Settings" on a connected list: the dialog saves changes rather than connects.
    settings_mode = fields.Boolean(compute="_compute_settings_mode")
    free_book_count = fields.Integer(compute="_compute_book_hint")
    book_hint = fields.Char(compute="_compute_book_hint")
    # Set when the typed new name is taken at the ESP and that book was selected instead.
    notice = fields.Char(readonly=True)

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    @api.depends("mailing_list_id")
    def _compute_settings_mode(self):
        for wizard in self:
            wizard.settings_mode = bool(wizard.mailing_list_id.esp_address_book_id)

    @api.depends("account_id", "mailing_list_id")
    def _compute_book_hint(self):
        """Why a book the user sees at the ESP may be missing from the dropdown."""
        for wizard in self:
            books = wizard.account_id.address_book_ids  # active ones: those still at the ESP
            system = books.filtered("is_system")
            own = wizard.mailing_list_id
            taken = books.filtered(lambda book, own=own: book.mailing_list_id and book.mailing_list_id != own) - system
            twins = books.filtered("connected_elsewhere_id") - system - taken
            wizard.free_book_count = len(books - system - taken - twins)
            hidden = []
            if system:
                hidden.append(_("the ESP's system books (%(books)s)",
                                books=format_list(self.env, system.mapped("name"))))
            if taken:
                named = [_("“%(book)s”, connected to the list %(list)s", book=book.name, list=book.mailing_list_id.name)
                         for book in taken[:MAX_NAMED_BOOKS]]
                if len(taken) > MAX_NAMED_BOOKS:
                    named.append(_("%(count)s more", count=len(taken) - MAX_NAMED_BOOKS))
                hidden.append(_("books connected to other lists (%(books)s)", books=format_list(self.env, named)))
            if twins:
                hidden.append(_("books connected to a list through another Odoo account of the same ESP account "
                                "(%(books)s)", books=format_list(self.env, twins[:MAX_NAMED_BOOKS].mapped("name"))))
            wizard.book_hint = _("Not offered: %(books)s.", books=format_list(self.env, hidden)) if hidden else False

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
            self.notice = False

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_connect(self):
        self.ensure_one()
        mailing_list = self.mailing_list_id
        settings_mode = self.settings_mode
        # _esp_connect checks the user may edit the list, then acts for the connector on the book.
        book = self._get_address_book()
        if not book:
            return self._action_reopen()
        mailing_list._esp_connect(book, create_contacts=self.create_contacts)
        if settings_mode:
            title = _("ESP connection saved")
            message = _("The mailing list “%(list)s” is connected to the address book “%(book)s”.",
                        list=mailing_list.name, book=book.name)
        else:
            title = _("Connected to ESP")
            message = _(
                "The mailing list “%(list)s” is connected to the address book “%(book)s”. Its first "
                "synchronization is queued: the list shows its progress.",
                list=mailing_list.name,
                book=book.name,
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": title,
                "message": message,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _get_address_book(self):
        """The chosen book, or a book created at the ESP under the typed name (exactly one of both).

        :return: the ``esp.address.book`` to connect, or an empty recordset when the typed name is taken by a
            free book at the ESP: that book is then selected in the dialog, with a notice, for the user to confirm
        """
        self.ensure_one()
        name = (self.new_address_book_name or "").strip()
        if self.address_book_id and name:
            raise UserError(_("Choose an existing address book or type the name of a new one, not both."))
        if not self.address_book_id and not name:
            raise UserError(_("Choose an address book or type a new book's name."))
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
        # A name Odoo's catalogue knows is never sent: the ESP would refuse it as a duplicate.
        known = account.address_book_ids.filtered(lambda book: book.name.strip().casefold() == name.casefold())[:1]
        if known:
            book = known
        else:
            book, created = account._esp_create_or_find_address_book(name)
            if created:
                return book
        return self._take_existing_book(book)

    def _take_existing_book(self, book):
        """The typed new name is the name of ``book`` at the ESP: select it if this list may take it."""
        provider = self.account_id._get_provider_label()
        if book.is_system:
            raise UserError(_(
                "“%(book)s” is a system address book of %(provider)s and cannot be connected to a mailing list: "
                "type another name.",
                book=book.name, provider=provider,
            ))
        if book.connected_elsewhere_id:
            raise UserError(book._esp_connected_elsewhere_message())
        if book.mailing_list_id and book.mailing_list_id != self.mailing_list_id:
            raise UserError(_(
                "An address book named “%(book)s” already exists at %(provider)s and is connected to the mailing "
                "list “%(list)s”: type another name.",
                book=book.name, provider=provider, list=book.mailing_list_id.name,
            ))
        self.write({
            "address_book_id": book.id,
            "new_address_book_name": False,
            "notice": _(
                "An address book named “%(book)s” already exists at %(provider)s and is not connected to another "
                "list: it is selected below. Press %(button)s to connect this list to it, or type another name.",
                book=book.name, provider=provider, button=_("Save") if self.settings_mode else _("Connect"),
            ),
        })
        return self.env["esp.address.book"]

    def _action_reopen(self):
        """The same dialog again, showing its notice."""
        return {
            "type": "ir.actions.act_window",
            "name": _("ESP Connection Settings") if self.settings_mode else _("Connect to ESP"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
