from . import test_esp_account, test_esp_account_sync, test_res_config_settings
