{
    "name": "Email Marketing ESP Connector: queue_job scale-out",
    "summary": "Run the ESP connector's jobs (list sync, campaign sends, statistics) as OCA queue jobs, one channel "
               "per ESP provider",
    "version": "18.0.1.0.0",
    "category": "Marketing/Email Marketing",
    "website": "https://github.com/campaign-esp-connector/campaign_esp_connector",
    "author": "campaign_esp_connector developers",
    "license": "LGPL-3",
    "depends": ["campaign_esp_connector", "queue_job"],
    "data": [
        "data/queue_job_channel_data.xml",
        "data/queue_job_function_data.xml",
    ],
    "installable": True,
    "application": False,
    "auto_install": False,
}
