"""Campaign Master (campaignmaster.com.au): SOAP (WCF) services called with zeep, as the public evidence shows
them (``specs/campaign-master/facts.json``; ``esp_sandbox/CAMPAIGN_MASTER.md`` says item by item).

Two services under the account's endpoint: ``/v1.1/CampaignMasterService.svc`` (login, recipients, sent
campaigns, their summaries, results, bounces and opens) and ``/v1.1/CampaignMasterJobService.svc`` (its own
login, bulk import jobs and their results). Every call goes through the shared
:class:`~..transport.HttpTransport` (one ``requests`` session, retries on connection errors, call counting).

- Member names are taken from the loaded WSDL (zeep's types), never written in one casing: the evidence
  shows them lower-first as a 2010 generator recorded them, the wire most probably upper-first.
- Answers are parsed strictly (zeep strict mode, libxml2's size limits on): a cut or malformed answer is
  :class:`InvalidResponse`, and a read is repeated.
- Faults are classified by their ``faultcode`` (``s:InvalidLogin``: wrong credentials, never repeated); a call
  with a token that faults ``InvalidToken`` or ``InvalidLogin`` logs in again once.
- What the service offers is read from its WSDL at login: operations no public evidence shows (lists,
  templates, from addresses, campaign create/update/test/send, list membership) are called only through
  :mod:`.assumed`, and only when the account's service has them; the capabilities follow.
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
from zeep.xsd import ComplexType

from .. import records
from ..base import Capability, EspProvider
from ..exceptions import (
    AuthenticationError,
    ConfigurationError,
    EspError,
    InvalidContent,
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
# Faults a call with a token answers when the token is no longer good: InvalidLogin is the one fault the
# evidence shows; InvalidToken is assumed.
TOKEN_FAULTS = ("InvalidToken", "InvalidLogin")
READ_PREFIXES = ("Get",)
# System fields of GetRecipientFields (evidence): the key of every recipient, its state and its change date.
EMAIL_FIELD = "EmailAddress"
ACTIVE_FIELD = "IsActive"
MODIFIED_FIELD = "LastModified"
INACTIVE_REASON = "Inactive at Campaign Master (unsubscribed, bounced or complained)"
# The one "list" of an account whose service has no lists (the evidenced v1.1): all its recipients.
ALL_RECIPIENTS = 1
# The v1.1 operations the evidence shows (facts.json); an account offering fewer lacks what needs them.
EVIDENCED_OPERATIONS = frozenset({
    "Login", "GetServerTime", "GetRecipients", "GetRecipientFields", "AddRecipient", "GetSentCampaigns",
    "GetEmailCampaignSummary", "GetEmailCampaignResults", "GetEmailCampaignBounces", "GetEmailCampaignOpens",
})
JOB_OPERATIONS = frozenset({"SubmitImportJob", "GetJobResult"})


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


class _Service:
    """One loaded service description: its operations and the names its types give their members."""

    def __init__(self, client):
        self.client = client
        self.operations = frozenset(client.service._binding._operations)
        self.members = {}
        for xsd_type in client.wsdl.types.types:
            if isinstance(xsd_type, ComplexType):
                for name, _element in xsd_type.elements:
                    self.members.setdefault(name.casefold(), name)

    def has_member(self, name):
        return name.casefold() in self.members

    def wire(self, value):
        """A request value with every member named as this WSDL names it (``emailAddress`` → ``EmailAddress``)."""
        if isinstance(value, dict):
            return {self.members.get(key.casefold(), key): self.wire(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.wire(item) for item in value]
        return value


def _canon(value):
    """An answer with every member name case-folded: the provider reads ``row.get("emailaddress")`` whatever
    casing the service uses."""
    if isinstance(value, dict):
        return {key.casefold(): _canon(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canon(item) for item in value]
    return value


class CampaignMasterProvider(EspProvider):
    """One Campaign Master account.

    :param client_id: the account's numeric client ID
    :param username: the API user's name
    :param password: its password (the old API key is no longer needed)
    :param base_url: the service root, the part before ``/v1.1/`` (the sandbox's ``…/campaignmaster``)
    :param page_size: rows Campaign Master answers per page (1,000: assumed, no evidence)
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
        max_import_polls=30,
        stats_settle_hours=48,
        # OpenCRM syncs Campaign Master recipients every minute.
        sync_interval_minutes=1,
    )
    # The summary has one bounces figure and no views or inactive counts: the engines count those.
    derived_summary_figures = frozenset({"unique_forwards", "views", "no_activity"})
    campaign_requires_description = True
    requires_client_id = True
    templates_applied_by_provider = True
    list_chosen_at_send = True
    # An inactive recipient is all its feed says (unsubscribed, bounced or complained, not which).
    status_kinds = {INACTIVE_REASON: records.STATUS_INACTIVE}
    # Campaign Master's names of a person's fields are the account's own (First_Name, …): none by default.
    default_field_mappings = ()
    # No personalization syntax: neither the v1.1 WSDL nor any client the facts come from
    # (specs/campaign-master/facts.json) shows how a campaign names a recipient's field, so the base class's
    # ``personalization_tag`` (None) stands and a mailing with placeholders is refused, never sent with a guess.
    # Statistics of campaigns sent this many days back are refreshed (there is no "activity since" feed).
    stats_window_days = 30
    # What an account of the evidenced v1.1 offers; a client's :meth:`offered_capabilities` follow what its
    # service's WSDL offers (read at login).
    capabilities = frozenset({
        Capability.BULK_IMPORT,
        Capability.CONTACT_ACTIVITY,
        Capability.DATA_FIELDS,
        Capability.LIST_CHANGE_FEED,
        Capability.BOOK_LISTING,
        # Its one list is all its recipients: every campaign sent in Campaign Master went to it.
        Capability.CAMPAIGN_IMPORT,
    })
    # Capabilities an account has when its service offers the assumed operations (``assumed.OPERATIONS``).
    extended_capabilities = frozenset({
        Capability.TEST_SEND,
        Capability.SCHEDULING,
        Capability.CAMPAIGN_CREATION,
        Capability.TEMPLATES,
        Capability.FROM_ADDRESSES,
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
        self._services = {}
        self._tokens = {}
        self._global_addresses = None
        self._bounce_weights_cache = {}
        self._sent_dates = {}
        self._field_names = None

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

    def _service(self, path):
        service = self._services.get(path)
        if service is None:
            url = self.base_url + path
            try:
                # Strict: a cut or malformed answer is an error, never a partial answer; libxml2's limits on.
                client = Client(url + "?wsdl", transport=self._zeep_transport,
                                settings=Settings(strict=True, xml_huge_tree=False))
            except EspError:
                raise
            except Exception as exc:  # zeep raises many kinds while reading a WSDL
                raise InvalidResponse(f"Campaign Master's service description at {url} could not be read "
                                      f"({type(exc).__name__}).") from None
            # Calls go to the configured URL, whatever host the WSDL names.
            client.service._binding_options["address"] = url
            service = self._services[path] = _Service(client)
        return service

    def offers(self, operation, path=MAIN_SERVICE):
        """True when the account's service (its WSDL) has ``operation``."""
        return operation in self._service(path).operations

    def offered_capabilities(self):
        """The capabilities of this account: the evidenced ones, and the extended ones when its service offers
        every assumed operation they need (read from the WSDLs)."""
        offered = set(type(self).capabilities)
        if not JOB_OPERATIONS <= self._service(JOB_SERVICE).operations:
            offered.discard(Capability.BULK_IMPORT)
        if self.extended:
            # Which list a sent campaign went to is shown nowhere: with lists, sent campaigns are not imported.
            offered.discard(Capability.CAMPAIGN_IMPORT)
            offered |= self.extended_capabilities
        return frozenset(offered)

    @property
    def extended(self):
        """The account's service has the assumed list operations (lists, membership)."""
        return assumed.OPERATIONS <= self._service(MAIN_SERVICE).operations

    def _invoke(self, path, operation, headers=None, **params):
        service = self._service(path)
        if operation not in service.operations:
            raise ValidationError(f"Campaign Master's service has no {operation} operation: this account's API "
                                  "does not offer it.", code="NoSuchOperation")
        method = getattr(service.client.service, operation)
        params = {key: service.wire(value) for key, value in params.items()}
        try:
            if headers:
                answer = method(_soapheaders=service.wire(headers), **params)
            else:
                answer = method(**params)
        except zeep_exceptions.Fault as fault:
            raise _fault_error(operation, fault) from None
        except zeep_exceptions.TransportError as exc:
            raise _transport_error(operation, exc.status_code, exc.content) from None
        except (zeep_exceptions.XMLSyntaxError, zeep_exceptions.XMLParseError, zeep_exceptions.ValidationError) as exc:
            raise InvalidResponse(f"Campaign Master answered {operation} with something that is not its complete "
                                  f"SOAP answer ({type(exc).__name__}).") from None
        except zeep_exceptions.Error as exc:
            raise InvalidResponse(f"Campaign Master's {operation} could not be called ({exc}).") from None
        except TypeError as exc:
            # zeep refuses a member its WSDL does not have: the account's service differs from the evidence.
            raise ValidationError(f"Campaign Master's {operation} does not take what was sent ({exc}).",
                                  code="ContractMismatch") from None
        return _unwrap(_canon(serialize_object(answer, target_cls=dict)))

    def _login(self, path=MAIN_SERVICE):
        answer = self._invoke(path, "Login", clientID=self.client_id, userName=self.username,
                              password=self._password) or {}
        token = answer.get("tokenstring")
        if not token:
            raise AuthenticationError("Campaign Master accepted the login but gave no token.")
        # 480 minutes were seen; without a figure, a short life is the safe guess.
        minutes = answer.get("minutestilltokenexpires") or 20
        self._tokens[path] = (token, time.monotonic() + float(minutes) * 60)
        return token

    def _valid_token(self, path=MAIN_SERVICE):
        token, expires = self._tokens.get(path) or (None, 0.0)
        if token is None or time.monotonic() >= expires - TOKEN_MARGIN_SECONDS:
            token = self._login(path)
        return token

    def _with_token(self, path, operation, attempt):
        """``attempt(token)`` with a valid token of the service at ``path``: renewed once when the service says
        the token is no longer good, and a read repeated on server faults and unreadable answers."""
        renewed = repeats = 0
        while True:
            # A fault of the login itself (InvalidLogin: wrong credentials) is never a reason to log in again.
            token = self._valid_token(path)
            try:
                return attempt(token)
            except AuthenticationError as error:
                if error.code not in TOKEN_FAULTS or renewed:
                    raise
                renewed += 1
                self._tokens.pop(path, None)
            except (ServerError, InvalidResponse):
                if not operation.startswith(READ_PREFIXES) or repeats >= self.transport.max_retries:
                    raise
                repeats += 1
                time.sleep(self.transport.backoff_factor * 2 ** (repeats - 1))

    def _call(self, operation, missing_ok=False, **params):
        """One call of the main service with the login token."""
        try:
            return self._with_token(MAIN_SERVICE, operation,
                                    lambda token: self._invoke(MAIN_SERVICE, operation, token=token, **params))
        except NotFound:
            if missing_ok:
                return None
            raise

    def _job_call(self, operation, headers=None, **params):
        """One call of the Job service with its own login's token in the ``SecurityToken`` header."""
        return self._with_token(JOB_SERVICE, operation, lambda token: self._invoke(
            JOB_SERVICE, operation, headers={**(headers or {}), "SecurityToken": {"Value": token}}, **params))

    def _paged(self, operation, key, **params):
        page = 1
        while True:
            answer = self._call(operation, page=page, **params) or {}
            yield from _items(answer.get(key))
            if answer.get("islastpage", True) or not answer.get(key):
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
        self._tokens.pop(MAIN_SERVICE, None)
        self._valid_token()
        return records.AccountInfo(account_id=self.client_id, endpoint=self.base_url, region=None,
                                   main_email=self.username)

    def server_time(self):
        value = self._invoke(MAIN_SERVICE, "GetServerTime")
        if not isinstance(value, datetime):
            raise InvalidResponse(f"Campaign Master's server time {value!r} is not a date.")
        return _aware(value)

    # ------------------------------------------------------------------------------------------------------
    # Lists (assumed; an account without them has one: all its recipients), fields, templates, from addresses
    # ------------------------------------------------------------------------------------------------------

    def iter_address_books(self):
        if not self.extended:
            yield records.AddressBook(id=ALL_RECIPIENTS, name="All recipients", visibility=None, is_system=False)
            return
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
        if not self.extended:
            raise ValidationError("Campaign Master's API (v1.1) has no lists: create the list in Campaign Master.",
                                  code="NoSuchOperation")
        return assumed.create_list(self._call, name)

    def _fields(self):
        """The account's recipient fields as GetRecipientFields names them, read once per client."""
        if self._field_names is None:
            self._field_names = [(row.get("name") or "", bool(row.get("issystemfield")), row.get("datatype"))
                                 for row in self._call("GetRecipientFields") or ()]
        return self._field_names

    def _field(self, name):
        """The account's spelling of a system field (``EmailAddress``), from GetRecipientFields."""
        wanted = name.casefold()
        return next((field for field, _system, _type in self._fields() if field.casefold() == wanted), name)

    def iter_data_fields(self):
        for name, system, data_type in self._fields():
            if name and not system:
                yield records.DataField(name=name, type=_FIELD_TYPES.get(data_type, "String"))

    def create_data_field(self, name, type="String", visibility="Private", default=None):
        raise ValidationError("Campaign Master's API cannot create recipient fields: add the field in Campaign "
                              "Master, then refresh the data fields.", code="NoSuchOperation")

    def delete_data_field(self, name):
        raise ValidationError("Campaign Master's API cannot delete recipient fields: do it in Campaign Master.",
                              code="NoSuchOperation")

    def iter_templates(self):
        if not self.offers("GetTemplates"):
            return
        yield from assumed.iter_templates(self._call)

    def iter_from_addresses(self):
        if not self.offers("GetGlobalAddresses"):
            self._global_addresses = []
            return
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

    def _criterion(self, field, operator, operand):
        """A criterion on a field named as the account names it; order and parentheses as the only real client
        filled them in (1-based order, one pair of parentheses per criterion)."""
        return {"fieldName": self._field(field), "leftParentheses": 1, "logicalOperator": "And",
                "operand": operand, "operator": operator, "order": 1, "rightParentheses": 1}

    def _since_criterion(self, since):
        moment = since if isinstance(since, datetime) else datetime(since.year, since.month, since.day)
        return self._criterion(MODIFIED_FIELD, "GreaterThanEquals", _aware(moment).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def _book_criteria(self, book_id):
        if self.extended:
            return [assumed.list_criterion(book_id)]
        if int(book_id) != ALL_RECIPIENTS:
            raise NotFound(f"Campaign Master has no list {book_id}: its API has no lists.")
        return []

    def _recipient_rows(self, *criteria):
        criteria = [dict(criterion, order=index) for index, criterion in enumerate(criteria, start=1)]
        yield from self._paged("GetRecipients", "recipients", criteria={"cmCriterion": criteria})

    def _recipients(self, *criteria):
        for row in self._recipient_rows(*criteria):
            contact = _contact(row)
            if contact is not None:
                yield contact

    def iter_book_contacts_modified_since(self, book_id, since, with_full_data=True):
        yield from self._recipients(*self._book_criteria(book_id), self._since_criterion(since))

    def iter_book_unsubscribed_since(self, book_id, since):
        """Recipients of the list made inactive since ``since`` (Campaign Master has no unsubscribe feed: an
        inactive recipient changed since then is the evidence, dated by its ``LastModified``)."""
        for row in self._recipient_rows(*self._book_criteria(book_id), self._since_criterion(since),
                                        self._criterion(ACTIVE_FIELD, "Equals", "false")):
            email = (row.get("emailaddress") or "").strip()
            if email:
                yield records.Suppression(contact_id=row.get("id"), email=email, reason=INACTIVE_REASON,
                                          removed_at=_aware(row.get("lastmodified")))

    def book_contacts_page(self, book_id, skip=0):
        page = int(skip) // self.page_size + 1
        answer = self._call("GetRecipients", page=page,
                            criteria={"cmCriterion": self._book_criteria(book_id)}) or {}
        contacts = [contact for contact in map(_contact, _items(answer.get("recipients"))) if contact]
        last = answer.get("islastpage", True) or not contacts
        return contacts, (None if last else page * self.page_size)

    def _recipient_row(self, email):
        found = list(self._recipient_rows(self._criterion(EMAIL_FIELD, "Equals", email.strip())))
        return found[0] if found else None

    def get_contact(self, email):
        row = self._recipient_row(email)
        return _contact(row) if row else None

    def upsert_contact(self, email):
        """Add the recipient, or leave it as it is: its current IsActive and IsVerified are sent back, as the
        only real client did (a missing boolean reads as false: it would deactivate or unverify)."""
        current = self._recipient_row(email)
        recipient = {"emailAddress": email.strip(), "emailContentType": "HTML", "isActive": True,
                     "isVerified": False}
        if current is not None:
            recipient.update(isActive=bool(current.get("isactive")), isVerified=bool(current.get("isverified")),
                             emailContentType=current.get("emailcontenttype") or "HTML")
        self._add_recipient(recipient, "InsertOrUpdate")
        return self.get_contact(email)

    def unsubscribe_from_book(self, book_id, email):
        """Make the recipient inactive: Campaign Master has no per-list unsubscribe."""
        current = self._recipient_row(email)
        if current is not None:
            self._add_recipient({"emailAddress": email.strip(), "isActive": False,
                                 "isVerified": bool(current.get("isverified")),
                                 "emailContentType": current.get("emailcontenttype") or "HTML"}, "Update")
        return records.Suppression(contact_id=None, email=email, reason="Unsubscribed in Odoo", removed_at=None)

    def _add_recipient(self, recipient, operation_type):
        answer = self._call("AddRecipient", recipientInfo=recipient, operationType=operation_type,
                            primaryKeyName=self._field(EMAIL_FIELD)) or {}
        if answer.get("callstatus") != "Success":
            raise ValidationError(_refusal("AddRecipient", answer))
        return answer

    # ------------------------------------------------------------------------------------------------------
    # Bulk import: a job, confirmed by its result
    # ------------------------------------------------------------------------------------------------------

    def start_import(self, book_id, csv_fileobj, filename="contacts.csv"):
        """Submit a CSV of the list's contacts as an import job of the Job service: ``JobDefinition`` and
        ``SecurityToken`` in SOAP headers, ``FileToImport`` in the body; the ``Email`` column is sent as the
        account's ``EmailAddress`` field.

        :return: :class:`~.records.ImportJob` whose id is the job's
        """
        data = csv_fileobj.read()
        if isinstance(data, bytes):
            data = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(data)))
        if not rows:
            raise ValidationError("An import needs a header row.")
        email_field = self._field(EMAIL_FIELD)
        header = [email_field if cell.strip().lower() == "email" else cell for cell in rows[0]]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows[1:])
        definition = {
            "Delimiter": ",", "Filename": filename,
            "InsertSettings": {"AllowImport": True, "MakeActive": True, "MakeVerified": True},
            "PrimaryKey": email_field,
            # As the recorded client sent it: AllowImport allows the update of an existing recipient.
            "UpdateSettings": {"AllowImport": True, "MakeActive": False, "MakeVerified": False},
            "UseFirstDuplicate": False,
        }
        definition.update(self._book_criteria_job(book_id))
        answer = self._job_call("SubmitImportJob", headers={"JobDefinition": definition},
                                FileToImport=out.getvalue().encode("utf-8")) or {}
        job_id = answer.get("jobid") if isinstance(answer, dict) else answer
        if not job_id:
            raise InvalidResponse("Campaign Master accepted the import job but gave no job id.")
        return records.ImportJob(id=str(job_id), status="Submitted", state=records.IMPORT_PENDING)

    def _book_criteria_job(self, book_id):
        if self.extended:
            return {assumed.JOB_LIST_FIELD: int(book_id)}
        self._book_criteria(book_id)
        return {}

    def _job_result(self, import_id):
        try:
            job_id = int(str(import_id))
        except ValueError:
            raise NotFound(f"{import_id!r} is not a Campaign Master import job.") from None
        return assumed.job_result(self._job_call, job_id)

    def get_import(self, import_id):
        """The job's own result (``GetJobResult``): done when the service says it is completed."""
        result = self._job_result(import_id)
        return records.ImportJob(id=str(import_id), status=result["status"], state=result["state"])

    def iter_import_faults(self, import_id):
        """The rows the service refused, each with its reason."""
        for row in self._job_result(import_id)["failed_rows"]:
            yield records.ImportFault(reason=row["reason"] or "Refused by Campaign Master", email=row["key"] or None,
                                      row={"row": row["row"]})

    # ------------------------------------------------------------------------------------------------------
    # Campaigns: created and sent in Campaign Master; the assumed operations when the account offers them
    # ------------------------------------------------------------------------------------------------------

    def _campaign_answer(self, operation, answer):
        if answer.get("callstatus") != "Success":
            raise InvalidContent(_refusal(operation, answer))
        return self.get_campaign(answer.get("campaignid"))

    def create_campaign(self, content):
        body = assumed.campaign_body(content, self._from_email(content.get("from_address_id")))
        return self._campaign_answer("CreateEmailCampaign", assumed.create_campaign(self._call, body))

    def update_campaign(self, campaign_id, content):
        body = assumed.campaign_body(content, self._from_email(content.get("from_address_id")))
        answer = assumed.update_campaign(self._call, campaign_id, body)
        if answer.get("callstatus") == "Success" and not answer.get("campaignid"):
            answer = dict(answer, campaignid=int(campaign_id))
        return self._campaign_answer("UpdateEmailCampaign", answer)

    def get_campaign(self, campaign_id):
        if not self.offers("GetEmailCampaign"):
            for campaign in self.iter_campaigns():
                if campaign.id == int(campaign_id):
                    return campaign
            raise NotFound(f"Campaign Master has no sent campaign {campaign_id}.")
        return assumed.campaign(assumed.get_campaign(self._call, campaign_id))

    def find_campaign(self, marker):
        if not self.offers("GetEmailCampaignByExternalId"):
            return None
        row = assumed.get_campaign_by_external_id(self._call, marker)
        return assumed.campaign(row) if row else None

    def iter_campaigns(self):
        """Email campaigns sent (GetSentCampaigns also lists fax and SMS campaigns)."""
        for row in self._call("GetSentCampaigns", **{"from": datetime(2000, 1, 1, tzinfo=timezone.utc),
                                                      "to": self.server_time()}) or ():
            if (row.get("campaigntype") or "Email") == "Email":
                yield _sent_campaign(row)

    def iter_book_campaigns(self, book_id):
        """Email campaigns sent in Campaign Master to the account's one list, all its recipients (the list is
        chosen at send time in Campaign Master)."""
        self._book_criteria(book_id)
        yield from self.iter_campaigns()

    def test_send_campaign(self, campaign_id, addresses):
        answer = assumed.send_test(self._call, campaign_id, addresses) or {}
        if answer.get("callstatus") != "Success":
            raise InvalidContent(_refusal("SendTestEmailCampaign", answer))

    def send_campaign(self, campaign_id, book_ids=(), contact_ids=(), send_date=None):
        """Send to each list (Campaign Master takes the list at send time, one list per send)."""
        if contact_ids:
            raise ValidationError("Campaign Master sends to lists only.")
        if not book_ids:
            raise ValidationError("A campaign send needs at least one list.")
        for book_id in book_ids:
            answer = assumed.send(self._call, campaign_id, book_id, send_date) or {}
            if answer.get("callstatus") != "Success":
                raise InvalidContent(_refusal("SendEmailCampaign", answer))
        return self.get_send(f"cm-{int(campaign_id)}")

    def get_send(self, send_id):
        campaign_id = int(str(send_id).removeprefix("cm-"))
        row = assumed.get_campaign(self._call, campaign_id)
        status = row.get("status") or "Draft"
        return records.CampaignSend(
            id=f"cm-{campaign_id}", campaign_id=campaign_id, status=status,
            state=assumed.SEND_STATES.get(status, records.SEND_FAILED if status == "Draft" else records.SEND_SENDING),
            send_date=_aware(row.get("senddate") or row.get("sentdate")),
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
        """Email campaigns sent in the last :attr:`stats_window_days` days: Campaign Master has no feed of
        campaigns with new activity, and results keep coming for weeks after a send."""
        now = self.server_time()
        for row in self._call("GetSentCampaigns", **{"from": now - timedelta(days=self.stats_window_days),
                                                      "to": now}) or ():
            if (row.get("campaigntype") or "Email") == "Email":
                yield _sent_campaign(row)

    def get_campaign_summary(self, campaign_id):
        """The summary's figures; its one ``bounces`` figure is split into hard and soft by the bounces
        listing's weights."""
        row = self._call("GetEmailCampaignSummary", campaignId=int(campaign_id)) or {}
        reads, clicks, forwards = (row.get(key) or {} for key in ("reads", "clicks", "forwards"))
        sent = _int(row.get("totalselectedrecipients"))
        bounces = _int(row.get("bounces"))
        soft = sum(1 for weight in self._bounce_weights(campaign_id).values() if _is_soft(weight)) if bounces else 0
        soft = min(soft, bounces)
        hard = bounces - soft
        unique_reads = _int(reads.get("unique"))
        delivered = max(sent - bounces, 0)
        return records.CampaignSummary(
            campaign_id=int(campaign_id), sent=sent, delivered=delivered, hard_bounces=hard, soft_bounces=soft,
            unsubscribes=_int(row.get("totalunsubscribes")), complaints=0,
            opens=_int(reads.get("total")), unique_opens=unique_reads, clicks=_int(clicks.get("total")),
            unique_clicks=_int(clicks.get("unique")), forwards=_int(forwards.get("total")),
            open_rate=round(100.0 * unique_reads / delivered, 2) if delivered else None,
            date_sent=_aware(row.get("started")), unique_forwards=_int(forwards.get("unique")),
        )

    def iter_campaign_activities_since(self, campaign_id, since):
        """Per-recipient results updated after ``since`` (Campaign Master's ``resultsUpdatedAfter``); bounce
        kinds come from the bounces listing and open dates from the opens listing."""
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
        rows = list(_items(answer.get("resultrows")))
        weights = self._bounce_weights(campaign_id) if any(row.get("bounced") for row in rows) else {}
        opens = self._open_dates(campaign_id) if any(row.get("reads") for row in rows) else {}
        sent_at = self._sent_date(campaign_id) if rows else None
        activities = []
        for row in rows:
            email = (row.get("emailaddress") or "").strip()
            bounced = bool(row.get("bounced"))
            soft = bounced and _is_soft(weights.get(email.lower()))
            first_open, last_open = opens.get(email.lower(), (None, None))
            activities.append(records.CampaignActivity(
                contact_id=row.get("recipientid"), email=email,
                opens=_int(row.get("reads")), clicks=_int(row.get("clicks")), forwards=_int(row.get("forwards")),
                # Each row was sent with the campaign: its start is the send date, unless the row has its own.
                sent_at=_aware(row.get(assumed.RESULT_SENT)) or sent_at,
                first_open_at=first_open or _aware(row.get(assumed.RESULT_FIRST_READ)),
                last_open_at=last_open or _aware(row.get(assumed.RESULT_LAST_READ)),
                unsubscribed=bool(row.get(assumed.RESULT_UNSUBSCRIBED)),
                hard_bounced=bounced and not soft, soft_bounced=soft,
                # No evidenced source of click dates: only an extended account's results carry them.
                first_click_at=_aware(row.get(assumed.RESULT_FIRST_CLICK)),
                last_click_at=_aware(row.get(assumed.RESULT_LAST_CLICK)),
            ))
        last = answer.get("islastpage", True) or not rows
        return activities, (None if last else page * self.page_size), None

    def _sent_date(self, campaign_id):
        """When the campaign started sending (its summary's ``started``), read once per client and campaign."""
        cache = self._sent_dates
        if int(campaign_id) not in cache:
            row = self._call("GetEmailCampaignSummary", campaignId=int(campaign_id)) or {}
            started = _aware(row.get("started"))
            cache[int(campaign_id)] = started if started and started.year > 1 else None
        return cache[int(campaign_id)]

    def _bounce_weights(self, campaign_id):
        # Read once per client and campaign: a resumed read of a big campaign meets bounces on many pages.
        cache, campaign_id = self._bounce_weights_cache, int(campaign_id)
        if campaign_id not in cache:
            cache[campaign_id] = {
                (bounce.get("emailaddress") or "").lower(): bounce.get("bounceweight")
                for bounce in self._paged("GetEmailCampaignBounces", "resultrows", campaignId=campaign_id)
            }
        return cache[campaign_id]

    def _open_dates(self, campaign_id):
        """{email: (first open, last open)} from the opens listing (the only evidenced source of open dates)."""
        dates = {}
        for row in self._paged("GetEmailCampaignOpens", "resultrows", campaignId=int(campaign_id)):
            email, moment = (row.get("emailaddress") or "").lower(), _aware(row.get("opendate"))
            if not email or moment is None:
                continue
            first, last = dates.get(email, (moment, moment))
            dates[email] = (min(first, moment), max(last, moment))
        return dates

    def iter_campaign_clicks_since(self, campaign_id, since):
        # No evidenced source of click dates.
        return iter(())


# -- parsing ------------------------------------------------------------------------------------------------

_FIELD_TYPES = {"Text": "String", "Password": "String", "Integer": "Numeric", "Number": "Numeric",
                "Date": "Date", "Boolean": "Boolean"}


def _is_soft(weight):
    # bounceWeight is a string whose values no evidence shows: "Soft" is assumed; anything else counts hard.
    return (weight or "").strip().casefold() == "soft"


def _int(value):
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _aware(value):
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _contact(row):
    email = (row.get("emailaddress") or "").strip()
    if not email:
        return None
    data = {value.get("fieldname"): value.get("value") for value in _items(row.get("values"))
            if value.get("fieldname")}
    active = bool(row.get("isactive", True))
    return records.Contact(id=row.get("id"), email=email, status="Active" if active else "Inactive",
                           data_fields=data, sendable=active)


def _sent_campaign(row):
    return records.Campaign(id=int(row["id"]), name=row.get("name") or "", subject=row.get("name"),
                            status=row.get("campaigntype") or "Email", state=records.CAMPAIGN_SENT)


def _refusal(operation, answer):
    return f"Campaign Master refused {operation}: {answer.get('message') or answer.get('callstatus') or '?'}"


def _items(value):
    """The rows of a WCF array as zeep answers it (``{"cmrecipient": [...]}``), or of a plain list."""
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


# faultcode (local name) -> error class. InvalidLogin is the one fault the evidence shows (a wrong password:
# HTTP 500, no detail); the others are assumed.
_FAULTS = {
    "InvalidLogin": AuthenticationError,
    "InvalidToken": AuthenticationError,
    "NotFound": NotFound,
    "InvalidArgument": ValidationError,
    "Client": ValidationError,
}


def _fault_error(operation, fault):
    code = (fault.code or "").rsplit(":", 1)[-1].rsplit("}", 1)[-1].strip()
    if not code:
        # Not a SOAP fault: an error page that happened to be well-formed markup (a proxy's HTML 502).
        text = fault.detail.decode("utf-8", "replace") if isinstance(fault.detail, bytes) else str(fault.message or "")
        kind = "an HTML page" if "<html" in (text or "").lower() else "an error page"
        return ServerError(f"Campaign Master answered {operation} with {kind} instead of its SOAP answer.",
                           status=500, excerpt=text[:200])
    message = f"Campaign Master: {operation} failed: {fault.message or code}"
    if code == "TooManyRequests":
        return RateLimited(message, status=500, code=code, retry_after=None)
    return _FAULTS.get(code, ServerError)(message, status=500, code=code)


def _transport_error(operation, status, content):
    text = (content or b"")[:200]
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if status == 429:
        return RateLimited(f"Campaign Master throttled {operation} (HTTP 429).", status=status)
    kind = "an HTML page" if "<html" in text.lower() else f"HTTP {status}"
    error = ServerError if status and status >= 500 else InvalidResponse
    return error(f"Campaign Master answered {operation} with {kind}.", status=status, excerpt=text)
