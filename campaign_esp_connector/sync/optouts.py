"""Opt-out job: ESP unsubscribes and suppressions into Odoo, Odoo opt-outs and removals to the ESP."""

from markupsafe import Markup
from psycopg2.extras import execute_values

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import SQL

from .. import providers
from .audience import _source_query
from .common import Job, odoo_clock, utc_naive
from .words import people_datetime, readers_tz, status_words

# Odoo opt-outs are pushed one call each (the ESP has no bulk unsubscribe): bound them per run.
MAX_UNSUBSCRIBES_PER_RUN = 200
# Removal lookups of contacts whose ESP id is unknown, one call each: bounded per run.
MAX_LOOKUPS_PER_RUN = 100
# The mass change guard ignores runs that touch at most this many contacts (one unsubscribe in a list of 3
# is 33 %, and not what the guard is for).
GUARD_MIN_CONTACTS = 10


class OptOutJob(Job):
    """Owns the opt-out watermark (the book's unsubscribe feed). Account-wide suppressions are read once per
    account per run by the runner and handed to every list in ``run.account_feeds``."""

    name = "optouts"

    def execute(self):
        run, binding = self.run, self.binding
        since = run.since(binding.optout_watermark)
        unsubscribed = self.env._("Unsubscribed")
        incoming = [
            (row.email.strip().lower(), row.reason or unsubscribed, utc_naive(row.removed_at), False)
            for row in run.client.iter_book_unsubscribed_since(binding.remote_id, since) if row.email
        ] + [
            (email, reason, at, True)
            for email, reason, at in run.account_feeds.suppressions() if at is None or at >= since
        ]
        incoming = self._subscribed(incoming)
        odoo_side = bool(binding._esp_change_mark()) or binding.odoo_changes_pending
        outgoing = self._odoo_opt_outs() if odoo_side else []
        removals = self._removed_members() if odoo_side else []
        changes = len({row[0] for row in incoming}) + len(outgoing) + len(removals)
        if self._guard_stops(changes, incoming, outgoing, removals):
            return "guard"
        apply_esp_opt_outs(run, incoming)
        run.commit("optouts:incoming")
        truncated = self._push_opt_outs(outgoing)
        truncated |= self._remove(removals)
        binding.write({
            "optout_watermark": max(run.server_now, binding.optout_watermark or run.limits.feed_epoch),
            "guard_confirmed": False,
            "odoo_changes_pending": truncated,
        })
        run.commit("optouts:done")
        return None

    # -- ESP -> Odoo --------------------------------------------------------------------------------------

    def _subscribed(self, incoming):
        """Keep the ESP opt-outs of emails subscribed to this list in Odoo (others are already done)."""
        if not incoming:
            return []
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT DISTINCT c.email_normalized
              FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
             WHERE s.list_id = %s AND s.opt_out IS NOT TRUE AND c.email_normalized = ANY(%s)
            """,
            [self.list_id, list({row[0] for row in incoming})],
        )
        subscribed = {row[0] for row in self.env.cr.fetchall()}
        return [row for row in incoming if row[0] in subscribed]

    def _guard_stops(self, changes, incoming, outgoing, removals):
        binding, log = self.binding, self.run.log
        if binding.guard_confirmed or changes <= GUARD_MIN_CONTACTS:
            return False
        threshold = float(self.run.param("guard_threshold", 5))
        # The list's subscriptions, counted alone: contact_count is mass_mailing's whole statistics compute (opt-out,
        # blacklist and bounce counts too), half a second on a million.
        self.env.cr.execute("SELECT count(*) FROM mailing_subscription WHERE list_id = %s", [self.list_id])
        size = self.env.cr.fetchone()[0] or 1
        if changes * 100.0 / size <= threshold:
            return False
        log.message = self.env._(
            "This sync would change %(changes)s of the %(size)s contacts of the list (more than %(threshold)s%%): "
            "%(esp_optouts)s opt-outs from the ESP, %(odoo_optouts)s unsubscribes to send to the ESP and "
            "%(removals)s removals from the address book. Nothing was changed; confirm on the list to apply them.",
            changes=changes,
            size=size,
            threshold=threshold,
            esp_optouts=len({row[0] for row in incoming}),
            odoo_optouts=len(outgoing),
            removals=len(removals),
        )
        log._add_step(log.message)
        return True

    # -- Odoo -> ESP --------------------------------------------------------------------------------------

    def _odoo_opt_outs(self):
        """Members opted out or blacklisted in Odoo that the ESP still has subscribed: ``[(id, email)]``.

        Driven from the few opted-out subscriptions and blacklist entries, then matched to members by the
        (list, email) unique index: no scan of every member.
        """
        self.env.flush_all()
        self.env.cr.execute(
            """
            WITH gone AS (
                SELECT email, max(at) AS at FROM (
                    SELECT c.email_normalized AS email, s.write_date AS at
                      FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
                     WHERE s.list_id = %(list)s AND s.opt_out AND c.email_normalized IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM mailing_contact c2
                                         JOIN mailing_subscription s2 ON s2.contact_id = c2.id
                                          AND s2.list_id = %(list)s
                                        WHERE c2.email_normalized = c.email_normalized AND s2.opt_out IS NOT TRUE)
                     UNION ALL
                    SELECT b.email, COALESCE(b.write_date, b.create_date) FROM mail_blacklist b WHERE b.active
                ) AS g GROUP BY email
            )
            -- Members still subscribed at the ESP, and addresses of this list the connector holds no row for:
            -- the book may have them all the same (an import whose answer was lost, a contact a person added
            -- at the ESP), and an opt-out must reach it. Unsubscribing an address the book lacks is harmless.
            -- An opted-out row is sent again when Odoo opted the address out after the row was recorded (a
            -- person may have added it to the book meanwhile). Compared on the database's clock (write
            -- dates), never on the ESP's: opt_out_datetime holds the ESP's time when the ESP opted it out.
            SELECT m.id, gone.email FROM gone
              LEFT JOIN esp_list_member m ON m.list_id = %(list)s AND m.email = gone.email
             WHERE (m.id IS NULL AND EXISTS (SELECT 1 FROM mailing_subscription s JOIN mailing_contact c
                                               ON c.id = s.contact_id
                                            WHERE s.list_id = %(list)s AND c.email_normalized = gone.email))
                OR m.state IN ('synced', 'exporting', 'pending', 'failed', 'removing')
                OR (m.state = 'opted_out' AND gone.at > m.opted_out_datetime)
          ORDER BY m.id NULLS FIRST LIMIT %(limit)s
            """,
            {"list": self.list_id, "limit": MAX_UNSUBSCRIBES_PER_RUN + 1},
        )
        return self.env.cr.fetchall()

    def _push_opt_outs(self, outgoing):
        """Unsubscribe each from the book, recording each one as soon as the ESP has it.

        :return: True when more remain than one run sends
        """
        run = self.run
        for _member_id, email in outgoing[:MAX_UNSUBSCRIBES_PER_RUN]:
            try:
                run.client.unsubscribe_from_book(run.binding.remote_id, email)
            except providers.BookNotFound:
                raise  # the book itself is gone: nothing was unsubscribed, the opt-out waits for another book
            except providers.NotFound:
                pass  # never reached the book: nothing to unsubscribe
            self.Member._esp_opted_out(self.list_id, [email])
            run.commit("optouts:unsubscribed")
            if run.out_of_time():
                return True
        if outgoing:
            run.log._add_step(self.env._("%(count)s Odoo opt-outs unsubscribed at the ESP.",
                                count=min(len(outgoing), MAX_UNSUBSCRIBES_PER_RUN)))
        return len(outgoing) > MAX_UNSUBSCRIBES_PER_RUN

    def _removed_members(self):
        """Members whose email no longer belongs to the list in Odoo: ``[(id, email, remote id or None)]``."""
        self.env.flush_all()
        cr = self.env.cr
        # An anti-join planned as a nested loop on stale statistics (right after a bulk export) takes hours at
        # a million members; hashed, it is one pass over each side. SET LOCAL ends with the transaction.
        cr.execute("SET LOCAL enable_nestloop = off")
        try:
            cr.execute(
                """
                SELECT m.id, m.email, m.remote_contact_id FROM esp_list_member m
                 WHERE m.list_id = %(list)s AND m.state != 'exporting'
                   AND NOT EXISTS (SELECT 1 FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
                                    WHERE s.list_id = %(list)s
                                      AND COALESCE(c.email_normalized, lower(trim(c.email))) = m.email)
                """,
                {"list": self.list_id},
            )
            return cr.fetchall()
        finally:
            cr.execute("SET LOCAL enable_nestloop = on")

    def _remove(self, removals):
        """Remove from the book the members that left the list, then forget them.

        :return: True when lookups of unknown ESP ids remain for the next run
        """
        if not removals:
            return False
        run = self.run
        if not run.client.supports(providers.Capability.BOOK_REMOVAL):
            # The provider's API cannot take a contact out of a list: a person must, in its UI. Said once per
            # contact in this run's log, then the member is forgotten (the next runs do not repeat it).
            provider = run.account._get_provider_label()
            why = self.env._("cannot be removed at %(provider)s: do it in its UI", provider=provider)
            run.log._add_lines([(email, why) for _member_id, email, _remote_id in removals])
            self.Member._esp_forget([member_id for member_id, _email, _remote_id in removals])
            run.log._add_step(self.env._(
                "%(count)s contacts left the list in Odoo; %(provider)s cannot remove them from its list through "
                "its API: remove them there by hand (they are listed below).",
                count=len(removals), provider=provider))
            run.commit("optouts:removed")
            return False
        remote_ids, forget, lookups, truncated = [], [], 0, False
        unknown = [email for _member_id, email, remote_id in removals if not remote_id]
        if unknown and run.client.supports(providers.Capability.CONTACT_BATCH):
            # A list synced one way (a connected filter) never reads the book back, so its members' ESP ids are
            # unknown: read them a thousand per call rather than one call each.
            found = run.client.get_contacts(unknown)
            removals = [(member_id, email, remote_id or (found[email].id if email in found else False))
                        for member_id, email, remote_id in removals]
            forget.extend(member_id for member_id, _email, remote_id in removals if not remote_id)
            removals = [removal for removal in removals if removal[2]]
        for member_id, email, remote_id in removals:
            if not remote_id:
                if lookups >= MAX_LOOKUPS_PER_RUN:
                    truncated = True
                    continue
                lookups += 1
                contact = run.client.get_contact(email)
                if not contact:
                    forget.append(member_id)  # not at the ESP: nothing to remove
                    continue
                remote_id = contact.id
            remote_ids.append(remote_id)
            forget.append(member_id)
        if remote_ids:
            run.client.remove_contacts_from_book(run.binding.remote_id, remote_ids)
        self.Member._esp_forget(forget)
        run.log.removed += len(remote_ids)
        run.log._add_step(
            self.env._("%(count)s contacts removed from the address book.", count=len(remote_ids))
        )
        run.commit("optouts:removed")
        return truncated


def apply_esp_opt_outs(run, incoming):
    """Opt out of the run's list the emails the ESP unsubscribed or suppressed, with the evidence a person
    needs on each contact (a note saying what the ESP said, and when) and the opt-out reason and date.

    :param incoming: list of ``(email, reason, esp_datetime or None, suppressed)``; ``suppressed`` means
        account-wide (hard bounce, complaint, ...) and blacklists the email when the setting says so
    """
    if not incoming:
        return
    env, log = run.env, run.log
    list_id = run.mailing_list.id
    env.flush_all()
    cr = env.cr
    reason_record = env.ref("campaign_esp_connector.mailing_subscription_optout_esp", raise_if_not_found=False)
    latest = {}
    for email, why, when, suppressed in incoming:
        latest[email] = (why, when, suppressed)
    cr.execute(
        """
        SELECT s.id, c.id, c.email_normalized, s.esp_optin_datetime
          FROM mailing_subscription s JOIN mailing_contact c ON c.id = s.contact_id
         WHERE s.list_id = %s AND s.opt_out IS NOT TRUE AND c.email_normalized = ANY(%s)
        """,
        [list_id, list(latest)],
    )
    # Fetched before any ORM read: with a cold cache (every cron job's new cursor) reading the list's name
    # runs a query on this same cursor, and an unread result would be lost.
    subscriptions = cr.fetchall()
    updates, conflicts, notes, opted_out = [], [], [], []
    now = fields.Datetime.now()
    # The ESP dates an opt-out on its clock: stored on Odoo's (the one clock rule, common.odoo_clock).
    on_odoo_clock = odoo_clock(run.account.clock_offset, now)
    list_name = run.mailing_list.name
    provider = run.account._get_provider_label()
    tz = readers_tz(env, run.account, run.binding.sync_requested_by_id)
    for subscription_id, contact_id, email, optin_at in subscriptions:
        raw_why, when, _suppressed = latest[email]
        why = status_words(env, run.client, raw_why)
        # Both dates are on the ESP's clock (esp_optin_datetime is stored so); write_date is not compared: any
        # write (a name, a mapped field) would otherwise undo the ESP's opt-out.
        if when and optin_at and optin_at > when:
            # A person subscribed this membership in Odoo after the ESP's opt-out: report, don't undo.
            conflicts.append((email, env._("kept subscribed: Odoo's subscription is newer than the ESP's "
                                       "opt-out (%(reason)s)", reason=why)))
            continue
        when = on_odoo_clock(when)
        updates.append((subscription_id, when or now))
        opted_out.append((email, why))
        notes.append((contact_id, Markup("<p>%s</p>") % env._(
            "Opted out of the mailing list “%(list)s” by %(provider)s: %(reason)s (at the ESP on %(date)s).",
            list=list_name, provider=provider, reason=why, date=people_datetime(env, when or now, tz=tz),
        )))
    if updates:
        execute_values(
            cr,
            """
            UPDATE mailing_subscription s
               SET opt_out = TRUE, opt_out_datetime = v.at, opt_out_reason_id = v.reason_id,
                   write_date = now() at time zone 'UTC'
              FROM (VALUES %s) AS v(id, at, reason_id) WHERE s.id = v.id
            """,
            [(subscription_id, at, reason_record.id if reason_record else None) for subscription_id, at in updates],
        )
        env["mailing.subscription"].invalidate_model()
        _post_notes(env, notes)
    kept = {conflict[0] for conflict in conflicts}
    # The member keeps the ESP's reason (unsubscribed, hard bounce, ...), shown on the contact: one statement
    # per reason, and a feed carries a handful of them.
    by_reason = {}
    for email, (why, _when, _suppressed) in latest.items():
        if email not in kept:
            by_reason.setdefault(why, []).append(email)
    for why, emails in by_reason.items():
        env["esp.list.member"]._esp_mark(list_id, emails, "opted_out", reason=why)
    if run.param("blacklist_suppressed", False):
        for email, (why, _when, suppressed) in latest.items():
            if suppressed:
                env["mail.blacklist"].sudo()._add(
                    email, message=env._("Suppressed at the ESP: %(reason)s",
                                         reason=status_words(env, run.client, why))
                )
    if run.mailing_list.esp_source_kind:
        blacklist_source_opt_outs(run, {email: latest[email][0] for email in latest if email not in kept})
    log.opted_out += len(updates)
    # Who the counter counts, each with the ESP's reason: a person reads them on the run.
    log._add_lines(opted_out, kind="opted_out")
    if conflicts:
        log._add_lines(conflicts)
    log._add_step(env._("%(count)s opt-outs from the ESP applied, %(conflicts)s kept (Odoo newer).",
                    count=len(updates), conflicts=len(conflicts)))


def blacklist_source_opt_outs(run, reasons):
    """A connected filter's records are outside any mailing list: an unsubscribe, hard bounce or complaint at
    the ESP blacklists the address in Odoo (``mail.blacklist``, as Odoo opts such records out of mailings), with
    the reason and the ESP account, and the records' chatter says so.

    In bulk: one search of the blacklist, one create of the new entries, one write of the archived ones, one
    batch of chatter notes (on the blacklist entries and on every record of the filter with the address).
    The subscription stays opted out, so the address never comes back subscribed, even if unblacklisted.

    :param reasons: ``{email: the ESP's reason}``
    """
    if not reasons:
        return
    env = run.env(su=True)
    account_name = run.account.name
    provider = run.account._get_provider_label()
    message = {email: env._(
        "Blacklisted: %(reason)s at %(provider)s (ESP account “%(account)s”, address book of the mailing list "
        "“%(list)s”).", reason=status_words(env, run.client, why), provider=provider, account=account_name,
        list=run.mailing_list.name)
        for email, why in reasons.items()}
    Blacklist = env["mail.blacklist"].with_context(active_test=False, tracking_disable=True,
                                                    mail_create_nolog=True, mail_create_nosubscribe=True)
    existing = Blacklist.search([("email", "in", list(reasons))])
    known = {entry.email: entry for entry in existing}
    existing.filtered(lambda entry: not entry.active).write({"active": True})
    created = Blacklist.create([{"email": email} for email in reasons if email not in known])
    entries = existing | created
    _post_notes(env, [(entry.id, Markup("<p>%s</p>") % message[entry.email])
                      for entry in entries if entry.email in message], model="mail.blacklist")
    _note_source_records(run, message)


def _note_source_records(run, message):
    """A note on every record of the list's filter holding one of the addresses (one batch), when the source
    model has a chatter; the records that left the filter are not looked for."""
    env = run.env(su=True)
    mailing_list = run.mailing_list
    model_name = mailing_list.esp_source_model_name
    if not model_name or model_name not in env or not hasattr(env[model_name], "message_post"):
        return
    try:
        query, email, _name, _version = _source_query(mailing_list)
    except UserError:
        return  # a filter that no longer works: the blacklist entries carry the evidence
    query.add_where(SQL("%s = ANY(%s)", email, list(message)))
    env.cr.execute(query.select(SQL.identifier(query.table, "id"), SQL("%s", email)))
    notes = [(res_id, Markup("<p>%s</p>") % message[address]) for res_id, address in env.cr.fetchall()]
    _post_notes(env, notes, model=model_name)


def _post_notes(env, notes, model="mailing.contact"):
    """One chatter note per record, created in one batch (no followers notified: it is evidence)."""
    if not notes:
        return
    subtype_id = env["ir.model.data"]._xmlid_to_res_id("mail.mt_note")
    author_id = env.ref("base.partner_root").id
    env["mail.message"].sudo().create([
        {
            "model": model,
            "res_id": contact_id,
            "body": body,
            "message_type": "notification",
            "subtype_id": subtype_id,
            "author_id": author_id,
        }
        for contact_id, body in notes
    ])
