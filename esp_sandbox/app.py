"""The sandbox WSGI application: dotdigital's v2 API on loopback plus a control surface under /sandbox/.

Per v2 call: planned fault → Basic auth → routing → rate limit → due background work (imports, sends,
simulated status changes) → ``on_<endpoint>`` handler, all under the store's lock; then the call goes into
the request log that tests read to count API calls. Campaign Master's SOAP services (``campaign_master``) share
the port, the store, the fault plan, the rate limiter, the due work and the log; they log in with a token of
their own instead of Basic auth.
"""

import copy
import dataclasses
import socket
import time

from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, RequestRedirect
from werkzeug.wrappers import Request

from . import (
    api_account,
    api_campaigns,
    api_contacts,
    api_contacts_v3,
    campaigns,
    control,
    errors,
    faults,
    home,
    imports,
)
from .campaign_master import CampaignMaster, endpoint, jobs
from .config import SandboxConfig
from .ratelimit import RateLimiter, apply_headers, tier_of
from .store import Store


class DropConnection(ConnectionAbortedError):
    """Leaves a request without any answer; werkzeug's server treats it as a client that went away."""


class SandboxApp(api_account.AccountApi, api_contacts.ContactsApi, api_contacts_v3.ContactsV3Api,
                 api_campaigns.CampaignsApi, control.ControlApi):
    """One sandbox ESP account. ``create_app(config)`` builds it; it is a plain WSGI callable."""

    def __init__(self, config):
        self.config = config
        # What /sandbox/reset goes back to: the settings the sandbox was started with.
        self.initial_settings = copy.deepcopy(dataclasses.asdict(config))
        self.store = Store(config.state_dir)
        self.faults = faults.FaultPlan()
        self.rate_limiter = RateLimiter()
        self.request_log = []
        self.campaign_master = CampaignMaster(self)
        # Rules are copied because a werkzeug Rule binds to one Map and tests build several applications.
        rules = api_account.RULES + api_contacts.RULES + api_contacts_v3.RULES + api_campaigns.RULES + control.RULES
        self.url_map = Map([rule.empty() for rule in rules], converters={"email": EmailConverter},
                           merge_slashes=False, strict_slashes=False)
        # Literal path segments of the v2 routes: matched in any casing, like ASP.NET's routing.
        self.literal_segments = {
            segment.lower() for rule in rules if rule.rule.startswith("/v2/")
            for segment in rule.rule.split("/") if segment and "<" not in segment
        }

    # -- WSGI -------------------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if not path.startswith("/sandbox/"):
            environ["PATH_INFO"] = self.canonical_path(path)
        response = self.handle(Request(environ))
        return response(environ, start_response)

    def canonical_path(self, path):
        """The route a v2 path reaches on the real service: IIS and ASP.NET routing ignore a trailing slash
        and the case of literal segments (``/V2/Address-Books/``); empty segments (``//``) are dropped rather
        than redirected, so a client gets the route's JSON answer, never an HTML redirect."""
        segments = [segment for segment in path.split("/") if segment]
        return "/" + "/".join(
            segment.lower() if segment.lower() in self.literal_segments else segment for segment in segments
        )

    def handle(self, request):
        if request.path.startswith("/sandbox/"):
            return self.dispatch_request(request)
        if request.path == "/" and request.method in ("GET", "HEAD"):
            return home.page(self, request)  # a person's browser, not an API call: not logged
        service = self.campaign_master.service_of(request.path)
        # A SOAP call is read before the fault plan, since a fault may target one operation; its log entry
        # names the operation (None for a WSDL read), and v2 entries keep their shape.
        call = self.campaign_master.read_call(request) if service is not None else None
        soap_call = {"operation": call and call.operation} if service is not None else {}
        fault = self._take_fault(request, soap_call.get("operation"))
        response = self._serve_fault(request, fault, soap_call) if fault is not None else None
        if response is None:
            if service is not None:
                response = self.campaign_master.answer(request, service, call)
            else:
                response = self.dispatch_request(request)
            if fault is not None and fault.kind in faults.TRUNCATING:
                response = faults.truncate(response)
            if fault is not None and fault.kind == "lost_answer":
                # The call was carried out, then its answer lost: what a client sees of a timeout after the
                # server did the work.
                self._log(request, 0, soap_call)
                self._drop(request)
        self._log(request, response.status_code, soap_call)
        return response

    def dispatch_request(self, request):
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            if not request.path.startswith("/sandbox/"):
                self._authenticate(request)
                # Query names in any casing (``Select``, ``Skip``, ``WithFullData``), as ASP.NET binds them.
                request.args = CaseInsensitiveArgs(request.args)
            endpoint, values = adapter.match()
            with self.store.lock:
                headers = self._admit(request, endpoint)
                response = getattr(self, f"on_{endpoint}")(request, **values)
            return apply_headers(response, headers)
        except NotFound:
            return errors.ApiError(
                404, f"No HTTP resource was found that matches the request URI '{request.url}'."
            ).get_response(request.environ)
        except RequestRedirect:
            return errors.ApiError(
                404, f"No HTTP resource was found that matches the request URI '{request.url}'."
            ).get_response(request.environ)
        except MethodNotAllowed:
            return errors.ApiError(
                405, f"The requested resource does not support http method '{request.method}'."
            ).get_response(request.environ)
        except HTTPException as exc:
            return exc.get_response(request.environ)

    # -- steps of a v2 call -----------------------------------------------------------------------------------

    def _authenticate(self, request):
        auth = request.authorization
        user = (auth.username or "") if auth else ""
        password = (auth.password or "") if auth else ""
        if not self.config.check_login(user, password):
            raise errors.unauthorized()

    def _admit(self, request, endpoint):
        """Rate limit, then catch up on work that became due; returns headers for the answer."""
        if endpoint.startswith("control_"):
            return {}
        headers = self.rate_limiter.check(self.config.rate_limit, tier_of(request.method, endpoint), self.store.now(),
                                          per_minute=endpoint.startswith("v3_"))
        self.tick()
        return headers

    def tick(self):
        """Finish due imports (v2 and Campaign Master jobs), run due sends and apply simulated status changes
        the clock has reached."""
        imports.process_due(self.store)
        api_contacts_v3.process_due(self.store, self.config)
        api_contacts_v3.expire_optins(self.store, self.config)
        jobs.process_due(self.store)
        campaigns.process_due(self.store, self.config)

    def _take_fault(self, request, operation=None):
        with self.store.lock:
            return self.faults.take(request.method, request.path, operation)

    def _serve_fault(self, request, fault, soap_call):
        """The fault's own answer, or None when the call then proceeds normally (slow, truncated_json,
        lost_answer)."""
        if fault.kind in (*faults.TRUNCATING, "lost_answer"):
            return None
        if fault.kind == "slow":
            time.sleep(float(fault.options.get("seconds", 2)))
            return None
        if fault.kind == "drop_connection":
            self._log(request, 0, soap_call)
            self._drop(request)
        if fault.kind == "html_502":
            return faults.html_502_response()
        if fault.kind == "rate_limited":
            return faults.rate_limited_response(fault.options)
        if fault.kind == "soap_fault":
            return endpoint.planned_fault_response(fault.options)
        return faults.error_500_response()

    @staticmethod
    def _drop(request):
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        raise DropConnection

    def _log(self, request, status, soap_call=None):
        """:param soap_call: ``{"operation": name}`` for a SOAP call (None for a WSDL read), else empty."""
        with self.store.lock:
            self.request_log.append({
                "method": request.method,
                "path": request.path,
                "query": request.query_string.decode("latin-1"),
                "status": status,
                "at": self.store.now(),
                **(soap_call or {}),
            })


class EmailConverter(BaseConverter):
    """A path segment holding an email address: ``/v2/contacts/score`` is another route (or none), never a
    contact called "score"."""

    regex = r"[^/]*@[^/]*"


class CaseInsensitiveArgs(ImmutableMultiDict):
    """Query arguments looked up whatever the casing of their names."""

    def __init__(self, args):
        super().__init__([(key.casefold(), value) for key, value in args.items(multi=True)])

    def __getitem__(self, key):
        return super().__getitem__(key.casefold())

    def __contains__(self, key):
        return super().__contains__(key.casefold())

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        return super().get(key.casefold(), default, type)

    def getlist(self, key, type=None):  # noqa: A002
        return super().getlist(key.casefold(), type)


def create_app(config=None, **overrides):
    """Build a sandbox application from a ``SandboxConfig`` (or keyword overrides of the defaults)."""
    config = config or SandboxConfig()
    for key, value in overrides.items():
        setattr(config, key, value)
    return SandboxApp(config)
