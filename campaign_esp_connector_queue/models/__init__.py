from . import esp_account
from . import esp_sync_job
from . import queue_job
