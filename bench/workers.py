"""Work spread over workers: A accounts × N contacts, first export, with each ESP call answered after a fixed
latency, run once with 1 worker and once with W workers (real processes, each doing what a cron thread does:
the list job, then the import-poll job, again and again). Prints the wall time of each, their ratio, and checks
that every contact reached its book and that no import was sent twice.

Run through ``bench/run workers`` (throwaway PostgreSQL, fresh database). This script starts one sandbox ESP
process per account (an account is one ESP account; the ESP's own servers work in parallel, as the sandbox
processes do here), each answering every call after ``--latency`` seconds. By hand::

    python bench/workers.py --config odoo.conf --database DB [--accounts 8] [--contacts 50000]
        [--latency 0.2] [--workers 4]

It prints figures and never fails on a target; the target (≥ 3× faster with 4 workers) is shown beside them.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import odoo  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402

from esp_sandbox.testing import SandboxControl  # noqa: E402

TARGET_RATIO = 3.0
API_USER, API_PASSWORD = "workers@apiconnector.com", "workers-bench-password"
IDLE_PAUSE = 0.05


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandboxes(count, state_root):
    """One sandbox process per account: ``[(process, url)]``."""
    started = []
    for index in range(count):
        port = free_port()
        state_dir = Path(state_root) / f"sandbox-{index}"
        state_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "esp_sandbox", "--port", str(port), "--api-user", API_USER,
             "--api-password", API_PASSWORD, "--state-dir", str(state_dir)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(state_dir / "log", "w"))  # noqa: SIM115
        started.append((process, f"http://127.0.0.1:{port}"))
    for _process, url in started:
        control = SandboxControl(url)
        for _attempt in range(200):
            try:
                control.now()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
    return started


def prepare(env, urls, contacts, label, latency):
    """An account per sandbox, each with one list of ``contacts`` new contacts connected to a new book."""
    from list_sync import connect_list, seed_list

    lists = env["mailing.list"]
    for index, url in enumerate(urls):
        control = SandboxControl(url)
        control.reset()
        if latency:
            # Every v2 call of the run is answered after the latency (the fault plan's "slow", for ever).
            control.inject_fault("/v2/*", "slow", count=10**7, seconds=latency)
        account = env["esp.account"].create({
            "name": f"Workers bench {label} {index}", "provider": "dotdigital", "api_endpoint": url,
            "api_user": API_USER, "api_password": API_PASSWORD,
        })
        account.action_test_connection()
        assert account.state == "connected", account.last_error
        mailing_list = seed_list(env, f"Workers bench {label} {index}", f"w{label}a{index}n", contacts)
        connect_list(env, account, mailing_list, f"Workers bench {label} {index}")
        lists |= mailing_list
    return lists


def worker_loop(config, database, list_ids, deadline):
    """What one cron thread does, over and over: the list job, then the import-poll job, each in a cursor of
    its own, until every list of the scenario is exported and confirmed. A cron thread is long-lived: the
    registry is loaded before the clock starts (the worker says "ready", then waits for "go")."""
    odoo.tools.config.parse_config(["-c", config, "-d", database, "--log-level=warn"])
    registry = Registry(database)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu_start = time.process_time()
    try:
        return _work(registry, list_ids, deadline)
    finally:
        print(f"cpu {time.process_time() - cpu_start:.2f}", flush=True)


def _work(registry, list_ids, deadline):
    while time.time() < deadline:
        worked = 0
        for method in ("_esp_job_run", "_esp_job_run_poll"):
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                worked += len(getattr(env["esp.sync.job.list"], method)())
                cr.commit()
        with registry.cursor() as cr:
            if finished(cr, list_ids):
                return 0
        if not worked:
            time.sleep(IDLE_PAUSE)
    return 1


def process_cpu_seconds(pids):
    """CPU seconds (user + system) the processes ``pids`` used so far."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    """CPU seconds the whole machine spent working (all cores, every process: Odoo, PostgreSQL, the sandboxes)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def finished(cr, list_ids):
    cr.execute("""
        SELECT (SELECT count(*) FROM esp_import_batch WHERE list_id = ANY(%(lists)s) AND state = 'posted'),
               (SELECT count(*) FROM esp_list_member WHERE list_id = ANY(%(lists)s) AND state = 'synced'),
               (SELECT count(*) FROM mailing_subscription WHERE list_id = ANY(%(lists)s))
    """, {"lists": list_ids})
    posted, synced, subscribed = cr.fetchone()
    return not posted and synced == subscribed


def scenario(args, registry, sandboxes, workers):
    urls = [url for _process, url in sandboxes]
    sandbox_pids = [process.pid for process, _url in sandboxes]
    label = f"{workers}w"
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        lists = prepare(env, urls, args.contacts, label, args.latency)
        cr.commit()
        list_ids = lists.ids
        book_ids = {mailing_list.id: int(mailing_list.esp_address_book_id.remote_id) for mailing_list in lists}
    deadline = time.time() + args.timeout
    processes = [
        subprocess.Popen([sys.executable, __file__, "--worker", "--config", args.config, "--database", args.database,
                          "--lists", ",".join(map(str, list_ids)), "--deadline", str(deadline)], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _worker in range(workers)
    ]
    for process in processes:
        assert process.stdout.readline().strip() == "ready"
    busy_start, sandbox_start = machine_busy_seconds(), process_cpu_seconds(sandbox_pids)
    started = time.perf_counter()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    codes = [process.wait() for process in processes]
    wall = time.perf_counter() - started
    busy = machine_busy_seconds() - busy_start
    sandbox_cpu = process_cpu_seconds(sandbox_pids) - sandbox_start
    odoo_cpu = sum(float(line.split()[1]) for process in processes for line in process.stdout if line.startswith("cpu"))
    with registry.cursor() as cr:
        done = finished(cr, list_ids)
        cr.execute("SELECT remote_id, account_id FROM esp_import_batch WHERE list_id = ANY(%s)", [list_ids])
        batches = cr.fetchall()
        if not done:
            # What a person would look at: each list's state, and who holds which claim.
            cr.execute("""
                SELECT b.mailing_list_id, b.sync_state, b.next_sync_datetime, b.last_error,
                       (SELECT string_agg(state || ':' || n, ',') FROM (SELECT state, count(*) n FROM esp_list_member
                         WHERE list_id = b.mailing_list_id GROUP BY state) m)
                  FROM esp_address_book b WHERE b.mailing_list_id = ANY(%s) ORDER BY 1""", [list_ids])
            for row in cr.fetchall():
                print("  list", row, flush=True)
            cr.execute("SELECT classid, objid, mode, granted, pid FROM pg_locks WHERE locktype = 'advisory'")
            print("  advisory locks", cr.fetchall(), flush=True)
    # The ESP's side: each book holds its list, and every import it received is one Odoo recorded, once.
    sent_twice, in_books, received = 0, 0, 0
    calls = Counter()
    for url in urls:
        calls.update(re.sub(r"/\d+", "/{id}", entry["path"]) for entry in SandboxControl(url).requests_log()
                     if entry["path"].startswith("/v2/"))
        state = SandboxControl(url).state(contacts_limit=1)
        received += len(state["imports"])
        in_books += sum(book["count"] for book in state["books"] if book["id"] in book_ids.values())
    recorded = [remote_id for remote_id, _account in batches]
    sent_twice = received - len(set(recorded))
    return {"workers": workers, "wall": wall, "codes": codes, "busy": busy, "odoo_cpu": odoo_cpu, "sandbox_cpu": sandbox_cpu, "calls": calls, "done": done, "imports": received,
            "recorded": len(recorded), "sent_twice": sent_twice, "in_books": in_books,
            "expected": args.accounts * args.contacts}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--contacts", type=int, default=50000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before the ESP answers each call")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--state-dir", default=None)
    # Sandbox URL and credentials given by bench/run are not used: one sandbox per account is started here.
    parser.add_argument("--sandbox-url"), parser.add_argument("--api-user"), parser.add_argument("--api-password")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lists", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_loop(args.config, args.database, [int(i) for i in args.lists.split(",")], args.deadline)

    odoo.tools.config.parse_config(["-c", args.config, "-d", args.database, "--log-level=warn"])
    registry = Registry(args.database)
    state_root = args.state_dir or f"/tmp/esp-workers-bench-{os.getpid()}"
    sandboxes = start_sandboxes(args.accounts, state_root)
    try:
        print(f"\n== workers bench: {args.accounts} accounts × {args.contacts:,} contacts, first export, each ESP "
              f"call answered after {args.latency * 1000:.0f} ms; {os.cpu_count()} cores", flush=True)
        results = []
        for workers in (1, args.workers):
            result = scenario(args, registry, sandboxes, workers)
            results.append(result)
            print(f"{workers} worker{'s' if workers > 1 else ''}: {result['wall']:.1f} s wall, machine CPU "
                  f"{result['busy']:.1f} s (the workers' own {result['odoo_cpu']:.1f} s, the sandbox ESPs' "
                  f"{result['sandbox_cpu']:.1f} s, the rest PostgreSQL and anything else running), CPU floor on "
                  f"{os.cpu_count()} cores "
                  f"{result['busy'] / os.cpu_count():.1f} s; all exported and "
                  f"confirmed: {result['done']}; {result['in_books']:,} of {result['expected']:,} contacts in the "
                  f"books; imports received {result['imports']}, recorded {result['recorded']}, sent twice "
                  f"{result['sent_twice']}", flush=True)
            print(f"  API calls: {sum(result['calls'].values()):,} ("
                  + ", ".join(f"{path} {count}" for path, count in result["calls"].most_common(6)) + ")", flush=True)
        one, many = results
        ratio = one["wall"] / many["wall"] if many["wall"] else 0
        print(f"\nratio: {ratio:.2f}× faster with {args.workers} workers "
              f"(target ≥ {TARGET_RATIO:.0f}×: {'met' if ratio >= TARGET_RATIO else 'missed'}); no import sent "
              f"twice: {all(r['sent_twice'] == 0 for r in results)}")
        return 0 if all(r["done"] for r in results) else 1
    finally:
        for process, _url in sandboxes:
            process.send_signal(signal.SIGTERM)
        for process, _url in sandboxes:
            process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
