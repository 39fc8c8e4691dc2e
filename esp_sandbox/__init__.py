"""Sandbox ESP: dotdigital's v2 REST API on loopback, for tests and demos of the connector.

``python -m esp_sandbox`` serves it; ``esp_sandbox.testing.SandboxServer`` runs it inside a test process;
``esp_sandbox.testing.SandboxControl`` drives a sandbox running anywhere through its /sandbox/ routes.
"""

from .app import SandboxApp, create_app
from .config import SandboxConfig

__all__ = ["SandboxApp", "SandboxConfig", "create_app"]
