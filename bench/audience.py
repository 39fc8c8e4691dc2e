"""Audience figures: a filter on 1,000,000 ``res.partner`` records connected to a sandbox ESP address book (a
dynamic list, sync/audience.py): the first export, a dynamic refresh after 10,000 partners entered or left the
filter or changed a mapped field, a no-op; and OCA ``mass_mailing_list_dynamic``'s approach (one ORM write per
partner) beside the engine's refresh on a 10,000-partner sample.

Run through ``bench/run audience`` (throwaway PostgreSQL, fresh database, sandbox in its own process). By hand::

    python bench/audience.py --config odoo.conf --database DB --sandbox-url http://127.0.0.1:8899 \\
        [--partners 1000000] [--changes 10000] [--compare 10000]

Every run is the cron's own ``mailing.list._esp_sync(trigger="cron")`` (the dynamic list's refresh is its first
step), then a commit, measured as ``bench/list_sync.py`` measures (HTTP wait from the transport's log records,
Odoo-side = wall - HTTP wait, peak RSS of the phase). It prints figures and the targets next to them.
"""

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from list_sync import (  # noqa: E402
    RUN_LEGEND,
    Bench,
    HttpCalls,
    SqlStatements,
    book_counts,
    install_probe,
    phase,
    print_breakdown,
    reset_rss_peak,
    rss_now_mb,
    rss_peak_mb,
    totals,
    verdict,
)

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

from esp_sandbox.testing import SandboxControl  # noqa: E402

TRANSPORT_LOGGER = "odoo.addons.campaign_esp_connector.providers.transport"
TARGET_EXPORT_SECONDS, TARGET_EXPORT_MB = 60.0, 300.0
TARGET_REFRESH_SECONDS, TARGET_NOOP_SECONDS = 10.0, 1.0


def seed_partners(env, prefix, count, country_id, tag=""):
    """``count`` partners of ``country_id`` with distinct valid emails, one INSERT … SELECT (not measured)."""
    env.cr.execute(
        """
        INSERT INTO res_partner (name, complete_name, email, email_normalized, country_id, active, type, is_company,
                                 create_date, write_date, create_uid, write_uid)
        SELECT %(tag)s || 'Partner ' || i, %(tag)s || 'Partner ' || i, %(prefix)s || i || '@example.com',
               %(prefix)s || i || '@example.com', %(country)s, TRUE, 'contact', FALSE,
               now() at time zone 'utc', now() at time zone 'utc', %(uid)s, %(uid)s
          FROM generate_series(1, %(count)s) AS i
        """,
        {"prefix": prefix, "count": count, "country": country_id, "uid": env.uid, "tag": tag},
    )
    env.cr.execute("ANALYZE res_partner")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--api-user", default="demo@apiconnector.com")
    parser.add_argument("--api-password", default="demo-password")
    parser.add_argument("--partners", type=int, default=1_000_000, help="partners matching the filter")
    parser.add_argument("--changes", type=int, default=10_000,
                        help="partners that enter (45 %%), change their name (45 %%) or leave (10 %%) the filter")
    parser.add_argument("--compare", type=int, default=10_000, help="partners of the OCA-approach sample")
    parser.add_argument("--max-runs", type=int, default=40)
    parser.add_argument("--sql-profile", action="store_true",
                        help="time every SQL statement and show the slowest per run (adds Odoo-side time)")
    parser.add_argument("--cprofile", action="store_true",
                        help="profile the connect and every timed run with cProfile (slower; relative weights)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    http = install_probe(HttpCalls(), TRANSPORT_LOGGER)
    sql = install_probe(SqlStatements(), "odoo.sql_db") if args.sql_profile else None
    sandbox = SandboxControl(args.sandbox_url)
    sandbox.reset()
    with Registry(args.database).cursor() as cr:
        from odoo.addons.campaign_esp_connector.sync import audience

        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        bench = Bench(cr, env, sandbox, http, sql, cprofile=args.cprofile, max_runs=args.max_runs)
        account = env["esp.account"].create({
            "name": "Bench sandbox", "provider": "dotdigital", "api_endpoint": args.sandbox_url,
            "api_user": args.api_user, "api_password": args.api_password,
        })
        account.action_test_connection()
        assert account.state == "connected", account.last_error
        belgium, france, germany = env.ref("base.be"), env.ref("base.fr"), env.ref("base.de")
        started = time.perf_counter()
        seed_partners(env, "bench", args.partners, belgium.id)
        seed_partners(env, "other", 10_000, france.id)
        cr.commit()
        print(f"\n== audience bench: {args.partners:,} res.partner matching [('country_id', '=', Belgium)], sandbox "
              f"{args.sandbox_url} (own process); seeded in {time.perf_counter() - started:.1f} s (SQL, not measured)")
        partner_model = env["ir.model"]._get("res.partner")
        domain = repr([("country_id", "=", belgium.id)])

        # First export: connecting fills the list from the filter (measured), then runs until settled.
        phase(f"first export of a filter matching {args.partners:,} partners")
        reset_rss_peak()
        rss_before = rss_now_mb()
        mailing_list = env["mailing.list"].create({"name": "Belgian partners"})
        book = account._esp_create_address_book("Belgian partners")
        cr.commit()
        profile = cProfile.Profile() if args.cprofile else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        mailing_list._esp_connect_source(partner_model, domain, "dynamic", book)
        cr.commit()
        if profile:
            profile.disable()
            pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
        connect_seconds = time.perf_counter() - started
        if sql:
            for ms, text in sorted(sql.take(), key=lambda statement: -statement[0])[:8]:
                print(f"  connect SQL {ms / 1000:8.2f} s  {' '.join(text.split())[:160]}")
        print(f"connect (filter counted, {mailing_list.esp_source_count:,} contacts materialized): "
              f"{connect_seconds:.2f} s, RSS peak {rss_peak_mb():.0f} MB", flush=True)
        export = bench.run_until_settled(mailing_list, args.partners)
        export_peak = rss_peak_mb()
        noop = bench.one_run(mailing_list, "no-op")
        print(RUN_LEGEND)

        # A dynamic refresh: partners entered, renamed, left (SQL with later write dates, as other transactions).
        entered, renamed = int(args.changes * 0.45), int(args.changes * 0.45)
        left = args.changes - entered - renamed
        seed_partners(env, "new", entered, belgium.id, tag="New ")
        cr.execute("UPDATE res_partner SET name = name || ' Renamed', complete_name = complete_name || ' Renamed', "
                   "write_date = clock_timestamp() at time zone 'utc' WHERE id IN (SELECT id FROM res_partner "
                   "WHERE email LIKE 'bench%%' ORDER BY id LIMIT %s)", [renamed])
        cr.execute("UPDATE res_partner SET country_id = %s, write_date = clock_timestamp() at time zone 'utc' "
                   "WHERE id IN (SELECT id FROM res_partner WHERE email LIKE 'bench%%' ORDER BY id DESC LIMIT %s)",
                   [france.id, left])
        cr.commit()
        env.invalidate_all()
        expected = args.partners + entered - left
        phase(f"dynamic refresh: {entered:,} entered, {renamed:,} renamed, {left:,} left the filter")
        reset_rss_peak()
        changed = bench.run_until_settled(mailing_list, expected, prefix="c")
        changed_noop = bench.one_run(mailing_list, "no-op2")
        book_count = book_counts(sandbox).get(int(book.remote_id), 0)

        # OCA mass_mailing_list_dynamic's approach beside the engine's refresh, on a sample of its own.
        seed_partners(env, "sample", args.compare, germany.id)
        cr.commit()
        sample_domain = [("country_id", "=", germany.id)]
        oca_list = env["mailing.list"].create({"name": "OCA approach sample"})
        cr.commit()
        started = time.perf_counter()
        # One ORM write per partner, as mass_mailing_list_dynamic's sync does (a contact per partner, linked).
        Contact = env["mailing.contact"].with_context(tracking_disable=True, mail_create_nolog=True)
        for partner in env["res.partner"].search(sample_domain):
            Contact.create({"name": partner.name, "email": partner.email, "list_ids": [(4, oca_list.id)]})
        cr.commit()
        oca_seconds = time.perf_counter() - started
        engine_list = env["mailing.list"].create({"name": "Engine sample", "esp_source_kind": "on_demand",
                                                  "esp_source_model_id": partner_model.id,
                                                  "esp_source_domain": repr(sample_domain)})
        cr.commit()
        started = time.perf_counter()
        sample = audience.refresh(engine_list, force=True)
        cr.commit()
        engine_seconds = time.perf_counter() - started

    if sql or args.cprofile:
        for run in (*export, noop, *changed):
            print_breakdown(run)
    export_totals, changed_totals = totals(export), totals(changed)
    export_odoo = connect_seconds + export_totals["odoo"]
    print("\n== summary")
    print(f"first export: connect {connect_seconds:.1f} s + {len(export)} runs; {export_totals['api_calls']} calls; "
          f"wall {connect_seconds + export_totals['wall']:.1f} s, HTTP {export_totals['http']:.1f} s, Odoo-side "
          f"{export_odoo:.1f} s ({verdict(export_odoo, TARGET_EXPORT_SECONDS)}); RSS {rss_before:.0f} MB before, "
          f"peak {export_peak:.0f} MB, growth {export_peak - rss_before:+.0f} MB "
          f"({verdict(export_peak - rss_before, TARGET_EXPORT_MB)})")
    print(f"no-op: {len(noop['sandbox_calls'])} calls, Odoo-side {noop['odoo']:.2f} s ({verdict(noop['odoo'], TARGET_NOOP_SECONDS)});"
          f" after the changes: {len(changed_noop['sandbox_calls'])} calls, {changed_noop['odoo']:.2f} s")
    first = changed[0]
    print(f"dynamic refresh ({args.changes:,} changes): first run {first['api_calls']} calls, Odoo-side "
          f"{first['odoo']:.2f} s ({verdict(first['odoo'], TARGET_REFRESH_SECONDS)}); until settled {len(changed)} runs, "
          f"{changed_totals['api_calls']} calls, Odoo-side {changed_totals['odoo']:.1f} s")
    print(f"book holds {book_count:,} contacts (expected {expected:,}: "
          f"{'ok' if book_count == expected else 'MISMATCH'})")
    print(f"OCA approach (one ORM create per partner) on {args.compare:,} partners: {oca_seconds:.2f} s; engine refresh "
          f"({sample['matched']:,} emails): {engine_seconds:.2f} s; ratio {oca_seconds / max(engine_seconds, 1e-9):,.1f}x")
    return 0 if book_count == expected else 1


if __name__ == "__main__":
    sys.exit(main())
