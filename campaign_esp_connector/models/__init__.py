from . import esp_catalogue_mixin  # before the models inheriting it
from . import esp_account
from . import esp_address_book
from . import esp_data_field
from . import esp_from_address
from . import esp_template
from . import res_config_settings
