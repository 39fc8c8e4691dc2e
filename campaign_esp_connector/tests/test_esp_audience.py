from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from ..sync import audience
from .common import EspAudienceCommon

LOGGERS = ("odoo.addons.campaign_esp_connector.sync.runner", "odoo.addons.campaign_esp_connector.models.mailing_list")


@tagged("campaign_esp_connector", "esp_audience")
class TestEspAudience(EspAudienceCommon):
    """A filter (a model + a domain) connected to an address book: a mailing list filled by the filter."""

    TAG_NAME = "ESP audience customers"

    def _domain(self):
        return repr([("category_id", "in", [self.tag.id]), ("country_id", "=", self.belgium.id)])

    def _connect_filter(self, kind="dynamic", name="Belgian customers"):
        mailing_list = self.env["mailing.list"].create({"name": name})
        book = self.sandbox_account._esp_create_address_book(name)
        mailing_list._esp_connect_source(self.partner_model, self._domain(), kind, book)
        return mailing_list

    def _touch(self, partners):
        """Records changed in a later transaction (one test transaction gives every write the same date)."""
        self.env.flush_all()
        self.env.cr.execute("UPDATE res_partner SET write_date = write_date + interval '1 second' WHERE id = ANY(%s)",
                            [partners.ids])
        partners.invalidate_recordset(["write_date"])

    def test_dynamic_filter_book_holds_what_odoo_would_mail(self):
        good = self._partners([("Ada", "ada@example.com"), ("Bob", "Bob@Example.com"), ("Cy", "cy@example.com")])
        first, second = self._partners([("First Dup", "dup@example.com"), ("Second Dup", "DUP@example.com")])
        self._partners([("Blacky", "black@example.com"), ("Broken", "not-an-email")])
        self._partners([("Francois", "francois@example.com")], country=self.france)
        self._partners([("Archived", "archived@example.com")]).action_archive()
        self.env["mail.blacklist"]._add("black@example.com")

        mailing_list = self._connect_filter()
        self.assertEqual(mailing_list.esp_source_count, 4)
        self._sync_until_idle(mailing_list)
        self.assertEqual(mailing_list.esp_sync_state, "done", mailing_list.esp_last_error)
        book = self._book_state(mailing_list)
        self.assertEqual(set(book), {"ada@example.com", "bob@example.com", "cy@example.com", "dup@example.com"})
        # Several records, one email: the lowest id wins (its name goes out).
        contact = mailing_list.contact_ids.filtered(lambda c: c.email_normalized == "dup@example.com")
        self.assertRecordValues(contact, [{"name": "First Dup", "esp_source_model": "res.partner",
                                           "esp_source_res_id": first.id}])
        self.assertLess(first.id, second.id)
        self.assertIn("First Dup", str(self._sandbox_contact_data("dup@example.com")))
        self.assertEqual(set(mailing_list.contact_ids.mapped("esp_source_res_id")), {*good.ids, first.id})

        # A partner leaving the filter is removed from the book; a changed name goes out.
        good[0].country_id = self.france
        good[1].name = "Bob Marley"
        self._touch(good[1])
        self._sync_until_idle(mailing_list)
        book = self._book_state(mailing_list)
        self.assertNotIn("ada@example.com", book)
        self.assertEqual(set(book), {"bob@example.com", "cy@example.com", "dup@example.com"})
        self.assertIn("Bob Marley", str(self._sandbox_contact_data("bob@example.com")))
        # A partner entering it is added.
        self._partners([("Dee", "dee@example.com")])
        self._sync_until_idle(mailing_list)
        self.assertIn("dee@example.com", self._book_state(mailing_list))

    def test_deleting_the_list_deletes_the_contacts_its_filter_filled(self):
        # The contacts name their list by id, without a foreign key (a million rows inserted at once): the list's
        # deletion removes them itself, and a contact of someone else's list stays.
        self._partners([("Ada", "ada@example.com"), ("Bob", "bob@example.com")])
        mailing_list = self._connect_filter()
        owned = mailing_list.contact_ids
        self.assertEqual(len(owned), 2)
        other = self.env["mailing.contact"].create({"name": "Ada", "email": "ada@example.com"})
        self.env.cr.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'mailing_contact'::regclass "
            "AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = 'mailing_contact'::regclass "
            "AND attname = 'esp_source_list_id')]::int2[]")
        self.assertFalse(self.env.cr.fetchall())
        mailing_list.unlink()
        self.assertFalse(owned.exists())
        self.assertTrue(other.exists())

    def test_no_op_refresh_touches_nothing(self):
        self._partners([(f"P{index}", f"p{index}@example.com") for index in range(5)])
        mailing_list = self._connect_filter()
        self._sync_until_idle(mailing_list)
        self.env.flush_all()
        self.env.cr.execute("SELECT id, write_date FROM mailing_contact WHERE esp_source_list_id = %s ORDER BY id",
                            [mailing_list.id])
        before = self.env.cr.fetchall()
        self.assertTrue(audience.refresh(mailing_list)["skipped"])
        forced = audience.refresh(mailing_list, force=True)
        self.assertEqual((forced["entered"], forced["left"], forced["updated"]), (0, 0, 0))
        self.env.cr.execute("SELECT id, write_date FROM mailing_contact WHERE esp_source_list_id = %s ORDER BY id",
                            [mailing_list.id])
        self.assertEqual(self.env.cr.fetchall(), before)
        self.sandbox.clear_log()
        self._sync(mailing_list)
        self.assertFalse([call for call in self._sandbox_api_calls() if call["path"].endswith("/import")])

    def test_on_demand_follows_the_filter_when_refreshed(self):
        partners = self._partners([("A", "a@example.com"), ("B", "b@example.com")])
        mailing_list = self._connect_filter(kind="on_demand")
        self._sync_until_idle(mailing_list)
        self.assertEqual(set(self._book_state(mailing_list)), {"a@example.com", "b@example.com"})
        partners[0].country_id = self.france
        self._partners([("C", "c@example.com")])
        self._sync_until_idle(mailing_list)
        self.assertEqual(set(self._book_state(mailing_list)), {"a@example.com", "b@example.com"})
        mailing_list.action_esp_refresh_source()
        self.assertEqual(mailing_list.esp_sync_state, "queued")
        self._sync_until_idle(mailing_list)
        self.assertEqual(set(self._book_state(mailing_list)), {"b@example.com", "c@example.com"})

    def test_members_are_read_only_for_persons(self):
        self._partners([("A", "a@example.com")])
        mailing_list = self._connect_filter()
        contact = self.env["mailing.contact"].create({"name": "Hand", "email": "hand@example.com"})
        with self.assertRaisesRegex(UserError, "records of its filter"):
            self.env["mailing.subscription"].with_user(self.user_marketing).create(
                {"contact_id": contact.id, "list_id": mailing_list.id})
        # The ESP's opt-outs still come back: opting out stays open.
        mailing_list.subscription_ids.with_user(self.user_marketing).write({"opt_out": True})

    def test_filter_matching_nobody_is_refused_on_connect(self):
        self._partners([("F", "f@example.com")], country=self.france)
        with self.assertRaisesRegex(UserError, "matches nobody"):
            self._connect_filter()

    @mute_logger(*LOGGERS)
    def test_broken_domain_and_uninstalled_model_fail_and_keep_the_book(self):
        self._partners([("A", "a@example.com"), ("B", "b@example.com")])
        mailing_list = self._connect_filter()
        self._sync_until_idle(mailing_list)
        mailing_list.esp_source_domain = "[('x_field_removed', '=', 1)]"
        log = self._sync(mailing_list)
        self.assertEqual(log.state, "failed")
        self.assertIn("no longer works", log.message)
        self.assertEqual(mailing_list.esp_sync_state, "failed")
        self.assertEqual(len(self._book_state(mailing_list)), 2)
        self.assertEqual(len(mailing_list.contact_ids), 2)

        mailing_list.esp_source_domain = self._domain()
        self.env.flush_all()
        self.env.cr.execute("UPDATE mailing_list SET esp_source_model_id = NULL, esp_source_model_name = 'x_gone' "
                            "WHERE id = %s", [mailing_list.id])
        mailing_list.invalidate_recordset()
        log = mailing_list._esp_sync(trigger="manual")
        self.assertEqual(log.state, "failed")
        self.assertIn("no longer installed", log.message)
        self.assertEqual(len(self._book_state(mailing_list)), 2)

    @mute_logger(*LOGGERS)
    def test_guard_stops_a_dynamic_list_emptying_its_book(self):
        partners = self._partners([(f"P{index}", f"p{index}@example.com") for index in range(40)])
        mailing_list = self._connect_filter()
        self._sync_until_idle(mailing_list)
        self.assertEqual(len(self._book_state(mailing_list)), 40)

        # 90 % fewer records match: the guard stops the removals until a person confirms.
        partners[4:].write({"country_id": self.france.id})
        log = self._sync(mailing_list)
        self.assertEqual(log.state, "guard", log.message)
        self.assertEqual(mailing_list.esp_sync_state, "guard")
        self.assertIn("36 removals", mailing_list.esp_last_error)
        self.assertEqual(len(self._book_state(mailing_list)), 40)
        mailing_list.action_esp_confirm_guard()
        self._sync_until_idle(mailing_list)
        self.assertEqual(len(self._book_state(mailing_list)), 4)
        self.assertEqual(mailing_list.esp_sync_state, "done")

        # Nobody matches any more: never applied silently, however small the list.
        partners[:4].write({"country_id": self.france.id})
        log = self._sync(mailing_list)
        self.assertEqual(log.state, "guard")
        self.assertIn("matches nobody", mailing_list.esp_last_error)
        self.assertEqual(len(mailing_list.contact_ids), 4)
        self.assertEqual(len(self._book_state(mailing_list)), 4)
        mailing_list.action_esp_confirm_guard()
        self._sync_until_idle(mailing_list)
        self.assertFalse(mailing_list.contact_ids)
        self.assertFalse(self._book_state(mailing_list))

    def test_connect_a_filter_dialog(self):
        self._partners([("A", "a@example.com"), ("B", "b@example.com")])
        Wizard = self.env["esp.connect.filter.wizard"].with_user(self.user_marketing)
        form = Form(Wizard)
        form.list_name = "Belgian customers"
        form.model_id = self.partner_model
        form.domain = self._domain()
        form.kind = "on_demand"
        form.account_id = self.sandbox_account
        form.new_address_book_name = "Belgian customers"
        self.assertEqual(form.match_count, 2)
        action = form.save().action_connect()
        mailing_list = self.env["mailing.list"].browse(action["params"]["next"]["res_id"])
        self.assertRecordValues(mailing_list, [{"esp_source_kind": "on_demand", "esp_source_model_name": "res.partner",
                                                "esp_source_count": 2, "esp_sync_state": "queued"}])
        self.assertEqual(mailing_list.esp_address_book_id.name, "Belgian customers")

        form = Form(Wizard)
        form.list_name = "Nobody"
        form.domain = repr([("id", "=", 0)])
        form.account_id = self.sandbox_account
        form.new_address_book_name = "Nobody"
        wizard = form.save()
        with self.assertRaisesRegex(UserError, "matches nobody"):
            wizard.action_connect()
        self.assertNotIn("Nobody", self.sandbox_account.address_book_ids.mapped("name"))
