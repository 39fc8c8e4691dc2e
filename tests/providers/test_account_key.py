"""What identifies the remote account, whatever API user logs in: one remote account is one Odoo account."""

from esp_providers.campaign_master import CampaignMasterProvider
from esp_providers.dotdigital import DotdigitalProvider


def test_two_api_users_of_one_dotdigital_account_have_one_key(sandbox):
    keys = set()
    for user, password in ((sandbox.api_user, sandbox.api_password), ("second@apiconnector.com", "second-password")):
        with DotdigitalProvider(user, password, sandbox.url) as client:
            info = client.test_connection()
            keys.add(DotdigitalProvider.account_key(info.account_id, info.endpoint))
    assert keys == {"424242"}


def test_two_users_of_one_campaign_master_client_have_one_key(sandbox):
    keys = set()
    for user, password in ((sandbox.api_user, sandbox.api_password), ("second@apiconnector.com", "second-password")):
        with CampaignMasterProvider(client_id=1000, username=user, password=password,
                                    base_url=f"{sandbox.url}/campaignmaster", timeout=10) as client:
            info = client.test_connection()
            keys.add(CampaignMasterProvider.account_key(info.account_id, info.endpoint))
    host = sandbox.url.split("://", 1)[1]
    assert keys == {f"{host}/1000"}
    # Client IDs are only unique within one service.
    assert CampaignMasterProvider.account_key(1000, "https://api1.campaignmaster.com.au") != keys.pop()
    assert CampaignMasterProvider.account_key(None, "https://api1.campaignmaster.com.au") is None
