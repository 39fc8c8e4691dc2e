"""dotdigital's OpenAPI file turned into JSON Schema validators for the sandbox's answers.

OpenAPI 3.0 is not quite JSON Schema: ``nullable`` becomes ``anyOf [null, …]`` and an ``allOf`` of objects
that each forbid additional properties (``ApiCampaignWithType``) is merged into one object, otherwise no
instance could ever satisfy it. ``$ref``s resolve inside the converted components.
"""

import copy
import functools
import json
import os
import pathlib
import re

import jsonschema

# dotdigital's published file, kept in the repository (specs/README.md names its source); DOTDIGITAL_SPEC
# checks the sandbox against another copy, e.g. a newer one before it replaces this.
SPEC_PATH = pathlib.Path(
    os.environ.get("DOTDIGITAL_SPEC", pathlib.Path(__file__).resolve().parents[2] / "specs/dotdigital-v2-swagger.json")
)


@functools.cache
def spec():
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def _convert(node, schemas):
    if isinstance(node, list):
        return [_convert(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _convert(value, schemas) for key, value in node.items() if not key.startswith("x-")}
    if "allOf" in node and all("$ref" in part or part.get("type") == "object" for part in node["allOf"]):
        node = _merge_objects(node, schemas)
    if node.pop("nullable", False):
        return {"anyOf": [{"type": "null"}, node]}
    return node


def _merge_objects(node, schemas):
    merged = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    for part in node.pop("allOf"):
        while "$ref" in part:
            part = _convert(schemas[part["$ref"].rsplit("/", 1)[1]], schemas)
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += part.get("required", [])
    return {**node, **merged}


@functools.cache
def components():
    raw = spec()["components"]["schemas"]
    return {name: _convert(schema, raw) for name, schema in raw.items()}


def validator(schema):
    """A Draft 2020-12 validator for ``schema`` (an OpenAPI schema, possibly a ``$ref``) against the spec."""
    root = {**_convert(copy.deepcopy(schema), spec()["components"]["schemas"]), "components": {"schemas": components()}}
    return jsonschema.Draft202012Validator(root)


def spec_path_of(rule):
    """``/v2/contacts/<int:contact_id>`` → ``/v2/contacts/{}``: the shape both routing tables share."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", rule)


@functools.cache
def operations():
    """{(METHOD, normalised path): (spec path, operation)} for every operation of the spec."""
    table = {}
    for path, item in spec()["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                table.setdefault((method.upper(), spec_path_of(path)), []).append((path, operation))
    return table


def find_operation(method, concrete_path):
    """The spec operation a concrete URL path is an instance of (static segments preferred, like routing)."""
    segments = concrete_path.strip("/").split("/")
    best = None
    for (op_method, shape), entries in operations().items():
        parts = shape.strip("/").split("/")
        if op_method != method or len(parts) != len(segments):
            continue
        if all(p == "{}" or p == s for p, s in zip(parts, segments, strict=False)):
            score = sum(p != "{}" for p in parts)
            if best is None or score > best[0]:
                best = (score, entries)
    return best[1] if best else None


def response_schema(operation, status):
    answer = operation["responses"].get(str(status))
    if answer is None:
        return None
    content = answer.get("content") or {}
    media = content.get("application/json")
    return media.get("schema") if media else None


def schema_errors(instance, schema):
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator(schema).iter_errors(instance)]


# -- the v3 services' files (Contacts 3.4.3, Configuration 3.0.2) ------------------------------------------------

V3_DIR = pathlib.Path(__file__).resolve().parents[2] / "specs/dotdigital-v3"
# v3 tells IPv4 from IPv6 by format inside a oneOf: without a format check both branches match.
FORMATS = jsonschema.FormatChecker(["ipv4", "ipv6"])
V3_FILES = {"/contacts/v3": "contacts-3.4.3.json", "/configuration/v3": "configuration-3.0.2.json"}


@functools.cache
def v3_spec(file_name):
    return json.loads((V3_DIR / file_name).read_text(encoding="utf-8"))


@functools.cache
def _v3_components(file_name):
    raw = v3_spec(file_name)["components"]["schemas"]
    return {name: _convert(schema, raw) for name, schema in raw.items()}


def v3_operation(method, concrete_path):
    """``(file name, spec path, operation)`` of a v3 URL path (static segments preferred), or None."""
    file_name = next((name for prefix, name in V3_FILES.items() if concrete_path.startswith(prefix)), None)
    if file_name is None:
        return None
    segments = concrete_path.strip("/").split("/")
    best = None
    for path, item in v3_spec(file_name)["paths"].items():
        parts = path.strip("/").split("/")
        operation = item.get(method.lower())
        if operation is None or len(parts) != len(segments):
            continue
        if all(p.startswith("{") or p == s for p, s in zip(parts, segments, strict=False)):
            score = sum(not p.startswith("{") for p in parts)
            if best is None or score > best[0]:
                best = (score, (file_name, path, operation))
    return best[1] if best else None


def v3_schema_errors(file_name, instance, schema):
    raw = v3_spec(file_name)["components"]["schemas"]
    root = {**_convert(copy.deepcopy(schema), raw), "components": {"schemas": _v3_components(file_name)}}
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in jsonschema.Draft202012Validator(root, format_checker=FORMATS).iter_errors(instance)]
