# Every test module, so that odoo-bin --test-enable runs the same tests as pytest (scripts/test).
from . import test_esp_account, test_esp_account_sync, test_esp_account_usage, test_res_config_settings
from . import test_list_sync, test_list_sync_views, test_sync_engine, test_sync_crash, test_sync_properties
from . import test_list_sync_book_missing, test_list_sync_optin
from . import test_list_sync_v3
from . import test_esp_field_mapping
from . import test_esp_connect_wizard
from . import test_esp_mailing_contact, test_safety_nets
from . import test_esp_campaign, test_esp_statistics, test_campaign_master, test_campaign_jobs_crash, test_job_workers
from . import test_esp_activity_resume, test_activity_crash
from . import test_esp_schedule
from . import test_esp_clicks_bounces
from . import test_demo_seed
from . import test_esp_content
from . import test_esp_recipients
from . import test_esp_ab_testing
from . import test_campaign_master_evidenced
from . import test_esp_audience
from . import test_esp_mailing_audience
from . import test_esp_audience_fields
from . import test_esp_audience_create
from . import test_list_sync_bulk_paths
from . import test_list_sync_consent
from . import test_esp_ui_words
from . import test_esp_mailing_words
from . import test_esp_account_words
from . import test_esp_leads
from . import test_esp_optout_clock
from . import test_tours
