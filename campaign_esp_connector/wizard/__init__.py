from . import esp_connect_wizard
from . import esp_engagement_list_wizard
from . import mailing_mailing_test
from . import esp_connect_filter_wizard
