from . import test_esp_account, test_esp_account_sync, test_res_config_settings
from . import test_list_sync, test_list_sync_views
from . import test_esp_field_mapping
from . import test_esp_connect_wizard
