"""Book check job: the whole address book is read now and then, to notice contacts removed at the ESP."""

from datetime import timedelta

from .. import providers
from .common import Job


class BookCheckJob(Job):
    """Owns the book-check watermark (``book_checked_datetime``) and its resume point.

    dotdigital's v2 API reports unsubscribes and suppressions but no removal from a book: a contact a person
    removes from the book at the ESP would stay "synced" in Odoo for ever. Every ``book_check_hours`` (24 by
    default; 0: every run; negative: never) the job reads every contact of the book, one call per page,
    resumable across runs, marks the members it lists, and then sends again the synced members it did not
    list. Odoo keeps the lists (the ESP sends new contacts, unsubscribes and suppressions back, not removals):
    a contact removed at the ESP, still subscribed in Odoo, goes back to the book; to drop it, remove it from
    the list in Odoo.
    """

    name = "book_check"

    def due(self):
        binding = self.binding
        if not self.run.client.supports(providers.Capability.BOOK_LISTING):
            return False
        if binding.book_check_started:
            return True  # a reading in progress resumes
        hours = float(self.run.param("book_check_hours", 24))
        if hours < 0:
            return False
        last = binding.book_checked_datetime
        return not last or self._clock() - last >= timedelta(hours=hours)

    def _clock(self):
        # The database's clock, and not the transaction's start: members are stamped in many transactions.
        self.env.cr.execute("SELECT clock_timestamp() at time zone 'UTC'")
        return self.env.cr.fetchone()[0]

    def execute(self):
        run, binding = self.run, self.binding
        if not self.due():
            return None
        if not binding.book_check_started:
            started = self._clock()
            self.env.cr.execute(
                "SELECT 1 FROM esp_list_member WHERE list_id = %s AND state = 'synced' LIMIT 1", [self.list_id]
            )
            if not self.env.cr.fetchone():
                binding.book_checked_datetime = started  # nothing the book should hold yet
                return None
            binding.write({"book_check_started": started, "book_check_skip": 0, "book_check_position": False})
            run.commit("book_check:started")
        started = binding.book_check_started
        # A position is a skip (an integer) or a cursor (text), as the provider pages.
        skip, read = binding.book_check_position or binding.book_check_skip, 0
        while True:
            contacts, next_skip = run.client.book_contacts_page(binding.remote_id, skip)
            self.Member._esp_listed(self.list_id, [
                (contact.email.strip().lower(), contact.id) for contact in contacts if contact.email
            ], started)
            read += len(contacts)
            if next_skip is None:
                break
            skip = next_skip
            if isinstance(next_skip, str):
                binding.book_check_position = next_skip
            else:
                binding.book_check_skip = next_skip
            run.commit("book_check:page")
            if run.out_of_time():
                run.log._add_step(self.env._("Comparing the address book: %(count)s contacts read so far, "
                                             "the rest next run.", count=read if isinstance(skip, str) else skip))
                return "partial"
        missing = self.Member._esp_requeue_unlisted(
            self.list_id, started, self.env._("Removed from the address book at the ESP: sent again")
        )
        if missing:
            run.log._add_lines([(email, self.env._("removed from the address book at the ESP: sent again"))
                                for email in missing[:1000]])
        run.log._add_step(self.env._(
            "Address book compared with the list (%(count)s contacts read in this run): %(missing)s removed at the "
            "ESP sent again.", count=read, missing=len(missing)))
        binding.write({"book_checked_datetime": started, "book_check_started": False, "book_check_skip": 0,
                       "book_check_position": False})
        run.commit("book_check:done")
        return None
