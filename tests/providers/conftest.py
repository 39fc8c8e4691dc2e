"""Load ``campaign_esp_connector/providers`` as the top-level package ``esp_providers``.

Importing it through the add-on would run the add-on's ``__init__`` and import Odoo; the provider layer is
plain Python and is tested without it (which also proves it uses relative imports only).
"""

import importlib.util
import logging
import sys
from pathlib import Path

import pytest

PROVIDERS_DIR = Path(__file__).resolve().parents[2] / "campaign_esp_connector" / "providers"
PACKAGE = "esp_providers"


def _load_providers():
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, PROVIDERS_DIR / "__init__.py", submodule_search_locations=[str(PROVIDERS_DIR)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    return module


_load_providers()


@pytest.fixture
def debug_log(caplog):
    """Capture every record of every logger at DEBUG (urllib3's included) for secrecy assertions."""
    caplog.set_level(logging.DEBUG)
    return caplog


# ----------------------------------------------------------------------------------------------------------
# Sandbox access (the ``sandbox`` fixture itself comes from tests/conftest.py)
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def seed_books(sandbox):
    """Create address books straight in the sandbox store: seeding is not what the tests measure."""

    def seed(count, prefix="Book"):
        store = sandbox.app.store
        with store.lock:
            for index in range(count):
                store.create_book(f"{prefix} {index:05d}", "Private")

    return seed


@pytest.fixture
def api_calls(sandbox):
    """``api_calls()`` lists the v2 calls the sandbox served since the last reset or ``clear_log()``."""
    return lambda: [entry for entry in sandbox.requests_log() if entry["path"].startswith("/v2/")]
