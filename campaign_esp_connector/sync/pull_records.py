"""Create New Records: contacts of a connected filter's book come back as records of the filter's model.

A list filled by a filter syncs one way, Odoo to the ESP, unless its "Create New Records" option is on (allowed only
when two-way mappings give every field the model requires, see ``mailing.list._esp_source_create_blocker``). Then
the pull job reads the book's modified-since feed, as for a two-way list, and hands each chunk here:

- a contact of the feed whose email no record of the model has (archived ones included) creates a record, in
  batches through the ORM's own ``create`` (defaults, constraints, no chatter noise): its two-way mapped fields and
  the email; the record's name is the email when no mapping gives one. Records the filter matches join the list (a
  dynamic list refreshes at once, an On Demand one at its next Refresh from Filter); those it does not match stay
  out of the list, the run's log says so, and the next pull finds their email taken and creates nothing again;
- a contact that is a member of the list updates its record's two-way mapped fields (only fields people may write)
  when the ESP's value differs and the record was not edited in Odoo since the previous pull (newer side wins);
  each change is a line of the run's log. Subscriptions and opt-outs are never touched: nobody is re-subscribed.
"""

import psycopg2

from odoo.exceptions import UserError
from odoo.tools import SQL

from . import audience

# Records created per ORM ``create`` call.
CREATE_BATCH = 200
# Emails named in one line of the run's steps.
NAMED_EMAILS = 5


def two_way_mappings(job):
    """The two-way mappings of fields of the filter's records, each on one writable field of the record."""
    model = job.run.mailing_list.esp_source_model_name
    return job.mappings.filtered(lambda mapping: mapping.source == "record" and mapping.two_way
                                 and mapping.source_model_name == model and mapping._esp_path_writable())


def email_field(Model):
    """The field a new record's email goes into (``_primary_email``, else ``email_from``, else ``email``)."""
    for name in (getattr(Model, "_primary_email", None), "email_from", "email"):
        field = Model._fields.get(name) if name else None
        if field and field.store and field.type == "char" and not field.compute:
            return name
    return None


def _named(emails):
    emails = sorted(emails)
    more = len(emails) - NAMED_EMAILS
    return ", ".join(emails[:NAMED_EMAILS]) + (f" (+{more})" if more > 0 else "")


def apply(job, contacts):
    """Apply one chunk of the book's feed (``providers.records.Contact``) to the filter's records."""
    mailing_list = job.run.mailing_list
    env = job.env
    Model = audience.source_model(mailing_list)
    mappings = two_way_mappings(job)
    by_email = {contact.email.strip().lower(): contact for contact in contacts if contact.email}
    env.flush_all()
    cr = env.cr
    cr.execute(
        """
        SELECT c.email_normalized, c.id, c.esp_source_res_id
          FROM mailing_subscription s
          JOIN mailing_contact c ON c.id = s.contact_id
         WHERE s.list_id = %s AND c.esp_source_list_id = %s AND c.email_normalized = ANY(%s)
        """,
        [mailing_list.id, mailing_list.id, list(by_email)],
    )
    members = {email: (contact_id, res_id) for email, contact_id, res_id in cr.fetchall()}
    touched = created = env["mailing.contact"]
    if mappings and members:
        touched |= _update(job, Model, mappings, by_email, members)
    cr.execute("SELECT email FROM esp_list_member WHERE list_id = %s AND email = ANY(%s)",
               [mailing_list.id, list(by_email)])
    tracked = {row[0] for row in cr.fetchall()}
    unknown = {email: contact for email, contact in by_email.items()
               if email not in members and email not in tracked and contact.sendable}
    if unknown:
        created = _create(job, Model, mappings, unknown)
    # What came from the ESP is what the ESP holds: the next export does not send it back (records updated from
    # it only when what Odoo would send equals it, see PullJob._record_synced).
    job._record_synced(created)
    job._record_synced(touched, by_email)
    env["esp.list.member"]._esp_learn_remote_ids(
        mailing_list.id, [(email, contact.id) for email, contact in by_email.items() if contact.id is not None])


def _update(job, Model, mappings, by_email, members):
    """Write the ESP's values of two-way mapped fields on the members' records; return the contacts changed."""
    from ..models.esp_field_mapping import MAX_TEXT_LENGTH  # noqa: PLC0415 - the models import the sync engine

    env, log = job.env, job.run.log
    odoo_newer_than = job.binding.pull_watermark or job.run.limits.feed_epoch
    fields_by_name = {mapping.data_field_name: mapping.source_path.strip() for mapping in mappings}
    records = Model.with_context(active_test=False, tracking_disable=True).browse(
        {res_id for _contact_id, res_id in members.values()})
    records.fetch([*fields_by_name.values(), "write_date"])
    Contact = env["mailing.contact"]
    changed_contacts, changed_records, lines = Contact, 0, []
    for email, (contact_id, res_id) in members.items():
        remote = by_email[email].data_fields
        record = records.browse(res_id)
        if not remote or not record.exists() or record.write_date > odoo_newer_than:
            continue
        changes = {}
        for data_field, path in fields_by_name.items():
            if data_field not in remote:
                continue
            value = "" if remote[data_field] is None else str(remote[data_field])
            current = record[path] or ""
            # An Odoo value longer than a data field holds went out cut: that is no change made at the ESP.
            if current == value or (len(value) >= MAX_TEXT_LENGTH and current.startswith(value)):
                continue
            changes[path] = value or False
        if not changes:
            continue
        record.write(changes)
        contact = Contact.browse(contact_id)
        # The list's copy of the record's values follows, so the next refresh finds nothing to send back.
        contact.esp_source_values = {**(contact.esp_source_values or {}),
                                     **{path: value or "" for path, value in changes.items()}}
        changed_contacts |= contact
        changed_records += 1
        lines.append((email, env._("updated from the ESP: %(fields)s", fields=", ".join(
            f"{Model._fields[path].string} = {value or '∅'}" for path, value in sorted(changes.items())))))
    if lines:
        log.updated += changed_records
        log._add_lines(lines)
        log._add_step(env._("Records of %(model)s updated from two-way fields changed at the ESP: %(count)s.",
                            count=changed_records, model=Model._description))
    return changed_contacts


def _create(job, Model, mappings, unknown):
    """Create records for contacts new at the ESP whose email no record of the model has; return the list's
    contacts of those the filter matches (a dynamic list takes them at once)."""
    env, run, mailing_list = job.env, job.run, job.run.mailing_list
    log = run.log
    target = email_field(Model)
    if not target:
        log._add_step(env._("%(model)s has no email field a record could be created with: nothing was created.",
                            model=Model._description))
        return env["mailing.contact"]
    # Odoo's own email of a record (audience.recipient_columns), archived records included: an email any record
    # already has creates nothing, so a record created earlier that the filter does not match is not made twice.
    query = Model.with_context(active_test=False)._search([])
    email_sql, _name, _version = audience.recipient_columns(Model, query)
    env.cr.execute(SQL("SELECT DISTINCT e FROM (%s) AS src WHERE e = ANY(%s)",
                       query.select(SQL("%s AS e", email_sql)), list(unknown)))
    taken = {row[0] for row in env.cr.fetchall()}
    name_field = Model._rec_name if Model._rec_name in Model._fields and Model._fields[Model._rec_name].store \
        and Model._fields[Model._rec_name].type == "char" else None
    vals_list, emails = [], []
    for email, contact in sorted(unknown.items()):
        if email in taken:
            continue
        values = {target: contact.email.strip()}
        for mapping in mappings:
            value = contact.data_fields.get(mapping.data_field_name)
            if value not in (None, ""):
                values[mapping.source_path.strip()] = str(value)
        if name_field and not values.get(name_field):
            values[name_field] = contact.email.strip()
        vals_list.append(values)
        emails.append(email)
    if not vals_list:
        return env["mailing.contact"]
    Creator = Model.with_context(mail_create_nolog=True, mail_create_nosubscribe=True, tracking_disable=True)
    created, failed = Model.browse(), []
    for start in range(0, len(vals_list), CREATE_BATCH):
        batch = vals_list[start:start + CREATE_BATCH]
        try:
            with env.cr.savepoint():
                created |= Creator.create(batch)
        except (UserError, ValueError, psycopg2.Error) as error:
            # The model refused the batch (a constraint): its contacts are reported, the others created.
            failed.extend((values[target], str(error).splitlines()[0]) for values in batch)
    if failed:
        log.failed += len(failed)
        log._add_lines([(email, env._("no record created: %(error)s", error=error)) for email, error in failed])
    if not created:
        return env["mailing.contact"]
    log.created += len(created)
    domain = audience.source_domain(mailing_list)
    matching = set(Model.with_context(active_test=False).search([*domain, ("id", "in", created.ids)]).ids)
    outside = created.filtered(lambda record: record.id not in matching)
    log._add_step(env._("Records of %(model)s created from contacts added at the ESP: %(count)s.", count=len(created),
                        model=Model._description))
    if outside:
        log._add_step(env._(
            "%(count)s of them do not match the filter and are not in the list (they are not created again): "
            "%(emails)s.", count=len(outside), emails=_named(outside.mapped(target))))
    if not matching:
        return env["mailing.contact"]
    if mailing_list.esp_source_kind != "dynamic":
        log._add_step(env._("%(count)s of them match the filter: they join the list at its next Refresh from "
                            "Filter.", count=len(matching)))
        return env["mailing.contact"]
    try:
        audience.refresh(mailing_list)
    except UserError as error:
        log._add_step(str(error))
        return env["mailing.contact"]
    return env["mailing.contact"].search([("esp_source_list_id", "=", mailing_list.id),
                                          ("esp_source_res_id", "in", list(matching))])
