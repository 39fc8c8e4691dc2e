"""Audience: a mailing list whose members are the records of a filter (any mailing-enabled model + a domain).

A connected filter *is* a connected ``mailing.list`` with a source (``esp_source_*`` fields): the list sync engine
(guard, health, history, crash safety) syncs it like any list. This module only keeps the list's members equal to
the filter, in SQL:

- the filter is Odoo's own query of the domain (``Model._search``), never an ORM loop over the records;
- each record's email is the one Odoo itself mails (see :func:`recipient_columns`); blacklisted, invalid and
  duplicate emails are left out, as ``mass_mailing`` leaves them out of a send;
- **several records sharing one email: the lowest record id wins** (its name is the contact's name), so the book
  holds one contact per email, always the same one;
- the list holds one ``mailing.contact`` per email, owned by the list (``esp_source_list_id``); records entering
  the filter insert a contact and its subscription, records leaving delete them (the removal triggers of
  ``esp.list.member`` then have the runner remove them from the book), changed names update the contact;
- an opted-out subscription is kept when its record leaves the filter: the opt-out is remembered if it returns.

:func:`refresh` is what a run of the list sync job (``AudienceJob``, its first step) and the list's "Refresh from
Filter" button call; a mailing that needs a list of its own from a model and domain can call it too.
"""

import hashlib
from ast import literal_eval
from datetime import datetime, timezone

from odoo.exceptions import UserError
from odoo.tools import SQL
from odoo.tools.query import Query

from .common import Job, RunAborted

# Mass-change guard: an audience dropping to nobody is never applied without a person, however small the list.
EMPTY = "empty"

# Names of the record, first stored (untranslated) text column found; partners' records use the partner's name.
NAME_COLUMNS = ("contact_name", "name")
# An address Odoo would mail at all: one @, a dot in the domain, no spaces or separators (the SQL side of
# tools.email_normalize for models that store no normalized email).
EMAIL_PATTERN = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"


# Mapped fields of these names go out in E.164, read with the record's country (its code under COUNTRY_KEY).
PHONE_FIELDS = ("phone", "mobile")
COUNTRY_KEY = "__country"
# Names of several related records (tags) are joined with this, in name order.
MANY_SEPARATOR = ", "


def path_sql(Model, query, path, alias=None):
    """SQL (text) of the value of the field path ``path`` (``country_id.name``, ``category_id``) on the rows of
    ``query``: many2one hops are LEFT JOINs of the query, a many2many or one2many hop is a sub-select of the
    related records' names joined with ", " in name order; a path ending on a relation gives its records' names.

    :raise ValueError: a name of the path is not a stored field (or a relation) of its model
    """
    alias = alias or query.table
    name, _dot, rest = path.partition(".")
    field = Model._fields.get(name)
    if field is None or not (field.store or field.type in ("one2many", "many2many")):
        raise ValueError(f"{name!r} is not a stored field of {Model._name}")
    if field.type == "many2one":
        comodel = Model.env[field.comodel_name]
        joined = query.left_join(alias, name, comodel._table, "id", name)
        return path_sql(comodel, query, rest or comodel._rec_name, joined)
    if field.type in ("one2many", "many2many"):
        comodel = Model.env[field.comodel_name].with_context(active_test=False)
        sub_alias = f"{comodel._table}__{name}"[:60]
        sub = Query(comodel.env, sub_alias, SQL.identifier(comodel._table))
        if field.type == "many2many":
            sub.add_where(SQL("%s IN (SELECT %s FROM %s WHERE %s = %s)", SQL.identifier(sub_alias, "id"),
                              SQL.identifier(field.column2), SQL.identifier(field.relation),
                              SQL.identifier(field.column1), SQL.identifier(alias, "id")))
        else:
            sub.add_where(SQL("%s = %s", SQL.identifier(sub_alias, field.inverse_name), SQL.identifier(alias, "id")))
        value = path_sql(comodel, sub, rest or comodel._rec_name)
        return SQL("(SELECT string_agg(v, %s ORDER BY v) FROM (%s) AS many(v))", MANY_SEPARATOR, sub.select(value))
    if rest:
        raise ValueError(f"{name!r} of {Model._name} is not a relation")
    return SQL("(%s)::text", Model._field_to_sql(alias, name, query))


def source_paths(mailing_list):
    """Field paths of the source model the list's account maps (``esp.field.mapping`` of source "record")."""
    mappings = mailing_list.esp_account_id.field_mapping_ids.filtered(
        lambda mapping: mapping.source == "record" and mapping.source_model_name == mailing_list.esp_source_model_name)
    return sorted(set(mappings.mapped("source_path")))


def values_sql(mailing_list, Model, query):
    """SQL of the jsonb of mapped values of each record of ``query`` (``{path: text}``), NULL without mappings;
    a phone path adds the record's country code for E.164."""
    paths = source_paths(mailing_list)
    if not paths:
        return SQL("NULL::jsonb")
    pairs = []
    for path in paths:
        pairs.extend((SQL("%s", path), path_sql(Model, query, path)))
    country = Model._fields.get("country_id")
    if any(path.rsplit(".", 1)[-1] in PHONE_FIELDS for path in paths) and country \
            and country.comodel_name == "res.country":
        pairs.extend((SQL("%s", COUNTRY_KEY), path_sql(Model, query, "country_id.code")))
    return SQL("jsonb_build_object(%s)", SQL(", ").join(pairs))


class AudienceEmpty(UserError):
    """The filter matches nobody while the list has members: applying it would empty the book."""


def _stored_text(Model, name):
    field = Model._fields.get(name)
    return bool(field and field.store and field.type == "char" and not field.translate)


def source_model(mailing_list):
    """The source model of ``mailing_list`` (superuser), or a translated UserError when it is gone."""
    env = mailing_list.env
    name = mailing_list.esp_source_model_name
    if not name or name not in env:
        raise UserError(env._(
            "The filter of the mailing list “%(list)s” reads the model “%(model)s”, which is no longer installed: "
            "nothing was changed in the address book. Connect the list to another filter or disconnect it.",
            list=mailing_list.name, model=name or "?"))
    return env[name].sudo()


def source_domain(mailing_list):
    """The domain of ``mailing_list``'s filter as a list, or a translated UserError when it does not parse."""
    env = mailing_list.env
    try:
        domain = literal_eval(mailing_list.esp_source_domain or "[]")
    except (ValueError, SyntaxError, TypeError) as error:
        raise UserError(env._(
            "The filter of the mailing list “%(list)s” is not a valid domain (%(error)s): nothing was changed in the "
            "address book.", list=mailing_list.name, error=error)) from error
    if not isinstance(domain, list | tuple):
        raise UserError(env._("The filter of the mailing list “%(list)s” is not a valid domain: nothing was changed "
                              "in the address book.", list=mailing_list.name))
    return list(domain)


def recipient_columns(Model, query):
    """SQL of the email, name and version (write date) of each record of ``query``, as Odoo mails it.

    The email, first match:

    1. a stored ``email_normalized`` (``mail.thread.blacklist`` models: contacts, leads, ...): NULL when invalid;
    2. the model's ``_primary_email``, else ``email_from``, else ``email`` (stored text), normalized here: lower
       case, the address inside ``Name <address>``, NULL when it is not an address;
    3. the record's ``partner_id`` (sales orders, invoices, ...): the partner's normalized email and name.

    :return: ``(email, name, write_date)`` SQL expressions; the query gains a join when the partner's are used
    :raise UserError: the model has no email Odoo could mail
    """
    alias = query.table
    env = Model.env
    if _stored_text(Model, "email_normalized"):
        email = SQL.identifier(alias, "email_normalized")
    else:
        column = next((name for name in (getattr(Model, "_primary_email", None), "email_from", "email")
                       if name and _stored_text(Model, name)), None)
        if column:
            raw = SQL("lower(trim(COALESCE(substring(%s FROM '<([^<>]+)>'), %s)))",
                      SQL.identifier(alias, column), SQL.identifier(alias, column))
            email = SQL("(CASE WHEN %s ~ %s THEN %s END)", raw, EMAIL_PATTERN, raw)
        elif "partner_id" in Model._fields and Model._fields["partner_id"].comodel_name == "res.partner" \
                and Model._fields["partner_id"].store:
            partner = query.left_join(alias, "partner_id", "res_partner", "id", "partner_id")
            return (SQL.identifier(partner, "email_normalized"), SQL.identifier(partner, "name"),
                    SQL("GREATEST(%s, %s)", SQL.identifier(alias, "write_date"),
                        SQL.identifier(partner, "write_date")))
        else:
            raise UserError(env._("Records of “%(model)s” have no email address Odoo could mail.",
                                  model=Model._description))
    name_column = next((name for name in NAME_COLUMNS if _stored_text(Model, name)), None)
    name = SQL.identifier(alias, name_column) if name_column else SQL("NULL::varchar")
    return email, name, SQL.identifier(alias, "write_date")


def _source_query(mailing_list, with_values=False):
    """``(query, email, name, version)`` of the list's filter (see :func:`recipient_columns`), and with
    ``with_values`` the SQL of the mapped values (see :func:`values_sql`)."""
    env = mailing_list.env
    Model, domain = source_model(mailing_list), source_domain(mailing_list)
    try:
        query = Model._search(domain)
        columns = recipient_columns(Model, query)
        if with_values:
            columns = (*columns, values_sql(mailing_list, Model, query))
    except UserError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(env._(
            "The filter of the mailing list “%(list)s” no longer works on “%(model)s” (%(error)s): nothing was "
            "changed in the address book. Fix the filter (a field it uses may have been removed).",
            list=mailing_list.name, model=Model._description, error=error)) from error
    return (query, *columns)


def fingerprint(mailing_list):
    """A cheap digest of what the filter selects: the domain, the matching records' count, highest id and latest
    write, and the blacklist's. Equal digests: the audience did not change (records leaving or entering through a
    change of a *related* record only are seen by the next forced refresh)."""
    env = mailing_list.env
    env.flush_all()
    query, email, _name, version = _source_query(mailing_list)
    env.cr.execute(SQL("SELECT count(*), max(%s), sum(%s) FROM (%s) AS src", SQL.identifier("v"),
                       SQL.identifier("id"), query.select(SQL("%s AS v", version), SQL.identifier(query.table, "id"))))
    count, latest, ids = env.cr.fetchone()
    env.cr.execute("SELECT count(*), max(COALESCE(write_date, create_date)) FROM mail_blacklist")
    blacklist = env.cr.fetchone()
    digest = hashlib.sha1(repr((mailing_list.esp_source_model_name, mailing_list.esp_source_domain, count, latest,
                                ids, blacklist, source_paths(mailing_list))).encode()).hexdigest()
    return digest


def _mailable(email):
    """SQL: the email ``email`` (an SQL expression) is one Odoo would mail: set, and not blacklisted (invalid
    addresses are NULL already, see :func:`recipient_columns`)."""
    return SQL("%s IS NOT NULL AND %s != '' AND NOT EXISTS "
               "(SELECT 1 FROM mail_blacklist b WHERE b.email = %s AND b.active)", email, email, email)


def count_matches(mailing_list):
    """Emails the filter gives (one per address, blacklisted and invalid left out), without changing anything."""
    env = mailing_list.env
    env.flush_all()
    query, email, _name, _version = _source_query(mailing_list)
    env.cr.execute(SQL("SELECT count(DISTINCT e) FROM (%s) AS src WHERE %s",
                       query.select(SQL("%s AS e", email)), _mailable(SQL.identifier("src", "e"))))
    return env.cr.fetchone()[0]


def has_matches(mailing_list):
    """Whether the filter gives at least one email :func:`count_matches` would count: stops at the first one
    (counting distinct emails sorts them all, seconds on a million records)."""
    env = mailing_list.env
    env.flush_all()
    query, email, _name, _version = _source_query(mailing_list)
    env.cr.execute(SQL("SELECT 1 FROM (%s) AS src WHERE %s LIMIT 1",
                       query.select(SQL("%s AS e", email)), _mailable(SQL.identifier("src", "e"))))
    return bool(env.cr.fetchone())


def refresh(mailing_list, force=False, allow_empty=False):
    """Make the members of ``mailing_list`` (a list with a source) the filter's records, as of now.

    Statements in bulk whatever the size: the audience into a temporary table, then one upsert of contacts, one
    insert of subscriptions, one delete of the subscriptions (and contacts) that left.

    :param force: refresh even when the fingerprint says nothing changed
    :param allow_empty: apply a filter matching nobody (a person confirmed it) even if the list has members
    :return: ``{"matched", "entered", "left", "updated", "skipped"}`` (counts of emails; ``skipped``: nothing
        changed since the last refresh, so nothing was read)
    :raise UserError: the model or the domain no longer works (nothing changed)
    :raise AudienceEmpty: the filter matches nobody while the list has members, and not ``allow_empty``
    """
    mailing_list.ensure_one()
    env = mailing_list.env(su=True)
    mailing_list = mailing_list.with_env(env)
    digest = fingerprint(mailing_list)
    result = {"matched": mailing_list.esp_source_count, "entered": 0, "left": 0, "updated": 0, "skipped": True}
    if not force and digest == mailing_list.esp_source_fingerprint:
        return result
    result["skipped"] = False
    query, email, name, _version, values = _source_query(mailing_list, with_values=True)
    cr = env.cr
    list_id = mailing_list.id
    table = SQL.identifier(f"esp_audience_{list_id}")
    cr.execute(SQL("DROP TABLE IF EXISTS %s", table))
    # The lowest id of each email wins (the rule the README states): DISTINCT ON keeps the first of each email.
    cr.execute(SQL(
        """
        CREATE TEMPORARY TABLE %(table)s ON COMMIT DROP AS
        SELECT DISTINCT ON (src.email) src.email, src.res_id, COALESCE(NULLIF(trim(src.name), ''), src.email) AS name,
               src.vals
          FROM (%(source)s) AS src
         WHERE %(mailable)s
      ORDER BY src.email, src.res_id
        """,
        table=table, mailable=_mailable(SQL.identifier("src", "email")),
        source=query.select(SQL("%s AS email", email), SQL("%s AS res_id", SQL.identifier(query.table, "id")),
                            SQL("%s AS name", name), SQL("%s AS vals", values)),
    ))
    matched = cr.rowcount
    cr.execute(SQL("ANALYZE %s", table))
    cr.execute(
        "SELECT count(*) FROM mailing_subscription WHERE list_id = %s AND opt_out IS NOT TRUE", [list_id])
    members = cr.fetchone()[0]
    if not matched and members and not allow_empty:
        cr.execute(SQL("DROP TABLE %s", table))
        raise AudienceEmpty(env._(
            "The filter of the mailing list “%(list)s” matches nobody now: applying it would remove its %(count)s "
            "members from the address book. Nothing was changed; check the filter, or confirm the change on the "
            "list.", list=mailing_list.name, count=members))
    # Odoo's clock to the microsecond, moved by the account's measured offset for the opt-in dates (as
    # mailing.subscription._esp_record_optin dates them). clock_timestamp(), not now(): a change made in the
    # transaction that last exported the contact must still look newer to the export.
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    offset = mailing_list.esp_account_id.clock_offset or 0
    params = {"list": list_id, "model": mailing_list.esp_source_model_name, "uid": env.uid, "now": now,
              "offset": offset}
    # A list that owns no contact yet (its first fill) has nothing to conflict with: a plain insert, without the
    # speculative insertion ON CONFLICT makes per row. The list row is locked first, so a concurrent refresh of
    # the same list waits and then fails as a serialization conflict (retried), never as a duplicate contact.
    cr.execute("SELECT id FROM mailing_list WHERE id = %s FOR NO KEY UPDATE", [list_id])
    cr.execute("SELECT 1 FROM mailing_contact WHERE esp_source_list_id = %s LIMIT 1", [list_id])
    first_fill = cr.fetchone() is None
    # A refresh reads every record of the filter again, yet few changed: the contacts already equal to their
    # record are left out before the upsert, whose speculative insertion per row cost three seconds a million.
    unchanged = SQL() if first_fill else SQL(
        """
             WHERE NOT EXISTS (
                   SELECT 1 FROM mailing_contact c
                    WHERE c.esp_source_list_id = %(list)s AND c.email_normalized = a.email
                      AND (c.name, c.esp_source_model, c.esp_source_res_id, c.esp_source_values)
                          IS NOT DISTINCT FROM (a.name, %(model)s::varchar, a.res_id, a.vals))
        """, **params)
    upsert = SQL() if first_fill else SQL(
        """
            ON CONFLICT (esp_source_list_id, email_normalized) WHERE esp_source_list_id IS NOT NULL
            DO UPDATE SET name = EXCLUDED.name, esp_source_model = EXCLUDED.esp_source_model,
                          esp_source_res_id = EXCLUDED.esp_source_res_id,
                          esp_source_values = EXCLUDED.esp_source_values, write_uid = %(uid)s,
                          write_date = EXCLUDED.write_date
             WHERE (mailing_contact.name, mailing_contact.esp_source_model, mailing_contact.esp_source_res_id,
                    mailing_contact.esp_source_values)
                   IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.esp_source_model, EXCLUDED.esp_source_res_id,
                                     EXCLUDED.esp_source_values)
        """, uid=env.uid)
    # One statement: the contacts upserted, and the subscriptions of those it inserted (a contact the list owns
    # is inserted with its subscription; a separate anti-join over the whole list cost as much as the insert).
    # The rows it inserts name no creating user (create_uid, write_uid NULL, as esp.list.member keeps none):
    # PostgreSQL checks each non-NULL foreign key row by row, and those four checks were over a third of filling a list
    # of a million (the list's history says who refreshed it and when). An update names its user: few rows.
    cr.execute(SQL(
        """
        WITH up AS (
            INSERT INTO mailing_contact (name, email, email_normalized, esp_source_list_id, esp_source_model,
                                         esp_source_res_id, esp_source_values, create_uid, write_uid, create_date,
                                         write_date)
            SELECT a.name, a.email, a.email, %(list)s, %(model)s, a.res_id, a.vals, NULL, NULL,
                   clock_timestamp() AT TIME ZONE 'UTC', clock_timestamp() AT TIME ZONE 'UTC'
              FROM %(table)s a
            %(unchanged)s
            %(upsert)s
            RETURNING id, (xmax = 0) AS inserted
        ), sub AS (
            INSERT INTO mailing_subscription (contact_id, list_id, opt_out, esp_optin_datetime, create_uid,
                                              write_uid, create_date, write_date)
            SELECT up.id, %(list)s, FALSE, %(now)s + make_interval(secs => %(offset)s), NULL, NULL,
                   %(now)s, %(now)s
              FROM up WHERE up.inserted
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM sub), (SELECT count(*) FROM up WHERE NOT inserted)
        """,
        table=table, unchanged=unchanged, upsert=upsert, **params,
    ))
    result["entered"], result["updated"] = cr.fetchone()
    # Subscriptions first, in their own statement: the removal trigger reads the contact's email, which must
    # still exist. Opted-out ones stay, so a record coming back is not subscribed again over its opt-out.
    # A first fill has nobody to lose. Otherwise the anti-join must be a hash join: the statistics of the
    # contacts and subscriptions this transaction just inserted are not there yet, and a planner that believes
    # the list small picks a nested loop over the (index-less) temporary table, hours on 200,000 members.
    gone = [] if first_fill else _departures(cr, table, params)
    if gone:
        cr.execute("DELETE FROM mailing_contact WHERE id = ANY(%s)", [gone])
    result["left"] = len(gone)
    cr.execute(SQL("DROP TABLE %s", table))
    result["matched"] = matched
    if result["entered"] or result["left"] or result["updated"]:
        env["esp.address.book"]._esp_mark_changed([list_id])
    env.invalidate_all()
    mailing_list.write({
        "esp_source_fingerprint": digest,
        "esp_source_count": matched,
        "esp_source_refresh_datetime": now,
    })
    return result


def _departures(cr, table, params):
    """Delete the list's subscriptions whose email left the filter (``table``); return their contacts' ids.

    No try/finally around the planner setting: a failing statement rolls back the transaction or the savepoint
    around it, and the ``SET LOCAL`` with it.
    """
    cr.execute("SET LOCAL enable_nestloop = off")
    cr.execute(SQL(
        """
        DELETE FROM mailing_subscription s USING mailing_contact c
         WHERE c.id = s.contact_id AND s.list_id = %(list)s AND c.esp_source_list_id = %(list)s
           AND s.opt_out IS NOT TRUE
           AND NOT EXISTS (SELECT 1 FROM %(table)s a WHERE a.email = c.email_normalized)
     RETURNING s.contact_id
        """, table=table, **params))
    gone = [row[0] for row in cr.fetchall()]
    cr.execute("RESET enable_nestloop")
    return gone


class AudienceJob(Job):
    """First step of a run of a dynamic list: its members follow the filter before anything goes to the ESP. A
    filter that no longer works fails the run (nothing else runs, nothing leaves the book); one matching nobody
    waits for a person (the mass-change guard)."""

    name = "audience"

    def execute(self):
        run, mailing_list = self.run, self.run.mailing_list
        if mailing_list.esp_source_kind != "dynamic":
            return None
        try:
            result = refresh(mailing_list, allow_empty=self.binding.guard_confirmed)
        except AudienceEmpty as error:
            run.log.message = str(error)
            run.log._add_step(run.log.message)
            return "guard"
        except UserError as error:
            raise RunAborted("failed", str(error)) from error
        if not result["skipped"]:
            run.log.added += result["entered"]
            run.log._add_step(self.env._(
                "Filter refreshed: %(matched)s emails match, %(entered)s entered, %(left)s left, %(updated)s changed.",
                **{key: result[key] for key in ("matched", "entered", "left", "updated")}))
        return None
