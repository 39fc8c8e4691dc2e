from . import esp_account, res_config_settings
