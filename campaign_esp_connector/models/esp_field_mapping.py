import phonenumbers

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import providers

# ESP text data fields hold at most this many characters; longer Odoo values are cut, never refused.
MAX_TEXT_LENGTH = 255

ODOO_SOURCES = [
    ("name", "Full Name"),
    ("first_name", "First Name"),
    ("last_name", "Last Name"),
    ("company_name", "Company"),
    ("country", "Country"),
    ("mobile", "Mobile (E.164)"),
    ("contact", "Field of the Contact"),
    ("record", "Field of the Filtered Records"),
]
# The mailing contact, whose fields a mapping of source "contact" reads.
CONTACT_MODEL = "mailing.contact"
# The kind of value an Odoo field (the last of a path) gives, for the ESP data field types it fits; a path ending
# on a relation gives its records' names, text. ESP text fields take every kind, as text.
FIELD_KINDS = {"integer": "Numeric", "float": "Numeric", "monetary": "Numeric", "boolean": "Boolean",
               "date": "Date", "datetime": "Date"}
# Fields a path through the source model may end on, as text (phones in E.164: sync/audience.py PHONE_FIELDS).
PATH_FIELD_TYPES = {"char", "text", "selection", "integer", "float", "monetary", "boolean", "date", "datetime",
                    "many2one", "many2many", "one2many", "html"}
# Fields a person can type at the ESP and Odoo can write back as they are.
WRITABLE_TYPES = {"char", "text"}
# Sources an ESP value can be written back to (country and mobile are derived, so one-way only).
TWO_WAY_SOURCES = {"name", "first_name", "last_name", "company_name"}
# Data fields every dotdigital account has, mapped by default.
def split_name(name):
    """``"Ada King Lovelace"`` -> ``("Ada", "King Lovelace")``; the contact name is a single field by default."""
    parts = (name or "").strip().split(None, 1)
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def format_e164(number, country_code):
    """Return ``number`` in E.164 (``+447700900123``), or ``None`` when it is not a valid phone number.

    :param number: the number as typed in Odoo
    :param country_code: ISO code of the contact's country, used for numbers written without ``+``
    """
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, (country_code or "").upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class EspFieldMapping(models.Model):
    """Which Odoo contact value goes to which ESP data field, and whether ESP edits come back."""

    _name = "esp.field.mapping"
    _description = "ESP Field Mapping"
    _order = "account_id, sequence, id"

    sequence = fields.Integer(default=10)
    account_id = fields.Many2one("esp.account", string="ESP Account", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    source = fields.Selection(ODOO_SOURCES, string="Odoo Value", required=True)
    data_field_id = fields.Many2one(
        "esp.data.field",
        string="ESP Data Field",
        required=True,
        ondelete="cascade",
        domain="[('account_id', '=', account_id)]",
    )
    data_field_name = fields.Char(related="data_field_id.name", string="Data Field Name")
    two_way = fields.Boolean(
        string="Two-way", help="Changes made at the ESP update the Odoo contact (text values only)."
    )
    source_model_id = fields.Many2one(
        "ir.model", string="Records", ondelete="cascade", domain=[("is_mailing_enabled", "=", True)],
        help="For lists filled by a filter on these records (Connect a Filter to the ESP).")
    source_model_name = fields.Char(related="source_model_id.model", store=True, string="Records Model")
    source_path = fields.Char(
        string="Field", help="A field of the records, related fields included: country_id.name, parent_id.name, "
                             "category_id (tags' names, joined), stage_id.name, event_id.name. Phones go out in "
                             "E.164.")
    source_note = fields.Char(compute="_compute_source_note", string="Direction")
    # The model the field path starts from, for the field picker of the Field Mapping tab.
    source_path_model = fields.Char(compute="_compute_source_path_model")

    @api.depends("source", "source_model_id")
    def _compute_source_path_model(self):
        for mapping in self:
            mapping.source_path_model = mapping._esp_path_model_name() or False

    def _esp_path_model_name(self):
        """The model ``source_path`` is read on: the mailing contact, or the filtered records' model."""
        self.ensure_one()
        if self.source == "contact":
            return CONTACT_MODEL
        return self.source_model_id.model if self.source == "record" else None

    @api.depends("source", "source_model_id", "source_path")
    def _compute_source_note(self):
        for mapping in self:
            mapping.source_note = False
            if mapping.source not in ("record", "contact") or not mapping._esp_path_model_name() \
                    or not mapping.source_path or not mapping._esp_path_fields():
                continue
            writable = mapping._esp_path_writable()
            mapping.source_note = _("Two-way allowed: a field people may edit") if writable else _(
                "One-way (Odoo → ESP): %(path)s is computed or belongs to another record", path=mapping.source_path)

    _sql_constraints = [
        ("data_field_uniq", "unique(account_id, data_field_id)", "An ESP data field can be mapped only once."),
    ]

    @api.constrains("data_field_id", "account_id", "two_way", "source", "source_model_id", "source_path")
    def _check_data_field(self):
        for mapping in self:
            if mapping.data_field_id.account_id != mapping.account_id:
                raise ValidationError(_("The data field must belong to the mapping's ESP account."))
            if not mapping.data_field_id.active:
                raise ValidationError(
                    _(
                        "The data field %(field)s no longer exists at the ESP. Synchronize the account, or create "
                        "the data field first.",
                        field=mapping.data_field_id.name,
                    )
                )
            if mapping.source in ("record", "contact"):
                mapping._esp_check_path()
                if mapping.two_way and not mapping._esp_path_writable():
                    raise ValidationError(_(
                        "%(path)s is computed by Odoo or belongs to another record (a related field): it cannot be "
                        "updated from the ESP. Leave the mapping one-way.", path=mapping.source_path))
            elif mapping.two_way and mapping.source not in TWO_WAY_SOURCES:
                raise ValidationError(
                    _("%(value)s is computed by Odoo and cannot be updated from the ESP.", value=mapping.source)
                )
            mapping._esp_check_type()

    def _esp_value_kind(self):
        """The ESP data field type the mapped Odoo value is: ``Numeric``, ``Date``, ``Boolean`` or ``String``
        (names, text, and the fixed sources, all text)."""
        self.ensure_one()
        if self.source not in ("record", "contact"):
            return "String"
        chain = self._esp_path_fields()
        return FIELD_KINDS.get(chain[-1].type, "String") if chain else "String"

    def _esp_check_type(self):
        """An ESP data field of a type takes only Odoo values of that type (a text field takes any, as text)."""
        self.ensure_one()
        wanted, kind = self.data_field_id.field_type, self._esp_value_kind()
        if not wanted or wanted == "String" or wanted == kind:
            return
        types = dict(self.env["esp.data.field"]._fields["field_type"]._description_selection(self.env))
        raise ValidationError(_(
            "The ESP data field %(field)s holds a %(type)s, but %(value)s gives a %(kind)s: map a field of that "
            "type, or a text data field.",
            field=self.data_field_id.name, type=types.get(wanted, wanted), kind=types.get(kind, kind),
            value=self._esp_source_label()))

    def _esp_source_label(self):
        """What the mapping sends, in the words of the Odoo Value column (with the field path, if any)."""
        self.ensure_one()
        label = dict(self._fields["source"]._description_selection(self.env)).get(self.source, self.source)
        return "%s “%s”" % (label, self.source_path) if self.source in ("record", "contact") else label

    def _esp_contact_field_name(self):
        """The mailing contact's field a two-way mapping writes an ESP value back to."""
        self.ensure_one()
        return self.source_path.strip() if self.source == "contact" else self.source

    def _esp_path_fields(self):
        """The fields of ``source_path``, hop by hop, from the source model; ``[]`` when it does not resolve."""
        self.ensure_one()
        model_name = self._esp_path_model_name()
        if not model_name or model_name not in self.env or not self.source_path:
            return []
        model, chain = self.env[model_name], []
        for name in self.source_path.strip().split("."):
            field = model._fields.get(name) if model is not None else None
            if field is None or field.type not in PATH_FIELD_TYPES \
                    or not (field.store or field.type in ("one2many", "many2many")):
                return []
            chain.append(field)
            model = self.env[field.comodel_name] if field.relational else None
        return chain

    def _esp_check_path(self):
        if self.source == "contact":
            if not self.source_path or not self._esp_path_fields():
                raise ValidationError(_(
                    "“%(path)s” is not a stored field of the mailing contact (pick one in the list, or write field "
                    "names joined by dots, for example country_id.name or tag_ids).", path=self.source_path or ""))
            return
        if not self.source_model_id or not self.source_path:
            raise ValidationError(_("A mapping of a field of the filtered records needs the records' model and the "
                                    "field (for example country_id.name)."))
        if not self._esp_path_fields():
            raise ValidationError(_(
                "“%(path)s” is not a stored field of %(model)s (write field names joined by dots, for example "
                "country_id.name).", path=self.source_path, model=self.source_model_id.name))

    def _esp_path_writable(self):
        """A field of the record itself that a person may write: one hop, stored, text, neither computed nor
        related nor read-only (a related field through another model is one-way)."""
        chain = self._esp_path_fields()
        if len(chain) != 1:
            return False
        field = chain[0]
        return (field.type in WRITABLE_TYPES and field.store and not field.compute and not field.related
                and not field.readonly and field.name not in ("phone", "mobile"))

    def _esp_for_list(self, mailing_list):
        """The mappings that apply to ``mailing_list``: a field of filtered records only for a list filled by a
        filter on that model (other lists' files do not carry its column, so they never blank it at the ESP)."""
        model = mailing_list.esp_source_model_name if mailing_list.esp_source_kind else False
        return self.filtered(lambda mapping: mapping.source != "record" or mapping.source_model_name == model)

    @api.model_create_multi
    def create(self, vals_list):
        mappings = super().create(vals_list)
        mappings._esp_mark_lists_changed()
        return mappings

    def write(self, vals):
        accounts = self.account_id
        res = super().write(vals)
        self._esp_mark_lists_changed(accounts)
        return res

    def unlink(self):
        accounts = self.account_id
        res = super().unlink()
        self.env["esp.field.mapping"]._esp_mark_lists_changed(accounts)
        return res

    def _esp_mark_lists_changed(self, accounts=None):
        """A mapping change changes what every list of the account sends: each sends all its members again."""
        accounts = (accounts or self.env["esp.account"]) | self.account_id
        lists = self.env["mailing.list"].sudo().search([("esp_account_id", "in", accounts.ids)])
        # Lists filled by a filter read their mapped values again at their next refresh.
        lists.filtered("esp_source_kind").write({"esp_source_fingerprint": False})
        if lists:
            self.env["esp.list.member"].sudo()._esp_resend_all(lists.ids)
            self.env["esp.address.book"]._esp_mark_changed(lists.ids)

    @api.model
    def _esp_create_defaults(self, account):
        """Map the data fields every account of the provider has (dotdigital: FIRSTNAME, LASTNAME, FULLNAME)
        when unmapped."""
        defaults = providers.get_provider_class(account.provider).default_field_mappings
        data_fields = {field.name: field for field in account.data_field_ids}
        mapped = set(self.search([("account_id", "=", account.id)]).data_field_id.mapped("name"))
        self.create([
            {"account_id": account.id, "data_field_id": data_fields[name].id, "source": source}
            for name, source in defaults
            if name in data_fields and name not in mapped
        ])

    def _esp_exporter(self):
        """Return ``export(row) -> (values, problems)`` for these mappings, for rows of
        ``mailing.list._esp_member_rows``: ``values`` maps data field name -> text, ``problems`` lists
        translated issues (an invalid phone number is left out rather than exported wrong).

        The mappings are read once here: the returned function runs per contact and touches no record.
        """
        specs = [(mapping.source, mapping.data_field_name, mapping.source_path) for mapping in self]

        def export(row):
            values, problems = {}, []
            for source, field_name, path in specs:
                if source == "contact":
                    values[field_name] = ((row.get("esp_contact_values") or {}).get(path) or "")[:MAX_TEXT_LENGTH]
                    continue
                if source == "record":
                    value, problem = record_value(path, row.get("esp_source_values"))
                    if problem:
                        problems.append(problem)
                    values[field_name] = value[:MAX_TEXT_LENGTH]
                    continue
                value = source_value(source, row)
                if value is None:
                    problems.append(_("invalid mobile number %(number)s", number=row["mobile"]))
                    value = ""
                values[field_name] = value[:MAX_TEXT_LENGTH]
            return values, problems

        return export

    def _esp_contact_values_sql(self, alias="c"):
        """SQL text of the jsonb ``{path: text}`` of the contact fields these mappings send, for the mailing
        contact of alias ``alias`` in the member rows query (``NULL`` without such mappings): the paths are read
        as a filter's records' paths are (:func:`..sync.audience.path_sql`), in the same query as the rows."""
        from odoo.tools import SQL
        from odoo.tools.query import Query

        from ..sync.audience import path_sql

        paths = sorted(set(self.filtered(lambda mapping: mapping.source == "contact").mapped("source_path")))
        if not paths:
            return "NULL::jsonb"
        Contact = self.env[CONTACT_MODEL].sudo()
        query = Query(Contact.env, "esp_contact", SQL.identifier(Contact._table))
        query.add_where(SQL("%s = %s", SQL.identifier("esp_contact", "id"), SQL.identifier(alias, "id")))
        pairs = []
        for path in paths:
            pairs.extend((SQL("%s", path), path_sql(Contact, query, path)))
        sql = SQL("(%s)", query.select(SQL("jsonb_build_object(%s)", SQL(", ").join(pairs))))
        # The rows query takes named parameters: this fragment goes in as quoted text, its "%" doubled.
        return self.env.cr.mogrify(sql.code, sql.params).decode().replace("%", "%%")


def record_value(path, source_values):
    """``(text, problem or None)`` of a mapped field path from the values the filter's refresh stored on the
    contact; phones in E.164 with the record's country, an invalid one left out with the reason."""
    from ..sync.audience import COUNTRY_KEY, PHONE_FIELDS

    source_values = source_values or {}
    value = source_values.get(path) or ""
    if value and path.rsplit(".", 1)[-1] in PHONE_FIELDS:
        number = format_e164(value, source_values.get(COUNTRY_KEY))
        if number is None:
            return "", _("invalid phone number %(number)s", number=value)
        return number, None
    return value, None


def source_value(source, row):
    """The text an Odoo contact row gives for one mapping source; ``None`` for an invalid mobile number."""
    if source in ("first_name", "last_name"):
        if row["first_name"] or row["last_name"]:
            return row[source] or ""
        return split_name(row["name"])[0 if source == "first_name" else 1]
    if source == "country":
        return row["country_name"] or ""
    if source == "mobile":
        return format_e164(row["mobile"], row["country_code"]) if row["mobile"] else ""
    return row[source] or ""
