"""Campaign statistics figures: a campaign sent to N recipients (default 100,000) with simulated engagement,
its first per-recipient activity import (Odoo-side time, process growth, API calls), the statistics refresh of
an account with many sent campaigns of which a few had new activity, and the engagement-list wizard.

Run through ``bench/run statistics [options]`` (throwaway PostgreSQL, fresh database, sandbox in its own
process). It prints figures and never fails on a target; the targets are shown beside them.
"""

import argparse
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from list_sync import (  # noqa: E402
    TRANSPORT_LOGGER,
    HttpCalls,
    install_probe,
    reset_rss_peak,
    rss_now_mb,
    rss_peak_mb,
    seed_list,
)

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

from esp_sandbox.testing import SandboxControl  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--api-user", required=True)
    parser.add_argument("--api-password", required=True)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=1000, help="sent campaigns of the account")
    parser.add_argument("--active", type=int, default=3, help="of which this many get new activity")
    return parser.parse_args(argv)


def timed(http, function):
    http.take()
    started = time.perf_counter()
    result = function()
    wall = time.perf_counter() - started
    waits = http.take()
    return result, wall, sum(call[3] for call in waits), len(waits)


def main(argv=None):
    args = parse_args(argv)
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    from odoo.addons.campaign_esp_connector.sync import activity, statistics
    from odoo.addons.campaign_esp_connector.sync.campaigns import CampaignRunner, import_esp_campaigns

    http = install_probe(HttpCalls(), TRANSPORT_LOGGER)
    sandbox = SandboxControl(args.sandbox_url)
    sandbox.reset()
    auth = (args.api_user, args.api_password)
    with Registry(args.database).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        account = env["esp.account"].create({"name": "Bench sandbox", "provider": "dotdigital",
                                             "api_endpoint": args.sandbox_url, "api_user": args.api_user,
                                             "api_password": args.api_password})
        account.action_test_connection()
        mailing_list = seed_list(env, "Bench recipients", "reader", args.recipients)
        mailing_list._esp_connect(account._esp_create_address_book("Bench recipients"))
        cr.commit()
        for _run in range(12):
            mailing_list._esp_sync(trigger="cron")
            cr.commit()
            if mailing_list.esp_synced_count == args.recipients:
                break
        print(f"\n== statistics bench: {args.recipients:,} recipients, {args.campaigns:,} campaigns")
        mailing = env["mailing.mailing"].create({
            "subject": "Bench campaign", "body_arch": "<p>Hi <a href='https://example.com/x'>x</a></p>",
            "body_html": "<p>Hi <a href='https://example.com/x'>x</a></p>",
            "mailing_model_id": env["ir.model"]._get_id("mailing.list"),
            "contact_list_ids": [(6, 0, mailing_list.ids)], "email_from": "Bench <bench@example.com>",
        })
        mailing.action_launch()
        cr.commit()
        started = time.perf_counter()
        CampaignRunner(env).run()
        cr.commit()
        sandbox.advance_clock(7200)
        sandbox.state(contacts_limit=1)  # the simulated engagement of every recipient happens
        print(f"campaign sent and engagement simulated in {time.perf_counter() - started:.1f} s (sandbox side)")

        binding = mailing.esp_campaign_id
        reset_rss_peak()
        before = rss_now_mb()

        def import_once():
            with account._esp_client() as client:
                return activity.import_activity(binding, client)

        rows, wall, waited, calls = timed(http, import_once)
        cr.commit()
        growth = rss_peak_mb() - before
        mailing.invalidate_recordset()
        print("\n-- first activity import")
        print(f"rows written                       {rows:,}  (traces: {env['mailing.trace'].search_count([('mass_mailing_id', '=', mailing.id)]):,})")
        print(f"API calls                          {calls} (pages of 1,000)")
        print(f"wall / HTTP / Odoo-side            {wall:.2f} s / {waited:.2f} s / {wall - waited:.2f} s  (target <= 20 s)")
        print(f"Odoo process growth                +{growth:.0f} MB  (target <= 200 MB)")
        print(f"Odoo's own figures                 sent {mailing.sent:,}, delivered {mailing.delivered:,}, "
              f"opened {mailing.opened:,}, clicked {mailing.clicked:,}, bounced {mailing.bounced:,}")
        summary = requests.get(f"{args.sandbox_url}/v2/campaigns/{binding.remote_id}/summary", auth=auth,
                               timeout=60).json()
        print(f"the ESP's summary                  sent {summary['numTotalSent']:,}, delivered "
              f"{summary['numTotalDelivered']:,}, opened {summary['numTotalUniqueOpens']:,}, clicked "
              f"{summary['numRecipientsClicked']:,}, bounced "
              f"{summary['numTotalHardBounces'] + summary['numTotalSoftBounces']:,}")

        wizard = env["esp.engagement.list.wizard"].create({"mailing_id": mailing.id, "criterion": "opened"})
        started = time.perf_counter()
        action = wizard.action_create_list()
        env.flush_all()
        seconds = time.perf_counter() - started
        members = env["mailing.subscription"].search_count([("list_id", "=", action["res_id"])])
        print("\n-- engagement wizard (opened)")
        print(f"new list of {members:,} contacts in {seconds:.2f} s  (target <= 2 s)")
        cr.commit()

        # An account with many sent campaigns: each sent to a small connected book, imported into Odoo.
        small = seed_list(env, "Bench small book", "small", 2)
        book = account._esp_create_address_book("Bench small book")
        small._esp_connect(book)
        small._esp_sync(trigger="cron")
        cr.commit()
        sandbox.state(contacts_limit=1)
        small._esp_sync(trigger="cron")
        cr.commit()
        started = time.perf_counter()
        ids = []
        for index in range(args.campaigns):
            campaign = requests.post(f"{args.sandbox_url}/v2/campaigns", auth=auth, timeout=60, json={
                "name": f"Old campaign {index}", "subject": f"Old {index}", "fromName": "Bench",
                "fromAddress": {"id": 1}, "htmlContent": "<a href='http://$UNSUB$'>u</a>",
                "plainTextContent": "u http://$UNSUB$"}).json()
            requests.post(f"{args.sandbox_url}/v2/campaigns/send", auth=auth, timeout=60,
                          json={"campaignId": campaign["id"], "addressBookIds": [int(book.remote_id)]})
            ids.append(campaign["id"])
        sandbox.advance_clock(7200)
        import_esp_campaigns(env)
        statistics.refresh_all(env, cr.commit)
        cr.commit()
        print(f"\n{args.campaigns:,} campaigns sent at the sandbox and imported in {time.perf_counter() - started:.0f} s")
        sandbox.advance_clock(3 * 24 * 3600)
        statistics.refresh_all(env, cr.commit)  # everything read: the watermark is now past all activity
        # New activity: three old campaigns sent again, to a book of a new contact who surely opens.
        sandbox.configure(engagement={"open": 1.0, "hard_bounce": 0.0, "soft_bounce": 0.0})
        late = requests.post(f"{args.sandbox_url}/v2/address-books", auth=auth, timeout=60,
                             json={"name": "Bench late book"}).json()["id"]
        requests.post(f"{args.sandbox_url}/v2/address-books/{late}/contacts", auth=auth, timeout=60,
                      json={"email": "late@example.com"}).raise_for_status()
        for campaign_id in ids[: args.active]:
            requests.post(f"{args.sandbox_url}/v2/campaigns/send", auth=auth, timeout=60,
                          json={"campaignId": campaign_id, "addressBookIds": [late]}).raise_for_status()
        sandbox.advance_clock(7200)
        sandbox.clear_log()
        _result, wall, waited, calls = timed(http, lambda: statistics.refresh_all(env, cr.commit))
        paths = [entry["path"] for entry in sandbox.requests_log() if entry["path"].startswith("/v2/")]
        print(f"\n-- statistics refresh, {args.campaigns:,} sent campaigns, {args.active} with new activity")
        print(f"API calls                          {calls}  (target <= 10): "
              f"{', '.join(sorted({path.split('/')[3] if len(path.split('/')) > 3 else path for path in paths}))}")
        print(f"wall / HTTP / Odoo-side            {wall:.2f} s / {waited:.2f} s / {wall - waited:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
