"""Planned faults: "the next N calls of this path answer like this", never random.

Kinds a client must survive: ``http_500``, ``slow`` (sleep ``seconds`` then answer normally),
``drop_connection`` (close the socket without an answer, the call not carried out), ``lost_answer`` (the
call carried out, then the socket closed without an answer), ``html_502`` (a proxy's HTML error page),
``truncated_json`` (the normal answer cut in half; ``truncated_answer`` is the same for any answer, a SOAP
one included), ``rate_limited`` (429 with the tiered rate-limit
headers) and, for Campaign Master's SOAP paths, ``soap_fault`` (a SOAP Fault with option ``code``, default
``ServiceUnavailable``, and ``message``). Option ``operation`` limits a fault to the SOAP calls of that
operation. Import outcomes (``RejectedByWatchdog``, a stuck ``NotFinished``, ``Failed``) are planned apart,
because they show up in the import's status rather than in the HTTP answer.
"""

import dataclasses
import fnmatch
import json

from werkzeug.wrappers import Response

KINDS = ("http_500", "slow", "drop_connection", "lost_answer", "html_502", "truncated_json", "truncated_answer",
         "rate_limited", "soap_fault")
# Kinds that answer normally, then cut the answer's body in half.
TRUNCATING = ("truncated_json", "truncated_answer")
IMPORT_KINDS = ("RejectedByWatchdog", "NotFinished", "Failed", "InvalidFileFormat", "ExceedsAllowedContactLimit")
HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)


@dataclasses.dataclass
class Fault:
    """``path`` is an exact path or an ``fnmatch`` pattern (``/v2/address-books/*/contacts/import``);
    ``options["operation"]``, when set, is the one SOAP operation it answers."""

    path: str
    kind: str
    count: int = 1
    method: str | None = None
    options: dict = dataclasses.field(default_factory=dict)

    def matches(self, method, path, operation=None):
        if self.method and self.method.upper() != method:
            return False
        wanted = self.options.get("operation")
        if wanted and (operation or "").casefold() != str(wanted).casefold():
            return False
        return path == self.path or fnmatch.fnmatchcase(path, self.path)

    def public(self):
        return dataclasses.asdict(self)


class FaultPlan:
    """Faults still to serve, consumed in the order they were planned. Callers hold the store lock."""

    def __init__(self):
        self.faults = []
        self.import_faults = []

    def clear(self):
        self.faults.clear()
        self.import_faults.clear()

    def add(self, fault):
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {', '.join(KINDS)}")
        self.faults.append(fault)

    def add_import(self, kind, count):
        if kind not in IMPORT_KINDS:
            raise ValueError(f"unknown import fault {kind!r}; expected one of {', '.join(IMPORT_KINDS)}")
        self.import_faults.append([kind, count])

    def take(self, method, path, operation=None):
        """The fault to serve for this call (``operation``: the SOAP operation it calls), counting it down."""
        for fault in self.faults:
            if fault.matches(method, path, operation):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def take_import(self):
        """The status the next import is planned to end in, or None for its normal outcome."""
        if not self.import_faults:
            return None
        planned = self.import_faults[0]
        planned[1] -= 1
        if planned[1] <= 0:
            self.import_faults.pop(0)
        return planned[0]

    def public(self):
        return {"faults": [f.public() for f in self.faults],
                "import_faults": [{"kind": k, "count": c} for k, c in self.import_faults]}


def rate_limited_response(options, reset_default=60):
    limit = int(options.get("limit", 100))
    reset = int(options.get("reset", reset_default))
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset),
        "X-RateLimit-Scope": str(options.get("scope", "medium")),
        "Retry-After": str(reset),
    }
    body = json.dumps({"message": "Too many requests. Please try again later."})
    return Response(body, status=429, headers=headers, content_type="application/json; charset=utf-8")


def html_502_response():
    return Response(HTML_502, status=502, content_type="text/html; charset=utf-8")


def error_500_response():
    return Response(json.dumps({"message": "An error has occurred."}), status=500,
                    content_type="application/json; charset=utf-8")


def truncate(response):
    """The same answer with only the first half of its body, Content-Length adjusted so the client reads it all."""
    body = response.get_data()
    response.set_data(body[: max(len(body) // 2, 1)])
    return response
