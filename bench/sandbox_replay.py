"""Client replay figures: how many real-client requests the sandbox ESP answers as dotdigital does, per client.

Runs ``tests/sandbox/test_client_replay.py`` through pytest (one test per replayed request of dotdigital's
Magento 2 extension, Oro's bundle, the dotdigital-php SDK and the PyPI ``dotmailer`` wrapper), then prints
passing / total per client and in all, and each failing replay with a one-line reason.

Run from anywhere: ``python bench/sandbox_replay.py``; arguments after ``--`` go to pytest (e.g.
``-- -k magento``). The sandbox tests need no database, so pytest-odoo is switched off (``-p no:odoo``); with
``--odoo-config`` and ``--odoo-database`` it is left on and given those instead. Figures never fail the run:
the exit status is non-zero only when pytest could not run or reported nothing.
"""

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = "tests/sandbox/test_client_replay.py"
CLIENTS = ("magento", "oro", "sdk", "pywrapper")
# pytest's own exit codes: 0 all passed, 1 some failed; anything else means the figures are not there.
PYTEST_RAN = (0, 1)


def run_pytest(python, junit, odoo_config, odoo_database, extra):
    command = [python, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if odoo_config and odoo_database:
        command += [f"--odoo-config={odoo_config}", f"--odoo-database={odoo_database}"]
    else:
        command += ["-p", "no:odoo"]
    command += extra
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def one_line(text, limit=220):
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def results(junit):
    """``{replay id: None (passed) | reason}`` for every replay test case in the JUnit XML report."""
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        if not name.startswith("test_client_replay[") or not name.endswith("]"):
            continue
        replay_id = name[len("test_client_replay["):-1]
        problem = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if problem is None:
            outcome[replay_id] = None
        else:
            lines = (problem.text or "").strip().splitlines()
            reason = problem.get("message") or (lines[-1] if lines else "?")
            outcome[replay_id] = f"{problem.tag}: {one_line(reason)}"
    return outcome


def report(outcome):
    by_client = defaultdict(lambda: [0, 0])
    for replay_id, reason in outcome.items():
        client = replay_id.split("-", 1)[0]
        by_client[client][1] += 1
        by_client[client][0] += reason is None
    print("Client replays against the sandbox ESP (passing / total)")
    for client in [*CLIENTS, *sorted(set(by_client) - set(CLIENTS))]:
        if client in by_client:
            passed, total = by_client[client]
            print(f"  {client:<10} {passed:>3} / {total:<3}")
    passed = sum(reason is None for reason in outcome.values())
    print(f"  {'all':<10} {passed:>3} / {len(outcome):<3}")
    failing = {replay_id: reason for replay_id, reason in outcome.items() if reason is not None}
    if failing:
        print(f"\nFailing replays ({len(failing)}):")
        for replay_id, reason in sorted(failing.items()):
            print(f"  {replay_id}: {reason}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs pytest (default: this one)")
    parser.add_argument("--odoo-config", help="give pytest-odoo this config instead of switching it off")
    parser.add_argument("--odoo-database", help="with --odoo-config: the database")
    parser.add_argument("pytest_args", nargs="*", help="after --: further pytest arguments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-replay-") as folder:
        junit = Path(folder) / "replay.xml"
        completed = run_pytest(args.python, junit, args.odoo_config, args.odoo_database, args.pytest_args)
        if completed.returncode not in PYTEST_RAN or not junit.exists():
            sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
            sys.stderr.write(f"\nerror: pytest could not run the replays (exit status {completed.returncode})\n")
            return 2
        outcome = results(junit)
    if not outcome:
        sys.stderr.write("error: pytest ran no replay\n")
        return 2
    report(outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
