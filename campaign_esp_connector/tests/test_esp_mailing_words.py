"""What a person reads on a mailing is true and in their words (issue #25): why Odoo sends it, what Read
Recipient Activity found, what the ESP answered (in the chatter), no Replied on ESP mailings, Complained and
Forwarded recipients."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged, users
from odoo.tools import format_datetime

from ..sync import statistics
from ..sync.campaigns import CampaignRunner
from .common import EspListSyncCommon


@tagged("campaign_esp_connector", "esp_mailing_words")
class TestEspMailingWords(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self.mailing_list = self._create_connected_list(
            [{"name": f"Reader {index}", "email": f"reader{index}@example.com"} for index in range(12)],
            book_name="Words Newsletter")
        self._sync_until_idle(self.mailing_list)
        self.odoo_list = self.env["mailing.list"].create({
            "name": "Words Leads", "contact_ids": [(0, 0, {"name": "Lead", "email": "lead@example.com"})]})

    def _notes(self, mailing):
        return mailing.message_ids.filtered(lambda message: message.subtype_id == self.env.ref("mail.mt_note"))

    def _sent_mailing(self):
        mailing = self._create_mailing(self.mailing_list, subject="Words")
        mailing.action_launch()
        CampaignRunner(self.env).run()
        self.assertIn(mailing.esp_campaign_state, ("sending", "sent"))
        return mailing

    # -- why Odoo sends it ---------------------------------------------------------------------------------

    def test_the_esp_tab_of_an_odoo_mailing_says_why_odoo_sends_it(self):
        unconnected = self._create_mailing(self.odoo_list)
        self.assertFalse(unconnected.esp_account_id)
        self.assertEqual(unconnected.esp_odoo_send_reason, "Odoo's mail server sends this mailing: none of its "
                                                           "mailing lists is connected to an ESP account.")
        no_list = self._create_mailing(self.env["mailing.list"])
        self.assertIn("until you choose its mailing lists", no_list.esp_odoo_send_reason)
        # The ESP sends it: nothing to explain.
        self.assertFalse(self._create_mailing(self.mailing_list).esp_odoo_send_reason)
        # Lists sent differently: the recipients warning says it, with what to decide.
        mixed = self._create_mailing(self.mailing_list | self.odoo_list)
        self.assertTrue(mixed.esp_recipients_warning)
        self.assertFalse(mixed.esp_odoo_send_reason)
        mixed.esp_send_through_odoo = True
        self.assertFalse(mixed.esp_odoo_send_reason)
        # Sent by Odoo, whatever its lists became since.
        unconnected.write({"state": "done"})
        self.assertIn("sent this mailing: none of its mailing lists", unconnected.esp_odoo_send_reason)
        # Recipients that are a model's records, and no filter of theirs connected to the ESP.
        partners = self._create_mailing(self.env["mailing.list"], mailing_model_id=self.env["ir.model"]._get_id(
            "res.partner"), mailing_domain="[('email', 'ilike', '@example.com')]")
        self.assertFalse(partners.esp_account_id)
        self.assertIn("are no filter connected to an ESP account", partners.esp_odoo_send_reason)
        self.assertIn("Contact", partners.esp_odoo_send_reason)

    def test_the_esp_decides_with_the_one_definition(self):
        """The reason and the default account agree: a list connected later turns the draft into an ESP mailing,
        and the reason goes."""
        mailing = self._create_mailing(self.odoo_list)
        self.assertTrue(mailing.esp_odoo_send_reason)
        mailing.contact_list_ids = self.mailing_list
        self.assertEqual(mailing.esp_account_id, self.sandbox_account)
        self.assertFalse(mailing.esp_odoo_send_reason)

    # -- Read Recipient Activity ---------------------------------------------------------------------------

    def test_read_activity_says_nothing_new_since_the_last_read(self):
        self.env.user.tz = "Pacific/Auckland"
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        first = mailing.action_esp_import_activity()["params"]["message"]
        self.assertRegex(first, r"^12 (new )?recipient activities read from the ESP")
        watermark = mailing.esp_campaign_id.activity_watermark
        self.sandbox.advance_clock(3600)
        second = mailing.action_esp_import_activity()["params"]["message"]
        # The last read's time, in the person's time zone and date format.
        self.assertEqual(second, f"Nothing new since {format_datetime(self.env, watermark, dt_format=False)}.")
        self.assertIn(fields.Datetime.context_timestamp(self.env.user, watermark).strftime("%H:%M:%S"), second)

    def test_read_activity_counts_what_is_new_since_the_last_read(self):
        self.sandbox.configure(engagement={"open": 1.0, "window_seconds": 7200})
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(1800)
        mailing.action_esp_import_activity()
        watermark = mailing.esp_campaign_id.activity_watermark
        self.sandbox.advance_clock(7200)
        message = mailing.action_esp_import_activity()["params"]["message"]
        self.assertRegex(message, r"^\d+ new recipient activities read from the ESP since ")
        self.assertTrue(message.endswith(f"since {format_datetime(self.env, watermark, dt_format=False)}."))
        self.assertNotRegex(message, r"^0 ")

    # -- the chatter ---------------------------------------------------------------------------------------

    @users("user_esp_marketing")
    def test_the_chatter_records_sync_test_and_refresh(self):
        mailing = self._create_mailing(self.mailing_list.with_user(self.env.user), subject="Chatter",
                                       esp_test_address="qa@example.com")
        created = self._notes(mailing)  # Odoo's own "Mass Mailing created"
        mailing.action_esp_sync_campaign()
        remote_id = mailing.esp_campaign_remote_id
        mailing.action_esp_sync_campaign()
        mailing.action_esp_test_send()
        bodies = [message.body for message in (self._notes(mailing) - created).sorted("id")]
        self.assertEqual(len(bodies), 3, bodies)
        self.assertIn(f"campaign {remote_id} created", bodies[0])
        self.assertIn(f"campaign {remote_id} updated", bodies[1])
        self.assertIn("Test sent by the ESP account", bodies[2])
        self.assertIn("qa@example.com", bodies[2])
        self.assertEqual((self._notes(mailing) - created).author_id, self.env.user.partner_id)

    def test_the_chatter_records_a_refresh_by_a_person_not_the_cron(self):
        mailing = self._sent_mailing()
        notes = self._notes(mailing)
        self.sandbox.advance_clock(7200)
        statistics.refresh_all(self.env, lambda: None)
        self.env["mailing.mailing"]._cron_esp_sync_activity()
        self.assertEqual(self._notes(mailing), notes, "the crons post nothing")
        mailing.action_esp_refresh_statistics()
        refreshed = self._notes(mailing) - notes
        self.assertEqual(len(refreshed), 1)
        self.assertIn(f"{mailing.esp_stat_sent} sent", refreshed.body)
        self.assertIn(f"{mailing.esp_stat_unique_opens} unique opens", refreshed.body)

    def test_the_chatter_of_an_imported_campaign_says_where_it_came_from(self):
        campaign, imported = self._campaign_made_in_the_esp(self.mailing_list)
        notes = self._notes(imported).filtered(lambda message: "Mass Mailing created" not in message.body)
        self.assertEqual(len(notes), 1)
        self.assertIn(f"Imported from the ESP account “{self.sandbox_account.name}”: campaign {campaign['id']}",
                      notes.body)
        self.assertIn("Words Newsletter", notes.body)

    # -- Replied, Complained, Forwarded --------------------------------------------------------------------

    def test_replied_is_hidden_on_esp_mailings(self):
        arch = self.env["mailing.mailing"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertRegex(arch, r'name="action_view_replied"[^>]*invisible="[^"]*esp_account_id')

    def test_complained_and_forwarded_recipients(self):
        self.sandbox.configure(engagement={"open": 1.0, "forward": 0.5, "complaint": 0.3, "hard_bounce": 0.0,
                                           "soft_bounce": 0.0, "unsubscribe": 0.0})
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        self._sync_until_idle(self.mailing_list)  # the complaints come back as the ESP's suppressions
        complainers = {contact["email"] for contact in self.sandbox.state(contacts_limit=1000)["contacts"]
                       if contact["status"] == "IspComplained"}
        self.assertTrue(complainers, "the sandbox made complaints")
        Trace = self.env["mailing.trace"]
        traces = Trace.search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual(len(traces), 12)
        self.assertEqual(set(Trace.search([("mass_mailing_id", "=", mailing.id),
                                           ("esp_complained", "=", True)]).mapped("email")), complainers)
        self.assertEqual(set(traces.filtered("esp_complained").mapped("email")), complainers)
        self.assertEqual(len(Trace.search([("mass_mailing_id", "=", mailing.id), ("esp_complained", "=", False)])),
                         12 - len(complainers))
        activity = mailing.esp_activity_ids
        forwarders = set(activity.filtered("forwards").mapped("email"))
        self.assertTrue(forwarders)
        self.assertEqual(set(Trace.search([("mass_mailing_id", "=", mailing.id),
                                           ("esp_forwarded", "=", True)]).mapped("email")), forwarders)
        self.assertEqual(set(activity.search([("mailing_id", "=", mailing.id), ("complained", "=", True)])
                             .mapped("email")), complainers)
        # A complaint made before the send is about another email: not this mailing's.
        complained = activity.filtered("complained")[:1]
        self.env["mailing.subscription"].search([
            ("list_id", "=", self.mailing_list.id), ("contact_id", "=", complained.contact_id.id),
        ]).opt_out_datetime = complained.sent_datetime - timedelta(days=1)
        self.env.flush_all()
        complained.invalidate_recordset(["complained"])
        self.assertFalse(complained.complained)
