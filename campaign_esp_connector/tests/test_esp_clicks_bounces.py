"""Issue 21, the right figures: the ESP's clicks on Odoo's link trackers per link (Clicked drills down to the
clickers), its hard bounces in Odoo's bounce counters once, a Statistics tab whose figures agree at every
moment, and a Create List from Engagement that counts what it leaves out."""

from collections import Counter

from odoo import fields
from odoo.tests import tagged

from ..providers.records import CampaignClick
from ..sync import activity, statistics
from ..sync.campaigns import CampaignRunner
from .common import EspListSyncCommon

BODY = (
    "<div><p>Hi <a href='https://example.com/a'>Shop A</a>, <a href='https://example.com/b?x=1'>Shop B</a>, "
    "<a href='/shop/c'>Shop C</a>, <a href='mailto:help@example.com'>write to us</a></p></div>"
)


@tagged("campaign_esp_connector", "esp_statistics", "esp_clicks")
class TestEspClicksBouncesFigures(EspListSyncCommon):
    def setUp(self):
        super().setUp()
        self._create_engaged_readers()

    def _sent_mailing(self, body=BODY):
        mailing = self._create_mailing(self.mailing_list, body=body, subject="Clicks")
        mailing.action_launch()
        CampaignRunner(self.env).run()  # sends, then the follow job reads the first figures
        self.assertEqual(mailing.state, "done")
        return mailing

    def _trackers(self, mailing):
        return self.env["link.tracker"].search([("mass_mailing_id", "=", mailing.id)])

    def _esp_clicks(self, mailing):
        return self._sandbox_get_all(f"campaigns/{mailing.esp_campaign_remote_id}/clicks")

    def _read_again_from_the_start(self, mailing):
        """A whole new read of both feeds, as a first read would (the overlap at its widest)."""
        mailing.esp_campaign_id.sudo().activity_watermark = False
        mailing.action_esp_import_activity()

    # -- clicks ----------------------------------------------------------------------------------------------

    def test_clicks_reach_the_link_trackers_per_link_once(self):
        mailing = self._sent_mailing()
        # As after Odoo's own send, the mailing's links are its link trackers from the first figures on.
        self.assertEqual(mailing.link_trackers_count, 3)
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        base_url = mailing.get_base_url()
        remote = self._esp_clicks(mailing)
        self.assertGreater(len(remote), 5)
        expected = Counter(base_url + click["url"] if click["url"].startswith("/") else click["url"]
                           for click in remote)
        trackers = self._trackers(mailing)
        # One tracker per link of the mailing as written (the relative one made absolute, as Odoo's send does;
        # no mailto), with the mailing's UTM values, and the ESP's click count on each.
        self.assertEqual(set(trackers.mapped("url")),
                         {"https://example.com/a", "https://example.com/b?x=1", f"{base_url}/shop/c"})
        self.assertEqual({tracker.url: tracker.count for tracker in trackers if tracker.count}, dict(expected))
        for tracker in trackers:
            self.assertEqual((tracker.campaign_id, tracker.source_id, tracker.medium_id),
                             (mailing.campaign_id, mailing.source_id, mailing.medium_id))
        self.assertEqual(mailing.link_trackers_count, 3)
        clicks = self.env["link.tracker.click"].search([("mass_mailing_id", "=", mailing.id)])
        self.assertEqual(len(clicks), len(remote))
        self.assertEqual(Counter(click.mailing_trace_id.email for click in clicks),
                         Counter(click["email"].lower() for click in remote))
        self.assertEqual(sorted(fields.Datetime.to_string(click.create_date) for click in clicks),
                         sorted(click["dateClicked"][:19].replace("T", " ") for click in remote))
        self.assertFalse(clicks.filtered(lambda click: click.country_id or click.ip))

        # Read again from the start, and a page repeated as a read resumed after a crash repeats it: no click
        # is added twice.
        self._read_again_from_the_start(mailing)
        binding = mailing.esp_campaign_id.sudo()
        with binding.account_id._esp_client() as client:
            rows, _skip, _anchor = client.campaign_clicks_page(int(binding.remote_id), client.limits.feed_epoch, 0)
        self.assertTrue(rows)
        activity._write_clicks(self.env.cr, binding, rows)
        activity._write_clicks(self.env.cr, binding, rows)
        self.env.invalidate_all()
        self.assertEqual(self.env["link.tracker.click"].search_count([("mass_mailing_id", "=", mailing.id)]),
                         len(remote))
        self.assertEqual({tracker.url: tracker.count for tracker in trackers if tracker.count}, dict(expected))

        # Link Trackers lists them; Clicked opens the clickers, the recipients with a click the ESP reports.
        action = mailing.action_view_link_trackers()
        self.assertEqual(self.env["link.tracker"].search(action["domain"]), trackers)
        clickers = mailing.esp_activity_ids.filtered("clicks").contact_id
        self.assertTrue(clickers)
        action = mailing.action_view_clicked()
        self.assertEqual(self.env[action["res_model"]].search(action["domain"]), clickers)
        self.assertEqual(mailing.clicked, len(clickers))
        # Odoo's own filter (traces with link clicks) finds the same people.
        traces = self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id),
                                                   ("links_click_ids", "!=", False)])
        self.assertEqual(self.env["mailing.contact"].browse(traces.mapped("res_id")), clickers)

    def test_esp_redirect_and_added_parameters_are_not_link_targets(self):
        """The tracker is the URL as written in the mailing, whatever query the ESP appended to it."""
        mailing = self._sent_mailing()
        binding = mailing.esp_campaign_id.sudo()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_import_activity()
        trace = mailing.esp_activity_ids.filtered("trace_id")[0].trace_id
        click = CampaignClick(contact_id=None, email=trace.email,
                              url="https://example.com/b?utm_source=dotdigital&x=1",
                              clicked_at=fields.Datetime.now())
        activity._write_clicks(self.env.cr, binding, [click])
        self.env.invalidate_all()
        self.assertEqual(set(self._trackers(mailing).mapped("url")),
                         {"https://example.com/a", "https://example.com/b?x=1", f"{mailing.get_base_url()}/shop/c"})
        added = self.env["link.tracker.click"].search([("mass_mailing_id", "=", mailing.id)], order="id desc",
                                                      limit=1)
        self.assertEqual((added.link_id.url, added.mailing_trace_id), ("https://example.com/b?x=1", trace))

    # -- bounces ---------------------------------------------------------------------------------------------

    def test_hard_bounces_count_once_on_contacts_and_the_lists_bounce_rate(self):
        self.sandbox.configure(engagement={"hard_bounce": 0.3, "soft_bounce": 0.1})
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        hard = mailing.esp_activity_ids.filtered("hard_bounced").contact_id
        self.assertTrue(hard)
        self.assertEqual(len(hard), mailing.esp_stat_hard_bounces)
        contacts = self.mailing_list.contact_ids

        def check():
            self.env.invalidate_all()
            self.assertEqual({contact.email: contact.message_bounce for contact in contacts},
                             {contact.email: 1 if contact in hard else 0 for contact in contacts})
            self.assertAlmostEqual(self.mailing_list.contact_pct_bounce, 100.0 * len(hard) / self.mailing_list.contact_count)

        check()
        # Read again (refresh, activity, a read from the start), and the list sync reads the account's
        # suppressions, hard bounces included: each bounce still counts once.
        mailing.action_esp_refresh_statistics()
        self._read_again_from_the_start(mailing)
        statistics.refresh_all(self.env, lambda: None)
        self._sync_until_idle(self.mailing_list)
        check()

    # -- the Statistics tab's figures ------------------------------------------------------------------------

    def _check_figures_agree(self, mailing):
        mailing.invalidate_recordset()
        sent, delivered = mailing.esp_stat_sent, mailing.esp_stat_delivered
        hard, soft = mailing.esp_stat_hard_bounces, mailing.esp_stat_soft_bounces
        self.assertEqual(mailing.esp_stat_successful, delivered)
        self.assertEqual(mailing.esp_stat_total_bounces, hard + soft)
        self.assertEqual(sent, delivered + hard + soft + mailing.esp_stat_pending)
        self.assertEqual(mailing.esp_stat_esp_open_rate,
                         round(100.0 * mailing.esp_stat_unique_opens / delivered, 2) if delivered else 0.0)
        self.assertAlmostEqual(mailing.esp_stat_open_rate, 100.0 * mailing.esp_stat_opens / sent)
        self.assertAlmostEqual(mailing.esp_stat_click_rate, 100.0 * mailing.esp_stat_clicks / sent)
        self.assertAlmostEqual(mailing.esp_stat_unsubscribe_rate, 100.0 * mailing.esp_stat_unsubscribes / sent)

    def test_figures_agree_after_the_first_figures_and_after_a_refresh(self):
        self.sandbox.configure(engagement={"hard_bounce": 0.2, "soft_bounce": 0.1})
        mailing = self._sent_mailing()
        # The first figures, read as the send ends: some bounces are not back yet.
        self.assertTrue(mailing.esp_stats_datetime)
        self.assertEqual(mailing.esp_stat_sent, 30)
        self.assertGreater(mailing.esp_stat_pending, 0)  # Sent minus the bounces so far is not Delivered
        self._check_figures_agree(mailing)
        self.sandbox.advance_clock(60)
        mailing.action_esp_refresh_statistics()
        self._check_figures_agree(mailing)
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        self._check_figures_agree(mailing)
        self.assertEqual(mailing.esp_stat_pending, 0)
        self.assertGreater(mailing.esp_stat_hard_bounces + mailing.esp_stat_soft_bounces, 0)
        self.assertGreater(mailing.esp_stat_unique_opens, 0)
        # Odoo's own figures follow the same read.
        self.assertEqual((mailing.sent, mailing.delivered, mailing.bounced),
                         (mailing.esp_stat_sent, mailing.esp_stat_delivered, mailing.esp_stat_total_bounces))

    # -- Create List from Engagement -------------------------------------------------------------------------

    def test_engagement_list_says_what_it_leaves_out(self):
        self.sandbox.configure(engagement={"hard_bounce": 0.2, "soft_bounce": 0.1, "open": 0.5})
        mailing = self._sent_mailing()
        self.sandbox.advance_clock(7200)
        mailing.action_esp_refresh_statistics()
        rows = mailing.esp_activity_ids
        bounced = rows.filtered(lambda row: row.hard_bounced or row.soft_bounced)
        self.assertTrue(bounced)
        silent = rows.filtered(lambda row: not row.opens and not row.hard_bounced and not row.soft_bounced)
        self.assertGreater(len(silent), 2)
        # One silent reader opted out, another's contact was deleted in Odoo; one row is not read yet.
        opted_out, deleted = silent[0].contact_id, silent[1].contact_id
        self.env["mailing.subscription"].search(
            [("contact_id", "=", opted_out.id), ("list_id", "=", self.mailing_list.id)]).opt_out = True
        deleted.unlink()
        unread = (rows - bounced - silent)[:1]
        self.assertTrue(unread)
        self.env.cr.execute("DELETE FROM esp_mailing_activity WHERE id = %s", [unread.id])
        self.env.invalidate_all()

        wizard = self.env["esp.engagement.list.wizard"].create({"mailing_id": mailing.id, "criterion": "not_opened"})
        kept = len(silent) - 2
        self.assertEqual(wizard.summary.splitlines(), [
            f"{kept} contacts will join the new list.",
            "Left out because they opted out or are blacklisted: 1.",
            f"Left out because their email bounced, so the mailing never reached them: {len(bounced)}.",
            "Left out because no Odoo contact has their email: 1.",
            "Not counted because their activity is not read from the ESP yet (Read Recipient Activity): 1 "
            "recipients.",
        ])
        new_list = self.env["mailing.list"].browse(wizard.action_create_list()["res_id"])
        self.assertEqual(new_list.contact_count, kept)
        # "Opened" leaves no bounced recipient out: none of them opened.
        wizard = self.env["esp.engagement.list.wizard"].create({"mailing_id": mailing.id, "criterion": "opened"})
        self.assertNotIn("bounced", wizard.summary)
        self.assertIn("not read from the ESP yet (Read Recipient Activity): 1 recipients.", wizard.summary)
