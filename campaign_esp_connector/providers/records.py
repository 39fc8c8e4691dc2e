"""Neutral records returned by providers.

Callers see these small frozen dataclasses, never a provider's JSON, so a second ESP can return the same
shapes. Provider-specific wording (a dotdigital status name) is kept in ``status`` for display, and the
neutral meaning is given by a property or a ``state`` field.
"""

from dataclasses import dataclass, field
from datetime import datetime

# Import outcome, neutral: the cron only needs to know whether to poll again, read faults, or alert.
IMPORT_PENDING = "pending"
IMPORT_DONE = "done"
IMPORT_FAILED = "failed"
# The provider refused the file as a whole for a reason a person must look at (dotdigital's watchdog suspects
# the list was not collected with consent): never sent again automatically.
IMPORT_REJECTED = "rejected"

# Why an import refused one row, neutral: ``invalid`` rows are wrong (fix and retry), ``suppressed`` addresses
# must not be mailed at all (the provider holds them unsubscribed, bounced or complained).
FAULT_INVALID = "invalid"
FAULT_SUPPRESSED = "suppressed"
# The ESP refused the row for now and was set right meanwhile (an identity attached): the row goes out again.
FAULT_RETRY = "retry"

# Resubscription outcome, neutral.
RESUBSCRIBE_ADDED = "added"
RESUBSCRIBE_CHALLENGED = "challenged"
RESUBSCRIBE_REFUSED = "refused"
RESUBSCRIBE_UNKNOWN = "unknown"

# What a contact's status at the ESP means, neutral: each provider maps its own status names to these
# (``EspProvider.status_kinds``), and the add-on says them in people's words, translated.
STATUS_SUBSCRIBED = "subscribed"
STATUS_UNSUBSCRIBED = "unsubscribed"
STATUS_SOFT_BOUNCE = "soft_bounce"
STATUS_HARD_BOUNCE = "hard_bounce"
STATUS_SPAM_REPORT = "spam_report"  # the recipient's mailbox provider reported the email as spam
STATUS_COMPLAINT = "complaint"  # the recipient complained to the sender directly
STATUS_MAIL_BLOCKED = "mail_blocked"
STATUS_PENDING_OPTIN = "pending_optin"
STATUS_SUPPRESSED = "suppressed"
STATUS_SHARED_SUPPRESSION = "shared_suppression"
STATUS_DOMAIN_SUPPRESSION = "domain_suppression"
STATUS_NO_MAIL_SERVER = "no_mail_server"
STATUS_NOT_ALLOWED = "not_allowed"
STATUS_DELETED = "deleted"
STATUS_INACTIVE = "inactive"  # the ESP tells no more than "not active" (unsubscribed, bounced or complained)
# The kinds that mean the recipient complained (the recipients' Complained filters look for them).
COMPLAINT_KINDS = frozenset({STATUS_SPAM_REPORT, STATUS_COMPLAINT})

# Where an ESP keeps an account (``EspProvider.regions`` maps its codes to these; the add-on says them in words).
REGION_EUROPE = "europe"
REGION_NORTH_AMERICA = "north_america"
REGION_ASIA_PACIFIC = "asia_pacific"


@dataclass(frozen=True)
class AccountInfo:
    """Who we are connected as, and where the account's API lives."""

    account_id: int | None
    endpoint: str
    region: str | None
    main_email: str | None
    locale: str | None = None


@dataclass(frozen=True)
class AddressBook:
    """A remote list. ``is_system`` marks lists the provider owns ('Test', 'All Contacts'): never sync them."""

    id: int
    name: str
    visibility: str | None = None
    contact_count: int | None = None
    is_system: bool = False


@dataclass(frozen=True)
class DataField:
    """A contact field defined in the account (``type`` is String, Numeric, Date or Boolean)."""

    name: str
    type: str | None = None
    visibility: str | None = None
    default: object = None


@dataclass(frozen=True)
class DataFieldDeletion:
    """Outcome of a data field deletion; ``dependencies`` lists (type, object id) pairs that block it."""

    name: str
    deleted: bool
    dependencies: tuple = ()


@dataclass(frozen=True)
class Template:
    """Template metadata only; content is left on the provider to keep records small."""

    id: int
    name: str
    subject: str | None = None
    from_name: str | None = None


@dataclass(frozen=True)
class FromAddress:
    """A sender address the account may use."""

    id: int
    email: str


@dataclass(frozen=True)
class ImportJob:
    """A bulk contact import; ``state`` is one of ``pending``, ``done``, ``failed``, ``rejected``."""

    id: str
    status: str
    state: str

    @property
    def is_finished(self):
        return self.state != IMPORT_PENDING


@dataclass(frozen=True)
class ImportFault:
    """One row the provider refused during an import; ``row`` holds the other uploaded columns."""

    reason: str
    email: str | None
    row: dict = field(default_factory=dict)
    kind: str = FAULT_INVALID


@dataclass(frozen=True)
class Contact:
    """A remote contact; ``data_fields`` maps field name to value (only with full data)."""

    id: int | None
    email: str
    status: str | None = None
    opt_in_type: str | None = None
    email_type: str | None = None
    data_fields: dict = field(default_factory=dict)
    sendable: bool = True


@dataclass(frozen=True)
class ConsentRecord:
    """A marketing consent the ESP holds for a contact (text shown, when, where, from which IP and browser);
    ``created_at`` is when the ESP recorded it."""

    text: str
    consented_at: str
    url: str
    ip_address: str
    user_agent: str
    created_at: str | None = None


@dataclass(frozen=True)
class Suppression:
    """A contact removed from a list or from the whole account, with when and why."""

    contact_id: int | None
    email: str | None
    reason: str | None
    removed_at: datetime | None


@dataclass(frozen=True)
class ContactRemoval:
    """One background removal job (a chunk of contact ids) started on the provider."""

    id: str | None
    status: str | None
    contact_count: int


@dataclass(frozen=True)
class ResubscribeOutcome:
    """Outcome of a resubscription: ``state`` is added, challenged (a confirmation email went out), refused."""

    email: str
    state: str
    status: str | None = None
    contact_id: int | None = None


@dataclass(frozen=True)
class ProviderLimits:
    """What the provider allows, declared by the provider so engines hard-code none of it.

    :param imports_in_flight: bulk imports an account may have unfinished at once
    :param rows_per_import: largest number of rows one import file should carry
    :param feed_epoch: the date a change feed is read from the first time (feeds need a date)
    :param feed_overlap_seconds: how far before the last watermark a feed is read again (feed dates are coarse)
    :param ids_per_removal: contact ids one removal call takes
    :param max_import_polls: status checks after which an import still unfinished is given up
    :param sync_interval_minutes: the provider's own cadence for lists that are up to date (``None``: the
        contact cron's interval)
    :param published_rate: ``(calls, window_seconds)`` the provider documents for a whole account, used as the
        account's rate budget until the ESP's ``X-RateLimit-*`` headers describe its real budgets (``None``: no
        published limit)
    :param stats_settle_hours: after a send, how long a campaign's summary is read on every statistics run,
        whatever the activity feed lists (dotdigital documents its feed as "activity (e.g. clicks, opens)":
        bounces, complaints and unsubscribes may not put a campaign in it)
    """

    imports_in_flight: int = 25
    rows_per_import: int = 25000
    feed_epoch: datetime = datetime(1971, 1, 1)
    feed_overlap_seconds: int = 300
    ids_per_removal: int = 1000
    max_import_polls: int = 30
    stats_settle_hours: int = 48
    sync_interval_minutes: int | None = None
    published_rate: tuple | None = None


# Campaign state, neutral: what an engine needs to know of a remote campaign.
CAMPAIGN_DRAFT = "draft"  # may still be changed and sent
CAMPAIGN_SENDING = "sending"
CAMPAIGN_SENT = "sent"  # read-only at the provider
CAMPAIGN_CANCELLED = "cancelled"
CAMPAIGN_WAITING = "waiting"  # held by the provider (approval, paused)

# Send state, neutral.
SEND_SCHEDULED = "scheduled"
SEND_SENDING = "sending"
SEND_SENT = "sent"
SEND_CANCELLED = "cancelled"
SEND_FAILED = "failed"


@dataclass(frozen=True)
class Campaign:
    """A campaign at the provider; ``state`` is one of the ``CAMPAIGN_*`` values, ``status`` its own word."""

    id: int
    name: str
    subject: str | None
    status: str
    state: str
    from_name: str | None = None
    html: str | None = None
    plain_text: str | None = None
    url: str | None = None

    @property
    def is_read_only(self):
        return self.state in (CAMPAIGN_SENDING, CAMPAIGN_SENT, CAMPAIGN_CANCELLED)


@dataclass(frozen=True)
class CampaignSend:
    """One send of a campaign; ``state`` is one of the ``SEND_*`` values."""

    id: str
    campaign_id: int
    status: str
    state: str
    send_date: datetime | None = None

    @property
    def is_finished(self):
        return self.state in (SEND_SENT, SEND_CANCELLED, SEND_FAILED)


# Split test metrics, neutral: what decides the winning version.
SPLIT_METRIC_OPENS = "opens"
SPLIT_METRIC_CLICKS = "clicks"
SPLIT_METRIC_ROI = "roi"


@dataclass(frozen=True)
class SplitTestVersion:
    """One version of a split test and its result: ``result`` recipients counted by the metric, ``percentage``
    their share of the version's recipients; ``label`` is the provider's name of the version (A, B, ...)."""

    index: int
    label: str
    subject: str | None = None
    winning: bool = False
    result: float = 0.0
    percentage: float = 0.0


@dataclass(frozen=True)
class SplitTestResults:
    """A split test's versions, in the order they were given, and the metric that judges them (``None``: not
    sent yet, or a metric the provider has no neutral name for)."""

    campaign_id: int
    metric: str | None
    versions: tuple = ()

    @property
    def winner(self):
        """The index of the winning version, ``None`` until the provider picked one."""
        return next((version.index for version in self.versions if version.winning), None)


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign's totals as the provider reports them (``open_rate``: the provider's own, in %, or None)."""

    campaign_id: int
    sent: int = 0
    delivered: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    opens: int = 0
    unique_opens: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    forwards: int = 0
    open_rate: float | None = None
    date_sent: datetime | None = None
    # None: the provider does not report the figure (see ``EspProvider.derived_summary_figures``).
    unique_forwards: int | None = None
    views: int | None = None
    no_activity: int | None = None


@dataclass(frozen=True)
class CampaignActivity:
    """One recipient's activity on a campaign, cumulative as of the answer."""

    contact_id: int | None
    email: str
    opens: int = 0
    clicks: int = 0
    forwards: int = 0
    sent_at: datetime | None = None
    first_open_at: datetime | None = None
    last_open_at: datetime | None = None
    unsubscribed: bool = False
    soft_bounced: bool = False
    hard_bounced: bool = False
    # Providers whose results carry click dates (``click_dates_in_activity``) fill these.
    first_click_at: datetime | None = None
    last_click_at: datetime | None = None


@dataclass(frozen=True)
class CampaignClick:
    contact_id: int | None
    email: str
    url: str | None
    clicked_at: datetime | None
