"""List sync figures: a mailing list of N contacts exported to a sandbox ESP address book, a no-op sync, a
batch of changed contacts, the daily book check, and a per-contact exporter beside the engine on 5,000 contacts.

Run through ``bench/run`` (throwaway PostgreSQL, fresh database, sandbox in its own process). By hand::

    python bench/list_sync.py --config odoo.conf --database DB --sandbox-url http://127.0.0.1:8899 \\
        [--api v2|v3|both] [--contacts 100000] [--changes 10000] [--book-check 100] [--compare 5000] [--rows-per-file R]
        [--tracemalloc]

Every run is the cron's own ``mailing.list._esp_sync(trigger="cron")`` (the sync runner, which commits after
each remote side effect), followed by a commit. HTTP wait is read from the provider transport's per-call log
records (the same ``elapsed`` it adds to ``client.stats.http_seconds``), so the engine runs unmodified; their
count is checked against ``esp.sync.log.api_calls`` and the sandbox's request log. It prints figures, never
fails on a target: the targets are shown next to them. The database is left with the bench's data (bench/run
drops it).
"""

import argparse
import cProfile
import io
import logging
import pstats
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

from esp_sandbox.testing import SandboxControl  # noqa: E402

TRANSPORT_LOGGER = "odoo.addons.campaign_esp_connector.providers.transport"
# The ESP's API paths in the sandbox's request log (its control surface, /sandbox/…, is not the ESP's).
API_PREFIXES = ("/v2/", "/contacts/v3", "/configuration/v3")
# The book check's page reads, v2 (pages of 1,000) and v3 (the contacts feed, pages of 5,000).
BOOK_PAGE_PATHS = {("GET", "/v2/address-books/{id}/contacts"), ("GET", "/contacts/v3")}
ROWS_PER_FILE_PARAM = "campaign_esp_connector.rows_per_file"
# Runs that fail in a way another run would not fix: stop there.
STOP_STATES = ("failed", "rejected", "guard", "throttled")
# From the issue: first export, and the no-op sync that follows it (100,000 contacts).
TARGET_EXPORT_CALLS, TARGET_EXPORT_ODOO_SECONDS = 25, 10.0
TARGET_NOOP_CALLS, TARGET_NOOP_SECONDS = 5, 1.0
# From the issue (24): the book check of a 1,000,000-contact book (v3's feed reads 5,000 contacts a call).
TARGET_BOOK_CHECK_CALLS, BOOK_CHECK_TARGET_SIZE = 250, 1_000_000
# The account's custom identifier the v3 pass matches contacts by (the Odoo contact id).
V3_IDENTIFIER = "odooId"
# The name written on the changed contacts (FULLNAME and LASTNAME change at the ESP).
CHANGED_NAME = "Bench Renamed Person"


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


def proc_status_mb(key):
    """A ``/proc/self/status`` memory line (``VmRSS``, ``VmHWM``) in MB; None where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_now_mb():
    return proc_status_mb("VmRSS") or 0.0


def reset_rss_peak():
    """Bring this process's peak RSS (the kernel's ``VmHWM``) down to its current RSS, so that the next peak
    read is the peak of what runs from now on. Linux 4.0+; returns False where it is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def rss_peak_mb():
    """Peak RSS since the last :func:`reset_rss_peak` (``VmHWM``), else since the process started."""
    peak = proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


ID_SEGMENT = re.compile(r"^(\d+|[0-9a-fA-F-]{32,36})$")
DATE_SEGMENT = re.compile(r"^\d{4}-\d{2}-\d{2}")


def is_api_call(path):
    return path.startswith(API_PREFIXES)


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


def backlog(env, mailing_list):
    """``(recorded changes, imports in flight)`` of a list: what the next runs still have to look at."""
    env.cr.execute(
        "SELECT (SELECT count(*) FROM esp_list_change WHERE list_id = %(list)s), "
        "       (SELECT count(*) FROM esp_import_batch WHERE list_id = %(list)s AND state = 'posted')",
        {"list": mailing_list.id},
    )
    return env.cr.fetchone()


def pick_contacts(env, mailing_list, count):
    """``count`` contact ids of the list, spread evenly over it (every k-th by id)."""
    env.cr.execute("SELECT count(*) FROM mailing_subscription WHERE list_id = %s", [mailing_list.id])
    step = max(env.cr.fetchone()[0] // max(count, 1), 1)
    env.cr.execute(
        """
        SELECT contact_id FROM (
            SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS rn
              FROM mailing_subscription WHERE list_id = %s
        ) AS numbered
         WHERE rn %% %s = 0 ORDER BY contact_id LIMIT %s
        """,
        [mailing_list.id, step, count],
    )
    return [row[0] for row in env.cr.fetchall()]


def book_counts(sandbox):
    """``{book id: contacts}`` as the sandbox holds them."""
    return {book["id"]: book["count"] for book in sandbox.state(contacts_limit=1)["books"]}


# -- running ----------------------------------------------------------------------------------------------


class Bench:
    """What every run needs: the cursor, the probes and the sandbox's control surface."""

    def __init__(self, cr, env, sandbox, http, sql, cprofile=False, max_runs=12):
        self.cr, self.env, self.sandbox, self.http, self.sql = cr, env, sandbox, http, sql
        self.cprofile = cprofile
        self.max_runs = max_runs

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
        changes, in_flight = backlog(self.env, mailing_list)
        run = {
            "label": label,
            "state": log.state or "none",
            "exported": log.exported,
            "api_calls": log.api_calls,
            "http_calls": calls,
            "sandbox_calls": [entry for entry in self.sandbox.requests_log() if is_api_call(entry["path"])],
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
            "changes": changes,
            "in_flight": in_flight,
            "steps": (log.steps or "").strip(),
            "message": log.message,
        }
        print_run(run)
        return run

    @staticmethod
    def settled(run, expected):
        """Every one of the ``expected`` members is synced, and nothing is left to look at or to confirm."""
        members = run["members"]
        return (members.get("synced", 0) == expected and not members.get("pending")
                and not members.get("exporting") and not run["changes"] and not run["in_flight"])

    def run_until_settled(self, mailing_list, expected, prefix="", trace=False):
        """Runs until every member is synced and confirmed (at most ``max_runs``)."""
        runs = []
        for attempt in range(1, self.max_runs + 1):
            run = self.one_run(mailing_list, f"{prefix}{attempt}", trace)
            runs.append(run)
            if run["state"] in STOP_STATES or self.settled(run, expected):
                break
        return runs


def totals(runs):
    return {key: sum(run[key] for run in runs) for key in ("api_calls", "wall", "http", "odoo", "cpu", "exported")}


# -- the per-contact exporter -----------------------------------------------------------------------------


def naive_export(env, mailing_list, url, auth, book_id):
    """What a per-contact connector does: read the list's contacts through the ORM, then one
    ``POST /v2/address-books/{id}/contacts`` per contact (``requests``, one kept-alive session).

    :return: ``{"calls", "errors", "wall", "http"}``
    """
    session = requests.Session()
    session.auth = auth
    endpoint = f"{url}/v2/address-books/{book_id}/contacts"
    calls = errors = 0
    http = 0.0
    started = time.perf_counter()
    subscriptions = env["mailing.subscription"].search([("list_id", "=", mailing_list.id), ("opt_out", "=", False)])
    for contact in subscriptions.contact_id:
        first, _space, last = (contact.name or "").strip().partition(" ")
        body = {
            "email": contact.email,
            "optInType": "Unknown",
            "emailType": "Html",
            "dataFields": [
                {"key": "FIRSTNAME", "value": contact.first_name or first},
                {"key": "LASTNAME", "value": contact.last_name or last},
                {"key": "FULLNAME", "value": contact.name or ""},
            ],
        }
        sent = time.perf_counter()
        answer = session.post(endpoint, json=body, timeout=30)
        http += time.perf_counter() - sent
        calls += 1
        errors += answer.status_code != 200
    wall = time.perf_counter() - started
    session.close()
    return {"calls": calls, "errors": errors, "wall": wall, "http": http, "odoo": wall - http}


def remote_values(url, auth, email):
    """``{data field: value}`` of one contact at the sandbox (``GET /v2/contacts/{email}``)."""
    answer = requests.get(f"{url}/v2/contacts/{email}", auth=auth, timeout=30)
    if answer.status_code != 200:
        return {}
    return {item["key"]: item["value"] for item in answer.json().get("dataFields") or []}


# -- reporting --------------------------------------------------------------------------------------------

RUN_HEADER = (f"{'run':<6} {'state':<8} {'exported':>8} {'calls':>5} {'sandbox':>7} {'wall s':>7} {'http s':>7} "
              f"{'odoo s':>7} {'cpu s':>6} {'RSS peak MB':>11} {'changes':>7} {'posted':>6}  members")
RUN_LEGEND = ("(calls: esp.sync.log.api_calls; sandbox: v2 and v3 requests in the sandbox's log; wall = _esp_sync + commit; "
              "http = waiting for answers; odoo = wall - http; cpu = this process's CPU, the rest of odoo being mostly "
              "PostgreSQL; RSS peak: since just before the phase's first run; changes: esp_list_change rows left; "
              "posted: imports in flight)")


def print_run(run):
    members = ", ".join(f"{state} {count}" for state, count in sorted(run["members"].items()))
    print(f"{run['label']:<6} {run['state']:<8} {run['exported']:>8} {run['api_calls']:>5} "
          f"{len(run['sandbox_calls']):>7} {run['wall']:>7.2f} {run['http']:>7.2f} {run['odoo']:>7.2f} "
          f"{run['cpu']:>6.2f} {run['rss_peak_mb']:>11.0f} {run['changes']:>7} {run['in_flight']:>6}  {members}",
          flush=True)


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


def verdict(value, limit, applies=True, size="100,000"):
    if not applies:
        return f"target is for {size} contacts"
    return "target <= %s: %s" % (f"{limit:g}", "ok" if value <= limit else "MISSED")


def count_mismatches(runs):
    """The three counts of API calls must agree, or the figures cannot be trusted."""
    return [
        f"run {run['label']}: log.api_calls {run['api_calls']}, transport records {len(run['http_calls'])}, "
        f"sandbox log {len(run['sandbox_calls'])}"
        for run in runs
        if not run["api_calls"] == len(run["http_calls"]) == len(run["sandbox_calls"])
    ]


def expect(value, wanted):
    return "ok" if value == wanted else f"MISMATCH, expected {wanted:,}"


def ratio(a, b):
    return f"{a / b:,.1f}x" if b else "n/a"


def api_label(api, identifier):
    if api == "v2":
        return "v2"
    return f"v3 (matched by {identifier})" if identifier else "v3 (matched by email)"


def print_side_by_side(args, passes):
    """The figures of the two passes in one table, v2 then v3, targets on the right."""
    size = args.contacts
    issue_case, check_case = size == 100_000, size == BOOK_CHECK_TARGET_SIZE

    def phase_cells(results, key):
        runs = results.get(key)
        if isinstance(runs, dict):
            runs = runs["runs"]
        return runs if isinstance(runs, list) else [runs] if runs else []

    rows = []

    def add(label, cell, target=None, target_value=None):
        values = {api: cell(results) for api, results in passes.items()}
        verdicts = ""
        if target is not None:
            verdicts = "; ".join(f"{api} {'ok' if target_value(results) <= target[0] else 'MISSED'}"
                                 for api, results in passes.items()) if target[1] else f"(target for {target[2]})"
            verdicts = f"<= {target[0]:g}: {verdicts}"
        rows.append((label, values, verdicts))

    def seconds(key, what):
        return lambda results: "%.2f s" % totals(phase_cells(results, key))[what] if phase_cells(results, key) else "-"

    def calls(key):
        # The transport's records: every HTTP call the provider made (esp.sync.log.api_calls misses a no-op's).
        return lambda results: sum(len(run["http_calls"]) for run in phase_cells(results, key))

    add("first export: runs", lambda results: len(results["export"]))
    add("first export: API calls", lambda results: f"{calls('export')(results):,}",
        (TARGET_EXPORT_CALLS, issue_case, "100,000"), calls("export"))
    add("first export: wall / HTTP", lambda results: f"{seconds('export', 'wall')(results)} / "
        f"{seconds('export', 'http')(results)}")
    add("first export: Odoo-side", seconds("export", "odoo"), (TARGET_EXPORT_ODOO_SECONDS, issue_case, "100,000"),
        lambda results: totals(results["export"])["odoo"])
    add("first export: RSS growth", lambda results: f"+{results['export_peak'] - results['rss_before']:.0f} MB")
    add("first export: book holds", lambda results: f"{results['book_after_export']:,}")
    add("no-op: API calls", lambda results: len(results["noop"]["http_calls"]),
        (TARGET_NOOP_CALLS, issue_case, "100,000"), lambda results: len(results["noop"]["http_calls"]))
    add("no-op: wall", lambda results: f"{results['noop']['wall']:.2f} s", (TARGET_NOOP_SECONDS, issue_case, "100,000"),
        lambda results: results["noop"]["wall"])
    if all(results.get("changed") for results in passes.values()):
        count = next(iter(passes.values()))["changed"]["count"]
        add(f"{count:,} changes: runs / API calls", lambda results: f"{len(phase_cells(results, 'changed'))} / "
            f"{calls('changed')(results)}")
        add(f"{count:,} changes: wall / Odoo-side", lambda results: f"{seconds('changed', 'wall')(results)} / "
            f"{seconds('changed', 'odoo')(results)}")
    if all(results.get("book_check") for results in passes.values()):
        add("book check: runs", lambda results: len(phase_cells(results, "book_check")))
        add("book check: API calls (pages read)", lambda results: f"{calls('book_check')(results):,} "
            f"({results['book_check']['pages']:,})", (TARGET_BOOK_CHECK_CALLS, check_case, "1,000,000"),
            calls("book_check"))
        add("book check: wall / Odoo-side", lambda results: f"{seconds('book_check', 'wall')(results)} / "
            f"{seconds('book_check', 'odoo')(results)}")
    add("book at the end", lambda results: f"{results['book_final']:,}")
    apis = list(passes)
    labels = [api_label(api, passes[api]["identifier"]) for api in apis]
    width = max(len(label) for label, _values, _verdict in rows)
    columns = [max(len(str(label)), *(len(str(values[api])) for _l, values, _v in rows)) for api, label
               in zip(apis, labels, strict=True)]
    print(f"\n== side by side: {size:,} contacts")
    print(f"{'':<{width}}  " + "  ".join(f"{label:>{column}}" for label, column in zip(labels, columns, strict=True)) + "  target")
    for label, values, verdicts in rows:
        print(f"{label:<{width}}  " + "  ".join(f"{str(values[api]):>{column}}" for api, column in zip(apis, columns, strict=True))
              + f"  {verdicts}")


def print_summary(args, rows, results):
    export, noop = results["export"], results["noop"]
    size = args.contacts
    issue_case = size == 100_000
    synced = Bench.settled(export[-1], size)
    calls, odoo_seconds = totals(export)["api_calls"], totals(export)["odoo"]
    print(f"\n== summary, contacts on {api_label(results['api'], results['identifier'])}")
    print(f"contacts                           {size:,}")
    print(f"rows per file                      {rows['effective']:,} (ICP {ROWS_PER_FILE_PARAM} = "
          f"{rows['param'] or 'unset'}, provider limit {rows['provider']:,})")
    print(f"time budget per run                {results['budget']} s (runner: half the cron's real-time limit)")
    print("\n-- first export (until every member is synced and confirmed)")
    print(f"runs                               {len(export)}{'' if synced else ' (NOT all synced)'}")
    print(f"API calls per run                  {', '.join(str(run['api_calls']) for run in export)}")
    print(f"API calls, total                   {calls}  ({verdict(calls, TARGET_EXPORT_CALLS, issue_case)})")
    print(f"wall time, total                   {totals(export)['wall']:.2f} s")
    print(f"HTTP wait, total                   {totals(export)['http']:.2f} s")
    print(f"Odoo-side time, total              {odoo_seconds:.2f} s  "
          f"({verdict(odoo_seconds, TARGET_EXPORT_ODOO_SECONDS, issue_case)})")
    print(f"Odoo process RSS                   {results['rss_before']:.0f} MB before, peak {results['export_peak']:.0f} MB "
          f"during the export: +{results['export_peak'] - results['rss_before']:.0f} MB"
          f"{'' if results['peak_reset'] else ' (peak since process start: VmHWM could not be reset)'}")
    print(f"sandbox book holds                 {results['book_after_export']:,} contacts "
          f"({expect(results['book_after_export'], size)})")
    print("\n-- no-op sync")
    # The transport's count: a run with nothing to do records no esp.sync.log calls (see count_mismatches).
    noop_calls = len(noop["http_calls"])
    print(f"API calls                          {noop_calls}  ({verdict(noop_calls, TARGET_NOOP_CALLS, issue_case)})")
    print(f"wall / HTTP / Odoo-side            {noop['wall']:.2f} s / {noop['http']:.2f} s / {noop['odoo']:.2f} s  "
          f"(wall {verdict(noop['wall'], TARGET_NOOP_SECONDS, issue_case)})")
    changed = results.get("changed")
    if changed:
        runs = changed["runs"]
        done = Bench.settled(runs[-1], size) if runs else False
        print(f"\n-- {changed['count']:,} changed contacts (ORM write of name, {changed['write_seconds']:.1f} s, "
              f"{changed['change_rows']} esp_list_change rows recorded; not timed below)")
        print(f"runs                               {len(runs)}{'' if done else ' (NOT all synced)'}")
        print(f"exported (confirmed)               {totals(runs)['exported']:,}  ({expect(totals(runs)['exported'], changed['count'])})")
        print(f"API calls per run                  {', '.join(str(run['api_calls']) for run in runs)}  "
              f"(total {totals(runs)['api_calls']})")
        print(f"wall / HTTP / Odoo-side, total     {totals(runs)['wall']:.2f} s / {totals(runs)['http']:.2f} s / "
              f"{totals(runs)['odoo']:.2f} s")
        print(f"sample at the sandbox              {changed['sample_email']}: FULLNAME "
              f"{changed['sample_value']!r} ({'ok' if changed['sample_value'] == CHANGED_NAME else 'NOT UPDATED'})")
        print(f"sandbox book holds                 {results['book_final']:,} contacts "
              f"({expect(results['book_final'], size)})")
    check = results.get("book_check")
    if check:
        runs = check["runs"]
        print(f"\n-- book check ({size:,} contacts read, {check['removed']:,} removed at the ESP sent back)")
        print(f"runs                               {len(runs)}"
              f"{'' if Bench.settled(runs[-1], size) else ' (NOT all synced)'}")
        print(f"API calls per run                  {', '.join(str(run['api_calls']) for run in runs)}  "
              f"(total {totals(runs)['api_calls']}: "
              f"{verdict(totals(runs)['api_calls'], TARGET_BOOK_CHECK_CALLS, size == BOOK_CHECK_TARGET_SIZE, '1,000,000')})")
        print(f"book pages read                    {check['pages']}")
        print(f"wall / HTTP / Odoo-side, total     {totals(runs)['wall']:.2f} s / {totals(runs)['http']:.2f} s / "
              f"{totals(runs)['odoo']:.2f} s")
        print(f"sandbox book holds                 {results['book_final']:,} contacts "
              f"({expect(results['book_final'], size)})")
    compare = results.get("compare")
    if compare:
        engine, naive = compare["engine"], compare["naive"]
        print(f"\n-- per-contact exporter vs this engine, {args.compare:,} contacts (same sandbox, one book each)")
        print(f"{'':<28} {'API calls':>10} {'wall s':>8} {'HTTP s':>8} {'Odoo-side s':>11}  book holds")
        print(f"{'per-contact (1 POST each)':<28} {naive['calls']:>10,} {naive['wall']:>8.2f} {naive['http']:>8.2f} "
              f"{naive['odoo']:>11.2f}  {compare['naive_book']:,} ({expect(compare['naive_book'], args.compare)})"
              f"{'' if not naive['errors'] else ', %d refused' % naive['errors']}")
        print(f"{'this engine (%d runs)' % len(engine):<28} {totals(engine)['api_calls']:>10,} "
              f"{totals(engine)['wall']:>8.2f} {totals(engine)['http']:>8.2f} {totals(engine)['odoo']:>11.2f}  "
              f"{compare['engine_book']:,} ({expect(compare['engine_book'], args.compare)})")
        print(f"{'ratio per-contact / engine':<28} {ratio(naive['calls'], totals(engine)['api_calls']):>10} "
              f"{ratio(naive['wall'], totals(engine)['wall']):>8} {ratio(naive['http'], totals(engine)['http']):>8} "
              f"{ratio(naive['odoo'], totals(engine)['odoo']):>11}")
        if compare["calls_per_hour"]:
            per_hour = compare["calls_per_hour"]
            print(f"under the sandbox's flat rate limit setting ({per_hour:,} calls per hour, off in this bench) the "
                  f"per-contact export uses {naive['calls'] / per_hour:.1f} hours' worth of calls, the engine "
                  f"{totals(engine)['api_calls'] / per_hour:.2%} of one hour's")
        print(f"sandbox log during the per-contact export: {compare['naive_logged']:,} v2 calls "
              f"({expect(compare['naive_logged'], naive['calls'])})")
    traced = results.get("traced")
    if traced:
        peaks = ", ".join(f"{run['python_peak_mb']:.1f}" for run in traced)
        print(f"\nPython peak per run (tracemalloc)  {peaks} MB (another list of {size:,} new contacts; the last is its "
              f"no-op run)")
    every_run = [*export, noop, *(changed["runs"] if changed else []), *(check["runs"] if check else []),
                 *(compare["engine"] if compare else [])]
    for problem in count_mismatches(every_run):
        print(f"call counts disagree: {problem}")
    return synced


# -- main -------------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="Odoo configuration file")
    parser.add_argument("--database", required=True, help="database with campaign_esp_connector installed")
    parser.add_argument("--sandbox-url", required=True, help="base URL of a running sandbox (python -m esp_sandbox)")
    parser.add_argument("--api-user", default="demo@apiconnector.com", help="the sandbox's API user")
    parser.add_argument("--api-password", default="demo-password", help="the sandbox's API password")
    parser.add_argument("--api", choices=("v2", "v3", "both"), default="v2",
                        help="the contacts API the account uses: v2, v3 (the hybrid provider: v3 contacts, v2 for the "
                             "rest; the sandbox is told to allow v3), or both, one after the other on a fresh "
                             "sandbox account each, then side by side (default: %(default)s)")
    parser.add_argument("--v3-identifier", default=V3_IDENTIFIER,
                        help="the account's custom identifier on v3, so contacts are matched by the Odoo id; '' "
                             "matches them by email (default: %(default)s)")
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts in the list (default: %(default)s)")
    parser.add_argument("--book-check", type=int, default=100, metavar="N",
                        help="remove N contacts from the book at the ESP, then time the book check that sends them "
                             "back (0: skip)")
    parser.add_argument("--changes", type=int, default=10_000,
                        help="after the no-op sync, rename this many of the list's contacts (ORM write) and time "
                             "their export until confirmed; 0 skips it (default: %(default)s)")
    parser.add_argument("--compare", type=int, default=5_000,
                        help="contacts of the per-contact exporter comparison (a second list, two more books); "
                             "0 skips it (default: %(default)s)")
    parser.add_argument("--rows-per-file", type=int, default=None,
                        help="set ICP campaign_esp_connector.rows_per_file first; 0 removes it (the provider's "
                             "limit applies). Default: keep the database's")
    parser.add_argument("--max-runs", type=int, default=12,
                        help="runs at most per phase before giving up on it (default: %(default)s)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="second pass on another list of as many new contacts, under tracemalloc, for the "
                             "Python peak of the sync alone (slower; its times are not the figures)")
    parser.add_argument("--sql-profile", action="store_true",
                        help="time every SQL statement (Odoo's DEBUG query log) and show the slowest per run; "
                             "formatting each statement adds Odoo-side time")
    parser.add_argument("--cprofile", action="store_true",
                        help="profile every timed run with cProfile and show its costliest functions (slower)")
    return parser.parse_args(argv)


def rows_per_file(env, account, wanted):
    """Apply ``--rows-per-file`` and return what the export will use: ``{"param", "provider", "effective"}``."""
    from odoo.addons.campaign_esp_connector.providers import get_provider_class

    icp = env["ir.config_parameter"].sudo()
    if wanted == 0:
        icp.set_param(ROWS_PER_FILE_PARAM, False)
    elif wanted:
        icp.set_param(ROWS_PER_FILE_PARAM, str(wanted))
    param = icp.get_param(ROWS_PER_FILE_PARAM)
    provider = get_provider_class(account.provider).limits.rows_per_import
    # As the export job does: the parameter can only lower the provider's limit.
    return {"param": param, "provider": provider, "effective": max(1, min(int(param or provider), provider))}


def engine_version():
    """The checkout's commit, and whether the add-on differs from it (the figures belong to that code)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False).stdout
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--", "campaign_esp_connector", ":!campaign_esp_connector/tests").strip()
    return f"{commit}{' + uncommitted changes in campaign_esp_connector' if dirty else ''}"


def phase(title):
    print(f"\n== {title}")
    print(RUN_HEADER)
    print("-" * len(RUN_HEADER), flush=True)


def main(argv=None):
    args = parse_args(argv)
    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    http = install_probe(HttpCalls(), TRANSPORT_LOGGER)
    sql = install_probe(SqlStatements(), "odoo.sql_db") if args.sql_profile else None
    sandbox = SandboxControl(args.sandbox_url)
    auth = (args.api_user, args.api_password)
    rss_start = rss_now_mb()
    apis = ("v2", "v3") if args.api == "both" else (args.api,)
    passes = {}
    with Registry(args.database).cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        bench = Bench(cr, env, sandbox, http, sql, cprofile=args.cprofile, max_runs=args.max_runs)
        for api in apis:
            passes[api] = run_pass(api, args, bench, auth, rss_start, first=api == apis[0])
    if len(passes) > 1:
        print_side_by_side(args, passes)
    return 0 if all(results["ok"] for results in passes.values()) else 1


def run_pass(api, args, bench, auth, rss_start, first):
    """The whole sequence on one contacts API, against a fresh sandbox account; prints its figures and returns
    them (``ok``: every member synced and the book holds the list). The per-contact comparison and the
    tracemalloc pass run in the first pass only."""
    from odoo.addons.campaign_esp_connector.sync.runner import time_budget

    cr, env, sandbox = bench.cr, bench.env, bench.sandbox
    sql = bench.sql
    results = {"api": api}
    sandbox.reset()  # a fresh account per pass: v2 by default (the sandbox refuses v3 unless told)
    # One remote account is one Odoo account, one book one list: the previous pass's lists are disconnected and
    # its account archived, as a user replacing it would.
    previous = env["esp.account"].search([("api_endpoint", "=", args.sandbox_url)])
    env["mailing.list"].search([("esp_address_book_id.account_id", "in", previous.ids)]).action_esp_disconnect()
    previous.write({"active": False})
    if previous:
        # The previous pass's contacts go: each pass starts on empty contact tables, as in a bench/run of its
        # own, so the second does not pay for the first's million rows in every index it writes.
        cr.execute("TRUNCATE mailing_contact, esp_list_member, esp_list_change, esp_import_batch CASCADE")
        cascaded = sorted({match for notice in cr._cnx.notices for match in re.findall(r'table "(\w+)"', notice)})
        cr.execute("ANALYZE")
        print(f"\n(the previous pass's contacts removed: mailing_contact, esp_list_member, esp_list_change and "
              f"esp_import_batch truncated, with {', '.join(cascaded) or 'nothing else'})")
    cr.commit()
    if api == "v3":
        sandbox.configure(v3_contacts=True, custom_identifiers=[args.v3_identifier] if args.v3_identifier else [])
    account = env["esp.account"].create({
        "name": f"Bench sandbox ({api})",
        "provider": "dotdigital",
        "api_endpoint": args.sandbox_url,
        "api_user": args.api_user,
        "api_password": args.api_password,
    })
    account.action_test_connection()
    assert account.state == "connected", account.last_error
    # Test Connection chooses the contacts API: v3 where the API user may use it (the sandbox says so above).
    assert (account.contacts_api or "v2") == api, f"Test Connection chose {account.contacts_api}, not {api}"
    results["identifier"] = account.contact_identifier or ""
    rows = rows_per_file(env, account, args.rows_per_file)
    results["budget"] = time_budget()
    started = time.perf_counter()
    mailing_list = seed_list(env, f"Bench list ({api})", "bench" if api == "v2" else f"bench-{api}-", args.contacts)
    cr.commit()
    seeded = time.perf_counter() - started
    book = connect_list(env, account, mailing_list, f"Bench list ({api})")
    cr.commit()
    print(f"\n== list sync bench, contacts on {api_label(api, results['identifier'])}: {args.contacts:,} contacts, rows per file {rows['effective']:,}, sandbox "
          f"{args.sandbox_url} (own process){', SQL profiled' if sql else ''}")
    print(f"engine: commit {engine_version()}; time budget per run {results['budget']} s")
    print(f"seeded in {seeded:.1f} s (SQL); process RSS {rss_start:.0f} MB at start, {rss_now_mb():.0f} MB "
          f"with the registry loaded and the list seeded")

    # First export, then the no-op sync.
    phase(f"first export of {args.contacts:,} contacts")
    results["peak_reset"] = reset_rss_peak()
    results["rss_before"] = rss_now_mb()
    results["export"] = bench.run_until_settled(mailing_list, args.contacts)
    results["export_peak"] = rss_peak_mb()
    results["book_after_export"] = book_counts(sandbox).get(int(book.remote_id), 0)
    results["noop"] = bench.one_run(mailing_list, "no-op")
    print(RUN_LEGEND)

    # Changed contacts: an ORM write, so the change is recorded by the add-on's own hooks.
    if args.changes:
        count = min(args.changes, args.contacts)
        contact_ids = pick_contacts(env, mailing_list, count)
        started = time.perf_counter()
        env["mailing.contact"].browse(contact_ids).with_context(tracking_disable=True).write({"name": CHANGED_NAME})
        cr.commit()
        write_seconds = time.perf_counter() - started
        change_rows = backlog(env, mailing_list)[0]
        env.invalidate_all()
        phase(f"{len(contact_ids):,} changed contacts (name written through the ORM in {write_seconds:.1f} s)")
        runs = bench.run_until_settled(mailing_list, args.contacts, prefix="c")
        sample = env["mailing.contact"].browse(contact_ids[len(contact_ids) // 2]).email_normalized
        results["changed"] = {
            "count": len(contact_ids), "write_seconds": write_seconds, "change_rows": change_rows, "runs": runs,
            "sample_email": sample, "sample_value": remote_values(args.sandbox_url, auth, sample).get("FULLNAME"),
        }
    # The daily book check: the whole book read again; contacts removed at the ESP go back.
    if args.book_check:
        book_id = int(book.remote_id)
        listed = requests.get(f"{args.sandbox_url}/v2/address-books/{book_id}/contacts",
                              params={"select": args.book_check}, auth=auth, timeout=60)
        listed.raise_for_status()
        removed_ids = [row["id"] for row in listed.json()]
        requests.post(f"{args.sandbox_url}/v2/address-books/{book_id}/contacts/delete", json=removed_ids,
                      auth=auth, timeout=60).raise_for_status()
        sandbox.state(contacts_limit=1)  # the ESP applies the removal
        env["ir.config_parameter"].set_param("campaign_esp_connector.book_check_hours", 0)
        cr.commit()
        phase(f"book check: the whole book read, {len(removed_ids):,} contacts removed at the ESP go back")
        runs = []
        for attempt in range(1, bench.max_runs + 1):
            run = bench.one_run(mailing_list, f"b{attempt}")
            runs.append(run)
            book.invalidate_recordset()
            if not book.book_check_started:
                break
        env["ir.config_parameter"].set_param("campaign_esp_connector.book_check_hours", -1)
        cr.commit()
        runs += bench.run_until_settled(mailing_list, args.contacts, prefix="b+")
        env["ir.config_parameter"].set_param("campaign_esp_connector.book_check_hours", 24)
        cr.commit()
        results["book_check"] = {"removed": len(removed_ids), "runs": runs, "pages": sum(
            1 for run in runs for method, path, _status, _seconds in run["http_calls"]
            if (method, path_shape(path)) in BOOK_PAGE_PATHS)}
    results["book_final"] = book_counts(sandbox).get(int(book.remote_id), 0)

    # The per-contact exporter beside the engine, on the same 5,000 contacts (one list, one book each).
    # The engine goes first: the per-contact exporter then finds the contacts at the ESP (an update and a
    # book membership each), which can only make it look faster.
    if args.compare and first:
        compare_list = seed_list(env, f"Comparison ({args.compare:,}, {api})", f"compare-{api}-", args.compare)
        cr.commit()
        engine_book = connect_list(env, account, compare_list, f"Comparison: engine ({api})")
        cr.commit()
        phase(f"comparison: this engine, {args.compare:,} contacts")
        engine_runs = bench.run_until_settled(compare_list, args.compare, prefix="e")
        answer = requests.post(f"{args.sandbox_url}/v2/address-books", json={"name": "Comparison: per-contact"},
                               auth=auth, timeout=30)
        answer.raise_for_status()
        naive_book_id = answer.json()["id"]
        sandbox.clear_log()
        print(f"\n== comparison: per-contact exporter, {args.compare:,} contacts", flush=True)
        naive = naive_export(env, compare_list, args.sandbox_url, auth, naive_book_id)
        naive_logged = sum(1 for entry in sandbox.requests_log() if is_api_call(entry["path"]))
        print(f"{naive['calls']:,} calls in {naive['wall']:.2f} s wall ({naive['http']:.2f} s HTTP)", flush=True)
        counts = book_counts(sandbox)
        results["compare"] = {
            "engine": engine_runs, "naive": naive, "naive_logged": naive_logged,
            "engine_book": counts.get(int(engine_book.remote_id), 0), "naive_book": counts.get(naive_book_id, 0),
            "calls_per_hour": (sandbox.config().get("rate_limit") or {}).get("calls_per_hour"),
        }

    if args.tracemalloc and first:
        second = seed_list(env, f"Bench list (tracemalloc, {api})", f"traced-{api}-", args.contacts)
        cr.commit()
        connect_list(env, account, second, f"Bench list (tracemalloc, {api})")
        cr.commit()
        phase("tracemalloc pass (another list of new contacts; times inflated by tracing)")
        tracemalloc.start()
        traced = bench.run_until_settled(second, args.contacts, prefix="t", trace=True)
        traced.append(bench.one_run(second, "t-noop", trace=True))
        tracemalloc.stop()
        results["traced"] = traced

    for run in [*results["export"], results["noop"], *(results.get("changed") or {}).get("runs", []),
                *(results.get("book_check") or {}).get("runs", [])]:
        print_breakdown(run)
    all_synced = print_summary(args, rows, results)
    results["ok"] = (all_synced and results["book_after_export"] == args.contacts
                     and results["book_final"] == args.contacts)
    return results


if __name__ == "__main__":
    sys.exit(main())
