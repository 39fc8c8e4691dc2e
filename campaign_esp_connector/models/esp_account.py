import logging
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import psycopg2.errors

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import clean_context, format_list

from .. import providers
from ..sync.common import is_testing
from ..sync.words import region_words

# Errors only a person can fix: they put the account in error (its lists stop until a new test succeeds).
NEEDS_PERSON = (providers.AuthenticationError, providers.PermissionDenied, providers.ConfigurationError)

_logger = logging.getLogger(__name__)

# Credentials and endpoint define which remote account we talk to: changing any of them voids the last test.
CONNECTION_FIELDS = ("provider", "api_endpoint", "api_client_id", "api_user", "api_password")

READ_TIMEOUT = 121  # seconds; dotdigital's documented worst case for one call

def _utc_today():
    return datetime.now(timezone.utc).date()


DEFAULT_ENDPOINTS = {
    "dotdigital": "https://r1-api.dotdigital.com",
    "campaign_master": "https://api1.campaignmaster.com.au",
}


class EspAccount(models.Model):
    """An administrator's connection to one account at an external Email Service Provider."""

    _name = "esp.account"
    _description = "ESP Account"
    _inherit = ["mail.thread"]
    _order = "sequence, name, id"
    _check_company_auto = True

    # ------------------------------------------------------------
    # FIELDS
    # ------------------------------------------------------------

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", string="Company", required=True, index=True, default=lambda self: self.env.company
    )
    provider = fields.Selection(
        selection="_selection_provider", string="Provider", required=True, default="dotdigital", tracking=True
    )
    api_endpoint = fields.Char(
        string="API Endpoint",
        required=True,
        tracking=True,
        default=DEFAULT_ENDPOINTS["dotdigital"],
        help="Base URL the provider starts from. For dotdigital the region's own endpoint is detected from it; "
             "for Campaign Master it is the service root before /v1.1/.",
    )
    api_client_id = fields.Char(
        string="Client ID", tracking=True,
        help="Campaign Master's numeric client ID, with the user name and password its login needs (the API key "
             "is no longer needed).")
    api_user = fields.Char(string="API User", required=True, tracking=True)
    # Never tracked, copied, exported to other groups or shown in messages: only ESP managers read or write it.
    api_password = fields.Char(
        string="API Password", copy=False, groups="campaign_esp_connector.campaign_esp_connector_group_manager"
    )
    state = fields.Selection(
        [("not_tested", "Not Tested"), ("connected", "Connected"), ("error", "Error")],
        string="Status",
        default="not_tested",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
    )
    last_error = fields.Text(string="Last Error", readonly=True, copy=False)
    # What the ESP told us about the account at the last successful test.
    detected_endpoint = fields.Char(
        string="Regional Endpoint", readonly=True, copy=False, help="API base the ESP assigned to this account."
    )
    region = fields.Char(string="Region Code", readonly=True, copy=False)
    region_label = fields.Char(string="Region", compute="_compute_region_label")
    support_regions = fields.Boolean(compute="_compute_support_fields")
    remote_account_ref = fields.Char(string="ESP Account ID", readonly=True, copy=False)
    # Which remote account the credentials reach (the provider's ``account_key``): one remote account is one Odoo
    # account, whatever API user each would log in with (see _esp_same_remote_accounts).
    remote_account_key = fields.Char(string="ESP Account Key", readonly=True, copy=False, index="btree_not_null")
    main_email = fields.Char(string="ESP Main Email", readonly=True, copy=False)
    # dotdigital: the contacts API the API user may use, found out by Test Connection (v3 where allowed), and the
    # custom identifier that matches contacts by their Odoo id when the account has one.
    contacts_api = fields.Selection(
        [("v2", "v2"), ("v3", "v3 (contacts), v2 (lists, campaigns, reports)")], string="Contacts API",
        readonly=True, copy=False,
        help="Which dotdigital API the contact sync uses: Test Connection chooses v3 when the API user may use it.")
    contact_identifier = fields.Char(
        string="Contact Identifier", readonly=True, copy=False,
        help="The ESP's custom identifier holding the Odoo contact's id: contacts are matched by it, so an email "
             "changed in Odoo updates the same ESP contact. Empty: contacts are matched by email.")
    catalogue_sync_datetime = fields.Datetime(string="Last Synchronization", readonly=True, copy=False)
    # API usage: one row per operation in esp_account_api_call (see _esp_record_usage), not per call.
    api_calls_today = fields.Integer(string="API Calls Today", compute="_compute_api_calls_today",
                                     help="Calls made since midnight UTC (the ESPs count their allowances in UTC).")
    last_throttle_datetime = fields.Datetime(string="Last Throttled", readonly=True, copy=False)
    rate_budget_ids = fields.One2many("esp.rate.budget", "account_id", string="API Rate Budget", readonly=True)
    rate_capacity = fields.Integer(
        string="Lists Synced at Once", compute="_compute_rate_capacity",
        help="How many of this account's lists the connector's workers sync at the same time, from the account's "
             "scarcest API budget (about 10 calls a minute each).")
    # ESP clock minus Odoo's, measured when a sync run reads the ESP's time: an Odoo re-subscription is dated on
    # the ESP's clock with it, so that it compares with the ESP's own opt-out dates (see mailing.subscription).
    clock_offset = fields.Float(string="ESP Clock Offset (s)", readonly=True, copy=False, digits=(16, 3))
    address_book_ids = fields.One2many("esp.address.book", "account_id", string="Address Books")
    data_field_ids = fields.One2many("esp.data.field", "account_id", string="Data Fields")
    template_ids = fields.One2many("esp.template", "account_id", string="Templates")
    from_address_ids = fields.One2many("esp.from.address", "account_id", string="From Addresses")
    field_mapping_ids = fields.One2many("esp.field.mapping", "account_id", string="Field Mapping")
    mailing_list_ids = fields.One2many("mailing.list", "esp_account_id", string="Connected Lists")
    # What the provider can do, read by views to hide what it cannot (as payment.provider's support_* fields).
    # An account whose service says what it offers (Campaign Master's WSDL) keeps that, read at each test.
    offered_capabilities = fields.Char(readonly=True, copy=False)
    support_list_sync = fields.Boolean(string="List Sync", compute="_compute_support_fields")
    stats_watermark = fields.Datetime(
        string="Statistics Read Until", readonly=True, copy=False,
        help="The ESP's time of the last complete refresh of campaign statistics.",
    )
    support_campaigns = fields.Boolean(string="Campaigns", compute="_compute_support_fields",
                                       search="_search_support_campaigns")
    support_reports = fields.Boolean(string="Campaign Reports", compute="_compute_support_fields")
    support_click_urls = fields.Boolean(
        string="Clicks per Link", compute="_compute_support_fields",
        help="The ESP reports which link each click was on: the mailings' link trackers count them. Without it "
             "(Campaign Master), clicks are known per recipient only.")
    support_resubscribe = fields.Boolean(string="Re-subscribe", compute="_compute_support_fields")
    support_test_send = fields.Boolean(
        string="Native Test Sends", compute="_compute_support_fields",
        help="The ESP's API sends a proof of a campaign. Without it (dotdigital v2), Test still works: the proof is "
             "a small campaign of its own to the test addresses, visible in the ESP's reporting.")
    support_client_id = fields.Boolean(compute="_compute_support_fields")
    support_book_removal = fields.Boolean(string="Removal From Lists", compute="_compute_support_fields")
    support_suppressions = fields.Boolean(string="Suppression Feed", compute="_compute_support_fields")
    support_data_field_creation = fields.Boolean(compute="_compute_support_fields")
    support_campaign_description = fields.Boolean(compute="_compute_support_fields")
    support_campaign_import = fields.Boolean(compute="_compute_support_fields")
    support_list_at_send = fields.Boolean(compute="_compute_support_fields")
    support_split_test = fields.Boolean(
        string="Split Tests", compute="_compute_support_fields",
        help="The ESP sends an A/B test itself: the versions to a test share of the lists, then the winner to the "
             "rest after the test period.")
    address_book_count = fields.Integer(compute="_compute_catalogue_counts")
    data_field_count = fields.Integer(compute="_compute_catalogue_counts")
    template_count = fields.Integer(compute="_compute_catalogue_counts")
    from_address_count = fields.Integer(compute="_compute_catalogue_counts")

    _sql_constraints = [
        (
            "name_company_uniq",
            "unique(name, company_id)",
            "An ESP account with this name already exists in this company.",
        ),
    ]

    def init(self):
        # Append-only API call counts (see _esp_record_usage): rows, so concurrent workers never write the same one.
        self.env.cr.execute("""
            CREATE TABLE IF NOT EXISTS esp_account_api_call (
                account_id integer NOT NULL REFERENCES esp_account(id) ON DELETE CASCADE,
                day date NOT NULL,
                calls integer NOT NULL
            );
            CREATE INDEX IF NOT EXISTS esp_account_api_call_account_day ON esp_account_api_call (account_id, day);
        """)

    # ------------------------------------------------------------
    # COMPUTES
    # ------------------------------------------------------------

    def _compute_rate_capacity(self):
        for account in self:
            account.rate_capacity = account._esp_rate_capacity() if account.id else 0

    def _esp_rate_capacity(self):
        """How many units of work (lists, campaigns) of this account may be worked on at once."""
        self.ensure_one()
        return self.env["esp.rate.budget"].sudo()._esp_capacity(self)

    def _compute_api_calls_today(self):
        # One day for every worker and user: crons and people in other time zones must not reset each other's.
        calls = {}
        if self.ids:
            self.env.cr.execute(
                "SELECT account_id, SUM(calls) FROM esp_account_api_call"
                " WHERE account_id = ANY(%s) AND day = %s GROUP BY account_id",
                [list(self.ids), _utc_today()],
            )
            calls = dict(self.env.cr.fetchall())
        for account in self:
            account.api_calls_today = calls.get(account.id, 0)

    @api.depends("provider", "offered_capabilities")
    def _compute_support_fields(self):
        for account in self:
            provider = account._esp_capabilities()
            account.support_list_sync = bool(provider and provider.supports_group("lists"))
            account.support_campaigns = bool(provider and provider.supports_group("campaigns"))
            account.support_reports = bool(provider and provider.supports_group("reports"))
            account.support_click_urls = bool(provider and provider.supports(providers.Capability.CLICK_URLS))
            account.support_resubscribe = bool(provider and provider.supports(providers.Capability.RESUBSCRIBE))
            account.support_test_send = bool(provider and provider.supports(providers.Capability.TEST_SEND))
            account.support_client_id = bool(provider and provider.requires_client_id)
            account.support_book_removal = bool(provider and provider.supports(providers.Capability.BOOK_REMOVAL))
            account.support_suppressions = bool(provider and provider.supports_group("suppressions"))
            account.support_data_field_creation = bool(
                provider and provider.supports(providers.Capability.DATA_FIELD_CREATION))
            account.support_campaign_description = bool(provider and provider.campaign_requires_description)
            account.support_campaign_import = bool(provider and provider.supports(providers.Capability.CAMPAIGN_IMPORT))
            account.support_list_at_send = bool(provider and provider.list_chosen_at_send)
            account.support_split_test = bool(provider and provider.supports(providers.Capability.SPLIT_TEST))
            account.support_regions = bool(provider and provider.regions)

    @api.depends("provider", "region", "detected_endpoint")
    def _compute_region_label(self):
        """The region in the provider's words ("Europe (r1)"); an endpoint outside the provider's regions (a
        sandbox, a proxy) is said to be so, with its host."""
        for account in self:
            regions = providers.get_provider_class(account.provider).regions if account.provider else {}
            name = regions.get((account.region or "").lower())
            if name:
                account.region_label = "%s (%s)" % (region_words(self.env, name), account.region.lower())
            elif account.detected_endpoint and regions:
                account.region_label = self.env._("No region of the ESP's: endpoint %(host)s",
                                                  host=urlsplit(account.detected_endpoint).netloc)
            else:
                account.region_label = False

    def _search_support_campaigns(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        positive = (operator == "=") == bool(value)
        accounts = self.with_context(active_test=False).search([]).filtered(
            lambda account: account.support_campaigns == positive)
        return [("id", "in", accounts.ids)]

    def _esp_capabilities(self):
        """The provider class, or, when the account's service told what it offers, the same with that account's
        capabilities (``supports``, ``supports_group`` and the provider's other attributes)."""
        provider = providers.get_provider_class(self.provider) if self.provider else None
        if provider is None or not self.offered_capabilities:
            return provider
        return type(provider.__name__, (provider,), {"capabilities": frozenset(self.offered_capabilities.split())})

    def _compute_catalogue_counts(self):
        for fname, model in (
            ("address_book_count", "esp.address.book"),
            ("data_field_count", "esp.data.field"),
            ("template_count", "esp.template"),
            ("from_address_count", "esp.from.address"),
        ):
            counts = dict(self.env[model]._read_group([("account_id", "in", self.ids)], ["account_id"], ["__count"]))
            for account in self:
                account[fname] = counts.get(account, 0)

    # ------------------------------------------------------------
    # SELECTIONS
    # ------------------------------------------------------------

    @api.model
    def _selection_provider(self):
        return providers.provider_selection()

    # ------------------------------------------------------------
    # ONCHANGE
    # ------------------------------------------------------------

    @api.onchange("provider")
    def _onchange_provider(self):
        if self.provider in DEFAULT_ENDPOINTS:
            self.api_endpoint = DEFAULT_ENDPOINTS[self.provider]

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def write(self, vals):
        if any(fname in vals for fname in CONNECTION_FIELDS) and "state" not in vals:
            vals = dict(vals, state="not_tested", last_error=False, detected_endpoint=False)
        reactivated = self.filtered(lambda account: not account.active) if vals.get("active") else self.browse()
        res = super().write(vals)
        # Activating a tested account brings its catalogue in, as the first successful test does.
        for account in reactivated.filtered(lambda account: account.state == "connected"):
            account._esp_run(account._sync_catalogue)
        return res

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        if default and "name" in default:
            return vals_list
        for account, vals in zip(self, vals_list, strict=False):
            vals["name"] = _("%(name)s (copy)", name=account.name)
        return vals_list

    # ------------------------------------------------------------
    # ACTIONS
    # ------------------------------------------------------------

    def action_test_connection(self):
        """Check the credentials, detect the region and, the first time, import the remote catalogue."""
        self.ensure_one()
        first_time = not self.catalogue_sync_datetime
        info = self._esp_run(self._test_connection)
        if not info:
            return self._notify(self.last_error, "danger", _("Connection failed"))
        if self.support_regions:
            message = _(
                "Connected to %(provider)s account %(account)s (region %(region)s, %(endpoint)s).",
                provider=self._get_provider_label(),
                account=info.account_id or "?",
                region=self.region_label,
                endpoint=info.endpoint,
            )
        else:
            message = _("Connected to %(provider)s account %(account)s (%(endpoint)s).",
                        provider=self._get_provider_label(), account=info.account_id or "?", endpoint=info.endpoint)
        if first_time and self.active:
            counts = self._esp_run(self._sync_catalogue)
            if counts is None:
                return self._notify(self.last_error, "warning", message)
            message = "%s %s" % (message, self._catalogue_summary(counts))
        return self._notify(message, "success", _("Connection test"))

    def action_synchronize(self):
        """Import the remote address books, data fields, templates and from-addresses now."""
        messages = []
        failed = False
        for account in self:
            counts = account._esp_run(account._sync_catalogue)
            if counts is None:
                failed = True
                messages.append("%s: %s" % (account.name, account.last_error))
            else:
                messages.append("%s: %s" % (account.name, account._catalogue_summary(counts)))
        return self._notify("\n".join(messages), "danger" if failed else "success", _("ESP synchronization"))

    def action_refresh_data_fields(self):
        """Read the account's data fields from the ESP again (one made there becomes mappable at once)."""
        return self._esp_refresh_data_fields()

    def action_view_address_books(self):
        return self._action_view_catalogue("esp.address.book", _("Address Books"))

    def action_view_data_fields(self):
        return self._action_view_catalogue("esp.data.field", _("Data Fields"))

    def action_view_templates(self):
        return self._action_view_catalogue("esp.template", _("Templates"))

    def action_view_from_addresses(self):
        return self._action_view_catalogue("esp.from.address", _("From Addresses"))

    def action_view_scheduled_actions(self):
        """The connector's crons (their intervals, Run Manually), for a system administrator without developer
        mode: Settings > Technical is shown only in developer mode."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(_("Only an administrator (Settings) may open the scheduled actions."))
        self.env.cr.execute(
            "SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND module = ANY(%s)",
            [["campaign_esp_connector", "campaign_esp_connector_queue"]],
        )
        cron_ids = [row[0] for row in self.env.cr.fetchall()]
        return {
            "type": "ir.actions.act_window",
            "name": _("ESP Scheduled Actions"),
            "res_model": "ir.cron",
            "view_mode": "list,form",
            "domain": [("id", "in", cron_ids)],
            "context": {"active_test": False},
        }

    def _action_view_catalogue(self, model, name):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": model,
            "view_mode": "list,form",
            "domain": [("account_id", "=", self.id)],
            "context": {"default_account_id": self.id},
        }

    # ------------------------------------------------------------
    # CRON
    # ------------------------------------------------------------

    @api.model
    def _cron_sync_catalogue(self):
        """Daily refresh of every connected account's catalogue (the catalogue job, ``sync/catalogue_job.py``);
        one failing account never stops the others, and an account whose lists are syncing is tried again in
        a few minutes."""
        self.env["esp.sync.job.catalogue"]._esp_job_cron()

    @api.model
    def _esp_purge_api_calls(self):
        """Only today's API call count is shown; a week of rows is plenty to look back on."""
        self.env.cr.execute("DELETE FROM esp_account_api_call WHERE day < %s", [_utc_today() - timedelta(days=7)])

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _test_connection(self, client):
        info = client.test_connection()
        key = providers.get_provider_class(self.provider).account_key(info.account_id, info.endpoint)
        refusal = self._esp_remote_account_refusal(key)
        if refusal:
            # Two Odoo accounts on one remote account would share its books and campaigns without knowing it
            # (one list's book offered to another, campaigns imported twice): the second one stays unconnected.
            _logger.warning("ESP account %s (id %s): refused, its remote account is already connected", self.name,
                            self.id)
            self.write({"state": "error", "last_error": refusal})
            return None
        offered = client.offered_capabilities()
        self.write({
            "remote_account_key": key or False,
            "offered_capabilities": " ".join(sorted(offered)) if offered != type(client).capabilities else False,
            "state": "connected",
            "last_error": False,
            "detected_endpoint": info.endpoint,
            # An ESP that names no region (Campaign Master, a sandbox) has none: its endpoint is shown instead.
            "region": info.region or False,
            "remote_account_ref": str(info.account_id) if info.account_id is not None else False,
            "main_email": info.main_email or False,
        })
        self._esp_detect_contacts_api(client)
        return info

    def _esp_detect_contacts_api(self, client):
        """Which contacts API the account's API user may use (dotdigital: v3 where allowed, else v2). A transient
        failure keeps what the last test found: the connection itself succeeded."""
        try:
            api, identifier = client.detect_contacts_api()
        except (providers.RateLimited, providers.EspConnectionError, providers.ServerError,
                providers.InvalidResponse):
            return
        if api and self.contacts_api and api != self.contacts_api:
            # A book check in progress resumes from a position only the API it started on understands.
            self.env["esp.address.book"].sudo().search(
                [("account_id", "=", self.id), ("book_check_started", "!=", False)]
            ).write({"book_check_started": False, "book_check_skip": 0, "book_check_position": False})
        self.write({"contacts_api": api or False, "contact_identifier": (api == "v3" and identifier) or False})

    def _esp_same_remote_accounts(self, key=None):
        """The other Odoo accounts (of any company, archived ones included) on this account's remote account.

        :param key: the remote account's key (``EspProvider.account_key``); by default the one the last
            successful test stored
        :return: ``esp.account`` records, sudo: callers name them only to people who may see them
        """
        self.ensure_one()
        key = key or self.remote_account_key
        if not key:
            return self.browse().sudo()
        return self.sudo().with_context(active_test=False).search(
            [("provider", "=", self.provider), ("remote_account_key", "=", key), ("id", "!=", self.id)], order="id")

    @api.model
    def _esp_disable_same_remote_accounts(self):
        """Databases from before one remote account was one Odoo account (the 18.0.1.5.0 migration): store each
        tested account's remote account key, keep the first active Odoo account of each remote account and archive
        the others, in error, saying why in their chatter and the kept one's. Nothing is deleted: their lists stay
        connected to their books (and stop synchronizing), their campaigns keep their figures.

        :return: the accounts archived
        """
        accounts = self.sudo().with_context(active_test=False).search([("remote_account_ref", "!=", False)], order="id")
        for account in accounts.filtered(lambda account: not account.remote_account_key):
            account.remote_account_key = providers.get_provider_class(account.provider).account_key(
                account.remote_account_ref, account.detected_endpoint or account.api_endpoint)
        kept, disabled = {}, self.sudo().browse()
        for account in accounts.filtered("active"):
            first = kept.setdefault((account.provider, account.remote_account_key), account)
            if first == account:
                continue
            lists = account.mailing_list_ids
            message = _(
                "This ESP account reaches the same %(provider)s account (%(remote)s) as “%(first)s” (id %(id)s), which "
                "is kept: one %(provider)s account is one ESP account in Odoo. This one is archived and stopped; "
                "nothing was deleted. Its connected lists (%(lists)s) keep their address books but no longer "
                "synchronize: connect them again through “%(first)s”.",
                provider=account._get_provider_label(), remote=account.remote_account_key, first=first.name,
                id=first.id, lists=format_list(self.env, lists.mapped("name")) or _("none"))
            account.write({"active": False, "state": "error", "last_error": message})
            account.message_post(body=message)
            first.message_post(body=_(
                "The ESP account “%(other)s” (id %(id)s) reached the same %(provider)s account and was archived: "
                "see its chatter. Its lists: %(lists)s.", other=account.name, id=account.id,
                provider=account._get_provider_label(),
                lists=format_list(self.env, lists.mapped("name")) or _("none")))
            _logger.warning("ESP account %s (id %s) archived: same remote account %s as account %s", account.name,
                            account.id, account.remote_account_key, first.id)
            disabled |= account
        for first in kept.values():
            first._esp_archive_phantom_mailings()
        return disabled

    def _esp_archive_phantom_mailings(self):
        """Mailings "made in the ESP" that are copies: a campaign of this remote account imported again through
        another Odoo account on it (Odoo's own send, or an ESP campaign imported twice). Archived, with the reason
        in their chatter; the original stays.

        :return: the mailings archived
        """
        self.ensure_one()
        accounts = self | self._esp_same_remote_accounts()
        campaigns = self.env["esp.campaign"].sudo().with_context(active_test=False).search(
            [("account_id", "in", accounts.ids), ("remote_id", "!=", False)], order="id")
        originals = {}
        # Odoo's own campaigns first: they are the originals of any copy "made in the ESP".
        for campaign in campaigns.sorted(lambda campaign: (campaign.made_in_esp, campaign.id)):
            originals.setdefault(campaign.remote_id, campaign)
        Mailing = self.env["mailing.mailing"].sudo()
        phantoms = Mailing
        for campaign in campaigns.filtered("made_in_esp"):
            original = originals[campaign.remote_id]
            if original == campaign or not campaign.mailing_id.active:
                continue
            campaign.mailing_id.write({"active": False})
            campaign.mailing_id.message_post(body=_(
                "Archived: the ESP campaign %(remote)s is the mailing “%(original)s” (id %(id)s), imported again "
                "through another ESP account on the same remote account.", remote=campaign.remote_id,
                original=original.mailing_id.subject, id=original.mailing_id.id))
            phantoms |= campaign.mailing_id
        if phantoms:
            _logger.warning("ESP account %s: %s mailings imported twice archived: %s", self.id, len(phantoms),
                            phantoms.ids)
        return phantoms

    def _esp_remote_account_refusal(self, key):
        """Why this account may not connect to the remote account ``key``, or False.

        An active Odoo account already on it refuses it; an archived one does not (archiving an account is how
        it is replaced), though its campaigns and connected books still count (see
        ``_esp_same_remote_accounts``).
        """
        self.ensure_one()
        other = self._esp_same_remote_accounts(key).filtered("active")[:1]
        if not other:
            return False
        provider = self._get_provider_label()
        if other.company_id in self.env.user.company_ids:
            return _(
                "This API user reaches the %(provider)s account %(remote)s, which the ESP account “%(account)s” "
                "(company %(company)s) already connects. One %(provider)s account is one ESP account in Odoo: two "
                "would share its address books and campaigns without knowing it. Use “%(account)s” (it may have "
                "another API user of the same account), or archive it first to replace it.",
                provider=provider, remote=key, account=other.name, company=other.company_id.name)
        # Another company's account: say that it exists, not what it is called or whose it is.
        return _(
            "This API user reaches the %(provider)s account %(remote)s, which an ESP account of another company "
            "already connects in this database. One %(provider)s account is one ESP account in Odoo: ask an "
            "administrator of that company, or use another %(provider)s account.",
            provider=provider, remote=key)

    def _sync_catalogue(self, client):
        """Mirror the ESP's address books, data fields, templates and from-addresses.

        :param client: provider client of this account
        :return: dict model name -> counts dict (created, updated, archived)
        """
        self.ensure_one()
        counts = {
            "esp.address.book": self.env["esp.address.book"]._esp_import(self, client.iter_address_books()),
            "esp.data.field": self.env["esp.data.field"]._esp_import(self, client.iter_data_fields()),
            "esp.template": self.env["esp.template"]._esp_import(self, client.iter_templates()),
            "esp.from.address": self.env["esp.from.address"]._esp_import(self, client.iter_from_addresses()),
        }
        self.env["esp.field.mapping"]._esp_create_defaults(self)
        self.write({"catalogue_sync_datetime": fields.Datetime.now(), "state": "connected", "last_error": False})
        return counts

    def _esp_record_clock(self, server_now):
        """Keep the offset between the ESP's clock and Odoo's, just read as ``server_now`` (naive UTC).

        Written only when it moved by a second or more: a clock that drifts slowly costs no write per run.
        """
        self.ensure_one()
        offset = (server_now - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds()
        if abs(offset - self.clock_offset) >= 1:
            # In SQL: bookkeeping, not an edit of the account (no write date, no tracking, no state reset).
            try:
                with self.env.cr.savepoint(flush=False):
                    self.env.cr.execute("UPDATE esp_account SET clock_offset = %s WHERE id = %s", [offset, self.id])
            except (psycopg2.errors.SerializationFailure, psycopg2.errors.LockNotAvailable):
                # Another worker syncing a list of this account measured and wrote it meanwhile: theirs is as
                # good, and this run must not fail on it.
                _logger.info("ESP account %s: clock offset written by another worker meanwhile", self.id)
            self.invalidate_recordset(["clock_offset"])

    def _esp_call(self, operation):
        """Run ``operation(client)`` for a user action: ESP failures become a translated ``UserError``."""
        self.ensure_one()
        try:
            with self._esp_client() as client:
                return operation(client)
        except providers.EspError as error:
            raise UserError(self._esp_error_message(error)) from None

    def _esp_create_address_book(self, name):
        """Create an address book at the ESP and return its ``esp.address.book``."""
        self.ensure_one()
        book = self._esp_call(lambda client: client.create_address_book(name))
        # Any ESP user may create a book for a list they connect; the catalogue itself is the connector's.
        # The connect dialog's defaults (default_mailing_list_id) must not reach the book: it is linked by _esp_bind.
        Book = self.env["esp.address.book"].sudo().with_context(clean_context(self.env.context),
                                                                campaign_esp_connector_from_esp=True)
        values = dict(Book._esp_values_from_record(book), account_id=self.id, sync_date=fields.Datetime.now())
        return Book.create(values).sudo(False)

    def _esp_create_or_find_address_book(self, name):
        """Create an address book at the ESP, or take the ESP's existing book of that name.

        :param name: the new book's name, as typed
        :return: ``(book, created)``: the ``esp.address.book``, and False when the ESP already had a book of
            that name (it is then added to, or refreshed in, Odoo's catalogue)
        """
        self.ensure_one()
        wanted = name.strip().casefold()

        def create_or_find(client):
            try:
                return client.create_address_book(name), True
            except providers.AlreadyExists as error:
                refusal = error
            # The ESP compares names case-insensitively; read the book it means.
            remote = next((book for book in client.iter_address_books() if book.name.strip().casefold() == wanted),
                          None)
            if remote is None:
                raise refusal
            return remote, False

        remote, created = self._esp_call(create_or_find)
        # Any ESP user may create a book for a list they connect; the catalogue itself is the connector's.
        # The connect dialog's defaults (default_mailing_list_id) must not reach the book: it is linked by _esp_bind.
        Book = self.env["esp.address.book"].sudo().with_context(clean_context(self.env.context),
                                                                campaign_esp_connector_from_esp=True)
        values = dict(Book._esp_values_from_record(remote), account_id=self.id, sync_date=fields.Datetime.now())
        book = Book.with_context(active_test=False).search(
            [("account_id", "=", self.id), ("remote_id", "=", values["remote_id"])], limit=1
        )
        if book:
            book.write(dict(values, active=True))
        else:
            book = Book.create(values)
        return book.sudo(False), created

    def _esp_refresh_data_fields(self, lists=None):
        """Read these accounts' data fields from the ESP again and say what changed, for a person's button.

        Any ESP user may ask (Refresh Data Fields on a mailing list); the catalogue itself is the connector's.

        :param lists: ``mailing.list`` records whose members are sent again, named in the notification
        :return: a ``display_notification`` action: per account, how many data fields it has and how many are new
        """
        messages, failed = [], False
        DataField = self.env["esp.data.field"].sudo()
        for account in self.sudo():
            counts = account._esp_run(lambda client, account=account: DataField._esp_import(
                account, client.iter_data_fields()))
            if counts is None:
                failed = True
                messages.append("%s: %s" % (account.name, account.last_error))
                continue
            self.env["esp.field.mapping"].sudo()._esp_create_defaults(account)
            account.invalidate_recordset(["data_field_count"])
            fields_phrase = account._catalogue_phrase(
                "esp.data.field", account.data_field_count, {"archived": counts["archived"]})
            if counts["created"]:
                messages.append(_("%(account)s: %(fields)s, %(count)s new.", account=account.name,
                                  fields=fields_phrase, count=counts["created"]))
            else:
                messages.append(_("%(account)s: %(fields)s, up to date, nothing new.", account=account.name,
                                  fields=fields_phrase))
        if lists:
            messages.append(_("Every contact of %(lists)s is sent again at the next synchronization.",
                              lists=format_list(self.env, lists.mapped("name"))))
        return self._notify("\n".join(messages), "warning" if failed else "success", _("Data fields"))

    def _catalogue_summary(self, counts=None):
        """One sentence on the account's catalogue after a synchronization.

        :param counts: what ``_sync_catalogue`` returned (model name -> created/updated/archived); new and
            removed records are named, and a synchronization that found neither says so
        """
        self.ensure_one()
        counts = counts or {}
        self.invalidate_recordset(["address_book_count", "data_field_count", "template_count", "from_address_count"])
        phrases = [
            self._catalogue_phrase(model, total, counts.get(model))
            for model, total in (
                ("esp.address.book", self.address_book_count),
                ("esp.data.field", self.data_field_count),
                ("esp.template", self.template_count),
                ("esp.from.address", self.from_address_count),
            )
        ]
        catalogue = format_list(self.env, phrases)
        if any(change.get("created") for change in counts.values()):
            return _("Imported: %(catalogue)s.", catalogue=catalogue)
        if any(change.get("archived") for change in counts.values()):
            return _("Synchronized: %(catalogue)s.", catalogue=catalogue)
        return _("Up to date, nothing new: %(catalogue)s.", catalogue=catalogue)

    def _catalogue_phrase(self, model, total, counts=None):
        """``"12 data fields (1 new)"``: the count with its noun in the right number, and what changed.

        Updates are not named: book sizes change at every sync, which is no news to a person.
        """
        if model == "esp.address.book":
            phrase = _("%(count)s address book", count=total) if total == 1 else _("%(count)s address books",
                                                                                     count=total)
        elif model == "esp.data.field":
            phrase = _("%(count)s data field", count=total) if total == 1 else _("%(count)s data fields", count=total)
        elif model == "esp.template":
            phrase = _("%(count)s template", count=total) if total == 1 else _("%(count)s templates", count=total)
        else:
            phrase = _("%(count)s from address", count=total) if total == 1 else _("%(count)s from addresses",
                                                                                     count=total)
        counts = counts or {}
        changes = []
        # A first import makes everything new: "3 templates (3 new)" would say nothing more.
        if counts.get("created") and counts["created"] != total:
            changes.append(_("%(count)s new", count=counts["created"]))
        if counts.get("archived"):
            changes.append(_("%(count)s removed at the ESP", count=counts["archived"]))
        if not changes:
            return phrase
        return _("%(catalogue)s (%(changes)s)", catalogue=phrase, changes=", ".join(changes))

    def _esp_run(self, operation):
        """Run ``operation(client)`` with a provider client and turn ESP failures into account state.

        Work done before a failure is rolled back so a half-read catalogue never replaces a complete one, but
        the API calls it cost are still counted (the client is recorded after the savepoint is rolled back).

        :return: the operation's result, or ``None`` when the ESP failed (``last_error`` then says why)
        """
        self.ensure_one()
        try:
            with self._esp_client() as client, self.env.cr.savepoint():
                return operation(client)
        except providers.EspError as error:
            message = self._esp_error_message(error)
            _logger.warning("ESP account %s (id %s): %s", self.name, self.id, message)
            if isinstance(error, NEEDS_PERSON) or self.state != "connected":
                self.write({"state": "error", "last_error": message})
            else:
                # Transient (throttling, 5xx, timeout, a broken answer): the account stays usable and its
                # lists keep syncing; the error is shown until the next success.
                self.write({"last_error": message})
            return None

    @contextmanager
    def _esp_client(self):
        """Yield a provider client for this account and record its API usage when done."""
        self.ensure_one()
        api_user, password = self._get_credentials()
        login = {}
        if providers.get_provider_class(self.provider).requires_client_id:
            login["client_id"] = (self.api_client_id or "").strip()
        try:
            client = providers.get_provider(
                self.provider,
                username=api_user,
                password=password,
                base_url=self.api_endpoint,
                api_endpoint=self.detected_endpoint or None,
                **login,
                **self._esp_client_options(),
            )
        except providers.ConfigurationError as error:
            raise UserError(self._esp_error_message(error)) from None
        try:
            yield client
        finally:
            self._esp_record_usage(client)
            client.close()

    def _esp_client_options(self):
        """Transport options. The context key ``campaign_esp_connector_transport`` (a dict such as
        ``{"max_wait": 0, "backoff_factor": 0}``) lets crons and tests shorten in-line waits."""
        # dotdigital asks for 121 s per call; connecting must be quick. Odoo's test HTTP guard compares the
        # timeout with a number, so under tests a single number stands for the (connect, read) pair.
        options = {"timeout": READ_TIMEOUT if is_testing(self.env) else (10, READ_TIMEOUT),
                   # Every worker of every server spends one budget per account, kept in PostgreSQL.
                   "rate_budget": self.env["esp.rate.budget"].sudo()._esp_budget_for(self)}
        if self.contacts_api == "v3":
            options.update(contacts_api="v3", contact_identifier=self.contact_identifier or None)
        options.update(self.env.context.get("campaign_esp_connector_transport") or {})
        return options

    def _esp_record_usage(self, client):
        """Add the client's calls to today's count, keep the last throttle time and the detected endpoint.

        The calls are a row of their own, never an UPDATE of the account: two crons using one account at the same
        moment (statistics and activity, say) would otherwise write one row, and under Odoo's REPEATABLE READ the
        second would fail its whole run with "could not serialize access". The account row is written only when
        the throttle time or the endpoint changed, outside the ORM's write (no ``write_date``, no tracking).
        """
        stats = client.stats
        throttled_at = (
            datetime.fromtimestamp(stats.last_throttle_at, tz=timezone.utc).replace(tzinfo=None)
            if stats.last_throttle_at
            else None
        )
        if stats.calls:
            self.env.cr.execute(
                "INSERT INTO esp_account_api_call (account_id, day, calls) VALUES (%s, %s, %s)",
                [self.id, _utc_today(), stats.calls],
            )
        if throttled_at or client.endpoint:
            try:
                with self.env.cr.savepoint(flush=False):
                    self._esp_record_account_usage(throttled_at, client.endpoint)
            except psycopg2.errors.SerializationFailure:
                # Another worker wrote the row since this transaction began (the same endpoint, a throttle time
                # as recent): keep theirs rather than fail this run.
                _logger.info("ESP account %s: usage details written by another worker meanwhile", self.id)
        self.invalidate_recordset(["api_calls_today", "last_throttle_datetime", "detected_endpoint"])

    def _esp_record_account_usage(self, throttled_at, endpoint):
        self.env.cr.execute(
            """
            UPDATE esp_account
               SET last_throttle_datetime = COALESCE(%(throttled_at)s, last_throttle_datetime),
                   detected_endpoint = COALESCE(%(endpoint)s, detected_endpoint)
             WHERE id = %(id)s
               AND (last_throttle_datetime IS DISTINCT FROM COALESCE(%(throttled_at)s, last_throttle_datetime)
                    OR detected_endpoint IS DISTINCT FROM COALESCE(%(endpoint)s, detected_endpoint))
            """,
            {"throttled_at": throttled_at, "endpoint": endpoint, "id": self.id},
        )

    def _esp_error_message(self, error):
        """A translated message a person can act on for a provider error; never contains credentials."""
        provider = self._get_provider_label()
        if isinstance(error, providers.AuthenticationError):
            return _(
                "%(provider)s refused the API user or password. Check them (in dotdigital: Settings > Access > "
                "API users) and that the API user is enabled.",
                provider=provider,
            )
        if isinstance(error, providers.PermissionDenied):
            return _(
                "%(provider)s denied access (HTTP 403): the account may lack this feature, or the endpoint is not "
                "this account's region. Check the API endpoint and test the connection again.",
                provider=provider,
            )
        if isinstance(error, providers.RateLimited):
            minutes = max(1, round((error.retry_after or 60) / 60))
            return _(
                "%(provider)s is throttling this account's API calls (its allowance is used up). The connector "
                "stops and resumes by itself; retry manually in about %(minutes)s minute(s).",
                provider=provider,
                minutes=minutes,
            )
        if isinstance(error, providers.ConfigurationError):
            return _("The ESP account is misconfigured: %(detail)s", detail=error.message)
        if isinstance(error, providers.EspConnectionError):
            return _(
                "Could not reach %(provider)s at %(url)s: %(detail)s. Check the API endpoint and the network.",
                provider=provider,
                url=self.detected_endpoint or self.api_endpoint,
                detail=error.message,
            )
        if isinstance(error, providers.InvalidResponse):
            return _(
                "%(provider)s answered with something that is not its API (%(detail)s). Check the API endpoint; "
                "if it is right, the service may be down: try again later.",
                provider=provider,
                detail=error.message,
            )
        if isinstance(error, providers.NotFound):
            return _(
                "%(provider)s found no such object (HTTP 404): %(detail)s. If this happens on a connection test, "
                "the API endpoint is wrong.",
                provider=provider,
                detail=error.message,
            )
        if isinstance(error, providers.ServerError):
            return _(
                "%(provider)s had an internal error (HTTP %(status)s). It is usually temporary: try again later.",
                provider=provider,
                status=error.status,
            )
        return _("%(provider)s refused the request: %(detail)s", provider=provider, detail=error.message)

    def _get_provider_label(self):
        self.ensure_one()
        return dict(self._fields["provider"]._description_selection(self.env)).get(self.provider, self.provider)

    def _notify(self, message, kind, title):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _get_credentials(self):
        """Return ``(api_user, api_password)`` for the provider client.

        The password is read with sudo on purpose: ESP users trigger syncs without being allowed to see it, and
        it only ever leaves this method towards the provider's HTTP client, never into a message or a log.
        """
        self.ensure_one()
        password = self.sudo().api_password
        if not password:
            raise UserError(_("The ESP account “%(name)s” has no API password.", name=self.name))
        return self.api_user, password
