"""ESP provider layer: plain Python, no Odoo import.

Only relative imports are used here so the package also loads on its own (the plain-pytest suite imports it
as a top-level package without importing the add-on).
"""

from . import records
from .base import CAPABILITY_GROUPS, Capability, EspProvider
from .exceptions import (
    AlreadyExists,
    AuthenticationError,
    BookNotFound,
    ConfigurationError,
    Conflict,
    EspConnectionError,
    EspError,
    InvalidContent,
    InvalidResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReadOnly,
    ServerError,
    ValidationError,
    error_for,
)
from .ratebudget import LocalRateBudget, RateBudget
from .registry import PROVIDERS, get_provider, get_provider_class, provider_selection
from .transport import CallStats, HttpTransport, check_base_url
