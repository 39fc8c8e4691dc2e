from . import esp_connect_wizard
