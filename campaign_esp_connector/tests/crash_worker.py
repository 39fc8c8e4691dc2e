"""Cron worker processes for the crash tests (test_sync_crash.py): loads the registry once, then forks one real
worker process per command, which the engine kills with SIGKILL at the commit point named in
``CAMPAIGN_ESP_CONNECTOR_CRASH_AT`` (set in that child only).

Not a test module (pytest collects ``test_*.py`` only). Started by the test as::

    python crash_worker.py -d DB --db_host=... --db_port=... --addons-path=... [other odoo options]

Protocol, one JSON object per line: it prints ``{"ready": true}`` once the registry is loaded, then answers each
command read on stdin::

    {"binding_id": 7, "crash_at": "step:pull" | null, "max_runs": 1, "until_idle": false}
    {"campaigns": true, "crash_at": "campaign:created" | null, "max_runs": 1}  (the campaign crons)
    {"jobs": ["esp.sync.job.campaign.send", ...], "crash_at": ... | null, "max_runs": 1}  (these job kinds'
        crons, in order, once per run)
    {"activity": true, "crash_at": "activity:done" | null, "max_runs": 1, "context": {...}}  (the activity cron)
    -> {"signal": 9 | null, "exit": 0 | null, "result": {"runs": [...]} | null}

Each command runs in a forked child with its own database connection (the parent holds none while children
run): ``ListSyncRunner(env, trigger="cron").run(binding)`` as the cron does, committed by the engine at each
commit point, up to ``max_runs`` times (or until the list is idle with ``until_idle``). ``runs`` tells for each
run whether the cron would have picked the list (``due``; a list asked to come back within a few minutes is
made due at once, ``waited`` saying how many seconds early), and its outcome; a run skipped because the killed
worker's session still held the account's lock is retried shortly after.
"""

import json
import os
import sys
import time
import traceback

LOCK_RETRY_SECONDS = 10
# A list the runner asked to come back to within this delay (imports in flight) is run at once, as the cron
# would after that delay; a list scheduled later than that is reported as not due.
MAX_WAIT_SECONDS = 5 * 60


def _idle(env, binding):
    """Nothing left for the sync to do: no member pending or exporting, no import in flight, no change."""
    env.invalidate_all()
    list_id = binding.mailing_list_id.id
    busy = env["esp.list.member"].search_count([("list_id", "=", list_id), ("state", "in", ("pending", "exporting"))])
    posted = env["esp.import.batch"].search_count([("list_id", "=", list_id), ("state", "=", "posted")])
    return not busy and not posted and not binding._esp_change_mark() and not binding.odoo_changes_pending


def _run(registry, command):
    """Runs of one list, each in a cursor of its own, as each cron job gets (an empty ORM cache)."""
    from odoo import SUPERUSER_ID, api, fields

    from odoo.addons.campaign_esp_connector.sync.runner import ListSyncRunner

    runs = []
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while len([run for run in runs if not run.get("skipped")]) < command.get("max_runs", 1):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env = env(context=env["res.users"].context_get())  # as the cron's user: its language
            binding = env["esp.address.book"].browse(command["binding_id"])
            runner = ListSyncRunner(env, trigger="cron")
            due = binding in runner.due_bindings()
            waited = None
            if not due and binding.sync_state not in ("rejected", "guard") and binding.next_sync_datetime:
                # Come back shortly (imports in flight): let that time pass rather than wait for it.
                waited = (binding.next_sync_datetime - fields.Datetime.now()).total_seconds()
                if waited <= MAX_WAIT_SECONDS:
                    binding.next_sync_datetime = False
                    cr.commit()
                    due = binding in runner.due_bindings()
            env.invalidate_all()
            logs = runner.run(binding)
            cr.commit()
            if not logs:
                # The killed worker's database session may not be gone yet: it still holds the account lock.
                runs.append({"due": due, "waited": waited, "skipped": True})
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
                continue
            runs.append({"due": due, "waited": waited, "state": logs[-1].state, "message": logs[-1].message or ""})
            if command.get("until_idle") and logs[-1].state == "done" and _idle(env, binding):
                break
    return {"runs": runs}


def _run_campaigns(registry, command):
    """Runs of the campaign crons, each in a cursor of its own."""
    return _run_jobs(registry, {"jobs": ["esp.sync.job.campaign.send", "esp.sync.job.campaign.follow"],
                                **command})


def _run_jobs(registry, command):
    """Runs of job kinds as their crons run them (``_esp_job_cron``), each in a cursor of its own; ``runs``
    gives the units each kind worked on."""
    from odoo import SUPERUSER_ID, api

    runs = []
    for _run in range(command.get("max_runs", 1)):
        for name in command["jobs"]:
            with registry.cursor() as cr:
                worked = api.Environment(cr, SUPERUSER_ID, {})[name]._esp_job_cron()
                cr.commit()
                runs.append({"job": name, "worked": [unit.id for unit in worked]})
    return {"runs": runs}


def _run_activity(registry, command):
    """Runs of the activity cron (with ``context``: small pages, a page limit), each in a cursor of its own,
    until its round is finished or ``max_runs``; ``runs`` says for each whether it finished the round."""
    from odoo import SUPERUSER_ID, api

    runs = []
    for _run in range(command.get("max_runs", 1)):
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, command.get("context") or {})
            env["mailing.mailing"]._cron_esp_sync_activity()
            cr.commit()
            finished = not env["esp.campaign"].search_count([("activity_queued", "=", True)])
        runs.append({"finished": finished})
        if finished:
            break
    return {"runs": runs}


def _fork(registry, command):
    import odoo

    from odoo.addons.campaign_esp_connector.sync.common import CRASH_AT_ENV

    odoo.sql_db.close_all()  # the child opens its own connections; none may be shared with it
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        os.close(read_end)
        os.dup2(2, 1)  # anything printed goes to stderr: stdout is the protocol
        try:
            if command.get("crash_at"):
                os.environ[CRASH_AT_ENV] = command["crash_at"]
            else:
                os.environ.pop(CRASH_AT_ENV, None)
            run = (_run_campaigns if command.get("campaigns") else _run_jobs if command.get("jobs")
                   else _run_activity if command.get("activity") else _run)
            outcome = run(registry, command)
        except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
            outcome = {"error": traceback.format_exc()}
        with os.fdopen(write_end, "w") as pipe:
            pipe.write(json.dumps(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    _pid, status = os.waitpid(pid, 0)
    return {
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "result": json.loads(data) if data else None,
    }


def main(argv):
    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(argv)
    dbname = config["db_name"]
    if isinstance(dbname, list | tuple):
        dbname = dbname[0]
    registry = Registry(dbname)
    odoo.sql_db.close_all()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_fork(registry, json.loads(line))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
