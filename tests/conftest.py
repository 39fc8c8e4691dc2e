"""Shared fixtures: one in-process sandbox ESP per test run, reset before each test that uses it."""

import pytest
import requests

from esp_sandbox.testing import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server():
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    """The running sandbox, freshly reset: seeded account, no faults, empty request log."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture
def api(sandbox):
    """A requests session with the sandbox's API credentials; ``api.v2(path)`` builds full URLs."""
    session = requests.Session()
    session.auth = (sandbox.api_user, sandbox.api_password)
    session.v2 = lambda path: f"{sandbox.url}/v2/{path.lstrip('/')}"
    yield session
    session.close()
