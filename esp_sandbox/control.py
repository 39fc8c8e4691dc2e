"""The control surface under /sandbox/: JSON in, JSON out, no auth (loopback only).

It lets tests and demos reset the account, move the clock, plan faults, tune the simulation and rate limits,
read the whole state and the request log, and change a contact's status as a person would in dotdigital's UI.
``esp_sandbox.testing.SandboxControl`` wraps each route; README.md documents them.
"""

import copy
import json
import math

from werkzeug.routing import Rule

from . import campaigns, errors
from .campaign_master.soap import CASES
from .config import RATE_LIMIT_MODES
from .faults import Fault
from .store import SENDABLE
from .timeutil import to_iso
from .validation import SCHEMAS
from .web import json_response

STATUSES = SCHEMAS["ApiContactStatuses"]["enum"]

RULES = [
    Rule("/sandbox/", endpoint="control_index", methods=["GET"]),
    Rule("/sandbox/reset", endpoint="control_reset", methods=["POST"]),
    Rule("/sandbox/clock", endpoint="control_clock", methods=["GET"]),
    Rule("/sandbox/clock/advance", endpoint="control_advance_clock", methods=["POST"]),
    Rule("/sandbox/faults", endpoint="control_faults", methods=["GET"]),
    Rule("/sandbox/faults", endpoint="control_add_fault", methods=["POST"]),
    Rule("/sandbox/faults", endpoint="control_clear_faults", methods=["DELETE"]),
    Rule("/sandbox/import-faults", endpoint="control_add_import_fault", methods=["POST"]),
    Rule("/sandbox/config", endpoint="control_config", methods=["GET"]),
    Rule("/sandbox/config", endpoint="control_configure", methods=["PUT", "PATCH"]),
    Rule("/sandbox/state", endpoint="control_state", methods=["GET"]),
    Rule("/sandbox/requests", endpoint="control_requests", methods=["GET"]),
    Rule("/sandbox/requests", endpoint="control_clear_requests", methods=["DELETE"]),
    Rule("/sandbox/contacts/status", endpoint="control_contact_status", methods=["POST"]),
    Rule("/sandbox/contacts/confirm-optin", endpoint="control_confirm_optin", methods=["POST"]),
    Rule("/sandbox/cm/expire-tokens", endpoint="control_cm_expire_tokens", methods=["POST"]),
    Rule("/sandbox/campaigns/<int:campaign_id>/personalized", endpoint="control_personalized_campaign",
         methods=["GET"]),
]


def _body(request):
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise errors.ApiError(400, "The body is not JSON.")
    if not isinstance(body, dict):
        raise errors.ApiError(400, "The body must be a JSON object.")
    return body


def _refuse(exc):
    return errors.ApiError(400, str(exc))


class ControlApi:
    """Handlers; ``self.store``, ``self.config``, ``self.faults``, ``self.rate_limiter``, ``self.request_log`` and
    ``self.campaign_master`` come from the application class."""

    def on_control_index(self, request):
        return json_response({"routes": sorted({f"{m} {r.rule}" for r in RULES for m in r.methods - {"HEAD", "OPTIONS"}})})

    def on_control_reset(self, request):
        body = _body(request)
        try:
            clock_offset = float(body.get("clock_offset", 0))
            if not math.isfinite(clock_offset):
                raise ValueError("clock_offset must be a finite number of seconds")
        except (TypeError, ValueError) as exc:
            raise _refuse(exc)
        self.store.reset(clock_offset)
        self.faults.clear()
        self.rate_limiter.clear()
        self.request_log.clear()
        self.campaign_master.tokens.expire_all()
        self.config.engagement = copy.deepcopy(self.initial_settings["engagement"])
        self.config.rate_limit = copy.deepcopy(self.initial_settings["rate_limit"])
        self.config.import_delay = self.initial_settings["import_delay"]
        self.config.extra_api_users = dict(self.initial_settings["extra_api_users"])
        self.config.cm_member_case = self.initial_settings["cm_member_case"]
        self.config.cm_extended = self.initial_settings["cm_extended"]
        self.config.v3_contacts = self.initial_settings["v3_contacts"]
        self.config.custom_identifiers = list(self.initial_settings["custom_identifiers"])
        self.config.optin_expiry_days = self.initial_settings.get("optin_expiry_days", 0.0)
        self.config.seed = int(body.get("seed", self.initial_settings["seed"]))
        return json_response({"reset": True, "now": to_iso(self.store.now())})

    def on_control_clock(self, request):
        now = self.store.now()
        return json_response({"now": to_iso(now), "epoch": now, "offset": self.store.clock.offset})

    def on_control_advance_clock(self, request):
        try:
            self.store.advance_clock(float(_body(request).get("seconds", 0)))
        except (TypeError, ValueError) as exc:
            raise _refuse(exc)
        self.tick()
        return self.on_control_clock(request)

    def on_control_faults(self, request):
        return json_response(self.faults.public())

    def on_control_add_fault(self, request):
        body = _body(request)
        options = dict(body.get("options") or {})
        options.update({k: v for k, v in body.items() if k not in ("path", "kind", "count", "method", "options")})
        try:
            fault = Fault(path=body["path"], kind=body["kind"], count=int(body.get("count", 1)),
                          method=body.get("method"), options=options)
            self.faults.add(fault)
        except (KeyError, TypeError, ValueError) as exc:
            raise _refuse(exc)
        return json_response(self.faults.public(), 201)

    def on_control_clear_faults(self, request):
        self.faults.clear()
        return json_response(self.faults.public())

    def on_control_add_import_fault(self, request):
        body = _body(request)
        try:
            self.faults.add_import(body["kind"], int(body.get("count", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            raise _refuse(exc)
        return json_response(self.faults.public(), 201)

    def on_control_config(self, request):
        return json_response(self.config.public())

    def on_control_configure(self, request):
        body = _body(request)
        try:
            self._configure(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise _refuse(exc)
        return json_response(self.config.public())

    def _configure(self, body):
        unknown = set(body) - {"engagement", "rate_limit", "import_delay", "seed", "extra_api_users", "cm_member_case",
                               "cm_extended", "v3_contacts", "custom_identifiers", "optin_expiry_days"}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for key, value in (body.get("engagement") or {}).items():
            if key not in self.config.engagement:
                raise ValueError(f"unknown engagement rate {key!r}")
            self.config.engagement[key] = float(value)
        rate_limit = body.get("rate_limit") or {}
        if rate_limit.get("mode", "off") not in RATE_LIMIT_MODES:
            raise ValueError(f"rate_limit.mode must be one of {', '.join(RATE_LIMIT_MODES)}")
        self.config.rate_limit.update({k: v for k, v in rate_limit.items() if k != "tiers"})
        self.config.rate_limit["tiers"].update(rate_limit.get("tiers") or {})
        if rate_limit:
            self.rate_limiter.clear()
        if "import_delay" in body:
            self.config.import_delay = float(body["import_delay"])
        if "seed" in body:
            self.config.seed = int(body["seed"])
        if "extra_api_users" in body:
            users = body["extra_api_users"]
            if not isinstance(users, dict) or not all(isinstance(v, str) and v for v in users.values()):
                raise ValueError("extra_api_users must map each API user to its password")
            self.config.extra_api_users = dict(users)
        if "cm_member_case" in body:
            if body["cm_member_case"] not in CASES:
                raise ValueError(f"cm_member_case must be one of {', '.join(CASES)}")
            self.config.cm_member_case = body["cm_member_case"]
        if "cm_extended" in body:
            self.config.cm_extended = bool(body["cm_extended"])
        if "v3_contacts" in body:
            self.config.v3_contacts = bool(body["v3_contacts"])
        if "custom_identifiers" in body:
            names = body["custom_identifiers"]
            if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
                raise ValueError("custom_identifiers must be a list of names")
            self.config.custom_identifiers = list(names)
        self._configure_optin(body)

    def _configure_optin(self, body):
        if "optin_expiry_days" in body:
            days = float(body["optin_expiry_days"])
            if not math.isfinite(days) or days < 0:
                raise ValueError("optin_expiry_days must be a number of days, 0 or more")
            self.config.optin_expiry_days = days

    def on_control_state(self, request):
        self.tick()
        limit = int(request.args.get("contacts_limit", 1000))
        return json_response(self._state(limit))

    def _state(self, limit):
        db = self.store.db
        books = []
        for book in db.execute("SELECT * FROM books ORDER BY id").fetchall():
            rows = db.execute(
                "SELECT c.id, c.email, c.status, m.unsubscribed FROM members m JOIN contacts c ON c.id = m.contact_id "
                "WHERE m.book_id = ? ORDER BY m.position LIMIT ?",
                (book["id"], limit),
            ).fetchall()
            books.append({
                "id": book["id"], "name": book["name"], "visibility": book["visibility"], "system": bool(book["system"]),
                "count": self.store.book_count(book["id"]),
                "contacts": [{"id": r["id"], "email": r["email"], "status": r["status"],
                              "book_status": "Unsubscribed" if r["unsubscribed"] else r["status"]} for r in rows],
            })
        return {
            "now": to_iso(self.store.now()),
            "books": books,
            "contacts": [dict(r) for r in db.execute(
                "SELECT id, email, status, data FROM contacts ORDER BY id LIMIT ?", (limit,))],
            "imports": [{**dict(r), "report": json.loads(r["report"] or "null")} for r in db.execute(
                "SELECT id, book_id, status, report FROM imports ORDER BY created")],
            "sends": [dict(r) for r in db.execute("SELECT id, campaign_id, status, send_at FROM sends ORDER BY send_at")],
            "campaigns": [{"id": r["id"], "name": json.loads(r["body"])["name"], "status": r["status"]}
                          for r in db.execute("SELECT * FROM campaigns ORDER BY id")],
            "faults": self.faults.public(),
            "campaign_master": {
                "live_tokens": self.campaign_master.tokens.live(self.store.now()),
                "jobs": [{**dict(r), "report": json.loads(r["report"] or "null")} for r in db.execute(
                    "SELECT id, status, created, due, report FROM cm_jobs ORDER BY id")],
                "test_sends": [{**dict(r), "emails": json.loads(r["emails"])} for r in db.execute(
                    "SELECT id, campaign_id, emails, at FROM cm_test_sends ORDER BY id")],
            },
        }

    def on_control_requests(self, request):
        return json_response(self.request_log)

    def on_control_clear_requests(self, request):
        self.request_log.clear()
        return json_response([])

    def on_control_cm_expire_tokens(self, request):
        """Every Campaign Master token now answers InvalidToken, as when tokens expire during a run."""
        return json_response({"expired": self.campaign_master.tokens.expire_all()})

    def on_control_personalized_campaign(self, request, campaign_id):
        """A campaign as one contact receives it (``?email=``): its ``@FIELD@`` tags filled from the contact."""
        email = request.args.get("email") or ""
        rendered = campaigns.personalized_campaign(self.store, campaign_id, email)
        if rendered is None:
            raise errors.ApiError(404, f"No campaign {campaign_id} or no contact with email {email!r}.")
        return json_response(rendered)

    def on_control_confirm_optin(self, request):
        """The contact clicks the link of its double opt-in email: ``pendingOptIn`` becomes ``subscribed``."""
        email = _body(request).get("email") or ""
        self.tick()  # an opt-in expired by the clock cannot be confirmed any more
        row = self.store.contact_by_email(email)
        if row is None:
            raise errors.ApiError(404, f"No contact with email {email!r}.")
        if row["status"] != "PendingOptIn":
            raise errors.ApiError(409, f"Contact {email!r} is {row['status']}, not waiting for its opt-in confirmation.")
        self.store.update_contact(row["id"], status="Subscribed")
        row = self.store.contact(row["id"])
        return json_response({"id": row["id"], "email": row["email"], "status": row["status"]})

    def on_control_contact_status(self, request):
        """Set a contact's status (or its status in one book) as if done in dotdigital's UI."""
        body = _body(request)
        status, email, book_id = body.get("status"), body.get("email") or "", body.get("book_id")
        if status not in STATUSES:
            raise errors.ApiError(400, f"status must be one of {', '.join(STATUSES)}")
        row = self.store.contact_by_email(email)
        if row is None:
            raise errors.ApiError(404, f"No contact with email {email!r}.")
        if book_id is not None and self.store.member(int(book_id), row["id"]) is None:
            raise errors.ApiError(404, f"Contact {email!r} is not in address book {book_id}.")
        if status in SENDABLE and book_id is None:
            self.store.resubscribe(row["id"])
            self.store.update_contact(row["id"], status=status)
        elif status == "Subscribed":
            self.store.resubscribe(row["id"], int(book_id))
        else:
            self.store.set_status(row["id"], status, book_id=None if book_id is None else int(book_id))
        row = self.store.contact(row["id"])
        return json_response({"id": row["id"], "email": row["email"], "status": row["status"]})
