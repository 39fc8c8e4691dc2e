"""What the crash tests share: real worker processes (``crash_worker.py``) killed with SIGKILL at a commit point,
and a test class that works on committed rows of the test database through cursors of its own.

A worker needs committed data, which a TransactionCase's own transaction never is. So these classes leave their
transaction untouched and commit what they prepare through cursors of their own; everything they commit is
deleted afterwards, failure or not (and leftovers of an interrupted run first).
"""

import json
import os
import select
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase
from odoo.tools import config

from .common import SandboxServer

WORKER = Path(__file__).with_name("crash_worker.py")
DOMAIN = "crash.example.com"
ACCOUNT_PREFIX = "Crash test sandbox"
BOOK_CHECK_PARAM = "campaign_esp_connector.book_check_hours"
WORKER_TIMEOUT = 120  # seconds for the worker to load the registry, or to answer one command
# Crons whose triggers the crash tests queue (deleted with what they committed).
CRONS = ("ir_cron_esp_sync_contacts", "ir_cron_esp_send_campaigns", "ir_cron_esp_follow_campaigns",
         "ir_cron_esp_sync_statistics", "ir_cron_esp_sync_activity")


def _email(name):
    return f"{name}@{DOMAIN}"


class CrashWorker:
    """The crash_worker.py process: ``run(command)`` -> its answer (see that module)."""

    def __init__(self, dbname):
        args = [sys.executable, str(WORKER), "-d", dbname, "--log-level=warn", "--max-cron-threads=0",
                *os.environ.get("CRASH_WORKER_ARGS", "").split()]
        for key, option in (("db_host", "--db_host"), ("db_port", "--db_port"), ("db_user", "--db_user"),
                            ("db_password", "--db_password"), ("addons_path", "--addons-path"),
                            ("data_dir", "--data-dir")):
            if config.get(key):
                args.append(f"{option}={config[key]}")
        env = {key: value for key, value in os.environ.items() if key != "CAMPAIGN_ESP_CONNECTOR_CRASH_AT"}
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready = self._answer()
        if not ready.get("ready"):
            raise RuntimeError(f"crash worker did not start: {ready}")

    def _answer(self):
        readable, _w, _x = select.select([self.process.stdout], [], [], WORKER_TIMEOUT)
        line = self.process.stdout.readline() if readable else ""
        if not line:
            self.stop()
            raise RuntimeError(f"crash worker gave no answer (exit code {self.process.poll()})")
        return json.loads(line)

    def run(self, **command):
        self.send(**command)
        return self.answer()

    def send(self, **command):
        """Start a command without waiting for its answer (two workers racing: send to both, then answer)."""
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self):
        return self._answer()

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()



@contextmanager
def committed(registry):
    """An environment on a cursor of its own, committed on leaving the block unless it raised (a test's own
    transaction stays untouched; workers in other processes see what it committed)."""
    cr = registry.cursor()
    try:
        yield api.Environment(cr, SUPERUSER_ID, {})
        cr.commit()
    finally:
        cr.close()


class CommittedSandboxCase(TransactionCase):
    """A sandbox served by this process, one committed ESP account pointing at it, and a crash worker."""

    maxDiff = None
    sandbox_settings = {}  # as EspSandboxCommon's

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dbname = cls.env.cr.dbname
        cls._cleanup(accounts=True)  # leftovers of an interrupted run
        cls.sandbox = SandboxServer(**cls.sandbox_settings).start()
        cls.addClassCleanup(cls.sandbox.stop)
        cls.addClassCleanup(cls._cleanup, accounts=True)
        with cls._committed() as env:
            account = env["esp.account"].create({
                "name": f"{ACCOUNT_PREFIX} {uuid.uuid4().hex[:8]}",
                "provider": "dotdigital",
                "api_endpoint": cls.sandbox.url,
                "api_user": cls.sandbox.api_user,
                "api_password": cls.sandbox.api_password,
            })
            cls.account_id = account.id
        cls.worker = CrashWorker(cls.dbname)
        cls.addClassCleanup(cls.worker.stop)

    @classmethod
    def _committed(cls):
        """A cursor of its own, committed on leaving the block (the test's transaction stays untouched)."""
        return committed(cls.registry)

    @classmethod
    def _cleanup(cls, accounts=False):
        """Delete what the crash tests committed: lists, contacts and blacklist entries of their domain, the
        books of their account (and the account itself at the end), cron triggers they queued."""
        with cls._committed() as env:
            env = env(context={"active_test": False})
            account_ids = env["esp.account"].search([("name", "=like", f"{ACCOUNT_PREFIX}%")]).ids
            lists = env["mailing.list"].search([("esp_account_id", "in", account_ids)])
            lists |= env["mailing.list"].search([("name", "=like", "Crash test %")])
            env["mailing.mailing"].search([("subject", "=like", "Crash test%")]).unlink()
            env["esp.campaign"].search([("account_id", "in", account_ids)]).unlink()
            lists.action_esp_disconnect()
            lists.unlink()
            env["mailing.contact"].search([("email", "=like", f"%@{DOMAIN}")]).unlink()
            env["mail.blacklist"].search([("email", "=like", f"%@{DOMAIN}")]).unlink()
            env["esp.address.book"].search([("account_id", "in", account_ids)]).unlink()
            env["ir.config_parameter"].search([("key", "=", BOOK_CHECK_PARAM)]).unlink()
            if accounts:
                env["esp.account"].browse(account_ids).unlink()
                for xmlid in CRONS:
                    cron = env.ref(f"campaign_esp_connector.{xmlid}", raise_if_not_found=False)
                    if cron:
                        env.cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])

    def _api(self, method, path, **kwargs):
        return requests.request(method, f"{self.sandbox.url}/v2/{path}", timeout=10,
                                auth=(self.sandbox.api_user, self.sandbox.api_password), **kwargs)



class TwoWorkersCase(CommittedSandboxCase):
    """With a second worker process, for two workers racing on the same work."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_worker = CrashWorker(cls.dbname)
        cls.addClassCleanup(cls.other_worker.stop)
