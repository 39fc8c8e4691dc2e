from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import EspCommon


@tagged("campaign_esp_connector", "esp_settings")
class TestEspSettings(EspCommon):
    def test_defaults(self):
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.esp_contact_sync_interval, 4)
        self.assertEqual(settings.esp_statistics_sync_interval, 30)
        self.assertEqual(settings.esp_guard_threshold, 5)
        self.assertTrue(settings.esp_blacklist_suppressed)

    def test_settings_round_trip(self):
        self.env["res.config.settings"].create(
            {
                "esp_contact_sync_interval": 7,
                "esp_statistics_sync_interval": 45,
                "esp_guard_threshold": 10,
                "esp_blacklist_suppressed": False,
            }
        ).execute()
        icp = self.env["ir.config_parameter"].sudo()
        self.assertEqual(icp.get_param("campaign_esp_connector.contact_sync_interval"), "7")
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.esp_contact_sync_interval, 7)
        self.assertEqual(settings.esp_statistics_sync_interval, 45)
        self.assertEqual(self.env.ref("campaign_esp_connector.ir_cron_esp_sync_statistics").interval_number, 45)
        self.assertEqual(settings.esp_guard_threshold, 10)
        self.assertFalse(settings.esp_blacklist_suppressed)

    def test_invalid_interval_refused(self):
        with self.assertRaises(ValidationError):
            self.env["res.config.settings"].create({"esp_contact_sync_interval": 0})
