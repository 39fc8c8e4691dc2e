"""Campaign Master (campaignmaster.com.au): SOAP (WCF) services called with zeep.

Two services under the account's endpoint: ``/v1.1/CampaignMasterService.svc`` (login, recipients, campaigns,
results) and ``/v1.1/CampaignMasterJobService.svc`` (bulk import jobs). Every call goes through the shared
:class:`~..transport.HttpTransport` (one ``requests`` session, retries on connection errors, call counting).
A call passes the login token; the token is renewed a minute before it expires and once when the service
says it expired. Read operations are repeated on a server fault; writes never are, since a lost answer may
hide a done change.

What Campaign Master does not have, the capabilities leave out: no unsubscribe feed (``isActive`` changes are
read from ``GetRecipients`` by ``lastModified``), no account-wide suppression feed, no removal from a list, no
job status (an import is a ticket confirmed by reading its list back), no re-subscribe. Operations that no
public client shows are in :mod:`.assumed`.
"""

import csv
import io
import logging
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from zeep import Client, Settings
from zeep import exceptions as zeep_exceptions
from zeep.cache import InMemoryCache
from zeep.helpers import serialize_object
from zeep.transports import Transport

from .. import records
from ..base import Capability, EspProvider
from ..exceptions import (
    AuthenticationError,
    ConfigurationError,
    EspError,
    InvalidResponse,
    NotFound,
    RateLimited,
    ServerError,
    ValidationError,
)
from ..transport import HttpTransport, check_base_url
from . import assumed

_logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api1.campaignmaster.com.au"
MAIN_SERVICE = "/v1.1/CampaignMasterService.svc"
JOB_SERVICE = "/v1.1/CampaignMasterJobService.svc"
# Renew the token this long before Campaign Master says it expires.
TOKEN_MARGIN_SECONDS = 60
# Fault detail codes of the contract (esp_sandbox/CAMPAIGN_MASTER.md).
INVALID_TOKEN = "InvalidToken"
READ_PREFIXES = ("Get",)
EMAIL_FIELD = "emailAddress"
INACTIVE_REASON = "Inactive at Campaign Master (unsubscribed, bounced or complained)"


class _CountedTransport(Transport):
    """zeep's transport on the shared HTTP transport: WSDL loads and calls are counted and logged there."""

    def __init__(self, http):
        # The WSDL of a service changes with its releases, not between two cron runs: kept for an hour.
        super().__init__(session=http._session, cache=InMemoryCache(timeout=3600))
        self._http = http

    def post(self, address, message, headers):
        action = (headers.get("SOAPAction") or "").strip('"').rsplit("/", 1)[-1] or None
        return self._http.post_raw(address, message, headers, label=action)

    def _load_remote_data(self, url):
        response = self._http.get_raw(url)
        if response.status_code >= 400:
            raise ServerError(f"Campaign Master answered its service description {url} with HTTP "
                              f"{response.status_code}.", status=response.status_code)
        return response.content


class CampaignMasterProvider(EspProvider):
    """One Campaign Master account.

    :param client_id: the account's numeric client ID
    :param username: the API user's name
    :param password: its password (the old API key is no longer needed)
    :param base_url: the service root, the part before ``/v1.1/`` (the sandbox's ``…/campaignmaster``)
    :param page_size: rows Campaign Master answers per page (1,000)
    :param transport_options: as for dotdigital (``timeout``, ``max_retries``, ``backoff_factor``, ``on_call``)
    """

    code = "campaign_master"
    label = "Campaign Master"
    default_base_url = DEFAULT_BASE_URL
    limits = records.ProviderLimits(
        imports_in_flight=5,
        rows_per_import=25000,
        feed_epoch=datetime(2000, 1, 1),
        feed_overlap_seconds=300,
        ids_per_removal=0,
        # No job status: each check reads the list back; five checks, then the rows are sent again.
        max_import_polls=5,
        stats_settle_hours=48,
        # OpenCRM syncs Campaign Master recipients every minute.
        sync_interval_minutes=1,
    )
    # The summary reports all three (``confirmedTotalViews``, ``noActivityTotal``, unique forwards).
    derived_summary_figures = frozenset()
    # Results carry first and last click dates: no separate clicks feed.
    click_dates_in_activity = True
    # Campaign Master refuses a campaign without a description.
    campaign_requires_description = True
    requires_client_id = True
    templates_applied_by_provider = True
    list_chosen_at_send = True
    default_field_mappings = (("firstName", "first_name"), ("lastName", "last_name"))
    # No personalization syntax: neither the v1.1 WSDL nor any client the facts come from
    # (specs/campaign-master/facts.json) shows how a campaign names a recipient's field, so the base class's
    # ``personalization_tag`` (None) stands and a mailing with placeholders is refused, never sent with a guess.
    # Statistics of campaigns sent this many days back are refreshed (there is no "activity since" feed).
    stats_window_days = 30
    capabilities = frozenset({
        Capability.BULK_IMPORT,
        Capability.TEST_SEND,
        Capability.SCHEDULING,
        Capability.CAMPAIGN_CREATION,
        Capability.CONTACT_ACTIVITY,
        Capability.DATA_FIELDS,
        Capability.TEMPLATES,
        Capability.FROM_ADDRESSES,
        Capability.LIST_CHANGE_FEED,
        Capability.BOOK_LISTING,
    })

    def __init__(self, client_id=None, username=None, password=None, base_url=None, *, page_size=1000,
                 api_endpoint=None, **transport_options):
        if not client_id or not str(client_id).strip().isdigit():
            raise ConfigurationError("Campaign Master needs the account's numeric client ID.")
        if not username or not password:
            raise ConfigurationError("Campaign Master needs the API user's name and password.")
        self.client_id = int(str(client_id).strip())
        self.username = username
        self._password = password
        self.base_url = check_base_url(base_url or api_endpoint or DEFAULT_BASE_URL)
        self.page_size = page_size
        transport_options.setdefault("provider", "Campaign Master")
        self.transport = HttpTransport(self.base_url, None, None, **transport_options)
        self._zeep_transport = _CountedTransport(self.transport)
        self._clients = {}
        self._token = None
        self._token_expires = 0.0
        self._global_addresses = None
        self._bounce_weights_cache = {}

    def __repr__(self):
        return f"<{type(self).__name__} base={self.base_url} client={self.client_id}>"

    def close(self):
        self.transport.close()

    @property
    def endpoint(self):
        return self.base_url

    @property
    def stats(self):
        return self.transport.stats

    # ------------------------------------------------------------------------------------------------------
    # SOAP plumbing
    # ------------------------------------------------------------------------------------------------------

    def _client(self, path):
        client = self._clients.get(path)
        if client is None:
            url = self.base_url + path
            try:
                client = Client(url + "?wsdl", transport=self._zeep_transport,
                                settings=Settings(strict=False, xml_huge_tree=True))
            except EspError:
                raise
            except Exception as exc:  # zeep raises many kinds while reading a WSDL
                raise InvalidResponse(f"Campaign Master's service description at {url} could not be read "
                                      f"({type(exc).__name__}).") from None
            # Calls go to the configured URL, whatever host the WSDL names.
            client.service._binding_options["address"] = url
            self._clients[path] = client
        return client

    def _invoke(self, path, operation, headers=None, **params):
        service = self._client(path).service
        try:
            method = getattr(service, operation)
        except AttributeError:
            raise ValidationError(f"Campaign Master's service has no {operation} operation: this account's API "
                                  "does not offer it.", code="NoSuchOperation") from None
        try:
            answer = method(_soapheaders=headers, **params) if headers else method(**params)
        except zeep_exceptions.Fault as fault:
            raise _fault_error(operation, fault) from None
        except zeep_exceptions.TransportError as exc:
            raise _transport_error(operation, exc.status_code, exc.content) from None
        except (zeep_exceptions.XMLSyntaxError, zeep_exceptions.XMLParseError, zeep_exceptions.ValidationError) as exc:
            raise InvalidResponse(f"Campaign Master answered {operation} with something that is not its SOAP "
                                  f"answer ({type(exc).__name__}).") from None
        except zeep_exceptions.Error as exc:
            raise InvalidResponse(f"Campaign Master's {operation} could not be called ({exc}).") from None
        return _unwrap(serialize_object(answer, target_cls=dict))

    def _login(self):
        answer = self._invoke(MAIN_SERVICE, "Login", clientID=self.client_id, userName=self.username,
                              password=self._password) or {}
        token = answer.get("tokenString")
        if not token:
            raise AuthenticationError("Campaign Master accepted the login but gave no token.")
        minutes = answer.get("minutesTillTokenExpires") or 20
        self._token = token
        self._token_expires = time.monotonic() + float(minutes) * 60
        return token

    def _valid_token(self):
        if self._token is None or time.monotonic() >= self._token_expires - TOKEN_MARGIN_SECONDS:
            self._login()
        return self._token

    def _call(self, operation, missing_ok=False, **params):
        """One call of the main service with the login token: renewed once on an expired-token fault, and
        read operations repeated on server faults."""
        renewed = repeats = 0
        while True:
            try:
                return self._invoke(MAIN_SERVICE, operation, token=self._valid_token(), **params)
            except NotFound:
                if missing_ok:
                    return None
                raise
            except AuthenticationError as error:
                if error.code != INVALID_TOKEN or renewed:
                    raise
                renewed += 1
                self._token = None
            except (ServerError, InvalidResponse):
                if not operation.startswith(READ_PREFIXES) or repeats >= self.transport.max_retries:
                    raise
                repeats += 1
                time.sleep(self.transport.backoff_factor * 2 ** (repeats - 1))

    def _paged(self, operation, key, **params):
        page = 1
        while True:
            answer = self._call(operation, page=page, **params) or {}
            yield from _items(answer.get(key))
            if answer.get("isLastPage", True) or not answer.get(key):
                return
            page += 1

    # ------------------------------------------------------------------------------------------------------
    # Account
    # ------------------------------------------------------------------------------------------------------

    @classmethod
    def account_key(cls, account_id, endpoint):
        """Campaign Master has no account-info call: an account is its client ID (every user of a client logs
        in with it, and recipients carry it as ``ClientId``), at one service (client IDs are only unique
        within one: the host of the endpoint is part of the key)."""
        if account_id is None:
            return None
        return f"{urlsplit(endpoint or '').netloc.lower()}/{account_id}"

    def test_connection(self):
        """Log in (one call) and return :class:`~.records.AccountInfo`."""
        self._token = None
        self._valid_token()
        return records.AccountInfo(account_id=self.client_id, endpoint=self.base_url, region=None,
                                   main_email=self.username)

    def server_time(self):
        value = self._invoke(MAIN_SERVICE, "GetServerTime")
        if not isinstance(value, datetime):
            raise InvalidResponse(f"Campaign Master's server time {value!r} is not a date.")
        return _aware(value)

    # ------------------------------------------------------------------------------------------------------
    # Lists, fields, templates, from addresses
    # ------------------------------------------------------------------------------------------------------

    def iter_address_books(self):
        yield from assumed.iter_lists(self._call)

    def get_address_book(self, book_id):
        for book in self.iter_address_books():
            if book.id == int(book_id):
                return book
        raise NotFound(f"Campaign Master has no list {book_id}.")

    def create_address_book(self, name, visibility="Private"):
        name = (name or "").strip()
        if not name:
            raise ValidationError("A list needs a name.")
        list_id, answer = assumed.create_list(self._call, name)
        if not list_id:
            raise ValidationError(_refusal("CreateList", answer), code="ERROR_ADDRESSBOOK_DUPLICATE"
                                  if "already exists" in (answer.get("message") or "") else None)
        return records.AddressBook(id=int(list_id), name=name, contact_count=0)

    def iter_data_fields(self):
        for row in self._call("GetRecipientFields") or ():
            if row.get("name") == EMAIL_FIELD:
                continue  # the key of every row, never a mapped field
            yield records.DataField(name=row.get("name") or "", type=_FIELD_TYPES.get(row.get("dataType"), "String"))

    def create_data_field(self, name, type="String", visibility="Private", default=None):
        raise ValidationError("Campaign Master's API cannot create recipient fields: add the field in Campaign "
                              "Master, then refresh the data fields.", code="NoSuchOperation")

    def delete_data_field(self, name):
        raise ValidationError("Campaign Master's API cannot delete recipient fields: do it in Campaign Master.",
                              code="NoSuchOperation")

    def iter_templates(self):
        yield from assumed.iter_templates(self._call)

    def iter_from_addresses(self):
        self._global_addresses = list(assumed.iter_global_addresses(self._call))
        yield from self._global_addresses

    def _from_email(self, from_address_id):
        if not from_address_id:
            return None
        if self._global_addresses is None:
            list(self.iter_from_addresses())
        for address in self._global_addresses:
            if address.id == int(from_address_id):
                return address.email
        raise ValidationError("The from address is not a global address of this Campaign Master account.")

    # ------------------------------------------------------------------------------------------------------
    # Recipients
    # ------------------------------------------------------------------------------------------------------

    def _recipient_rows(self, *criteria):
        criteria = [dict(criterion, order=index) for index, criterion in enumerate(criteria)]
        yield from self._paged("GetRecipients", "recipients", criteria={"cmCriterion": criteria})

    def _recipients(self, *criteria):
        for row in self._recipient_rows(*criteria):
            contact = _contact(row)
            if contact is not None:
                yield contact

    def iter_book_contacts_modified_since(self, book_id, since, with_full_data=True):
        yield from self._recipients(assumed.list_criterion(book_id), _since_criterion(since))

    def iter_book_unsubscribed_since(self, book_id, since):
        """Recipients of the list made inactive since ``since`` (Campaign Master has no unsubscribe feed: an
        inactive recipient changed since then is the evidence, dated by its ``lastModified``)."""
        for row in self._recipient_rows(assumed.list_criterion(book_id), _since_criterion(since),
                                        _criterion("isActive", "Equals", "false")):
            email = (row.get("emailAddress") or "").strip()
            if email:
                yield records.Suppression(contact_id=row.get("id"), email=email, reason=INACTIVE_REASON,
                                          removed_at=_aware(row.get("lastModified")))

    def book_contacts_page(self, book_id, skip=0):
        page = int(skip) // self.page_size + 1
        answer = self._call("GetRecipients", page=page,
                            criteria={"cmCriterion": [assumed.list_criterion(book_id)]}) or {}
        contacts = [contact for contact in map(_contact, _items(answer.get("recipients"))) if contact]
        last = answer.get("isLastPage", True) or not contacts
        return contacts, (None if last else page * self.page_size)

    def get_contact(self, email):
        found = list(self._recipients(_criterion(EMAIL_FIELD, "Equals", email.strip())))
        return found[0] if found else None

    def upsert_contact(self, email):
        self._add_recipient({EMAIL_FIELD: email.strip()}, "InsertOrUpdate")
        return self.get_contact(email)

    def unsubscribe_from_book(self, book_id, email):
        """Make the recipient inactive: Campaign Master has no per-list unsubscribe."""
        self._add_recipient({EMAIL_FIELD: email.strip(), "isActive": False}, "Update", missing_ok=True)
        return records.Suppression(contact_id=None, email=email, reason="Unsubscribed in Odoo", removed_at=None)

    def _add_recipient(self, recipient, operation_type, missing_ok=False):
        answer = self._call("AddRecipient", recipientInfo=recipient, operationType=operation_type,
                            primaryKeyName=EMAIL_FIELD) or {}
        if answer.get("callStatus") != "Success":
            message = answer.get("message") or ""
            if missing_ok and "No recipient" in message:
                return answer
            raise ValidationError(_refusal("AddRecipient", answer))
        return answer

    # ------------------------------------------------------------------------------------------------------
    # Bulk import: a job id, no status call
    # ------------------------------------------------------------------------------------------------------

    def start_import(self, book_id, csv_fileobj, filename="contacts.csv"):
        """Submit a CSV of the list's contacts as an import job (the Job service); the ``Email`` column is sent
        as Campaign Master's ``emailAddress``.

        :return: :class:`~.records.ImportJob` whose id carries what the checks need (job, list, time, rows)
        """
        data = csv_fileobj.read()
        if isinstance(data, bytes):
            data = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(data)))
        if not rows:
            raise ValidationError("An import needs a header row.")
        header = [EMAIL_FIELD if cell.strip().lower() == "email" else cell for cell in rows[0]]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows[1:])
        submitted = self.server_time()
        definition = {
            "Delimiter": ",", "Filename": filename, "PrimaryKey": EMAIL_FIELD,
            "InsertSettings": {"AllowImport": True, "MakeActive": True, "MakeVerified": True},
            "UpdateSettings": {"AllowUpdate": True, "MakeActive": False, "MakeVerified": False},
            "UseFirstDuplicate": False, assumed.JOB_LIST_FIELD: int(book_id),
        }
        job_id = self._submit_job(definition, out.getvalue().encode("utf-8"))
        ticket = f"{job_id}:{int(book_id)}:{int(submitted.timestamp())}:{len(rows) - 1}"
        return records.ImportJob(id=ticket, status="Submitted", state=records.IMPORT_PENDING)

    def _submit_job(self, definition, payload):
        for attempt in (1, 2):
            try:
                return self._invoke(JOB_SERVICE, "SubmitImportJob", headers={"SecurityToken": self._valid_token()},
                                    JobDefinition=definition, FileToImport=payload)
            except AuthenticationError as error:
                if error.code != INVALID_TOKEN or attempt == 2:
                    raise
                self._token = None
        return None

    def get_import(self, import_id):
        """Done once the list holds at least as many recipients changed since the submission as the job had
        rows (a bounded number of checks: :attr:`limits`.max_import_polls)."""
        try:
            _job, list_id, submitted, rows = (int(part) for part in str(import_id).split(":"))
        except ValueError:
            raise NotFound(f"{import_id!r} is not a Campaign Master import ticket.") from None
        since = datetime.fromtimestamp(submitted, timezone.utc) - timedelta(seconds=self.limits.feed_overlap_seconds)
        seen = sum(1 for _contact in self._recipients(assumed.list_criterion(list_id), _since_criterion(since)))
        if seen >= rows:
            return records.ImportJob(id=import_id, status="Imported", state=records.IMPORT_DONE)
        return records.ImportJob(id=import_id, status=f"{seen} of {rows} rows seen", state=records.IMPORT_PENDING)

    def iter_import_faults(self, import_id):
        # Campaign Master reports no faults of a job; inactive recipients come back through the change feed.
        return iter(())

    # ------------------------------------------------------------------------------------------------------
    # Campaigns
    # ------------------------------------------------------------------------------------------------------

    def _campaign_answer(self, operation, answer):
        if answer.get("callStatus") != "Success":
            raise ValidationError(_refusal(operation, answer), code="ERROR_CAMPAIGN_INVALID")
        return self.get_campaign(answer.get("campaignId"))

    def create_campaign(self, content):
        body = assumed.campaign_body(content, self._from_email(content.get("from_address_id")))
        return self._campaign_answer("CreateEmailCampaign", assumed.create_campaign(self._call, body))

    def update_campaign(self, campaign_id, content):
        body = assumed.campaign_body(content, self._from_email(content.get("from_address_id")))
        answer = assumed.update_campaign(self._call, campaign_id, body)
        if answer.get("callStatus") == "Success" and not answer.get("campaignId"):
            answer = dict(answer, campaignId=int(campaign_id))
        return self._campaign_answer("UpdateEmailCampaign", answer)

    def get_campaign(self, campaign_id):
        return assumed.campaign(assumed.get_campaign(self._call, campaign_id))

    def find_campaign(self, marker):
        row = assumed.get_campaign_by_external_id(self._call, marker)
        return assumed.campaign(row) if row else None

    def iter_campaigns(self):
        for row in self._call("GetSentCampaigns", **{"from": datetime(2000, 1, 1, tzinfo=timezone.utc),
                                                      "to": self.server_time()}) or ():
            yield _sent_campaign(row)

    def test_send_campaign(self, campaign_id, addresses):
        answer = assumed.send_test(self._call, campaign_id, addresses) or {}
        if answer.get("callStatus") != "Success":
            raise ValidationError(_refusal("SendTestEmailCampaign", answer), code="ERROR_CAMPAIGN_INVALID")

    def send_campaign(self, campaign_id, book_ids=(), contact_ids=(), send_date=None):
        """Send to each list (Campaign Master takes the list at send time, one list per send)."""
        if contact_ids:
            raise ValidationError("Campaign Master sends to lists only.")
        if not book_ids:
            raise ValidationError("A campaign send needs at least one list.")
        for book_id in book_ids:
            answer = assumed.send(self._call, campaign_id, book_id, send_date) or {}
            if answer.get("callStatus") != "Success":
                raise ValidationError(_refusal("SendEmailCampaign", answer), code="ERROR_CAMPAIGN_SEND_INVALID")
        return self.get_send(f"cm-{int(campaign_id)}")

    def get_send(self, send_id):
        campaign_id = int(str(send_id).removeprefix("cm-"))
        row = assumed.get_campaign(self._call, campaign_id)
        status = row.get("status") or "Draft"
        return records.CampaignSend(
            id=f"cm-{campaign_id}", campaign_id=campaign_id, status=status,
            state=assumed.SEND_STATES.get(status, records.SEND_FAILED if status == "Draft" else records.SEND_SENDING),
            send_date=_aware(row.get("sendDate") or row.get("sentDate")),
        )

    def find_send(self, campaign_id, send_date=None):
        """A campaign no longer a draft was sent (or scheduled) by an earlier call."""
        send = self.get_send(f"cm-{int(campaign_id)}")
        return None if send.state == records.SEND_FAILED else send

    def get_template_html(self, template_id):
        raise ValidationError("Campaign Master applies the template itself: the campaign is created with it.",
                              code="NoSuchOperation")

    # ------------------------------------------------------------------------------------------------------
    # Reports
    # ------------------------------------------------------------------------------------------------------

    def iter_campaigns_with_activity_since(self, since):
        """Campaigns sent in the last :attr:`stats_window_days` days: Campaign Master has no feed of campaigns
        with new activity, and results keep coming for weeks after a send."""
        now = self.server_time()
        for row in self._call("GetSentCampaigns", **{"from": now - timedelta(days=self.stats_window_days),
                                                      "to": now}) or ():
            campaign = _sent_campaign(row)
            if campaign.status == "Email":
                yield campaign

    def get_campaign_summary(self, campaign_id):
        row = self._call("GetEmailCampaignSummary", campaignId=int(campaign_id)) or {}
        bounces = row.get("bounces") or {}
        reads, clicks, forwards = (row.get(key) or {} for key in ("reads", "clicks", "forwards"))
        sent = _int(row.get("totalSelectedRecipients"))
        hard, soft = _int(bounces.get("hard")), _int(bounces.get("soft"))
        unique_reads = _int(reads.get("unique"))
        delivered = max(sent - hard - soft, 0)
        return records.CampaignSummary(
            campaign_id=int(campaign_id), sent=sent, delivered=delivered, hard_bounces=hard, soft_bounces=soft,
            unsubscribes=_int(row.get("totalUnsubscribes")), complaints=0,
            opens=_int(reads.get("total")), unique_opens=unique_reads, clicks=_int(clicks.get("total")),
            unique_clicks=_int(clicks.get("unique")), forwards=_int(forwards.get("total")),
            open_rate=round(100.0 * unique_reads / delivered, 2) if delivered else None,
            date_sent=_aware(row.get("started")), unique_forwards=_int(forwards.get("unique")),
            views=_int(row.get(assumed.SUMMARY_VIEWS)), no_activity=_int(row.get(assumed.SUMMARY_NO_ACTIVITY)),
        )

    def iter_campaign_activities_since(self, campaign_id, since):
        """Per-recipient results updated after ``since`` (Campaign Master's ``resultsUpdatedAfter``); bounce
        kinds come from the bounces listing, read once when a result says bounced."""
        skip = 0
        while skip is not None:
            rows, skip, _anchor = self.campaign_activities_page(campaign_id, since, skip)
            yield from rows

    def campaign_activities_page(self, campaign_id, since, skip=0, anchor=None):
        """One page of results: ``(rows, next_skip, None)``, ``next_skip`` being ``None`` after the last page
        (numbered pages: no anchor)."""
        page = int(skip) // self.page_size + 1
        answer = self._call("GetEmailCampaignResults", page=page, campaignId=int(campaign_id),
                            resultsUpdatedAfter=_aware(since)) or {}
        rows = list(_items(answer.get("results")))
        weights = self._bounce_weights(campaign_id) if any(row.get("bounced") for row in rows) else {}
        activities = []
        for row in rows:
            bounced = bool(row.get("bounced"))
            weight = weights.get((row.get("emailAddress") or "").lower()) if bounced else None
            activities.append(records.CampaignActivity(
                contact_id=row.get("recipientId"), email=(row.get("emailAddress") or "").strip(),
                opens=_int(row.get("reads")), clicks=_int(row.get("clicks")), forwards=_int(row.get("forwards")),
                sent_at=_aware(row.get(assumed.RESULT_SENT)),
                first_open_at=_aware(row.get(assumed.RESULT_FIRST_READ)),
                last_open_at=_aware(row.get(assumed.RESULT_LAST_READ)),
                unsubscribed=bool(row.get(assumed.RESULT_UNSUBSCRIBED)),
                hard_bounced=bounced and weight != "Soft", soft_bounced=bounced and weight == "Soft",
                first_click_at=_aware(row.get(assumed.RESULT_FIRST_CLICK)),
                last_click_at=_aware(row.get(assumed.RESULT_LAST_CLICK)),
            ))
        last = answer.get("isLastPage", True) or not rows
        return activities, (None if last else page * self.page_size), None

    def _bounce_weights(self, campaign_id):
        # Read once per client and campaign: a resumed read of a big campaign meets bounces on many pages.
        cache, campaign_id = self._bounce_weights_cache, int(campaign_id)
        if campaign_id not in cache:
            cache[campaign_id] = {
                (bounce.get("emailAddress") or "").lower(): bounce.get("bounceWeight")
                for bounce in self._paged("GetEmailCampaignBounces", "bounces", campaignId=int(campaign_id))
            }
        return cache[campaign_id]

    def iter_campaign_clicks_since(self, campaign_id, since):
        # Click dates come with the results (click_dates_in_activity).
        return iter(())


# -- parsing ------------------------------------------------------------------------------------------------

_FIELD_TYPES = {"Text": "String", "Password": "String", "Integer": "Numeric", "Number": "Numeric",
                "Date": "Date", "Boolean": "Boolean"}


def _int(value):
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _aware(value):
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _criterion(field, operator, operand):
    return {"fieldName": field, "operator": operator, "operand": operand, "logicalOperator": "And", "order": 0,
            "leftParentheses": 0, "rightParentheses": 0}


def _since_criterion(since):
    moment = since if isinstance(since, datetime) else datetime(since.year, since.month, since.day)
    moment = _aware(moment)
    return _criterion("lastModified", "GreaterThanEquals", moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _contact(row):
    email = (row.get("emailAddress") or "").strip()
    if not email:
        return None
    data = {value.get("fieldName"): value.get("value") for value in _items(row.get("values")) if value.get("fieldName")}
    active = bool(row.get("isActive", True))
    return records.Contact(id=row.get("id"), email=email, status="Active" if active else "Inactive",
                           data_fields=data, sendable=active)


def _sent_campaign(row):
    return records.Campaign(id=int(row["id"]), name=row.get("name") or "", subject=row.get("name"),
                            status=row.get("campaignType") or "Email", state=records.CAMPAIGN_SENT)


def _refusal(operation, answer):
    return f"Campaign Master refused {operation}: {answer.get('message') or answer.get('callStatus') or '?'}"


def _items(value):
    """The rows of a WCF array as zeep answers it (``{"cmRecipient": [...]}``), or of a plain list."""
    if value is None:
        return []
    if isinstance(value, dict) and len(value) == 1:
        (inner,) = value.values()
        return _items(inner) if isinstance(inner, list | dict) and inner is not value else [value]
    return value if isinstance(value, list) else [value]


def _unwrap(answer):
    """A whole answer that is an array comes as a one-key dict: give its rows."""
    if isinstance(answer, dict) and len(answer) == 1 and isinstance(next(iter(answer.values())), list):
        return next(iter(answer.values()))
    return answer


def _fault_error(operation, fault):
    if not hasattr(fault.detail, "iter"):
        # Not a SOAP fault: an error page that happened to be well-formed markup (a proxy's HTML 502).
        text = fault.detail.decode("utf-8", "replace") if isinstance(fault.detail, bytes) else str(fault.detail or "")
        kind = "an HTML page" if "<html" in (text or str(fault.message or "")).lower() else "an error page"
        return ServerError(f"Campaign Master answered {operation} with {kind} instead of its SOAP answer.",
                           status=500, excerpt=text[:200])
    detail = {}
    if fault.detail is not None:
        for element in fault.detail.iter():
            tag = element.tag.rsplit("}", 1)[-1]
            if tag in ("code", "errorType", "message") and element.text:
                detail[tag] = element.text.strip()
    code = detail.get("code")
    message = f"Campaign Master: {operation} failed: {detail.get('message') or fault.message}"
    if code in ("InvalidLogin", INVALID_TOKEN):
        return AuthenticationError(message, status=500, code=code)
    if code == "NotFound":
        return NotFound(message, status=500, code=code)
    if code == "TooManyRequests":
        return RateLimited(message, status=500, code=code, retry_after=None)
    if code == "InvalidArgument" or (fault.code or "").endswith("Client"):
        return ValidationError(message, status=500, code=code)
    return ServerError(message, status=500, code=code)


def _transport_error(operation, status, content):
    text = (content or b"")[:200]
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if status == 429:
        return RateLimited(f"Campaign Master throttled {operation} (HTTP 429).", status=status)
    kind = "an HTML page" if "<html" in text.lower() else f"HTTP {status}"
    error = ServerError if status and status >= 500 else InvalidResponse
    return error(f"Campaign Master answered {operation} with {kind}.", status=status, excerpt=text)
