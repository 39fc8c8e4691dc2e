"""Campaign Master provider (SOAP). Operations no public client shows are in :mod:`.assumed`."""

from .provider import CampaignMasterProvider

__all__ = ["CampaignMasterProvider"]
