"""The two SOAP services on the sandbox's port, and their login tokens.

``SandboxApp`` hands a request for a service path here after the fault plan: ``answer`` serves the WSDL on
GET, and on POST runs parameters → token → rate limit → due work → handler under the store's lock, the same
steps a v2 call takes after Basic auth. Every failure is a SOAP Fault, never a traceback.
"""

import dataclasses
import logging
import secrets

from werkzeug.wrappers import Response

from .. import errors
from . import assumed, jobs, service, soap

_logger = logging.getLogger(__name__)

# The services as the evidence shows them, and with the assumed operations and members (``cm_extended``).
SERVICES = (service.SERVICE, jobs.SERVICE)
EXTENDED = {service.PATH.casefold(): service.EXTENDED, jobs.PATH.casefold(): jobs.EXTENDED}
HELP_PAGE = (
    "<html><head><title>{name}</title></head><body><h1>{name}</h1><p>The sandbox's {name}. Its description: "
    '<a href="{path}?wsdl">{path}?wsdl</a>.</p></body></html>'
)


class Tokens:
    """Login tokens and their expiry on the sandbox clock. Callers hold the store lock."""

    def __init__(self):
        self.expiry = {}

    def issue(self, now, minutes):
        token = secrets.token_urlsafe(24)
        self.expiry[token] = now + minutes * 60
        return token

    def check(self, token, now):
        expires = self.expiry.get(token or "")
        if expires is None or expires <= now:
            self.expiry.pop(token or "", None)
            raise soap.SoapFault("InvalidToken")

    def live(self, now):
        return sum(1 for expires in self.expiry.values() if expires > now)

    def expire_all(self):
        count = len(self.expiry)
        self.expiry.clear()
        return count


@dataclasses.dataclass
class Context:
    """What a handler works with."""

    store: object
    config: object
    tokens: Tokens
    extended: bool = False


class CampaignMaster:
    """Campaign Master's services of one sandbox application (``app``: its store, config, rate limiter and
    ``tick``)."""

    def __init__(self, app):
        self.app = app
        self.tokens = Tokens()
        self.services = {svc.path.casefold(): svc for svc in SERVICES}
        with app.store.lock:
            app.store.db.executescript(jobs.SCHEMA + assumed.SCHEMA)

    def service_of(self, path):
        """The service at a path (IIS matches paths whatever their case), or None; with ``cm_extended``, the
        one with the assumed operations."""
        if getattr(self.app.config, "cm_extended", False) and path.casefold() in EXTENDED:
            return EXTENDED[path.casefold()]
        return self.services.get(path.casefold())

    @property
    def case(self):
        return getattr(self.app.config, "cm_member_case", soap.WIRE_INFERRED)

    def read_call(self, request):
        """The parsed call of a POST, read before the fault plan so a fault can target one operation."""
        if request.method != "POST":
            return None
        return soap.parse_envelope(request.get_data(cache=True), request.headers.get("SOAPAction", ""))

    def answer(self, request, svc, call):
        if request.method == "GET":
            return self._describe(request, svc)
        if call is None:
            return Response("Method not allowed.", status=405, headers={"Allow": "GET, POST"})
        try:
            return self._xml(soap.response(svc, *self._run(svc, call), case=self.case))
        except soap.SoapFault as exc:
            return fault_response(exc)
        except Exception:  # a bug of the sandbox still answers like the service would: a Fault
            _logger.exception("Campaign Master sandbox: %s failed", call.operation)
            return fault_response(soap.SoapFault("InternalError"))

    def _run(self, svc, call):
        if call.problem is not None:
            raise call.problem
        operation = svc.operation_of(call.operation)
        if operation is None:
            raise soap.invalid(f"{call.operation} is not an operation of {svc.name}.")
        app = self.app
        with app.store.lock:
            params = soap.read_params(svc, operation, call, self.case)
            now = app.store.now()
            for name in ("token", "SecurityToken"):
                if name in params:
                    token = params.pop(name)
                    self.tokens.check(token.get("Value") if isinstance(token, dict) else token, now)
            try:
                app.rate_limiter.check(app.config.rate_limit, assumed.tier(operation.name), now)
            except errors.ApiError:
                raise assumed.throttled()
            app.tick()
            value = operation.handler(Context(app.store, app.config, self.tokens, svc is EXTENDED.get(svc.path.casefold())),
                                      params)
        return operation, value

    def _describe(self, request, svc):
        location = (self.app.config.public_url or request.host_url.rstrip("/")) + svc.path
        if {key.casefold() for key in request.args} & {"wsdl", "singlewsdl"}:
            return self._xml(soap.wsdl(svc, location, self.case))
        return Response(HELP_PAGE.format(name=svc.name, path=location), content_type="text/html; charset=utf-8")

    @staticmethod
    def _xml(body, status=200):
        return Response(body, status=status, content_type=soap.CONTENT_TYPE)


def fault_response(exc):
    """HTTP 500 with the Fault envelope, as WCF answers every Fault."""
    return Response(soap.fault_envelope(exc), status=500, content_type=soap.CONTENT_TYPE)


def planned_fault_response(options):
    """The answer of a planned ``soap_fault``: options ``code`` (default ServiceUnavailable) and ``message``;
    without a message, a code the sandbox itself answers keeps its own wording (InvalidToken, TooManyRequests)."""
    code, message = options.get("code") or "ServiceUnavailable", options.get("message")
    if code == assumed.THROTTLED[0] and not message:
        return fault_response(assumed.throttled())
    return fault_response(soap.SoapFault(code, message))
