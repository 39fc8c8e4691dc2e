from datetime import datetime

from odoo.tests import tagged

from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_list_sync")
class TestListSyncBulkPaths(EspListSyncCommon):
    """The fast paths of a first export keep the member rows exact when something wrote a row since the plan."""

    def test_members_new_to_the_plan_inserted_even_if_a_row_appeared_meanwhile(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        Member = self.env["esp.list.member"].sudo()
        # A removal trigger wrote a row for this email after the export planned it as untracked.
        self.env.cr.execute("INSERT INTO esp_list_member (list_id, email, state) VALUES (%s, %s, 'removing')",
                            [mailing_list.id, "ada@example.com"])
        batch = self.env["esp.import.batch"].create({
            "list_id": mailing_list.id, "account_id": self.sandbox_account.id, "remote_id": "import-1",
            "row_count": 2})
        checked = datetime(2026, 1, 2, 3, 4, 5, 678901)
        Member._esp_to_exporting(mailing_list.id, batch.id, [
            ("ada@example.com", "hash-ada", checked, False),
            ("bob@example.com", "hash-bob", None, False),
        ])
        members = Member.search([("list_id", "=", mailing_list.id)], order="email")
        self.assertEqual(members.mapped("email"), ["ada@example.com", "bob@example.com"])
        self.assertEqual(members.mapped("state"), ["exporting", "exporting"])
        self.assertEqual(members.mapped("sent_hash"), ["hash-ada", "hash-bob"])
        self.assertEqual(members.import_batch_id, batch)
        # The contact version is kept to the microsecond: a later change must look newer.
        self.assertEqual(members[0].checked_datetime, checked)
        self.assertFalse(members[1].checked_datetime)

    def test_deleting_an_import_forgets_it_on_its_members(self):
        # Members name their import by id, without a foreign key: deleting the import clears it (as "set null").
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        Member = self.env["esp.list.member"].sudo()
        batch = self.env["esp.import.batch"].create({
            "list_id": mailing_list.id, "account_id": self.sandbox_account.id, "remote_id": "import-2",
            "row_count": 1})
        Member._esp_to_exporting(mailing_list.id, batch.id, [("ada@example.com", "hash-ada", None, False)])
        member = Member.search([("list_id", "=", mailing_list.id)])
        self.assertEqual((member.batch_id, member.import_batch_id), (batch.id, batch))
        batch.unlink()
        self.assertEqual((member.batch_id, member.import_batch_id.id), (0, False))
        self.assertEqual(member.state, "exporting")

    def test_no_index_on_the_member_state_so_confirmations_update_in_place(self):
        # A confirmation changes the state of every member an import carried: with no index naming the state
        # (keys or predicate), PostgreSQL can update each row in its page without new index entries.
        self.env.cr.execute("""
            SELECT i.relname, pg_get_indexdef(x.indexrelid)
              FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = 'esp_list_member'::regclass
        """)
        indexes = dict(self.env.cr.fetchall())
        self.assertIn("esp_list_member_attention_index", indexes)
        self.assertFalse([name for name, definition in indexes.items() if "state" in definition], indexes)
        self.env.cr.execute("SELECT reloptions FROM pg_class WHERE oid = 'esp_list_member'::regclass")
        self.assertIn("fillfactor=50", self.env.cr.fetchone()[0])

    def test_unsent_members_found_through_their_state_or_their_import(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        Member = self.env["esp.list.member"].sudo()
        self._sync_until_idle(mailing_list)
        self.assertFalse(Member._esp_has_unsent(mailing_list.id))
        batch = self.env["esp.import.batch"].create({
            "list_id": mailing_list.id, "account_id": self.sandbox_account.id, "remote_id": "import-3",
            "row_count": 1})
        Member._esp_to_exporting(mailing_list.id, batch.id, [("ada@example.com", "hash-2", None, True)])
        self.assertTrue(Member._esp_has_unsent(mailing_list.id))
        Member._esp_confirm(batch, {})
        batch.state = "done"
        self.assertFalse(Member._esp_has_unsent(mailing_list.id))
        Member._esp_mark(mailing_list.id, ["ada@example.com"], "pending")
        self.assertTrue(Member._esp_has_unsent(mailing_list.id))

    def test_members_new_to_the_plan_inserted_without_conflict(self):
        mailing_list = self._create_connected_list([{"name": "Ada", "email": "ada@example.com"}])
        self._sync_until_idle(mailing_list)
        member = self.env["esp.list.member"].sudo().search([("list_id", "=", mailing_list.id)])
        self.assertEqual((member.email, member.state), ("ada@example.com", "synced"))
        self.assertTrue(member.confirmed_hash)
