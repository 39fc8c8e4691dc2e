"""Provider code -> implementing class, imported only when first used (like libcloud's ``get_driver``).

The Odoo model's ``provider`` selection is built from :func:`provider_selection`, so adding an ESP means one
line here and one module next to this file.
"""

import importlib
from collections import namedtuple

ProviderEntry = namedtuple("ProviderEntry", "module class_name label")

# Modules are relative to this package: the add-on imports it as ``...providers`` and the plain-pytest suite
# loads it as a top-level package, so absolute names would break one of the two.
PROVIDERS = {
    "dotdigital": ProviderEntry(".dotdigital", "DotdigitalProvider", "dotdigital"),
    "campaign_master": ProviderEntry(".campaign_master", "CampaignMasterProvider", "Campaign Master"),
}


def provider_selection():
    """Selection list for the Odoo ``provider`` field, e.g. ``[('dotdigital', 'dotdigital')]``."""
    return [(code, entry.label) for code, entry in PROVIDERS.items()]


def get_provider_class(code):
    """Import and return the provider class registered under ``code``.

    :param code: provider code, e.g. ``"dotdigital"``
    :raise KeyError: unknown code
    """
    try:
        entry = PROVIDERS[code]
    except KeyError:
        raise KeyError(f"Unknown ESP provider {code!r}; known: {', '.join(sorted(PROVIDERS))}") from None
    module = importlib.import_module(entry.module, package=__package__)
    return getattr(module, entry.class_name)


def get_provider(code, **options):
    """Instantiate the provider registered under ``code`` with its keyword options (credentials, URL …)."""
    return get_provider_class(code)(**options)
