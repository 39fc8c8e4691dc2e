from . import esp_catalogue_mixin  # before the models inheriting it
from . import esp_account
from . import esp_address_book
from . import esp_campaign
from . import esp_data_field
from . import esp_field_mapping
from . import esp_from_address
from . import esp_import_batch
from . import esp_list_change
from . import esp_list_member
from . import esp_mailing_activity
from . import esp_rate_budget
from . import esp_sync_log
from . import esp_sync_log_line
from . import esp_template
from . import link_tracker
from . import mail_blacklist
from . import mailing_contact
from . import mailing_list
from . import mailing_mailing
from . import mailing_mailing_recipients  # after mailing_mailing: its overrides wrap those
from . import mailing_subscription
from . import res_config_settings
from . import utm_campaign
