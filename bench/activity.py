"""Activity import figures: a campaign sent to N recipients (default 1,000,000) with simulated engagement, its
per-recipient activity imported by the real activity cron in successive runs, each with the real time budget
(half the cron's real-time limit), going on from the page the previous run stopped at.

Run through ``bench/run activity [options]`` (throwaway PostgreSQL, fresh database, sandbox in its own
process). It prints figures and never fails on a target; the targets are shown beside them.

Set-up (not measured): N subscribed contacts in a new Odoo list (``INSERT … SELECT``), the same N contacts put in
a new address book with the sandbox's bulk import (files of 100,000 rows), the list connected to that book, a
campaign with one link made and sent to the book at the sandbox, the sandbox's clock moved past the engagement
window, and the campaign imported into Odoo as the 30-minute cron does (a sent mailing, made in the ESP).
"""

import argparse
import base64
import cProfile
import pstats
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

IMPORT_ROWS = 100_000
PREFIX = "activity"
# A newsletter to a million recipients as it goes (dotdigital's own benchmarks: 2-4 % of recipients click):
# about 1.5 % bounce, 25 % open, 3 % click (12 % of openers, two clicks each on average). The sandbox draws the
# open among delivered recipients and the click among openers.
ENGAGEMENTS = {
    "realistic": {"hard_bounce": 0.005, "soft_bounce": 0.01, "open": 0.254, "click": 0.12, "forward": 0.01,
                  "unsubscribe": 0.01, "complaint": 0.0005},
    "default": {},  # the sandbox's own: about 45 % open, 15 % click, 5 % bounce
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--api-user", required=True)
    parser.add_argument("--api-password", required=True)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--max-runs", type=int, default=40, help="cron runs at most")
    parser.add_argument("--engagement", choices=sorted(ENGAGEMENTS), default="realistic",
                        help="simulated engagement of the recipients (default: %(default)s)")
    parser.add_argument("--cprofile", action="store_true",
                        help="profile the runs (inflated times; prints where the Odoo-side time goes)")
    return parser.parse_args(argv)


def fill_book(session, url, book_id, count):
    """The contacts ``activity1@example.com`` … (``seed_list``'s emails) in the book, by bulk imports."""
    for start in range(1, count + 1, IMPORT_ROWS):
        rows = ["Email"] + [f"{PREFIX}{i}@example.com" for i in range(start, min(start + IMPORT_ROWS, count + 1))]
        body = {"fileName": "bench.csv", "data": base64.b64encode(("\n".join(rows) + "\n").encode()).decode()}
        answer = session.post(f"{url}/v2/address-books/{book_id}/contacts/import", json=body, timeout=600)
        answer.raise_for_status()
        import_id = answer.json()["id"]
        while session.get(f"{url}/v2/contacts/import/{import_id}", timeout=600).json()["status"] != "Finished":
            time.sleep(0.05)


def main(argv=None):
    args = parse_args(argv)
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    from odoo.addons.campaign_esp_connector.sync.campaigns import import_esp_campaigns
    from odoo.addons.campaign_esp_connector.sync.runner import time_budget

    http = install_probe(HttpCalls(), TRANSPORT_LOGGER)
    sandbox = SandboxControl(args.sandbox_url, timeout=3600)
    sandbox.reset()
    if ENGAGEMENTS[args.engagement]:
        sandbox.configure(engagement=ENGAGEMENTS[args.engagement])
    session = requests.Session()
    session.auth = (args.api_user, args.api_password)
    registry = Registry(args.database)
    started = time.perf_counter()
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        account = env["esp.account"].create({"name": "Bench sandbox", "provider": "dotdigital",
                                             "api_endpoint": args.sandbox_url, "api_user": args.api_user,
                                             "api_password": args.api_password})
        account.action_test_connection()
        mailing_list = seed_list(env, "Bench activity", PREFIX, args.recipients)
        book = account._esp_create_address_book("Bench activity")
        cr.commit()
        fill_book(session, args.sandbox_url, int(book.remote_id), args.recipients)
        mailing_list._esp_connect(book)
        cr.commit()
        html = "<p>Hi <a href='https://example.com/offer'>our offer</a> <a href='http://$UNSUB$'>unsubscribe</a></p>"
        campaign = session.post(f"{args.sandbox_url}/v2/campaigns", timeout=60, json={
            "name": "Bench activity", "subject": "Bench activity", "fromName": "Bench", "fromAddress": {"id": 1},
            "htmlContent": html, "plainTextContent": "Hi http://$UNSUB$"}).json()
        session.post(f"{args.sandbox_url}/v2/campaigns/send", timeout=60, json={
            "campaignId": campaign["id"], "addressBookIds": [int(book.remote_id)]}).raise_for_status()
        sandbox.advance_clock(7200)
        sandbox.state(contacts_limit=1)  # the send and every recipient's simulated engagement happen
        import_esp_campaigns(env)
        cr.commit()
        mailing = env["esp.campaign"].search([("remote_id", "=", str(campaign["id"]))]).mailing_id
        binding_id, mailing_id = mailing.esp_campaign_id.id, mailing.id
    print(f"\n== activity bench: {args.recipients:,} recipients, {args.engagement} engagement; set-up (not "
          f"measured) {time.perf_counter() - started:.0f} s")
    budget = time_budget()
    print(f"time budget of a cron run: {budget} s (half of limit_time_real_cron, else limit_time_real)")

    reset_rss_peak()
    before = rss_now_mb()
    runs = []
    http.take()
    profile = cProfile.Profile() if args.cprofile else None
    for _run in range(args.max_runs):
        # One cron run as Odoo's cron worker makes it: a cursor of its own, an empty cache, committed.
        wall_started = time.perf_counter()
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            if profile:
                profile.enable()
            env["mailing.mailing"]._cron_esp_sync_activity()
            cr.commit()
            if profile:
                profile.disable()
            binding = env["esp.campaign"].browse(binding_id)
            position = (binding.activity_feed, binding.activity_skip, binding.activity_queued)
            cr.execute("SELECT count(*) FROM esp_mailing_activity WHERE mailing_id = %s", [mailing_id])
            rows = cr.fetchone()[0]
        wall = time.perf_counter() - wall_started
        calls = http.take()
        waited = sum(call[3] for call in calls)
        runs.append((wall, waited, len(calls)))
        print(f"run {len(runs):>2}: {len(calls):>4} calls, wall {wall:6.1f} s, HTTP {waited:6.1f} s, Odoo-side "
              f"{wall - waited:5.1f} s, rows {rows:>9,}, next: {position[0] or 'done'} skip {position[1]:,}, "
              f"RSS {rss_now_mb():.0f} MB")
        if not position[2]:
            break
    growth = rss_peak_mb() - before
    if profile:
        print("\n-- where the time goes (cProfile, cumulative)")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        print("-- where the time goes (cProfile, own time)")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        mailing = env["mailing.mailing"].browse(mailing_id)
        binding = env["esp.campaign"].browse(binding_id)
        cr.execute("SELECT count(*), count(trace_id), count(*) FILTER (WHERE first_click_datetime IS NOT NULL) "
                   "FROM esp_mailing_activity WHERE mailing_id = %s", [mailing_id])
        rows, traces, clickers = cr.fetchone()
        summary = session.get(f"{args.sandbox_url}/v2/campaigns/{campaign['id']}/summary", timeout=600).json()
        calls = sum(run[2] for run in runs)
        odoo_side = sum(run[0] - run[1] for run in runs)
        print("\n-- summary")
        print(f"cron runs                          {len(runs)} (finished: {not binding.activity_queued}, "
              f"watermark {binding.activity_watermark})")
        print(f"API calls                          {calls:,}  (target <= 1,100) "
              f"{'ok' if calls <= 1100 else 'MISSED'}")
        print(f"wall / HTTP / Odoo-side            {sum(r[0] for r in runs):.1f} s / {sum(r[1] for r in runs):.1f} s"
              f" / {odoo_side:.1f} s  (target <= 120 s) {'ok' if odoo_side <= 120 else 'MISSED'}")
        print(f"longest run (wall)                 {max(r[0] for r in runs):.1f} s (budget {budget} s)")
        print(f"Odoo process growth                +{growth:.0f} MB  (target <= 300 MB) "
              f"{'ok' if growth <= 300 else 'MISSED'}")
        print(f"rows / traces / with click dates   {rows:,} / {traces:,} / {clickers:,}")
        print(f"engagement ({args.engagement:<9})     opened {mailing.opened / max(mailing.sent, 1):.1%}, clicked "
              f"{mailing.clicked / max(mailing.sent, 1):.1%}, bounced {mailing.bounced / max(mailing.sent, 1):.1%} "
              f"of the recipients; {summary['numTotalClicks']:,} clicks")
        print(f"Odoo's own figures                 sent {mailing.sent:,}, delivered {mailing.delivered:,}, "
              f"opened {mailing.opened:,}, clicked {mailing.clicked:,}, bounced {mailing.bounced:,}")
        print(f"the ESP's summary                  sent {summary['numTotalSent']:,}, delivered "
              f"{summary['numTotalDelivered']:,}, opened {summary['numTotalUniqueOpens']:,}, clicked "
              f"{summary['numRecipientsClicked']:,}, bounced "
              f"{summary['numTotalHardBounces'] + summary['numTotalSoftBounces']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
