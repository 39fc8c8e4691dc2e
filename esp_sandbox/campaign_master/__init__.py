"""Campaign Master's SOAP services (``CAMPAIGN_MASTER.md``) on the sandbox's port, from the same simulated world
as the dotdigital API: the same contacts, books, data fields, campaigns, sends, events, clock and imports.

``soap`` speaks SOAP 1.1 and writes WSDLs from declarations; ``world`` maps Campaign Master's objects onto the
store; ``service`` and ``jobs`` are the two services; ``assumed`` holds every assumed operation, field and
behaviour; ``endpoint`` plugs them into ``SandboxApp``.
"""

from .endpoint import CampaignMaster

__all__ = ["CampaignMaster"]
