"""Small request/response helpers shared by the v2 handlers and the control surface."""

import json

from werkzeug.wrappers import Response

from . import errors
from .timeutil import parse_iso
from .validation import SCHEMAS, canonical, validate

MAX_SELECT = 1000  # dotdigital's prose: "select requires a number between 1 and 1000"


def json_response(data, status=200, headers=None):
    return Response(json.dumps(data), status=status, headers=headers, content_type="application/json; charset=utf-8")


def no_content():
    return Response(status=204)


def paging(request, default_select=MAX_SELECT):
    """``(skip, select)`` from the query; ``select`` above 1000 or below 1 is refused like the real service."""
    select = _int_arg(request, "select", default_select)
    skip = _int_arg(request, "skip", 0)
    if not 1 <= select <= MAX_SELECT:
        raise errors.invalid_parameter("select")
    if skip < 0:
        raise errors.invalid_parameter("skip")
    return skip, select


def _int_arg(request, name, default):
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.invalid_parameter(name)


def flag(request, name):
    """A boolean query parameter (``true``/``false``, any case); anything else is refused."""
    raw = request.args.get(name, "false").strip().lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise errors.invalid_parameter(name)
    return raw in ("true", "1")


def since(text, name="date"):
    """Epoch seconds of a since-date path parameter."""
    try:
        return parse_iso(text)
    except ValueError:
        raise errors.invalid_parameter(name)


def read_json(request):
    """The decoded JSON body; a body that is not JSON is refused."""
    if not request.get_data(cache=True):
        raise errors.ApiError(400, "The request body is missing. ERROR_MALFORMED_REQUEST")
    try:
        return json.loads(request.get_data(cache=True))
    except ValueError:
        raise errors.ApiError(400, "The request body is not valid JSON. ERROR_MALFORMED_REQUEST")


def read_body(request, schema_name):
    """The JSON body bound to the spec's schema of that name (any casing of its names and enum values, unknown
    names dropped), then checked against it."""
    body = canonical(read_json(request), SCHEMAS[schema_name])
    problem = validate(body, SCHEMAS[schema_name])
    if problem:
        raise errors.ApiError(400, f"{problem}. ERROR_PARAMETER_INVALID")
    return body


def read_int_list(request):
    """A JSON array of int32 ids (bulk deletion bodies)."""
    body = read_json(request)
    problem = validate(body, {"type": "array", "items": {"type": "integer"}})
    if problem:
        raise errors.ApiError(400, f"{problem}. ERROR_PARAMETER_INVALID")
    return body
