"""API call counting with several workers: two crons using one account at the same moment both count and
both finish (a shared counter row made the second fail its whole run with "could not serialize access").

Workers need committed data, which a TransactionCase's own transaction never is: this class commits an
account through cursors of its own and deletes it afterwards.
"""

import uuid

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase

from .common import SandboxServer


class TestEspAccountUsage(TransactionCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = SandboxServer().start()
        cls.addClassCleanup(cls.sandbox.stop)
        cr = cls.registry.cursor()
        try:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cls.account_id = env["esp.account"].create({
                "name": f"Usage test {uuid.uuid4().hex[:8]}",
                "provider": "dotdigital",
                "api_endpoint": cls.sandbox.url,
                "api_user": cls.sandbox.api_user,
                "api_password": cls.sandbox.api_password,
            }).id
            cr.commit()
        finally:
            cr.close()
        cls.addClassCleanup(cls._delete_account)

    @classmethod
    def _delete_account(cls):
        with cls.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["esp.account"].browse(cls.account_id).unlink()

    def test_two_workers_count_calls_on_one_account_at_once(self):
        cr_one, cr_two = self.registry.cursor(), self.registry.cursor()
        try:
            one = api.Environment(cr_one, SUPERUSER_ID, {})["esp.account"].browse(self.account_id)
            two = api.Environment(cr_two, SUPERUSER_ID, {})["esp.account"].browse(self.account_id)
            before = one.api_calls_today  # both transactions hold their snapshot from here on
            self.assertEqual(two.api_calls_today, before)
            with one._esp_client() as client:
                client.test_connection()
            cr_one.commit()
            with two._esp_client() as client:  # recorded after the other worker committed its count
                client.test_connection()
                client.test_connection()
            cr_two.commit()
        finally:
            cr_one.close()
            cr_two.close()
        with self.registry.cursor() as cr:
            account = api.Environment(cr, SUPERUSER_ID, {})["esp.account"].browse(self.account_id)
            calls = len([entry for entry in self.sandbox.requests_log() if entry["path"].startswith("/v2/")])
            self.assertEqual(account.api_calls_today, before + calls)
            self.assertTrue(account.detected_endpoint)
