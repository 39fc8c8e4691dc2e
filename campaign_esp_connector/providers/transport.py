"""HTTP transport shared by providers: one session, retries, throttling, error mapping and call accounting.

Operations never touch ``requests`` directly; they call :meth:`HttpTransport.request` and get a response
whose status is 2xx, or a typed :mod:`.exceptions` error.

Two layers of retries, because each sees different things:

* urllib3's ``Retry`` (mounted on the session) sees connection errors and 5xx statuses. It only repeats
  idempotent methods, except for connect errors, where the request never left this machine.
* a small loop here sees what ``Retry`` cannot: throttling announced by ``X-RateLimit-Reset`` (429) or by
  an ``ERROR_APIUSAGE_EXCEEDED`` token inside a 400 body, and temporary ``ERROR_*`` codes in 400 bodies.
"""

import base64
import ipaddress
import json
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .exceptions import (
    ConfigurationError,
    EspConnectionError,
    InvalidResponse,
    RateLimited,
    body_excerpt,
    error_for,
    looks_like_html,
    parse_error_body,
)

_logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# 400 bodies carrying these codes are worth repeating (idempotent calls only): maintenance, busy list.
TRANSIENT_400_CODES = frozenset({"ERROR_SYSTEM_SERVICETEMPORARILYUNAVAILABLE", "ERROR_ADDRESSBOOK_IN_USE"})
# X-RateLimit-Reset is documented both as "seconds to wait" and as an epoch; no wait is ever 30 years long.
EPOCH_THRESHOLD = 10**9


def check_base_url(url):
    """Validate and normalise a base URL: https anywhere, plain http only on this machine.

    :param url: e.g. ``https://r1-api.dotdigital.com`` or ``http://127.0.0.1:8069`` (a trailing ``/v2`` or ``/``
        is dropped, operations add their own ``/v2/...`` paths)
    :return: the URL without trailing slash
    :raise ConfigurationError: for any other scheme, a missing host, or http to a non-loopback host
    """
    parts = urlsplit((url or "").strip())
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(f"API endpoint {url!r} is not a valid http(s) URL.")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigurationError(
            f"API endpoint {url!r} uses plain http: credentials would travel unencrypted. "
            "Use https (plain http is only accepted for a local sandbox on 127.0.0.1, ::1 or localhost)."
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return f"{parts.scheme}://{parts.netloc}{path}"


def is_loopback(host):
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 address."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_rate_limit_reset(value, now=None):
    """Seconds to wait from an ``X-RateLimit-Reset`` or ``Retry-After`` value.

    :param value: header value, either seconds (``"42"``) or a Unix epoch (``"1717000000"``)
    :param now: current epoch, for tests
    :return: seconds (>= 0), or ``None`` when the value is missing or unreadable
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number > EPOCH_THRESHOLD:
        number -= time.time() if now is None else now
    return max(number, 0.0)


class _SecretBasicAuth(requests.auth.AuthBase):
    """HTTP Basic auth whose repr, str and pickling never reveal the credentials."""

    def __init__(self, username, password):
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    def __call__(self, request):
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self):
        return "<credentials hidden>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("credentials are not picklable")


class _ObservedRetry(Retry):
    """``Retry`` that reports each failed attempt and caps ``Retry-After`` sleeps.

    Only constructor arguments accepted by both urllib3 1.26 and 2.x are used; the two extra attributes are
    carried over by :meth:`new`, which every ``increment`` goes through.
    """

    observer = None
    max_sleep = None

    def new(self, **kw):
        retry = super().new(**kw)
        retry.observer = self.observer
        retry.max_sleep = self.max_sleep
        return retry

    def is_retry(self, method, status_code, has_retry_after=False):
        # Throttling is the transport loop's job: it reads X-RateLimit-Reset and knows the caller's max wait.
        if status_code in (413, 429):
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if self.observer is not None:
            self.observer(response, error)
        return super().increment(
            method=method, url=url, response=response, error=error, _pool=_pool, _stacktrace=_stacktrace
        )

    def sleep_for_retry(self, response=None):
        # A maintenance 503 may announce an hour; a cron thread must not sleep that long inside urllib3.
        retry_after = self.get_retry_after(response)
        if retry_after:
            time.sleep(retry_after if self.max_sleep is None else min(retry_after, self.max_sleep))
            return True
        return False


@dataclass
class CallStats:
    """Counters of one client, for "calls today" and "last throttle" displays.

    ``calls`` counts HTTP attempts (retries included), since each one counts against the provider's quota.
    """

    calls: int = 0
    retries: int = 0
    throttled: int = 0
    errors: int = 0
    last_status: int | None = None
    last_throttle_at: float | None = None
    last_retry_after: float | None = None
    # Seconds spent waiting for answers (headers received; streamed bodies are read later), so callers can
    # tell their own work from the provider's.
    http_seconds: float = 0.0


class HttpTransport:
    """One configured HTTP client: base URL, credentials, timeouts, retry policy, call counters.

    :param base_url: where calls go (see :func:`check_base_url`)
    :param username: API user (``None``: no HTTP authentication, the provider logs in itself)
    :param password: API password (kept only inside the auth header)
    :param timeout: ``(connect, read)`` seconds, or one number for both
    :param max_retries: repeats for connection errors, 5xx and temporary ``ERROR_*`` codes
    :param backoff_factor: exponential backoff base in seconds (0 disables waiting between repeats)
    :param max_wait: longest throttling wait (seconds) done in-line; longer waits raise :class:`RateLimited`
    :param throttle_retries: how many throttling waits one call may do before giving up
    :param default_throttle_wait: wait assumed for a 429 without any reset header
    :param flat_rate_wait: wait assumed for an hourly-quota refusal without any reset header
    :param on_call: optional ``callback(status_code, throttled)`` run after every HTTP attempt; ``status_code``
        is ``None`` when no answer came back
    :param rate_budget: optional :class:`~.ratebudget.RateBudget` asked before every call and told the ESP's
        ``X-RateLimit-*`` headers after it; a spent budget is waited for in-line up to ``max_wait``, beyond that
        the call raises :class:`RateLimited` without reaching the ESP
    :param rate_scope: optional ``function(method, path) -> scope``: the tier the ESP counts a call in
        (``"account"`` when not given)
    :param provider: label used in messages and logs
    """

    def __init__(
        self,
        base_url,
        username,
        password,
        *,
        timeout=(10.0, 121.0),
        max_retries=3,
        backoff_factor=1.0,
        max_wait=30.0,
        throttle_retries=3,
        default_throttle_wait=60.0,
        flat_rate_wait=300.0,
        on_call=None,
        rate_budget=None,
        rate_scope=None,
        provider="ESP",
        user_agent="campaign_esp_connector (Odoo)",
    ):
        self.base_url = base_url
        # A single number is passed on as is (requests applies it to both phases): some callers' HTTP
        # guards, Odoo's test hook among them, only understand numbers.
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.max_wait = max_wait
        self.throttle_retries = throttle_retries
        self.default_throttle_wait = default_throttle_wait
        self.flat_rate_wait = flat_rate_wait
        self.on_call = on_call
        # The provider's own error codes mapped to typed errors (``AlreadyExists``, ``ReadOnly`` …).
        self.code_classes = {}
        self.rate_budget = rate_budget
        self.rate_scope = rate_scope
        self.provider = provider
        self.stats = CallStats()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._session = self._build_session(username, password, user_agent)

    def __repr__(self):
        return f"<{type(self).__name__} {self.provider} {self.base_url}>"

    @property
    def base_url(self):
        return self._base_url

    @base_url.setter
    def base_url(self, value):
        self._base_url = check_base_url(value)

    # ------------------------------------------------------------------------------------------------------
    # Session
    # ------------------------------------------------------------------------------------------------------

    def _build_session(self, username, password, user_agent):
        session = requests.Session()
        if username is not None:
            # Without a user the provider authenticates inside its calls (Campaign Master's login token).
            session.auth = _SecretBasicAuth(username, password)
            session.headers["Accept"] = "application/json"
        session.headers["User-Agent"] = user_agent
        adapter = HTTPAdapter(max_retries=self._build_retry())
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _build_retry(self):
        retry = _ObservedRetry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            backoff_factor=self.backoff_factor,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=IDEMPOTENT_METHODS,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        retry.observer = self._on_retry
        retry.max_sleep = self.max_wait
        return retry

    def close(self):
        """Release pooled connections."""
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ------------------------------------------------------------------------------------------------------
    # The choke point
    # ------------------------------------------------------------------------------------------------------

    def request(
        self, method, path, *, params=None, json_body=None, files=None, idempotent=None, stream=False, base_url=None
    ):
        """Send one logical call, with retries and throttling waits, and return a 2xx response.

        :param method: HTTP method
        :param path: path below the base URL, starting with ``/``
        :param params: query parameters
        :param json_body: JSON-serialisable body
        :param files: multipart files, as accepted by ``requests``
        :param idempotent: may the call be repeated after an unclear failure? Default: by method. Imports and
            sends are POSTs and are never repeated unless the provider explicitly refused them (throttling)
        :param stream: leave the body unread (caller must close the response)
        :param base_url: send to this (already checked) base instead of the default one
        :return: ``requests.Response`` with a 2xx status
        :raise EspError: a typed error for everything else
        """
        method = method.upper()
        idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        throttle_waits = transient_repeats = 0
        while True:
            response = self._send(method, base_url or self._base_url, path, params, json_body, files, stream)
            if response.status_code < 300:
                return response
            error = self._error_from(response)
            if isinstance(error, RateLimited) and self._may_wait(error, throttle_waits):
                throttle_waits += 1
                self._wait(method, path, error.retry_after, "throttled")
                continue
            if idempotent and error.code in TRANSIENT_400_CODES and transient_repeats < self.max_retries:
                transient_repeats += 1
                self._wait(method, path, self.backoff_factor * 2 ** (transient_repeats - 1), error.code)
                continue
            with self._lock:
                self.stats.errors += 1
            raise error

    def _send(self, method, base_url, path, params, json_body, files, stream):
        return self._attempt(method, base_url, path, params=params, json=json_body, files=files, stream=stream)

    def post_raw(self, url, data, headers, label=None):
        """One POST of a ready body to a full URL (a SOAP envelope), counted, retried on connection errors
        before anything was sent, and logged like every call; the answer is returned whatever its status.

        :param url: the service URL (checked like the base URL)
        :param label: what the log shows instead of the path (a SOAP operation's name)
        """
        check_base_url(url)
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        path = url[len(base):]
        return self._attempt("POST", base, path, label=label, data=data, headers=headers)

    def get_raw(self, url):
        """One GET of a full URL (a service description), counted and logged; any status returned."""
        check_base_url(url)
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        return self._attempt("GET", base, url[len(base):])

    def _spend_budget(self, method, path):
        """Take one call from the account's rate budget, waiting in-line for a short refill."""
        if self.rate_budget is None:
            return None
        scope = self.rate_scope(method, path) if self.rate_scope else "account"
        waits = 0
        while True:
            wait = self.rate_budget.acquire(scope)
            if not wait:
                return scope
            if wait > self.max_wait or waits >= self.throttle_retries:
                raise RateLimited(
                    f"{self.provider}: the account's API budget for {scope} calls is spent until it refills "
                    f"in {wait:.0f} s.", retry_after=wait)
            waits += 1
            self._wait(method, path, wait, f"API budget for {scope} calls spent")

    def _observe_budget(self, scope, headers):
        if self.rate_budget is None:
            return
        try:
            limit = int(headers["X-RateLimit-Limit"])
            remaining = int(headers["X-RateLimit-Remaining"])
        except (KeyError, TypeError, ValueError):
            return
        reset = parse_rate_limit_reset(headers.get("X-RateLimit-Reset"))
        if reset is None:
            return
        try:
            self.rate_budget.observe(headers.get("X-RateLimit-Scope") or scope or "account", limit, remaining, reset)
        except Exception:
            # Bookkeeping must never break a sync.
            _logger.exception("%s rate budget update failed", self.provider)

    def _attempt(self, method, base_url, path, label=None, **kwargs):
        scope = self._spend_budget(method, path)
        self._local.attempts = 0
        self._local.counted = None
        started = time.monotonic()
        shown = f"{path} {label}" if label else path
        try:
            response = self._session.request(
                method, base_url + path, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            elapsed = time.monotonic() - started
            self.stats.http_seconds += elapsed
            if not self._local.attempts:
                # Failed outside urllib3's retry loop (e.g. body cut off while reading): still one call.
                self._count(None, False)
            retries = self._settle_retries(self._local.attempts or 1)
            _logger.info(
                "%s %s %s -> no answer in %.3fs after %d retries (%s)",
                self.provider,
                method,
                shown,
                elapsed,
                retries,
                type(exc).__name__,
            )
            raise self._connection_error(exc, method, base_url, path) from exc
        elapsed = time.monotonic() - started
        self.stats.http_seconds += elapsed
        self._observe_budget(scope, response.headers)
        throttled = self._is_throttle(response)
        attempts = self._local.attempts
        if self._local.counted is not response.raw:
            self._count(response.status_code, throttled)
            attempts += 1
        retries = self._settle_retries(attempts)
        level = logging.DEBUG if response.status_code < 400 else logging.INFO
        _logger.log(
            level,
            "%s %s %s -> %s in %.3fs after %d retries",
            self.provider,
            method,
            shown,
            response.status_code,
            elapsed,
            retries,
        )
        return response

    # ------------------------------------------------------------------------------------------------------
    # Accounting
    # ------------------------------------------------------------------------------------------------------

    def _on_retry(self, response, error):
        """Called by urllib3 for every failed attempt it sees (before deciding to repeat or give up)."""
        self._local.attempts = getattr(self._local, "attempts", 0) + 1
        # When retries are exhausted urllib3 hands this very response back: remember it to count it once.
        self._local.counted = response
        self._count(response.status if response is not None else None, False)

    def _settle_retries(self, attempts):
        retries = max(attempts - 1, 0)
        with self._lock:
            self.stats.retries += retries
        return retries

    def _count(self, status, throttled):
        with self._lock:
            self.stats.calls += 1
            self.stats.last_status = status
            if throttled:
                self.stats.throttled += 1
                self.stats.last_throttle_at = time.time()
        if self.on_call is not None:
            try:
                self.on_call(status, throttled)
            except Exception:
                # Bookkeeping must never break a sync.
                _logger.exception("%s on_call callback failed", self.provider)

    # ------------------------------------------------------------------------------------------------------
    # Throttling and errors
    # ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _is_throttle(response):
        if response.status_code == 429:
            return True
        if response.status_code != 400:
            return False
        # A 400 body is small and always read here: the quota code hides in its message text.
        return "ERROR_APIUSAGE_EXCEEDED" in (response.text or "")

    def _retry_after(self, response, code):
        headers = response.headers
        wait = parse_rate_limit_reset(headers.get("X-RateLimit-Reset"))
        if wait is None:
            wait = parse_rate_limit_reset(headers.get("Retry-After"))
        if wait is None:
            wait = self.default_throttle_wait if response.status_code == 429 else self.flat_rate_wait
        return wait

    def _error_from(self, response):
        if 300 <= response.status_code < 400:
            location = response.headers.get("Location", "?")
            return InvalidResponse(
                f"{self.provider} answered HTTP {response.status_code}, a redirect to {location}: "
                "check the API endpoint URL.",
                status=response.status_code,
            )
        text = response.text
        content_type = response.headers.get("Content-Type", "")
        _message, code = parse_error_body(text)
        retry_after = None
        if response.status_code == 429 or code == "ERROR_APIUSAGE_EXCEEDED":
            retry_after = self._retry_after(response, code)
            with self._lock:
                self.stats.last_retry_after = retry_after
        return error_for(response.status_code, text, content_type, provider=self.provider, retry_after=retry_after,
                         code_classes=self.code_classes)

    def _may_wait(self, error, waits_done):
        return (
            error.retry_after is not None and error.retry_after <= self.max_wait and waits_done < self.throttle_retries
        )

    def _wait(self, method, path, seconds, reason):
        _logger.info("%s %s %s: %s, waiting %.1fs before repeating", self.provider, method, path, reason, seconds)
        time.sleep(seconds)

    def _connection_error(self, exc, method, base_url, path):
        host = urlsplit(base_url).netloc
        reason = _describe_connection_failure(exc, self.timeout)
        return EspConnectionError(f"{self.provider}: {method} {path} on {host} failed: {reason}.")

    # ------------------------------------------------------------------------------------------------------
    # Reading bodies
    # ------------------------------------------------------------------------------------------------------

    def read_json(self, response):
        """Decode a 2xx JSON body, or raise :class:`InvalidResponse` with a readable reason.

        :return: the decoded value, ``None`` for an empty body
        """
        try:
            text = response.text
        except requests.RequestException as exc:
            raise InvalidResponse(f"{self.provider} answer was cut off while reading it ({type(exc).__name__}).")
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            if looks_like_html(text, response.headers.get("Content-Type", "")):
                reason = "an HTML page instead of API data (wrong endpoint, or a gateway/proxy error page)"
            else:
                reason = "incomplete or malformed JSON (the answer was probably cut off)"
            raise InvalidResponse(
                f"{self.provider} answered HTTP {response.status_code} with {reason}.",
                status=response.status_code,
                excerpt=body_excerpt(text),
            ) from None


def _describe_connection_failure(exc, timeout):
    """Turn a requests/urllib3 exception chain into a short reason (timeouts named with their limit)."""
    seen, todo = [], [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if not isinstance(current, BaseException) or any(current is item for item in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])
    names = " ".join(type(item).__name__ for item in seen)
    connect_timeout, read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if "ConnectTimeout" in names:
        return f"no connection within {connect_timeout}s (connect timeout)"
    if "ReadTimeout" in names or "TimeoutError" in names:
        return f"no answer within {read_timeout}s (read timeout)"
    if "SSLError" in names:
        return "TLS handshake failed (certificate or protocol problem)"
    if "NameResolution" in names or "gaierror" in names:
        return "host name could not be resolved"
    if "ConnectionRefused" in names or "NewConnectionError" in names:
        return "connection refused"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    return "connection dropped before a complete answer"
