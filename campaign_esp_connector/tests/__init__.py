from . import test_esp_account, test_res_config_settings
