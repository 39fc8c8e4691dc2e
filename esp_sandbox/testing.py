"""Test helpers: run a sandbox inside the test process, or drive one running elsewhere, over HTTP only.

In-process (pytest, a plain script)::

    from esp_sandbox.testing import SandboxServer

    with SandboxServer() as sandbox:
        client = MyDotdigitalClient(sandbox.url, sandbox.api_user, sandbox.api_password)
        sandbox.inject_fault("/v2/account-info", "http_500", count=2)
        ...
        assert len(sandbox.requests_log()) == 3

Another process (the Odoo tests, a demo) uses ``SandboxControl(url)`` with the same methods. Every method is
one HTTP call to the /sandbox/ control surface documented in README.md, so both behave the same.
"""

import json
import threading
import urllib.error
import urllib.parse
import urllib.request

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .config import DEFAULT_API_PASSWORD, DEFAULT_API_USER, SandboxConfig


class SandboxError(RuntimeError):
    """A control call the sandbox refused; ``status`` and ``message`` come from its answer."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SandboxControl:
    """Client of a sandbox's control surface.

    :param url: base URL of the sandbox, e.g. ``http://127.0.0.1:8899`` (no trailing ``/v2``).
    :param api_user: API user the sandbox was started with, for callers that build a client from this object.
    :param api_password: its password.
    :param timeout: seconds per control call.
    """

    def __init__(self, url, api_user=DEFAULT_API_USER, api_password=DEFAULT_API_PASSWORD, timeout=30.0):
        self.url = url.rstrip("/")
        self.api_user = api_user
        self.api_password = api_password
        self.timeout = timeout

    def _call(self, method, route, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/sandbox/{route}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", "")
            except ValueError:
                message = exc.reason
            raise SandboxError(exc.code, message) from None

    def reset(self, seed=None, clock_offset=None):
        """Back to a freshly seeded account: no contacts, no faults, clock at wall time, empty request log,
        settings as at start-up (``seed`` overrides the simulation seed; ``clock_offset`` starts the clock that
        many seconds from wall time, e.g. ``-3 * 86400`` to build a history by advancing it)."""
        body = {"seed": seed, "clock_offset": clock_offset}
        return self._call("POST", "reset", {key: value for key, value in body.items() if value is not None})

    def now(self):
        """The sandbox clock: ``{"now": iso, "epoch": seconds, "offset": seconds}``."""
        return self._call("GET", "clock")

    def advance_clock(self, seconds):
        """Move the sandbox clock forward; due imports, sends and simulated events happen at once."""
        return self._call("POST", "clock/advance", {"seconds": seconds})

    def inject_fault(self, path, kind, count=1, method=None, **opts):
        """Answer the next ``count`` calls of ``path`` (exact or fnmatch pattern) with a fault.

        :param kind: ``http_500``, ``slow`` (opts: ``seconds``), ``drop_connection``, ``lost_answer``, ``html_502``,
            ``truncated_json`` or ``truncated_answer`` (any answer cut in half), ``rate_limited`` (opts: ``limit``,
            ``reset``, ``scope``) or, on Campaign Master's paths, ``soap_fault`` (opts: ``code``, default ``ServiceUnavailable``; ``message``).
        :param method: only calls with this HTTP method; None for any.
        :param opts: also ``operation="GetRecipients"``: only the SOAP calls of that operation.
        """
        return self._call("POST", "faults", {"path": path, "kind": kind, "count": count, "method": method,
                                              "options": opts})

    def clear_faults(self):
        return self._call("DELETE", "faults")

    def inject_import_fault(self, kind, count=1):
        """Make the next ``count`` imports end as ``RejectedByWatchdog``, ``Failed`` or stay ``NotFinished``."""
        return self._call("POST", "import-faults", {"kind": kind, "count": count})

    def configure(self, engagement=None, rate_limit=None, import_delay=None, seed=None, extra_api_users=None,
                  cm_member_case=None, cm_extended=None, v3_contacts=None, custom_identifiers=None,
                  optin_expiry_days=None):
        """Change settings at run time (until the next reset); see README.md for the keys of ``engagement`` and
        ``rate_limit``; ``extra_api_users`` (``{user: password}``) replaces the account's other API users;
        ``cm_member_case``, ``cm_extended``, ``v3_contacts``, ``custom_identifiers`` and ``optin_expiry_days`` as
        in ``SandboxConfig``."""
        body = {"engagement": engagement, "rate_limit": rate_limit, "import_delay": import_delay, "seed": seed,
                "extra_api_users": extra_api_users, "cm_member_case": cm_member_case, "cm_extended": cm_extended,
                "v3_contacts": v3_contacts, "custom_identifiers": custom_identifiers,
                "optin_expiry_days": optin_expiry_days}
        return self._call("PUT", "config", {k: v for k, v in body.items() if v is not None})

    def config(self):
        return self._call("GET", "config")

    def state(self, contacts_limit=1000):
        """Books with their contacts and per-book status, contacts, imports, sends, campaigns and faults."""
        return self._call("GET", f"state?contacts_limit={int(contacts_limit)}")

    def requests_log(self):
        """Every API call served so far: ``[{method, path, query, status, at}]`` (status 0: connection dropped);
        Campaign Master's calls also carry ``operation`` (None for a WSDL read)."""
        return self._call("GET", "requests")

    def clear_log(self):
        return self._call("DELETE", "requests")

    def cm_expire_tokens(self):
        """Expire every Campaign Master login token: the next call with one answers the InvalidToken Fault."""
        return self._call("POST", "cm/expire-tokens", {})

    def personalized_campaign(self, campaign_id, email):
        """A campaign's ``subject``, ``htmlContent`` and ``plainTextContent`` as the contact ``email`` receives
        them (its ``@FIELD@`` tags filled)."""
        return self._call("GET", f"campaigns/{int(campaign_id)}/personalized?email={urllib.parse.quote(email)}")

    def confirm_optin(self, email):
        """The contact confirms its double opt-in (clicks the link of dotdigital's confirmation email)."""
        return self._call("POST", "contacts/confirm-optin", {"email": email})

    def set_contact_status(self, email, status, book_id=None):
        """Change a contact's status as if done in dotdigital's UI (with ``book_id``: in that book only)."""
        return self._call("POST", "contacts/status", {"email": email, "status": status, "book_id": book_id})


class _QuietHandler(WSGIRequestHandler):
    """Keeps test output clean: the request log is read through ``requests_log()`` instead."""

    def log_request(self, *args, **kwargs):
        pass


class SandboxServer(SandboxControl):
    """A sandbox served from a daemon thread of this process on a free loopback port.

    Use it as a context manager, or call ``start()`` and ``stop()``. Keyword arguments override fields of
    ``SandboxConfig`` (``seed``, ``state_dir``, ``import_delay``, ``api_user``, …); ``app`` is the WSGI
    application, for tests that want to look at its store directly.
    """

    def __init__(self, config=None, **settings):
        self.sandbox_config = config or SandboxConfig(port=0)
        for key, value in settings.items():
            setattr(self.sandbox_config, key, value)
        super().__init__("http://127.0.0.1", self.sandbox_config.api_user, self.sandbox_config.api_password)
        self.app = None
        self._server = None
        self._thread = None

    def start(self):
        self.app = create_app(self.sandbox_config)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        # A short poll interval keeps stop() quick; tests start and stop servers of their own.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="esp-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()
            self.app.store.close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
