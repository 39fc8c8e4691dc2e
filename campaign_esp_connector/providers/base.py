"""The interface every ESP provider implements.

Models talk to an :class:`EspProvider` only, read :attr:`EspProvider.capabilities` to show or hide buttons,
and catch :class:`~.exceptions.EspError`. Operations a provider cannot do raise ``NotImplementedError``.
"""

import functools

from . import records
from .records import ProviderLimits


class Capability:
    """Names of optional features; a provider lists those it supports in ``capabilities``."""

    BULK_IMPORT = "bulk_import"  # file-based contact import into a list
    TEST_SEND = "test_send"  # send a proof of a campaign to a few addresses without real reporting
    SCHEDULING = "scheduling"  # send a campaign at a later date
    CAMPAIGN_CREATION = "campaign_creation"  # create/update campaigns through the API
    CONTACT_ACTIVITY = "contact_activity"  # per-contact opens/clicks/bounces for a campaign
    WEBHOOKS = "webhooks"  # the provider pushes events (no polling needed)
    DATA_FIELDS = "data_fields"  # custom contact fields can be listed/created/deleted
    TEMPLATES = "templates"
    FROM_ADDRESSES = "from_addresses"  # account-specific list of allowed sender addresses
    LIST_CHANGE_FEED = "list_change_feed"  # contacts modified / unsubscribed since a date, per list
    SUPPRESSION_FEED = "suppression_feed"  # account-wide suppressions since a date
    BOOK_LISTING = "book_listing"  # every contact of a list, page by page (removals made at the ESP show there)
    RESUBSCRIBE = "resubscribe"
    REGION_DETECTION = "region_detection"  # the API endpoint is discovered from the account
    BOOK_REMOVAL = "book_removal"  # contacts can be removed from a list through the API
    CONTACT_BATCH = "contact_batch"  # many contacts read by email in one call (their ESP ids, for removals)
    DATA_FIELD_CREATION = "data_field_creation"  # contact fields can be created (and deleted) through the API
    CAMPAIGN_IMPORT = "campaign_import"  # campaigns sent to a list can be listed per list
    CLICK_URLS = "click_urls"  # each click names the link clicked (per-link figures, Odoo's link trackers)
    # A campaign of several versions sent to a test share of its lists; the provider picks the winning version
    # by a metric after a test period and sends it to the rest, and reports each version's result.
    SPLIT_TEST = "split_test"

    ALL = (
        BULK_IMPORT,
        TEST_SEND,
        SCHEDULING,
        CAMPAIGN_CREATION,
        CONTACT_ACTIVITY,
        WEBHOOKS,
        DATA_FIELDS,
        TEMPLATES,
        FROM_ADDRESSES,
        LIST_CHANGE_FEED,
        SUPPRESSION_FEED,
        BOOK_LISTING,
        RESUBSCRIBE,
        REGION_DETECTION,
        BOOK_REMOVAL,
        CONTACT_BATCH,
        DATA_FIELD_CREATION,
        CAMPAIGN_IMPORT,
        CLICK_URLS,
        SPLIT_TEST,
    )


# Capability groups: what a provider offers as a whole. Engines and views ask for a group (``lists``,
# ``campaigns``, ``reports``); a provider lacking one of its capabilities lacks the group.
CAPABILITY_GROUPS = {
    "lists": (Capability.BULK_IMPORT, Capability.LIST_CHANGE_FEED),
    "suppressions": (Capability.SUPPRESSION_FEED,),
    "campaigns": (Capability.CAMPAIGN_CREATION,),
    "reports": (Capability.CONTACT_ACTIVITY,),
}


class _class_or_instance:
    """A method callable on the class or on an instance, given whichever it was called on."""

    def __init__(self, func):
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, instance, owner):
        return functools.partial(self.func, owner if instance is None else instance)


def _capabilities_of(target):
    return target.capabilities if isinstance(target, type) else target.offered_capabilities()


class EspProvider:
    """Base class of ESP clients. One instance holds one account's configuration and connection pool.

    Subclasses set ``code``, ``label``, ``default_base_url`` and ``capabilities``, and implement the
    operations they support. Every ``iter_*`` method is a generator of :mod:`.records` dataclasses.
    """

    code = None
    label = None
    default_base_url = None
    capabilities = frozenset()
    limits = ProviderLimits()
    # Summary figures (attributes of records.CampaignSummary) the provider does not report, which engines
    # count from the per-recipient activity instead.
    derived_summary_figures = frozenset({"unique_forwards", "views", "no_activity"})
    # Results that carry first and last click dates, so no clicks feed is read (``CampaignActivity``).
    click_dates_in_activity = False
    # What the provider's contact statuses mean (``records.STATUS_*``; the add-on says them in people's words, a
    # status missing here is shown as the provider spells it), and those a re-subscribe can never lift (hard
    # bounces, complaints, suppressions).
    status_kinds = {}
    statuses_never_resubscribed = frozenset()
    # The login needs the account's client id besides user and password (the account's ``api_client_id``).
    requires_client_id = False
    # A campaign needs a description besides its subject (the mailing's "Campaign Description").
    campaign_requires_description = False
    # The provider applies an ESP template to the campaign itself (the engine sends no template HTML).
    templates_applied_by_provider = False
    # The list is not part of the campaign: it is given when the campaign is sent.
    list_chosen_at_send = False
    # The provider's regions (``records.REGION_*``), by the code ``test_connection`` names (``AccountInfo.region``); ``{}``:
    # the provider has no regions, and its endpoint is shown instead (an endpoint's host is no region).
    regions = {}
    # Contact fields every account has, mapped to Odoo's contact fields when an account is first connected.
    default_field_mappings = ()
    # What a new data field's name must match (``DATA_FIELD_CREATION``), checked before any call so a person
    # hears of a bad name at once; ``None`` when the provider states no rule.
    data_field_name_re = None
    data_field_name_max_length = None
    # The name the provider's personalization gives the contact's email address (it is no data field at
    # dotdigital), for :meth:`personalization_tag`; ``None`` when the provider has none.
    personalization_email_field = None
    # The CSV column of an import that carries the Odoo contact's id, for a provider that matches contacts by it
    # (an email changed in Odoo then updates the same remote contact); ``None``: contacts are matched by email.
    record_identity_column = None
    # The CSV columns of an import that carry a subscription's consent record (text, when, URL, IP address, user
    # agent, in that order), for a provider that stores consent; ``()``: consent is not sent.
    record_consent_columns = ()
    # The CSV column of an import that asks the ESP to confirm a new subscriber by email before it is subscribed
    # (double opt-in run by the ESP); ``None``: the provider does not run double opt-in.
    record_optin_column = None

    @classmethod
    def personalization_tag(cls, field):
        """The text the ESP replaces, in a campaign's subject and body, with each recipient's value of the data
        field ``field`` (or of :attr:`personalization_email_field`), or ``None`` when the provider has no known
        personalization syntax: the engine then refuses a mailing with placeholders rather than sending them
        as they are."""
        return None

    @classmethod
    def account_key(cls, account_id, endpoint):
        """What identifies the remote account whatever API user logs in to it, from what ``test_connection``
        returned (``AccountInfo.account_id`` and ``.endpoint``): two logins with one key reach the same books
        and campaigns. ``None`` when the provider named no account.

        By default the provider's account id, which is unique across the provider (dotdigital's
        ``account-info`` ``id``: all API users of one account share it, whatever the region).
        """
        return None if account_id is None else str(account_id)

    @_class_or_instance
    def supports(target, capability):
        """True if the provider implements ``capability`` (a :class:`Capability` name): on the class, what every
        account of the provider offers; on a client, what its account offers (:meth:`offered_capabilities`)."""
        return capability in _capabilities_of(target)

    @_class_or_instance
    def supports_group(target, group):
        """True if the provider offers the whole capability group ``group`` (a key of ``CAPABILITY_GROUPS``)."""
        offered = _capabilities_of(target)
        return all(capability in offered for capability in CAPABILITY_GROUPS[group])

    def offered_capabilities(self):
        """The capabilities of this client's account; providers whose accounts differ (Campaign Master reads
        its service's description) override this."""
        return self.capabilities

    def close(self):
        """Release network resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ------------------------------------------------------------------------------------------------------
    # Account
    # ------------------------------------------------------------------------------------------------------

    def test_connection(self):
        """Check credentials and return :class:`~.records.AccountInfo`."""
        raise NotImplementedError

    def detect_contacts_api(self):
        """``(contacts API, contact identifier)`` this client's account may use, for providers with more than one
        (dotdigital's v2 and v3); ``(None, None)`` for the others."""
        return None, None

    def server_time(self):
        """Return the provider's current time (aware UTC datetime), for clock-safe watermarks."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------------
    # Lists
    # ------------------------------------------------------------------------------------------------------

    def iter_address_books(self):
        raise NotImplementedError

    def get_address_book(self, book_id):
        raise NotImplementedError

    def create_address_book(self, name, visibility="Private"):
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------------
    # Data fields, templates, senders
    # ------------------------------------------------------------------------------------------------------

    def iter_data_fields(self):
        raise NotImplementedError

    def create_data_field(self, name, type="String", visibility="Private", default=None):
        raise NotImplementedError

    def delete_data_field(self, name):
        raise NotImplementedError

    def iter_templates(self):
        raise NotImplementedError

    def iter_from_addresses(self):
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------------
    # Contact sync
    # ------------------------------------------------------------------------------------------------------

    def start_import(self, book_id, csv_fileobj, filename="contacts.csv"):
        raise NotImplementedError

    def get_import(self, import_id):
        raise NotImplementedError

    def iter_import_faults(self, import_id):
        raise NotImplementedError

    def iter_book_contacts_modified_since(self, book_id, since, with_full_data=True):
        raise NotImplementedError

    def iter_book_unsubscribed_since(self, book_id, since):
        raise NotImplementedError

    def book_contacts_page(self, book_id, skip=0):
        """One page of the contacts of a list, without data fields: ``(contacts, next_skip)``, ``next_skip``
        being ``None`` after the last page. One call per page, so a caller can stop between pages and resume at
        ``next_skip`` later; a contact may come twice."""
        raise NotImplementedError

    def iter_suppressed_since(self, since):
        raise NotImplementedError

    def remove_contacts_from_book(self, book_id, contact_ids):
        raise NotImplementedError

    def get_contact_consents(self, email):
        """The consent records the ESP holds for the contact with this email (:class:`~.records.ConsentRecord`,
        oldest first); ``None`` when there is no such contact. One call.

        :raise NotImplementedError: the provider keeps no consent records
        """
        raise NotImplementedError

    def get_contact(self, email):
        raise NotImplementedError

    def get_contacts(self, emails):
        """``{email (lower case): Contact}`` of the account's contacts among ``emails`` (capability
        ``CONTACT_BATCH``); emails the ESP does not hold are left out."""
        raise NotImplementedError

    def unsubscribe_from_book(self, book_id, email):
        raise NotImplementedError

    def resubscribe(self, email, book_id=None):
        raise NotImplementedError

    # -- campaigns (capability group ``campaigns``) ------------------------------------------------------------

    def create_campaign(self, content):
        raise NotImplementedError

    def update_campaign(self, campaign_id, content):
        raise NotImplementedError

    def get_campaign(self, campaign_id):
        raise NotImplementedError

    def iter_campaigns(self):
        raise NotImplementedError

    def find_campaign(self, marker):
        """The campaign whose name carries ``marker`` (the engine's mark of a mailing), or ``None``: how a
        campaign whose creation answer was lost is found again. Providers with a lookup by external id
        override this listing of every campaign."""
        return next((campaign for campaign in self.iter_campaigns() if marker in campaign.name), None)

    def test_send_campaign(self, campaign_id, addresses):
        """Send a proof of the campaign to ``addresses`` (capability ``TEST_SEND``)."""
        raise NotImplementedError

    def iter_book_campaigns(self, book_id):
        raise NotImplementedError

    def send_campaign(self, campaign_id, book_ids=(), contact_ids=(), send_date=None):
        raise NotImplementedError

    def get_send(self, send_id):
        raise NotImplementedError

    def find_send(self, campaign_id, send_date=None):
        """The send of this campaign the ESP holds, or ``None``: how the engine tells, after a send's answer was
        lost (timeout, dropped connection, a worker killed after the POST), whether the ESP has it.

        The send found may have no ``id`` (the lost answer carried it); the engine then follows the send by
        the campaign's state. This default reads the campaign: one the ESP is sending or has sent has its send.
        """
        campaign = self.get_campaign(campaign_id)
        state = {records.CAMPAIGN_SENDING: records.SEND_SENDING, records.CAMPAIGN_SENT: records.SEND_SENT}.get(
            campaign.state)
        if state is None:
            return None
        return records.CampaignSend(id="", campaign_id=int(campaign_id), status=campaign.status, state=state)

    def upsert_contact(self, email):
        raise NotImplementedError

    def delete_campaign(self, campaign_id):
        """Delete an unsent campaign; one already gone is no error."""
        raise NotImplementedError

    # -- split tests (capability ``SPLIT_TEST``) -----------------------------------------------------------------

    def create_split_test(self, name, versions):
        """Create a split test campaign named ``name`` of ``versions`` (two at least, each shaped as the content
        of :meth:`create_campaign`, in order); returns its :class:`~.records.Campaign`. Not idempotent, like
        :meth:`create_campaign`; a split test cannot be updated: delete it and create it again."""
        raise NotImplementedError

    def send_split_test(self, campaign_id, book_ids, metric, percentage, period_hours, send_date=None):
        """Send (or schedule) a split test to lists: its versions go to ``percentage`` % of the recipients, then
        after ``period_hours`` the version with the best ``metric`` (``records.SPLIT_METRIC_*``) to the rest.
        Returns the :class:`~.records.CampaignSend`, followed like any send."""
        raise NotImplementedError

    def get_split_test_results(self, campaign_id):
        """The versions' results and the winner once picked: :class:`~.records.SplitTestResults`."""
        raise NotImplementedError

    # -- reports (capability group ``reports``) -----------------------------------------------------------------

    def iter_campaigns_with_activity_since(self, since):
        raise NotImplementedError

    def get_campaign_summary(self, campaign_id):
        raise NotImplementedError

    def campaign_activities_page(self, campaign_id, since, skip=0, anchor=None):
        """One page of :meth:`iter_campaign_activities_since`: ``(rows, next_skip, next_anchor)``, ``next_skip``
        being ``None`` after the last page. One call per page (more when the feed shifted), so the activity job
        can commit between pages and resume at ``next_skip`` with ``anchor=next_anchor`` (an opaque string, or
        ``None``, telling the provider where the previous page ended) in a later run; a row may come twice. This
        default reads the whole feed as one page (no resume inside a campaign) for providers that only stream
        it."""
        return list(self.iter_campaign_activities_since(campaign_id, since)), None, None

    def campaign_clicks_page(self, campaign_id, since, skip=0, anchor=None):
        """One page of :meth:`iter_campaign_clicks_since`, as :meth:`campaign_activities_page`."""
        return list(self.iter_campaign_clicks_since(campaign_id, since)), None, None
