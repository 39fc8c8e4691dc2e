"""Operator settings of the sandbox ESP.

Everything a test or a demo may want to vary lives here, so one object describes a running sandbox. The
control surface (``PUT /sandbox/config``) updates the same fields at run time.
"""

import dataclasses
import hmac

DEFAULT_PORT = 8899
DEFAULT_API_USER = "demo@apiconnector.com"
DEFAULT_API_PASSWORD = "demo-password"
# A second API user of the same account: dotdigital gives an account several API users (Settings > Access >
# API users), and Campaign Master several users of one client ID; they all reach the same books and campaigns.
DEFAULT_EXTRA_API_USERS = {"second@apiconnector.com": "second-password"}
DEFAULT_CM_CLIENT_ID = 1000
# The recorded Login answered MinutesTillTokenExpires 480.
DEFAULT_CM_TOKEN_MINUTES = 480

# Per-recipient probabilities of a send. Opens, clicks and forwards are conditional on delivery (and clicks
# and forwards on an open), which keeps the figures plausible whatever the operator sets.
DEFAULT_ENGAGEMENT = {
    "hard_bounce": 0.02,
    "soft_bounce": 0.03,
    "open": 0.45,
    "click": 0.35,
    "forward": 0.05,
    "unsubscribe": 0.02,
    "complaint": 0.005,
    "max_opens": 4,
    "max_clicks": 3,
    # After a click on a web link, the recipient browses the site (site tracking's page views).
    "page_view": 0.6,
    "max_page_views": 3,
    # Engagement spreads over this many seconds after the send; events later than the sandbox clock stay
    # invisible until the clock is advanced.
    "window_seconds": 3600,
}

RATE_LIMIT_MODES = ("off", "flat", "tiered")
DEFAULT_RATE_LIMIT = {
    "mode": "off",
    # flat: calls per rolling hour for the whole account, the classic dotdigital default
    "calls_per_hour": 2000,
    # tiered: calls per minute for each tier
    "tiers": {"low": 60, "medium": 300, "high": 1200},
}


@dataclasses.dataclass
class SandboxConfig:
    """Settings of one sandbox instance.

    :param port: TCP port for ``python -m esp_sandbox``; 0 picks a free one (the test runner always does).
    :param seed: seed of the engagement simulation; the same seed and the same calls give the same figures.
    :param state_dir: directory of the SQLite file keeping data across restarts; None keeps it in memory.
    :param import_delay: seconds of sandbox clock an import stays ``NotFinished``; with 0 it finishes when
        the next request arrives (the POST itself always answers ``NotFinished``).
    :param public_url: base URL announced in account-info's ``ApiEndpoint`` (and in the Campaign Master WSDLs'
        addresses); the server fills it in once it knows its port.
    :param cm_client_id: the client ID Campaign Master's ``Login`` takes (with ``api_user`` and
        ``api_password``).
    :param cm_token_minutes: minutes of sandbox clock a Campaign Master login token lasts.
    :param account_id: the account's id (``GET /v2/account-info``): two sandboxes with different ids are two
        accounts, as two dotdigital accounts are.
    :param extra_api_users: more API users of the same account, ``{user: password}``: each sees the very
        account ``api_user`` sees (its id, books, contacts and campaigns).
    :param cm_member_case: the casing of Campaign Master's member names: ``wire-inferred`` (``TokenString``,
        the most probable form on the wire) or ``as-recorded`` (``tokenString``, as the 2010 client shows them).
    :param cm_extended: serve the operations and members no public evidence shows (lists, templates, from
        addresses, campaign create/update/test/send, list membership: ``campaign_master/assumed.py``); off, the
        services offer only what the evidence shows.
    :param v3_contacts: the API user may call the v3 Contacts and Configuration APIs; off (the default, so the
        suites, the demo and the benchmarks keep the v2 contact calls they measure unless they ask for v3), they
        answer 403, as for an API user or account without v3 access.
    :param custom_identifiers: the account's custom contact identifiers (Configuration v3), e.g. ``["odooId"]``;
        a new account has none.
    :param optin_expiry_days: days of sandbox clock a contact created ``pendingOptIn`` (a ``verifiedDouble``
        import) waits for its confirmation; then it expires to ``NotAllowed`` (v3: ``noSubscription``). 0 never.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    api_user: str = DEFAULT_API_USER
    api_password: str = DEFAULT_API_PASSWORD
    seed: int = 42
    state_dir: str | None = None
    import_delay: float = 0.0
    public_url: str = ""
    cm_client_id: int = DEFAULT_CM_CLIENT_ID
    cm_token_minutes: int = DEFAULT_CM_TOKEN_MINUTES
    account_id: int = 424242
    extra_api_users: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_EXTRA_API_USERS))
    cm_member_case: str = "wire-inferred"
    cm_extended: bool = False
    v3_contacts: bool = False
    custom_identifiers: list = dataclasses.field(default_factory=list)
    optin_expiry_days: float = 0.0
    engagement: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_ENGAGEMENT))
    rate_limit: dict = dataclasses.field(
        default_factory=lambda: {**DEFAULT_RATE_LIMIT, "tiers": dict(DEFAULT_RATE_LIMIT["tiers"])}
    )

    def public(self):
        """The settings as JSON for the control surface, without the password."""
        data = dataclasses.asdict(self)
        data.pop("api_password")
        data["extra_api_users"] = sorted(self.extra_api_users)
        return data

    def api_users(self):
        """Every API user of the account, ``{user: password}``."""
        return {**self.extra_api_users, self.api_user: self.api_password}

    def check_login(self, user, password):
        """Whether ``user`` and ``password`` are one of the account's API users (compared in constant time)."""
        found = False
        for known_user, known_password in self.api_users().items():
            user_ok = hmac.compare_digest((user or "").encode(), known_user.encode())
            password_ok = hmac.compare_digest((password or "").encode(), known_password.encode())
            found |= user_ok and password_ok
        return found
