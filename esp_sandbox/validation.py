"""Request bodies checked against dotdigital's own schemas.

``request_schemas.json`` holds the spec's component schemas verbatim; this walker covers the OpenAPI 3.0
keywords they use (``$ref``, ``type``, ``nullable``, ``required``, ``enum``, length and range bounds,
``items``, ``oneOf``/``allOf`` wrappers). Read-only properties and unknown properties are ignored, as the
real service's model binding does.
"""

import json
import os

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


def _type_ok(value, expected):
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[expected])


def validate(value, schema, path="body"):
    """Return the first problem of ``value`` against ``schema`` as text, or None when it conforms."""
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
        for i, item in enumerate(value):
            problem = validate(item, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value or value[name] is None:
                return f"{path}.{name} is required"
        for name, sub in schema.get("properties", {}).items():
            if name in value and not sub.get("readOnly"):
                problem = validate(value[name], sub, f"{path}.{name}")
                if problem:
                    return problem
    return None
