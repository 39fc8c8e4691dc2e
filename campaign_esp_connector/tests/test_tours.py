"""Browser tours: the product used as a person uses it, in headless Chromium against a real Odoo HTTP server.

Each tour is a ``web_tour`` tour in ``static/tests/tours/``. What a cron would do between two clicks (a sync
run, the ESP finishing a send) is done here between two tours, exactly as the cron does it, so every button,
view and dialog on the way is the real one.
"""

import logging
import shutil
import unittest
from urllib.parse import quote

from odoo.tests import HttpCase, tagged

from .common import EspSandboxCommon

_logger = logging.getLogger(__name__)

CHROMIUM_HINT = (
    "browser tours skipped: Chromium was not found (install it, e.g. `apt-get install chromium`, "
    "or put google-chrome / chromium on PATH)"
)


def _chromium_found():
    return any(shutil.which(name) for name in ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable"))


class EspTourCase(HttpCase, EspSandboxCommon):
    """A sandbox ESP and an HTTP server for the browser; skipped with a hint where Chromium is missing."""

    @classmethod
    def setUpClass(cls):
        if not _chromium_found():
            _logger.warning(CHROMIUM_HINT)
            raise unittest.SkipTest(CHROMIUM_HINT)
        super().setUpClass()

    def _start_tour(self, tour, login, url="/odoo", timeout=120):
        cookies = {
            "esp_tour_sandbox_url": quote(self.sandbox.url, safe=""),
            "esp_tour_sandbox_user": quote(self.sandbox.api_user, safe=""),
            "esp_tour_sandbox_password": quote(self.sandbox.api_password, safe=""),
        }
        self.start_tour(url, tour, login=login, cookies=cookies, timeout=timeout)
        self.env.invalidate_all()


@tagged("post_install", "-at_install", "esp_tours")
class TestEspTours(EspTourCase):

    def test_account_wrong_password_then_fixed(self):
        """An admin creates an account with a wrong password, sees the error, fixes it and is connected."""
        self._start_tour("campaign_esp_connector_account_tour", login="admin")
        account = self.env["esp.account"].search([("name", "=", "Tour dotdigital")])
        self.assertEqual(account.state, "connected")
