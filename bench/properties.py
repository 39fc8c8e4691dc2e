"""Long run of the sync property test: many examples, then how many passed or failed, and why.

Runs ``campaign_esp_connector/tests/test_sync_properties.py::TestSyncProperties`` through pytest (pytest-odoo)
against an existing database where the add-on is installed, with ``ESP_PROPERTY_EXAMPLES`` examples (default
1,000) in collect mode: an example that breaks an invariant is recorded and the run goes on (no shrinking), so
the figures cover every example. Each example is one JSON line in a stats file (outcome, violations, seconds,
scenario); this script prints the totals, the violations grouped by kind, and the first failing scenarios
with the command that replays one (``ESP_PROPERTY_REPLAY``, with a step-by-step trace)::

    python bench/properties.py --config odoo.conf --database DB [--examples 1000] [--known] [--seed 7]

``--known`` also generates the inputs of the engine defects the test knows (``KNOWN_DEFECTS``), which CI leaves
out: the figures then show how often each one bites. The test starts its own in-process sandbox ESP and rolls
every example back; the database is left as it was. Like the other benchmarks it never fails on a figure; it
exits non-zero only when pytest could not run the examples at all.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "campaign_esp_connector/tests/test_sync_properties.py::TestSyncProperties"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="Odoo configuration file of the database")
    parser.add_argument("--database", required=True, help="database where campaign_esp_connector is installed")
    parser.add_argument("--examples", type=int, default=1000, help="examples to run (default 1000)")
    parser.add_argument("--known", action="store_true", help="also generate the inputs of known engine defects")
    parser.add_argument("--seed", type=int, help="hypothesis seed (default: random)")
    parser.add_argument("--stats", help="stats file to write (default: a temporary file, removed)")
    parser.add_argument("--show", type=int, default=5, help="failing scenarios to print (default 5)")
    return parser.parse_args()


def kind_of(violation):
    """A violation without its addresses, names and counts, to group equal kinds."""
    text = re.sub(r"[\w.+-]+@[\w.-]+", "<email>", violation)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "<value>", text)
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]|\{[^}]*\}", "(...)", text)
    return re.sub(r"\d+", "N", text)[:140]


def main():
    args = parse_args()
    stats_path = args.stats or tempfile.mkstemp(prefix="esp-properties-", suffix=".jsonl")[1]
    Path(stats_path).write_text("")
    env = dict(os.environ, ESP_PROPERTY_EXAMPLES=str(args.examples), ESP_PROPERTY_COLLECT="1",
               ESP_PROPERTY_STATS=stats_path)
    env.pop("ESP_PROPERTY_REPLAY", None)
    if args.known:
        env["ESP_PROPERTY_KNOWN"] = "1"
    if args.seed is not None:
        env["ESP_PROPERTY_SEED"] = str(args.seed)
    command = [sys.executable, "-m", "pytest", f"--odoo-config={args.config}", f"--odoo-database={args.database}",
               TEST, "-q", "-p", "no:cacheprovider"]
    print(f"running {args.examples} examples{' (known defects included)' if args.known else ''}: "
          f"{' '.join(command[2:])}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started

    rows = [json.loads(line) for line in Path(stats_path).read_text().splitlines() if line.strip()]
    if not args.stats:
        os.unlink(stats_path)
    if not rows:
        print(result.stdout[-5000:], result.stderr[-5000:], sep="\n")
        print("no example ran (pytest output above)")
        return 2
    outcomes = Counter(row["outcome"] for row in rows)
    failed = [row for row in rows if row["outcome"] != "passed"]
    kinds = Counter(kind for row in failed
                    for kind in {kind_of(v) for v in row["violations"] + ([row["error"]] if row["error"] else [])})
    seconds = sorted(row["seconds"] for row in rows)
    print(f"\nexamples: {len(rows)}   passed: {outcomes['passed']}   failed: {outcomes['failed']}   "
          f"({elapsed:.0f} s in all, per example: median {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s)")
    steps = Counter(step[0] for row in rows for step in row["scenario"]["steps"])
    print("steps played: " + ", ".join(f"{kind} {count}" for kind, count in steps.most_common()))
    if kinds:
        print("\nfailed examples by kind of violation (an example may show several):")
        for kind, count in kinds.most_common():
            print(f"  {count:5d}  {kind}")
    for row in failed[: args.show]:
        print("\n- " + "\n  ".join(row["violations"] + ([row["error"]] if row["error"] else [])))
        print(f"  replay: ESP_PROPERTY_REPLAY='{json.dumps(row['scenario'])}' {' '.join(command[:5])} "
              f"{TEST} -q -s")
    if result.returncode not in (0, 1):  # 1: examples failed, reported above
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
