{
    "name": "Email Marketing ESP Connector",
    "summary": "Sync mailing lists, campaigns and statistics with an external Email Service Provider (dotdigital)",
    "version": "18.0.1.0.0",
    "category": "Marketing/Email Marketing",
    "website": "https://github.com/campaign-esp-connector/campaign_esp_connector",
    "author": "campaign_esp_connector developers",
    "license": "LGPL-3",
    "depends": ["mass_mailing"],
    "external_dependencies": {
        "python": ["requests", "phonenumbers"],
    },
    "data": [
        "security/campaign_esp_connector_groups.xml",
        "security/ir.model.access.csv",
        "security/campaign_esp_connector_security.xml",
        "data/ir_config_parameter_data.xml",
        "data/ir_cron_data.xml",
        "views/esp_account_views.xml",
        "views/esp_catalogue_views.xml",
        "views/res_config_settings_views.xml",
        "views/campaign_esp_connector_menus.xml",
    ],
    "demo": [
        "demo/esp_account_demo.xml",
    ],
    "installable": True,
    "application": False,
}
