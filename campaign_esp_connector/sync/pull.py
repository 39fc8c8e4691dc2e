"""Pull job: contacts changed at the ESP come into Odoo (two-way fields, new contacts)."""

from odoo import fields

from . import pull_records
from .common import Job, values_hash

PULL_CHUNK = 1000


class ContactPullJob(Job):
    """Read the book's change feed from the pull watermark and upsert what it says.

    The watermark is the provider's clock read before this run's first call, stored only when the whole feed
    was read, and nothing else ever moves it: a contact added or edited at the ESP at any moment (while an
    import of ours is in flight included) is read by the next pull. Lists for which nothing of the ESP's
    contact data can change Odoo (no two-way field, no "Create New Contacts") have nothing to pull.

    Newer side wins: a two-way field changed at the ESP overwrites Odoo unless the Odoo contact was modified
    after the previous pull (then Odoo's value is newer and goes out with the next export).
    """

    name = "pull"

    def __init__(self, run):
        super().__init__(run)
        self.mappings = run.account.field_mapping_ids._esp_for_list(run.mailing_list)
        self.two_way = self.mappings.filtered("two_way")

    def needed(self):
        # A list filled by a filter syncs one way (its members are the filter's records, never the ESP's), unless
        # it creates records from the ESP's contacts (sync/pull_records.py).
        if self.run.mailing_list.esp_source_kind:
            return bool(self.run.mailing_list.esp_source_create_records)
        return bool(self.binding.create_contacts or self.two_way)

    def execute(self):
        run, binding = self.run, self.binding
        if not self.needed():
            return None
        since = run.since(binding.pull_watermark)
        chunk, seen = [], 0
        # Data fields too when contacts are created from the ESP: a new contact is named from them.
        feed = run.client.iter_book_contacts_modified_since(binding.remote_id, since, with_full_data=True)
        for contact in feed:
            chunk.append(contact)
            if len(chunk) >= PULL_CHUNK:
                self._apply(chunk)
                seen += len(chunk)
                chunk = []
            if run.out_of_time():
                # Stop between chunks without moving the watermark: the next run reads this window again.
                run.log._add_step(self.env._("Time budget used up while reading contacts changed at the ESP."))
                return "partial"
        if chunk:
            self._apply(chunk)
            seen += len(chunk)
        binding.pull_watermark = max(run.server_now, binding.pull_watermark or run.limits.feed_epoch)
        if since <= run.limits.feed_epoch:
            run.log._add_step(self.env._("%(count)s contacts read from the ESP (first reading of the address book).",
                                         count=seen))
        else:
            run.log._add_step(self.env._("%(count)s contacts changed at the ESP since %(since)s.", count=seen,
                                         since=run.log._step_datetime(since)))
        run.commit("pull:done")
        return None

    def _apply(self, contacts):
        if self.run.mailing_list.esp_source_kind:
            return pull_records.apply(self, contacts)
        binding = self.binding
        list_id = binding.mailing_list_id.id
        by_email = {contact.email.strip().lower(): contact for contact in contacts if contact.email}
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            """
            SELECT DISTINCT ON (c.email_normalized) c.email_normalized, c.id, c.write_date
              FROM mailing_subscription s
              JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = %s AND c.email_normalized = ANY(%s)
          ORDER BY c.email_normalized, c.id
            """,
            [list_id, list(by_email)],
        )
        members = {email: (contact_id, write_date) for email, contact_id, write_date in cr.fetchall()}
        touched = created = self.env["mailing.contact"]
        if self.two_way:
            touched |= self._two_way(by_email, members)
        if binding.create_contacts:
            # An address the connector tracks for this list but Odoo no longer holds was removed in Odoo (its
            # removal from the book may be pending): it is not new at the ESP, whatever the feed says.
            cr.execute("SELECT email FROM esp_list_member WHERE list_id = %s AND email = ANY(%s)",
                       [list_id, list(by_email)])
            tracked = {row[0] for row in cr.fetchall()}
            unknown = {email: contact for email, contact in by_email.items()
                       if email not in members and email not in tracked and contact.sendable}
            if unknown:
                created, reused = self._create_contacts(unknown)
                touched |= reused
        # What came from the ESP is what the ESP holds: record it so the next export does not send it back.
        self._record_synced(created)
        self._record_synced(touched, by_email)
        # Last, so rows just recorded get theirs too: a removal needs the ESP's id, and one learnt here saves
        # a lookup call later (an email removed in Odoo before it was ever exported included).
        self.env["esp.list.member"]._esp_learn_remote_ids(
            list_id, [(email, contact.id) for email, contact in by_email.items() if contact.id is not None]
        )

    def _two_way(self, by_email, members):
        Contact = self.env["mailing.contact"]
        odoo_newer_than = self.binding.pull_watermark or self.run.limits.feed_epoch
        contacts = Contact.browse([contact_id for contact_id, _write_date in members.values()])
        contacts.fetch([mapping._esp_contact_field_name() for mapping in self.two_way])
        updated = Contact
        for email, (contact_id, write_date) in members.items():
            remote = by_email[email].data_fields
            if not remote or write_date > odoo_newer_than:
                continue
            record = Contact.browse(contact_id)
            changes = {}
            for mapping in self.two_way:
                if mapping.data_field_name not in remote:
                    continue
                value = remote[mapping.data_field_name]
                value = "" if value is None else str(value)
                field_name = mapping._esp_contact_field_name()
                if (record[field_name] or "") != value:
                    changes[field_name] = value or False
            if changes:
                record.write(changes)
                updated |= record
        self.run.log.updated += len(updated)
        return updated

    def _create_contacts(self, unknown):
        """Add contacts new at the ESP to this list, reusing existing Odoo contacts of the same email.

        :return: ``(created, reused)`` contacts
        """
        list_id = self.binding.mailing_list_id.id
        Contact = self.env["mailing.contact"].with_context(mail_create_nolog=True, mail_create_nosubscribe=True)
        existing = Contact.with_context(active_test=False).search([("email_normalized", "in", list(unknown))])
        by_email = {}
        for contact in existing:
            by_email.setdefault(contact.email_normalized, contact)
        self.env["mailing.subscription"].create(
            [{"contact_id": contact.id, "list_id": list_id} for contact in by_email.values()]
        )
        # Counted apart from created contacts: the list changed all the same, and the run says so.
        self.run.log.added += len(by_email)
        name_sources = ("name", "first_name", "last_name", "company_name")
        name_mappings = self.mappings.filtered(lambda mapping: mapping.source in name_sources)
        to_create = []
        for email, remote in unknown.items():
            if email in by_email:
                continue
            values = {"email": remote.email, "subscription_ids": [fields.Command.create({"list_id": list_id})]}
            for mapping in name_mappings:
                value = remote.data_fields.get(mapping.data_field_name)
                if value:
                    values[mapping.source] = str(value)
            values.setdefault("name", remote.email)
            to_create.append(values)
        created = Contact.create(to_create)
        self.run.log.created += len(created)
        return created, self.env["mailing.contact"].browse([contact.id for contact in by_email.values()])

    def _record_synced(self, contacts, remotes=None):
        """Record as synced the members of ``contacts`` whose values the ESP holds already.

        Contacts created from the ESP's contacts (no ``remotes``) are its own: what Odoo filled in besides (a
        name defaulting to the email) does not go back. Others (``remotes``: the feed's contacts by email) only
        when every value Odoo would send equals the ESP's: an Odoo contact re-subscribed because the ESP added
        its address, or one whose one-way mapped fields differ, holds other values than the ESP, and recording
        Odoo's hash would claim the ESP holds them (the two sides would differ for good). Those stay
        untracked, and the next export sends Odoo's values.
        """
        if not contacts:
            return
        self.env.flush_all()
        export = self.mappings._esp_exporter()
        rows = []
        for row in self.binding._esp_member_rows(contact_ids=contacts.ids):
            values, _problems = export(row)
            remote = remotes.get(row["email"]) if remotes is not None else None
            if remotes is not None and (remote is None or any(_remote_text(remote.data_fields.get(name)) != value
                                     for name, value in values.items())):
                continue
            rows.append((row["email"], values_hash(values), row["write_date"]))
        self.env["esp.list.member"]._esp_record_synced(self.binding.mailing_list_id.id, rows)


def _remote_text(value):
    """A data field's value as the ESP gave it, as text to compare with what an export sends."""
    return "" if value is None else str(value)
