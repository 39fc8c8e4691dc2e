"""List sync figures: a mailing list of N contacts exported to a sandbox ESP address book, then a no-op sync.

Run through ``bench/run`` (throwaway PostgreSQL, fresh database, sandbox in its own process). By hand::

    python bench/list_sync.py --config odoo.conf --database DB --sandbox-url http://127.0.0.1:8899 \\
        [--contacts 100000] [--rows-per-file 10000] [--tracemalloc]

Every run is the cron's own ``mailing.list._esp_sync(trigger="cron")`` in its own transaction, committed
after it. HTTP wait is read from the provider transport's per-call log records (the same ``elapsed`` it adds
to ``client.stats.http_seconds``), so the engine runs unmodified; their count is checked against
``esp.sync.log.api_calls`` and the sandbox's request log. It prints figures, never fails on a target: the
targets are shown next to them. The database is left with the bench's data (bench/run drops it).
"""

import argparse
import cProfile
import io
import logging
import pstats
import re
import resource
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

from esp_sandbox.testing import SandboxControl  # noqa: E402

TRANSPORT_LOGGER = "odoo.addons.campaign_esp_connector.providers.transport"
MAX_RUNS = 5
# From the issue: first export, and the no-op sync that follows it.
TARGET_EXPORT_CALLS, TARGET_EXPORT_ODOO_SECONDS = 25, 10.0
TARGET_NOOP_CALLS, TARGET_NOOP_SECONDS = 5, 1.0


# -- measuring --------------------------------------------------------------------------------------------


class HttpCalls(logging.Handler):
    """Collects the transport's one-record-per-HTTP-call logs: ``(method, path, status, seconds)``.

    The transport logs ``"%s %s %s -> %s in %.3fs after %d retries"`` (provider, method, path, status,
    elapsed, retries) for every answer and ``"... -> no answer in %.3fs ..."`` (provider, method, path,
    elapsed, retries, error) when none came; ``elapsed`` is what it adds to ``stats.http_seconds``.
    """

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.calls = []

    def emit(self, record):
        args = record.args if isinstance(record.args, tuple) else ()
        if "no answer" in record.msg and len(args) >= 4:
            self.calls.append((args[1], args[2], 0, float(args[3])))
        elif len(args) >= 5 and isinstance(args[4], float):
            self.calls.append((args[1], args[2], args[3], args[4]))
        if record.levelno >= logging.WARNING:
            logging.getLogger().handle(record)

    def take(self):
        calls, self.calls = self.calls, []
        return calls


def install_probe(probe, logger_name):
    logger = logging.getLogger(logger_name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # one DEBUG line per call or query would flood the output
    logger.addHandler(probe)
    return probe


class SqlStatements(logging.Handler):
    """Collects Odoo's DEBUG record of every SQL statement (``"[%.3f ms] query: %s"``) as ``(ms, text)``."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        if record.msg.startswith("[%.3f ms] query") and len(record.args) == 2:
            self.statements.append(record.args)
        elif record.levelno >= logging.WARNING:
            logging.getLogger().handle(record)

    def take(self):
        statements, self.statements = self.statements, []
        return statements


LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def statement_shape(text):
    """A statement with its values replaced by ``?`` and its whitespace collapsed, cut to 150 characters."""
    return " ".join(LITERAL.sub("?", text).split())[:150]


def rss_now_mb():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{32,36})$")
DATE_SEGMENT = re.compile(r"^\d{4}-\d{2}-\d{2}")


def path_shape(path):
    """``/v2/contacts/import/4f1c…/report-faults`` -> ``/v2/contacts/import/{id}/report-faults``."""
    shaped = []
    for segment in path.split("?", 1)[0].split("/"):
        if ID_SEGMENT.match(segment):
            segment = "{id}"
        elif DATE_SEGMENT.match(segment):
            segment = "{date}"
        shaped.append(segment)
    return "/".join(shaped)


# -- setting up -------------------------------------------------------------------------------------------


def seed_list(env, name, prefix, count):
    """A mailing list with ``count`` new subscribed contacts, written with two INSERT … SELECT statements
    (no ORM, and no Python-side rows that would inflate the process's memory before the sync)."""
    mailing_list = env["mailing.list"].create({"name": name})
    env.flush_all()
    env.cr.execute(
        """
        WITH new_contacts AS (
            INSERT INTO mailing_contact (name, email, email_normalized, create_date, write_date,
                                         create_uid, write_uid)
            SELECT 'Bench ' || i || ' Person', %(prefix)s || i || '@example.com', %(prefix)s || i || '@example.com',
                   now() at time zone 'utc', now() at time zone 'utc', %(uid)s, %(uid)s
              FROM generate_series(1, %(count)s) AS i
         RETURNING id
        )
        INSERT INTO mailing_subscription (contact_id, list_id, opt_out, create_date, write_date, create_uid, write_uid)
        SELECT id, %(list)s, FALSE, now() at time zone 'utc', now() at time zone 'utc', %(uid)s, %(uid)s
          FROM new_contacts
        """,
        {"prefix": prefix, "count": count, "uid": env.uid, "list": mailing_list.id},
    )
    env.cr.execute("ANALYZE mailing_contact")
    env.cr.execute("ANALYZE mailing_subscription")
    env.invalidate_all()
    return mailing_list


def connect_list(env, account, mailing_list, book_name):
    book = account._esp_create_address_book(book_name)
    mailing_list._esp_connect(book)
    return book


def member_states(env, mailing_list):
    env.cr.execute("SELECT state, count(*) FROM esp_list_member WHERE list_id = %s GROUP BY state",
                   [mailing_list.id])
    return dict(env.cr.fetchall())


# -- running ----------------------------------------------------------------------------------------------


class Bench:
    """What every run needs: the cursor, the probes and the sandbox's control surface."""

    def __init__(self, cr, env, sandbox, http, sql, cprofile=False):
        self.cr, self.env, self.sandbox, self.http, self.sql = cr, env, sandbox, http, sql
        self.cprofile = cprofile

    def one_run(self, mailing_list, label, trace=False):
        """One cron-like run, committed; prints its line at once and returns its figures."""
        self.sandbox.clear_log()
        self.http.take()
        if self.sql:
            self.sql.take()
        if trace:
            tracemalloc.reset_peak()
        profile = cProfile.Profile() if self.cprofile else None
        cpu_started, started = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        log = mailing_list._esp_sync(trigger="cron")
        if profile:
            profile.disable()
        synced = time.perf_counter()
        self.cr.commit()
        ended, cpu = time.perf_counter(), time.process_time() - cpu_started
        python_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
        calls = self.http.take()
        http_seconds = sum(seconds for _method, _path, _status, seconds in calls)
        run = {
            "label": label,
            "state": log.state,
            "exported": log.exported,
            "api_calls": log.api_calls,
            "http_calls": calls,
            "sandbox_calls": [entry for entry in self.sandbox.requests_log() if entry["path"].startswith("/v2/")],
            "sql": self.sql.take() if self.sql else [],
            "sync_seconds": synced - started,
            "commit_seconds": ended - synced,
            "wall": ended - started,
            "http": http_seconds,
            "odoo": ended - started - http_seconds,
            "cpu": cpu,
            "profile": profile,
            "python_peak_mb": python_peak,
            "rss_peak_mb": rss_peak_mb(),
            "members": member_states(self.env, mailing_list),
            "steps": (log.steps or "").strip(),
            "message": log.message,
        }
        print_run(run)
        return run

    def run_until_synced(self, mailing_list, trace=False):
        """Runs until no member waits to go out (at most MAX_RUNS), then one more: the no-op run."""
        runs = []
        for attempt in range(1, MAX_RUNS + 1):
            run = self.one_run(mailing_list, str(attempt), trace)
            runs.append(run)
            if run["state"] in ("failed", "rejected", "guard", "throttled"):
                break
            if run["members"] and not run["members"].get("pending") and not run["members"].get("exporting"):
                break
        return runs, self.one_run(mailing_list, "no-op", trace)


# -- reporting --------------------------------------------------------------------------------------------

RUN_HEADER = (f"{'run':<6} {'state':<8} {'exported':>8} {'calls':>5} {'sandbox':>7} {'wall s':>7} {'http s':>7} "
              f"{'odoo s':>7} {'cpu s':>6} {'commit s':>8} {'RSS peak MB':>11}  members")


def print_run(run):
    members = ", ".join(f"{state} {count}" for state, count in sorted(run["members"].items()))
    print(f"{run['label']:<6} {run['state']:<8} {run['exported']:>8} {run['api_calls']:>5} "
          f"{len(run['sandbox_calls']):>7} {run['wall']:>7.2f} {run['http']:>7.2f} {run['odoo']:>7.2f} "
          f"{run['cpu']:>6.2f} {run['commit_seconds']:>8.2f} {run['rss_peak_mb']:>11.0f}  {members}", flush=True)


def print_breakdown(run, top_statements=8):
    label = f"run {run['label']}"
    print(f"\n{label}: steps journal (esp.sync.log.steps)")
    for line in run["steps"].splitlines() or ["(none)"]:
        print(f"    {line}")
    if run["message"]:
        print(f"    message: {run['message']}")
    by_path = defaultdict(lambda: [0, 0.0])
    for method, path, _status, seconds in run["http_calls"]:
        by_path[(method, path_shape(path))][0] += 1
        by_path[(method, path_shape(path))][1] += seconds
    sandbox_counts = Counter((entry["method"], path_shape(entry["path"])) for entry in run["sandbox_calls"])
    statuses = Counter(entry["status"] for entry in run["sandbox_calls"])
    print(f"{label}: API calls by path (sandbox log / transport, HTTP wait), statuses {dict(statuses)}")
    for key in sorted(set(by_path) | set(sandbox_counts), key=lambda key: -by_path[key][1]):
        count, seconds = by_path.get(key, (0, 0.0))
        print(f"    {sandbox_counts.get(key, 0):>4} / {count:>4}  {seconds:>7.2f} s  {key[0]:<6} {key[1]}")
    if run["sql"]:
        by_statement = defaultdict(lambda: [0, 0.0])
        for ms, text in run["sql"]:
            by_statement[statement_shape(text)][0] += 1
            by_statement[statement_shape(text)][1] += ms / 1000
        total = sum(seconds for _count, seconds in by_statement.values())
        print(f"{label}: SQL {len(run['sql'])} statements, {total:.2f} s in PostgreSQL; the slowest shapes:")
        for text, (count, seconds) in sorted(by_statement.items(), key=lambda item: -item[1][1])[:top_statements]:
            print(f"    {seconds:>7.2f} s {count:>5} x  {text}")
    if run["profile"]:
        print(f"{label}: Python profile (cProfile, inflated times), by own time:")
        out = io.StringIO()
        pstats.Stats(run["profile"], stream=out).sort_stats("tottime").print_stats(top_statements * 2)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
        for line in lines[start:]:
            if line.strip():
                print(f"    {line.strip()}")


def verdict(value, limit):
    return "ok" if value <= limit else "MISSED"


def count_mismatches(runs):
    """The three counts of API calls must agree, or the figures cannot be trusted."""
    return [
        f"run {run['label']}: log.api_calls {run['api_calls']}, transport records {len(run['http_calls'])}, "
        f"sandbox log {len(run['sandbox_calls'])}"
        for run in runs
        if not run["api_calls"] == len(run["http_calls"]) == len(run["sandbox_calls"])
    ]


def print_summary(args, rows_per_file, runs, noop, peak_before, remote_count, traced):
    all_synced = not runs[-1]["members"].get("pending") and not runs[-1]["members"].get("exporting")
    calls = sum(run["api_calls"] for run in runs)
    odoo_seconds = sum(run["odoo"] for run in runs)
    peak_after = max(run["rss_peak_mb"] for run in [*runs, noop])
    print("\n== summary")
    print(f"contacts                           {args.contacts:,}")
    print(f"rows per file                      {rows_per_file:,}")
    print(f"runs to reach everything synced    {len(runs)}{'' if all_synced else ' (NOT all synced)'}")
    print(f"API calls per run                  {', '.join(str(run['api_calls']) for run in runs)}")
    print(f"API calls, export total            {calls}  (target <= {TARGET_EXPORT_CALLS}: "
          f"{verdict(calls, TARGET_EXPORT_CALLS)})")
    print(f"wall time, export total            {sum(run['wall'] for run in runs):.2f} s")
    print(f"HTTP wait, export total            {sum(run['http'] for run in runs):.2f} s")
    print(f"Odoo-side time, export total       {odoo_seconds:.2f} s  (target <= {TARGET_EXPORT_ODOO_SECONDS:.0f} s: "
          f"{verdict(odoo_seconds, TARGET_EXPORT_ODOO_SECONDS)})")
    print(f"no-op sync                         {noop['api_calls']} calls (target <= {TARGET_NOOP_CALLS}: "
          f"{verdict(noop['api_calls'], TARGET_NOOP_CALLS)}), {noop['wall']:.2f} s wall (target <= "
          f"{TARGET_NOOP_SECONDS:.0f} s: {verdict(noop['wall'], TARGET_NOOP_SECONDS)}), {noop['http']:.2f} s HTTP, "
          f"{noop['odoo']:.2f} s Odoo-side")
    print(f"peak RSS of the Odoo process       {peak_after:.0f} MB (+{peak_after - peak_before:.0f} MB over the "
          f"{peak_before:.0f} MB before the first run)")
    if traced:
        peaks = ", ".join(f"{run['python_peak_mb']:.1f}" for run in [*traced[0], traced[1]])
        print(f"Python peak per run (tracemalloc)  {peaks} MB (second list of {args.contacts:,} new contacts; "
              f"the last is its no-op run)")
    print(f"sandbox book holds                 {remote_count} contacts "
          f"({'ok' if remote_count == args.contacts else 'MISMATCH, expected %d' % args.contacts})")
    for problem in count_mismatches([*runs, noop]):
        print(f"call counts disagree: {problem}")
    return all_synced


# -- main -------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="Odoo configuration file")
    parser.add_argument("--database", required=True, help="database with campaign_esp_connector installed")
    parser.add_argument("--sandbox-url", required=True, help="base URL of a running sandbox (python -m esp_sandbox)")
    parser.add_argument("--api-user", default="demo@apiconnector.com", help="the sandbox's API user")
    parser.add_argument("--api-password", default="demo-password", help="the sandbox's API password")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts in the list (default: %(default)s)")
    parser.add_argument("--rows-per-file", type=int, default=None,
                        help="set ICP campaign_esp_connector.rows_per_file (default: keep the database's, 10000)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="second pass on a second list of as many new contacts, under tracemalloc, for the "
                             "Python peak of the sync alone (slower; its times are not the figures)")
    parser.add_argument("--sql-profile", action="store_true",
                        help="time every SQL statement (Odoo's DEBUG query log) and show the slowest per run; "
                             "formatting each statement adds Odoo-side time")
    parser.add_argument("--cprofile", action="store_true",
                        help="profile every timed run with cProfile and show its costliest functions (slower)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    http = install_probe(HttpCalls(), TRANSPORT_LOGGER)
    sql = install_probe(SqlStatements(), "odoo.sql_db") if args.sql_profile else None
    sandbox = SandboxControl(args.sandbox_url)
    sandbox.reset()
    rss_start = rss_now_mb()
    with Registry(args.database).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        bench = Bench(cr, env, sandbox, http, sql, cprofile=args.cprofile)
        icp = env["ir.config_parameter"].sudo()
        if args.rows_per_file:
            icp.set_param("campaign_esp_connector.rows_per_file", str(args.rows_per_file))
        rows_per_file = int(icp.get_param("campaign_esp_connector.rows_per_file", 10000))
        account = env["esp.account"].create({
            "name": "Bench sandbox",
            "provider": "dotdigital",
            "api_endpoint": args.sandbox_url,
            "api_user": args.api_user,
            "api_password": args.api_password,
        })
        account.action_test_connection()
        assert account.state == "connected", account.last_error
        started = time.perf_counter()
        mailing_list = seed_list(env, "Bench list", "bench", args.contacts)
        cr.commit()
        seeded = time.perf_counter() - started
        book = connect_list(env, account, mailing_list, "Bench list")
        cr.commit()
        peak_before = rss_peak_mb()
        print(f"\n== list sync bench: {args.contacts:,} contacts, rows per file {rows_per_file:,}, sandbox "
              f"{args.sandbox_url} (own process){', SQL profiled' if sql else ''}")
        print(f"seeded in {seeded:.1f} s (SQL); process RSS {rss_start:.0f} MB at start, {rss_now_mb():.0f} MB "
              f"with the registry loaded (peak so far {peak_before:.0f} MB)\n")
        print(RUN_HEADER)
        print("-" * len(RUN_HEADER), flush=True)
        runs, noop = bench.run_until_synced(mailing_list)
        print("(calls: esp.sync.log.api_calls; sandbox: v2 requests in the sandbox's log; wall = _esp_sync + "
              "commit; http = waiting for answers; odoo = wall - http; cpu = this process's CPU, the rest of odoo "
              "being mostly PostgreSQL)")
        remote = {book["id"]: book for book in sandbox.state(contacts_limit=1)["books"]}
        remote_count = remote.get(int(book.remote_id), {}).get("count")

        traced = None
        if args.tracemalloc:
            print("\n== tracemalloc pass (second list, new contacts; times inflated by tracing)")
            second = seed_list(env, "Bench list (tracemalloc)", "traced", args.contacts)
            cr.commit()
            connect_list(env, account, second, "Bench list (tracemalloc)")
            cr.commit()
            print(RUN_HEADER)
            tracemalloc.start()
            traced = bench.run_until_synced(second, trace=True)
            tracemalloc.stop()

        for run in [*runs, noop]:
            print_breakdown(run)
        all_synced = print_summary(args, rows_per_file, runs, noop, peak_before, remote_count, traced)
    return 0 if remote_count == args.contacts and all_synced else 1


if __name__ == "__main__":
    sys.exit(main())
