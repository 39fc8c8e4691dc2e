"""Request bodies checked against dotdigital's own schemas.

``request_schemas.json`` holds the spec's component schemas verbatim; this walker covers the OpenAPI 3.0
keywords they use (``$ref``, ``type``, ``nullable``, ``required``, ``enum``, length and range bounds,
``items``, ``oneOf``/``allOf`` wrappers). Read-only properties and unknown properties are ignored, as the
real service's model binding does.

:func:`canonical` first binds a body the way Json.NET does for the real service: property names match
case-insensitively at every depth, enum values parse case-insensitively, and names the model does not know
are dropped (Json.NET's default ``MissingMemberHandling.Ignore``). Handlers then only ever see the spec's
spelling, so answers keep it too.
"""

import json
import os
import re

_PATH = os.path.join(os.path.dirname(__file__), "request_schemas.json")
with open(_PATH, encoding="utf-8") as _file:
    SCHEMAS = json.load(_file)["components"]["schemas"]

_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _resolve(schema):
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _parts(schema):
    """The schema and the parts its ``allOf``/``oneOf`` wrappers stand for, resolved."""
    schema = _resolve(schema)
    parts = [schema]
    for part in schema.get("allOf", []) + schema.get("oneOf", []):
        parts.extend(_parts(part))
    return parts


def canonical(value, schema):
    """``value`` bound to ``schema`` as ASP.NET Web API's Json.NET binding would see it (see the module doc)."""
    parts = _parts(schema)
    if isinstance(value, dict):
        properties = {}
        for part in parts:
            properties.update(part.get("properties", {}))
        if not properties:
            return value  # a free-form object (a data field's value, say)
        by_folded = {name.casefold(): name for name in properties}
        bound = {}
        for key, item in value.items():
            name = by_folded.get(str(key).casefold())
            if name is not None and name not in bound:  # the first spelling wins, like Json.NET
                bound[name] = canonical(item, properties[name])
        return bound
    if isinstance(value, list):
        items = next((part["items"] for part in parts if "items" in part), None)
        return [canonical(item, items) for item in value] if items is not None else value
    if isinstance(value, str):
        for part in parts:
            for option in part.get("enum", ()):
                if isinstance(option, str) and option.casefold() == value.strip().casefold():
                    return option
    return _converted(value, {part.get("type") for part in parts} - {None})


def _converted(value, types):
    """Json.NET's primitive conversions: a number sent as a string binds to a number (PHP clients send ids read
    from configuration as ``"123"``), "true"/"false" to a boolean, a number to a string property."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if "integer" in types and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if "number" in types:
            try:
                return float(text) if re.search(r"[.eE]", text) else int(text)
            except ValueError:
                return value
        if "boolean" in types and text.casefold() in ("true", "false"):
            return text.casefold() == "true"
    if isinstance(value, int | float) and not isinstance(value, bool) and types == {"string"}:
        return str(value)
    return value


def _type_ok(value, expected):
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[expected])


def validate(value, schema, path="The request body"):
    """Return the first problem of ``value`` against ``schema`` as text, or None when it conforms.

    A problem names the property in the spec's spelling (``name is required``), never a dotted path such as
    ``body.name``: clients split messages on dots and colons.
    """
    schema = _resolve(schema)
    if value is None:
        return None if schema.get("nullable") or "type" not in schema and "oneOf" not in schema else f"{path} is null"
    for part in schema.get("allOf", []) + schema.get("oneOf", []):
        problem = validate(value, part, path)
        if problem:
            return problem
    expected = schema.get("type")
    if expected and not _type_ok(value, expected):
        return f"{path} must be of type {expected}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} must be one of {', '.join(schema['enum'])}"
    return _check_bounds(value, schema, path) or _check_children(value, schema, path)


def _check_bounds(value, schema, path):
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{path} is required"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path} is longer than {schema['maxLength']} characters"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path} is below {schema['minimum']:g}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path} is above {schema['maximum']:g}"
    return None


def _check_children(value, schema, path):
    if isinstance(value, list) and "items" in schema:
        for item in value:
            problem = validate(item, schema["items"], path)
            if problem:
                return problem
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value or value[name] is None:
                return f"{name} is required"
        for name, sub in schema.get("properties", {}).items():
            if name in value and not sub.get("readOnly"):
                problem = validate(value[name], sub, name)
                if problem:
                    return problem
    return None
