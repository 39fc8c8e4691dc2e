"""A mailing whose recipients are a model and a domain (Contacts, Leads, ...), sent through the ESP.

The ESP sends to address books only, so such a mailing goes to the book of a mailing list with a source
(``sync/audience.py``):

- a **connected filter** of the mailing's account with the mailing's model and the same domain: its book (an On
  Demand filter goes out as of its last Refresh, as the person who made it On Demand chose);
- otherwise **a list of the mailing's own**, made by the send job right before the send (an On Demand filter with
  the mailing's model and recipients domain, connected to a new book named after the mailing), refreshed from the
  domain at each send attempt and kept afterwards for the statistics: its contacts carry the record each email
  came from (``esp_source_model`` / ``esp_source_res_id``), which is what the mailing's traces name.

The recipients are those Odoo itself would mail: the mailing's ``_get_recipients_domain()`` (its domain, with
``_mailing_get_default_domain`` and the blacklist leaf Odoo adds by default), then :func:`audience.refresh`'s rules
(archived records, blacklisted, invalid and duplicate emails left out, as ``mass_mailing`` leaves them out).
"""

from ast import literal_eval

from odoo.exceptions import UserError
from odoo.osv import expression

from . import audience

# Odoo's default mailing domain adds this leaf; a filter's audience leaves the blacklisted out anyway.
_BLACKLIST_LEAF = ("is_blacklisted", "=", False)


def is_model_mailing(mailing):
    """Whether ``mailing`` is sent to records of a model and a domain rather than to mailing lists."""
    return bool(mailing.mailing_model_id) and mailing.mailing_model_real != "mailing.contact"


def _leaf(term):
    return tuple(_leaf(item) if isinstance(item, list | tuple) else item for item in term) \
        if isinstance(term, list | tuple) else term


def _conjuncts(terms, start=0):
    """The operands of the ``&`` chain at ``start`` of a normalized prefix domain, and where it ends."""
    if terms[start] == "&":
        left, end = _conjuncts(terms, start + 1)
        right, end = _conjuncts(terms, end)
        return left + right, end
    end = _subtree_end(terms, start)
    return [terms[start:end]], end


def _subtree_end(terms, start):
    term = terms[start]
    if term in ("&", "|"):
        return _subtree_end(terms, _subtree_end(terms, start + 1))
    if term == "!":
        return _subtree_end(terms, start + 1)
    return start + 1


def _comparable(domain):
    """A domain (text or list) in a form two equal filters share (the order of its ``&`` operands and Odoo's
    default "not blacklisted" leaf aside: the audience always leaves the blacklisted out), or None when it does not
    parse."""
    if isinstance(domain, str):
        try:
            domain = literal_eval(domain or "[]")
        except (ValueError, SyntaxError, TypeError):
            return None
    if not isinstance(domain, list | tuple):
        return None
    terms = tuple(_leaf(term) for term in expression.normalize_domain(list(domain)))
    try:
        operands, _end = _conjuncts(terms)
    except IndexError:
        return None
    ignored = {(_BLACKLIST_LEAF,), (_leaf(expression.TRUE_LEAF),)}
    return sorted(repr(operand) for operand in operands if operand not in ignored)


def recipients_domain(mailing):
    """The domain of the records Odoo would mail, as a list.

    :raise UserError: the mailing's domain does not parse (Odoo itself would silently mail nobody)
    """
    _ = mailing.env._
    try:
        parsed = literal_eval(mailing.mailing_domain or "[]")
    except (ValueError, SyntaxError, TypeError) as error:
        raise UserError(_("The recipients filter of this mailing is not a valid domain (%(error)s): fix it in its "
                          "Recipients.", error=error)) from error
    if not isinstance(parsed, list | tuple):
        raise UserError(_("The recipients filter of this mailing is not a valid domain: fix it in its Recipients."))
    return list(mailing._get_recipients_domain())


def _own_lists(mailing):
    """Lists mailings made for themselves: never taken for a person's connected filter."""
    return mailing.env["mailing.mailing"].sudo().with_context(active_test=False).search(
        [("esp_audience_own", "=", True)]).esp_audience_list_id


def connected_filter(mailing, account=None):
    """The connected filter of ``account`` (default: the mailing's) with the mailing's model and domain, or an
    empty recordset."""
    Lists = mailing.env["mailing.list"].sudo()
    account = account if account is not None else mailing.esp_account_id
    if not account or not is_model_mailing(mailing):
        return Lists
    wanted = _comparable(mailing.mailing_domain or "[]")
    if wanted is None:
        return Lists
    candidates = Lists.search([
        ("esp_source_kind", "!=", False), ("esp_source_model_name", "=", mailing.mailing_model_real),
        ("esp_account_id", "=", account.id), ("id", "not in", _own_lists(mailing).ids),
    ], order="id")
    return candidates.filtered(lambda mailing_list: _comparable(mailing_list.esp_source_domain) == wanted)[:1]


def own_list_name(mailing):
    return mailing.env._("Mailing: %(subject)s (ESP recipients, #%(id)s)",
                         subject=(mailing.subject or "").strip()[:80], id=mailing._origin.id or mailing.id)


def _probe(mailing):
    """An unsaved list with the mailing's model and recipients domain, for :func:`audience.count_matches`."""
    return mailing.env["mailing.list"].sudo().new({
        "name": own_list_name(mailing),
        "esp_source_model_id": mailing.mailing_model_id.id,
        "esp_source_model_name": mailing.mailing_model_real,
        "esp_source_domain": repr(recipients_domain(mailing)),
    })


def check(mailing):
    """Refuse what could not go out: no recipients Odoo would mail, a domain that does not work, A/B testing.

    :raise UserError: with what to do
    """
    _ = mailing.env._
    if mailing.ab_testing_enabled:
        raise UserError(_("Through the ESP, an A/B test is sent to mailing lists: choose Mailing Lists as the "
                          "recipients, or turn A/B testing off."))
    if connected_filter(mailing):
        return
    if not audience.count_matches(_probe(mailing)):
        raise UserError(_("The recipients of this mailing (%(model)s, filtered) match nobody Odoo would mail (no "
                          "record with a valid email that is not blacklisted): widen the filter.",
                          model=mailing.mailing_model_id.name))


def prepare(mailing):
    """The list whose book the ESP sends ``mailing`` to, ready to sync: the connected filter, or the mailing's own
    list refreshed from its recipients now (made, with its book, the first time). Recorded on the mailing.

    :raise UserError: the filter no longer works or matches nobody (nothing is sent)
    """
    mailing = mailing.sudo()
    connected = connected_filter(mailing)
    if connected:
        if mailing.esp_audience_list_id != connected or mailing.esp_audience_own:
            mailing.write({"esp_audience_list_id": connected.id, "esp_audience_own": False})
        return connected
    domain = repr(recipients_domain(mailing))
    own = mailing.esp_audience_list_id if mailing.esp_audience_own else mailing.env["mailing.list"]
    if own and own.active and own.esp_address_book_id:
        # A send asked again (after a refusal, or a draft sent anew): the recipients as of this send.
        if own.esp_source_domain != domain:
            own.write({"esp_source_domain": domain})
        audience.refresh(own, force=True)
        return own
    name = own_list_name(mailing)
    own = mailing.env["mailing.list"].sudo().create({"name": name, "is_public": False})
    # Found by its name when a previous attempt created the book and died before its commit.
    book, _created = mailing.esp_account_id.sudo()._esp_create_or_find_address_book(name)
    own._esp_connect_source(mailing.mailing_model_id, domain, "on_demand", book.sudo())
    mailing.write({"esp_audience_list_id": own.id, "esp_audience_own": True})
    return own


def waiting(mailing_list):
    """Whether the list's contacts are still on their way to the ESP (and nothing needs a person)."""
    book = mailing_list.sudo().esp_address_book_id
    if not book or book.sync_state in ("guard", "book_missing", "rejected", "failed", "retry"):
        return False
    return book.sync_state in ("never", "queued", "running") or \
        mailing_list.env["esp.list.member"].sudo()._esp_has_unsent(mailing_list.id)
