"""Typed errors raised by every provider.

Callers (the Odoo models, crons) catch these and turn them into translated messages at their own boundary;
nothing here is translated, and nothing here ever holds a credential.
"""

import json
import re

# dotdigital embeds its machine code in the human message ("Field already exists. ERROR_NON_UNIQUE_DATAFIELD").
_ERROR_CODE_RE = re.compile(r"\bERROR_[A-Z0-9_]+\b")

# Codes that mean "the same call may succeed later": a cron should reschedule, not ask a person.
TRANSIENT_CODES = frozenset(
    {
        "ERROR_SYSTEM_SERVICETEMPORARILYUNAVAILABLE",
        "ERROR_ADDRESSBOOK_IN_USE",
        "ERROR_IMPORT_TOOMANYACTIVEIMPORTS",
    }
)
THROTTLE_CODES = frozenset({"ERROR_APIUSAGE_EXCEEDED"})
BOOK_NOT_FOUND_CODES = frozenset({"ERROR_ADDRESSBOOK_NOT_FOUND"})

EXCERPT_LENGTH = 200


class EspError(Exception):
    """Base of every provider failure.

    :param message: text a person can act on (no credentials, no payload)
    :param status: HTTP status of the last answer, ``None`` when no answer came back
    :param code: the provider's machine code (``ERROR_*`` for dotdigital), if any
    :param excerpt: the first characters of the answer body, for logs and support
    """

    retryable = False

    def __init__(self, message, status=None, code=None, excerpt=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.excerpt = excerpt

    @property
    def is_retryable(self):
        """True when repeating the call later may succeed without anybody changing anything."""
        return self.retryable or self.code in TRANSIENT_CODES

    def __str__(self):
        return self.message

    def __repr__(self):
        # Like stripe's errors: message, status and code only, never request headers or bodies we sent.
        return f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, code={self.code!r})"


class ConfigurationError(EspError, ValueError):
    """The client was configured with values that cannot work (e.g. plain http to a public host)."""


class EspConnectionError(EspError):
    """No usable answer: DNS failure, refused or dropped connection, timeout."""

    retryable = True


class AuthenticationError(EspError):
    """HTTP 401: the API user or its password is wrong, or the API user was disabled."""


class PermissionDenied(EspError):
    """HTTP 403: the account may not use this call, or the call went to another region's endpoint."""


class NotFound(EspError):
    """HTTP 404: unknown id (address book, import, data field …), or a system object the API hides."""


class BookNotFound(NotFound):
    """HTTP 404 naming the address book itself (deleted at the ESP): unlike a contact missing from a book, no
    later call on that book can succeed, so a list connected to it must wait for a person."""


class Conflict(EspError):
    """HTTP 409: the object is in use elsewhere (e.g. a data field referenced by a campaign)."""


class ValidationError(EspError):
    """Any other 4xx: the request was refused as invalid; repeating it unchanged will fail again."""


class AlreadyExists(ValidationError):
    """The object to create exists already (a list or a data field of that name): each provider maps its own
    code or message to this, so engines never read a vendor's code."""


class ReadOnly(ValidationError):
    """The object can no longer be changed (a campaign that was sent)."""


class InvalidContent(ValidationError):
    """The ESP refused a campaign's content or send (subject, body, from address, unsubscribe link …)."""


class RateLimited(EspError):
    """The provider throttled us (HTTP 429, or dotdigital's HTTP 400 ``ERROR_APIUSAGE_EXCEEDED``).

    :param retry_after: seconds to wait before the next call, ``None`` if the provider gave no hint
    """

    retryable = True

    def __init__(self, message, status=None, code=None, excerpt=None, retry_after=None):
        super().__init__(message, status=status, code=code, excerpt=excerpt)
        self.retry_after = retry_after

    def __repr__(self):
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, code={self.code!r}, "
            f"retry_after={self.retry_after!r})"
        )


class ServerError(EspError):
    """HTTP 5xx: the provider failed; usually temporary."""

    retryable = True


class InvalidResponse(EspError):
    """An answer we cannot read: an HTML page where JSON was expected, truncated or malformed JSON."""

    retryable = True


# ----------------------------------------------------------------------------------------------------------
# Reading error answers
# ----------------------------------------------------------------------------------------------------------

_STATUS_CLASSES = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}

_STATUS_HINTS = {
    401: "the API user or password was refused; check them (and that the API user is enabled)",
    403: "access denied; the account may lack this feature, or the call went to the wrong region",
    404: "the requested object does not exist (any more)",
    409: "the object is in use and cannot be changed",
    429: "too many calls; the provider asks to slow down",
}


def body_excerpt(text, length=EXCERPT_LENGTH):
    """Return the start of an answer body on one line, for messages and logs."""
    text = " ".join((text or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


def looks_like_html(text, content_type=""):
    """True for gateway/proxy error pages and web-app pages answered instead of API JSON."""
    head = (text or "").lstrip()[:100].lower()
    return "html" in (content_type or "").lower() or head.startswith(("<!doctype", "<html", "<?xml", "<"))


def parse_error_body(text):
    """Extract (message, code) from an error body: v2 ``{"message"}``, ProblemDetails, or v3 envelope."""
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    message = None
    if isinstance(data, dict):
        message = data.get("message") or data.get("Message") or data.get("detail") or data.get("title")
        message = message or data.get("description")
        if not message and data.get("errorCode"):
            message = str(data["errorCode"])
    elif isinstance(data, str):
        message = data
    found = _ERROR_CODE_RE.search(message or text or "")
    return (str(message) if message else None), (found.group(0) if found else None)


def error_for(status, text, content_type="", provider="ESP", retry_after=None, code_classes=None):
    """Build the typed exception for an error answer.

    :param status: HTTP status code (>= 400)
    :param text: the answer body as text (may be HTML, empty or truncated)
    :param content_type: the answer's Content-Type header
    :param provider: provider label used in the message (``"dotdigital"``)
    :param retry_after: seconds to wait, for throttling answers
    :param code_classes: the provider's own codes mapped to typed errors (``AlreadyExists``, ``ReadOnly`` …)
    :return: an :class:`EspError` subclass instance (not raised)
    """
    message, code = parse_error_body(text)
    excerpt = body_excerpt(text)
    if message is None and looks_like_html(text, content_type):
        message = "the server answered with an HTML page instead of API data (gateway or proxy error?)"
    if code in THROTTLE_CODES or status == 429:
        cls = RateLimited
    elif status == 404 and code in BOOK_NOT_FOUND_CODES:
        cls = BookNotFound
    elif code in (code_classes or {}) and status < 500:
        cls = code_classes[code]
    elif status in _STATUS_CLASSES:
        cls = _STATUS_CLASSES[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = ValidationError
    hint = _STATUS_HINTS.get(status) or ("temporary server failure" if status >= 500 else "request refused")
    detail = f"{hint}: {message}" if message else hint
    text_out = f"{provider} error (HTTP {status}{', ' + code if code else ''}): {detail}"
    if cls is RateLimited:
        return RateLimited(text_out, status=status, code=code, excerpt=excerpt, retry_after=retry_after)
    return cls(text_out, status=status, code=code, excerpt=excerpt)
