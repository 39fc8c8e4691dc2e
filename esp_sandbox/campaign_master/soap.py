"""SOAP 1.1 document/literal wrapped, the way a WCF basicHttpBinding service speaks it.

A service is declared as data (types, operations, their parameters in order); from that one description this
module reads requests, writes answers and faults, and generates the WSDL that clients such as zeep load. So the
WSDL can never disagree with what the sandbox actually parses and answers.

Member names are declared as the 2010 generated client recorded them (``tokenString``); the public evidence
(``specs/campaign-master/facts.json``) says the first letter is upper-cased on the wire (``TokenString``). A
service whose members follow that evidence (``Service.recorded_case``) writes and reads them in the casing
asked for (:data:`CASES`), so the same declarations give either rebuilt WSDL.
"""

import base64
import binascii
import dataclasses

from lxml import etree

from ..timeutil import parse_iso, to_iso

TNS = "http://campaignmaster.com.au"
# The Job service's DataContract namespaces (recorded traffic: its header members live there).
DC = "http://schemas.datacontract.org/2004/07/ECM.BLL.WebServices.Client.API.DataContracts"
MODEL = "http://schemas.datacontract.org/2004/07/ECM.Model"
PREFIXES = {TNS: "tns", DC: "dc", MODEL: "model"}
WIRE_INFERRED = "wire-inferred"
AS_RECORDED = "as-recorded"
CASES = (WIRE_INFERRED, AS_RECORDED)
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
CONTENT_TYPE = "text/xml; charset=utf-8"

BUILTINS = ("string", "int", "long", "boolean", "dateTime", "base64Binary", "anyType")
# WCF makes every reference type nillable in its schemas; value types only when declared Nullable.
REFERENCE_BUILTINS = ("string", "base64Binary", "anyType")

# code -> faultstring when the raiser gives none. The evidence shows one fault (a wrong password): HTTP 500,
# ``faultcode s:InvalidLogin``, ``faultstring xml:lang="en-GB"`` "Invalid Login", no ``detail``. Every fault
# the sandbox answers has that shape; the other codes are assumed (CAMPAIGN_MASTER.md).
FAULTS = {
    "InvalidLogin": "Invalid Login",
    "InvalidToken": "The token is invalid or has expired. Log in again.",
    "NotFound": "The requested item does not exist.",
    "InvalidArgument": "The request is not valid.",
    "ServiceUnavailable": "The service is temporarily unavailable.",
    "InternalError": "An internal error occurred.",
}

# Request bodies are small and come from loopback; still, no entity expansion and no network access.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class SoapFault(Exception):
    """A SOAP Fault answer: ``raise SoapFault("NotFound", "No campaign with id 7 exists.")``.

    :param code: the faultcode's local name (``s:<code>``); ``message`` is the faultstring.
    """

    def __init__(self, code, message=None):
        self.code = code
        self.message = message or FAULTS.get(code, code)
        super().__init__(f"{self.code}: {self.message}")


def invalid(message):
    return SoapFault("InvalidArgument", message)


# -- declarations -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Field:
    """A member of a type or a parameter of an operation, in declaration order (the wire order).

    :param type: a builtin (``string``, ``int``, ``boolean``, ``dateTime``, ``base64Binary``) or a declared
        type name.
    :param nillable: may be absent or ``xsi:nil`` (the contract's "nillable"); a parameter that is not nillable
        is required.
    """

    name: str
    type: str
    nillable: bool = False


@dataclasses.dataclass(frozen=True)
class Complex:
    """A complex type; ``base`` is the type it extends (its members come first on the wire), ``ns`` the
    namespace of the type and of its members."""

    name: str
    fields: tuple
    base: str | None = None
    ns: str = TNS


@dataclasses.dataclass(frozen=True)
class Enum:
    name: str
    values: tuple


@dataclasses.dataclass(frozen=True)
class Array:
    """WCF's ``ArrayOfX``: a sequence of ``X`` items (``int`` and ``string`` items for builtins)."""

    name: str
    item: str


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation: element ``name`` with ``params`` in; ``<name>Response`` holding ``result_name`` out.

    :param handler: ``handler(ctx, params)`` returning the result value; ``params`` maps parameter and header
        names to values, minus ``token`` and ``SecurityToken``, which the endpoint checks first.
    :param headers: SOAP header elements the operation reads (``SecurityToken``), each of a declared type.
    :param contract: the interface of its SOAPAction when not the service's (``IAPIService``).
    :param input_element: the body element when not the operation's name (a WCF message contract).
    :param output_element: with ``output_fields``, the answer's element and members (the handler answers a
        dict of them) instead of ``<name>Response/<name>Result``.
    """

    name: str
    params: tuple
    result: str | None
    handler: object
    result_name: str = ""
    headers: tuple = ()
    contract: str | None = None
    input_element: str | None = None
    output_element: str | None = None
    output_fields: tuple = ()

    @property
    def response_name(self):
        return self.result_name or f"{self.name}Result"

    @property
    def input_name(self):
        return self.input_element or self.name


@dataclasses.dataclass
class Service:
    """A WCF service: ``contract`` is its interface name (``ICampaignMasterService``), used in SOAPActions;
    ``recorded_case``: its members' names come from the generated client, whose first letter the wire may
    upper-case (see the module's docstring)."""

    name: str
    contract: str
    path: str
    types: dict
    operations: dict
    recorded_case: bool = False

    def action(self, operation):
        op = self.operations.get(operation)
        return f"{TNS}/{(op and op.contract) or self.contract}/{operation}"

    def operation_of(self, name):
        """The operation a SOAPAction's last segment or a body element names, or None."""
        found = self.operations.get(name or "")
        return found or next((op for op in self.operations.values() if op.input_name == name), None)

    def only(self, names):
        """The same service with only the operations ``names`` (an account offering fewer)."""
        return dataclasses.replace(self, operations={k: v for k, v in self.operations.items() if k in names})


class Names:
    """Wire names of members for one answer or request: the declared name, or with its first letter
    upper-cased when the service follows the wire-inferred casing."""

    def __init__(self, svc, case=WIRE_INFERRED):
        self.upper = svc.recorded_case and case != AS_RECORDED

    def __call__(self, name):
        return name[:1].upper() + name[1:] if self.upper else name


def all_fields(types, declared):
    """A complex type's members in wire order: its base's first."""
    base = types.get(declared.base) if declared.base else None
    return (all_fields(types, base) if base is not None else ()) + tuple(declared.fields)


def make_service(name, contract, path, types, operations, recorded_case=False):
    """Build a Service from lists, refusing references to undeclared types (a WSDL zeep could not load)."""
    by_name = {t.name: t for t in types}
    for declared in types:
        for field in getattr(declared, "fields", ()):
            _check_type(by_name, field.type, f"{declared.name}.{field.name}")
        if isinstance(declared, Array):
            _check_type(by_name, declared.item, declared.name)
    for operation in operations:
        for field in (*operation.params, *operation.headers, *operation.output_fields):
            _check_type(by_name, field.type, f"{operation.name}({field.name})")
        if operation.result is not None:
            _check_type(by_name, operation.result, f"{operation.name} result")
    return Service(name, contract, path, by_name, {op.name: op for op in operations}, recorded_case)


def _check_type(types, name, where):
    if name not in BUILTINS and name not in types:
        raise ValueError(f"{where}: undeclared type {name!r}")


def extend(types, extra_fields):
    """Declared types with members appended (``{"cmRecipient": (Field(...),)}``), keeping the wire order."""
    return [dataclasses.replace(t, fields=t.fields + tuple(extra_fields.get(t.name, ()))) if isinstance(t, Complex)
            else t for t in types]


# -- requests -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Call:
    """A parsed request: the operation element and the SOAP headers, still as XML."""

    operation: str | None
    body: etree._Element | None = None
    headers: dict = dataclasses.field(default_factory=dict)
    problem: SoapFault | None = None


def parse_envelope(data, soap_action=""):
    """The call a request body makes. Never raises: a body that is not a SOAP 1.1 envelope gives a Call whose
    ``problem`` is the Fault to answer, so the fault plan and the request log still see the call. ``operation``
    is the SOAPAction's (a message contract's body element is not the operation's name), else the body's."""
    action = (soap_action or "").strip().strip('"').rsplit("/", 1)[-1] or None
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return Call(action, problem=invalid("The request is not well-formed XML."))
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        return Call(action, problem=invalid("The request is not a SOAP 1.1 envelope."))
    body = root.find(f"{{{SOAP_ENV}}}Body")
    header = root.find(f"{{{SOAP_ENV}}}Header")
    headers = {etree.QName(child).localname: child for child in header if _in_tns(child)} if header is not None else {}
    children = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    if not children:
        return Call(action, headers=headers, problem=invalid("The SOAP body holds no operation."))
    element = children[0]
    name = etree.QName(element).localname if _in_tns(element) else None
    if name is None:
        return Call(action, problem=invalid(f"The body's element {element.tag} is not an operation of {TNS}."))
    return Call(action or name, element, headers)


def _in_tns(element):
    return isinstance(element.tag, str) and etree.QName(element).namespace == TNS


def _children(element, ns=TNS):
    return {etree.QName(child).localname: child for child in element
            if isinstance(child.tag, str) and etree.QName(child).namespace == ns}


def read_params(svc, operation, call, case=WIRE_INFERRED):
    """The operation's parameters and headers as Python values; a missing required one is InvalidArgument."""
    values, names = {}, Names(svc, case)
    body_name = etree.QName(call.body).localname
    if body_name != operation.input_name:
        raise invalid(f"The SOAPAction names {operation.name} but the body holds {body_name}.")
    for source, fields in ((_children(call.body), operation.params), (call.headers, operation.headers)):
        for field in fields:
            element = source.get(field.name)
            value = None if element is None else read_value(svc.types, field.type, element, field.name, names)
            if value is None and not field.nillable:
                kind = "SOAP header" if fields is operation.headers else "parameter"
                raise invalid(f"The {kind} {field.name} is required and has not been provided.")
            values[field.name] = value
    return values


def read_value(types, type_name, element, path, names=str):
    """A request element as Python: dicts (by declared member names) for complex types, lists for arrays,
    epoch seconds for dates. Members are found by their wire names (``names``)."""
    if element.get(f"{{{XSI}}}nil") in ("true", "1"):
        return None
    declared = types.get(type_name)
    if isinstance(declared, Complex):
        children = _children(element, declared.ns)
        return {f.name: (read_value(types, f.type, children[names(f.name)], f"{path}.{names(f.name)}", names)
                         if names(f.name) in children else None) for f in all_fields(types, declared)}
    if isinstance(declared, Array):
        item_name = declared.item
        return [read_value(types, declared.item, child, f"{path}.{item_name}", names) for child in element
                if _in_tns(child) and etree.QName(child).localname == item_name]
    text = (element.text or "").strip() if type_name != "string" else (element.text or "")
    if isinstance(declared, Enum):
        if text not in declared.values:
            raise invalid(f"{path} must be one of {', '.join(declared.values)}, not {text!r}.")
        return text
    return _read_builtin(type_name, text, path)


def _read_builtin(type_name, text, path):
    try:
        if type_name in ("int", "long"):
            return int(text)
        if type_name == "boolean":
            if text not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text in ("true", "1")
        if type_name == "dateTime":
            return parse_iso(text)
        if type_name == "base64Binary":
            return base64.b64decode(text, validate=False)
    except (ValueError, binascii.Error):
        raise invalid(f"{path} is not a valid {type_name}: {text!r}.")
    return text


# -- answers --------------------------------------------------------------------------------------------------


def envelope(payload):
    """Serialized ``s:Envelope`` around one body element."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"s": SOAP_ENV})
    etree.SubElement(root, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(root, xml_declaration=False, encoding="utf-8")


def response(svc, operation, value, case=WIRE_INFERRED):
    """``<XResponse><XResult>…</XResult></XResponse>`` for a handler's result (or the operation's own
    output element and members)."""
    names = Names(svc, case)
    if operation.output_element:
        wrapper = etree.Element(f"{{{TNS}}}{operation.output_element}", nsmap={None: TNS, "i": XSI})
        for field in operation.output_fields:
            write_value(svc.types, wrapper, field.name, field.type, value.get(field.name), names)
        return envelope(wrapper)
    wrapper = etree.Element(f"{{{TNS}}}{operation.name}Response", nsmap={None: TNS, "i": XSI})
    write_value(svc.types, wrapper, operation.response_name, operation.result, value, names)
    return envelope(wrapper)


def write_value(types, parent, name, type_name, value, names=str, ns=TNS):
    """Append element ``name`` holding ``value``; None is ``xsi:nil``, as WCF writes a null member."""
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    if value is None:
        element.set(f"{{{XSI}}}nil", "true")
        return
    declared = types.get(type_name)
    if isinstance(declared, Complex):
        # Only declared members are written: a key a handler sets for a member the contract dropped is ignored.
        for field in all_fields(types, declared):
            write_value(types, element, names(field.name), field.type, value.get(field.name), names, declared.ns)
    elif isinstance(declared, Array):
        for item in value:
            write_value(types, element, declared.item, declared.item, item, names)
    elif type_name == "boolean":
        element.text = "true" if value else "false"
    elif type_name == "dateTime":
        element.text = to_iso(value)
    elif type_name == "base64Binary":
        element.text = base64.b64encode(value).decode("ascii")
    else:
        element.text = str(value)


def fault_envelope(exc):
    """The Fault envelope of a SoapFault as the recorded one: ``faultcode s:<code>``, an en-GB faultstring,
    no detail."""
    root = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"s": SOAP_ENV})
    etree.SubElement(root, "faultcode").text = f"s:{exc.code}"
    faultstring = etree.SubElement(root, "faultstring")
    faultstring.set("{http://www.w3.org/XML/1998/namespace}lang", "en-GB")
    faultstring.text = exc.message
    return envelope(root)


# -- WSDL -----------------------------------------------------------------------------------------------------


def wsdl(svc, location, case=WIRE_INFERRED):
    """The service's WSDL 1.1, one self-contained document (``?wsdl`` and ``?singleWsdl`` answer the same):
    one schema per namespace, members named in ``case``."""
    names = Names(svc, case)
    ns = {"wsdl": WSDL, "soap": WSDL_SOAP, "xs": XS, **{prefix: uri for uri, prefix in PREFIXES.items()}}
    root = etree.Element(f"{{{WSDL}}}definitions", nsmap=ns, name=svc.name, targetNamespace=TNS)
    types_element = etree.SubElement(root, f"{{{WSDL}}}types")
    types = dict(svc.types)
    used = {TNS} | {getattr(t, "ns", TNS) for t in types.values()}
    schemas = {}
    for uri in [u for u in PREFIXES if u in used and u != TNS] + [TNS]:
        schemas[uri] = etree.SubElement(types_element, f"{{{XS}}}schema", elementFormDefault="qualified",
                                        targetNamespace=uri)
        for other in used - {uri}:
            if other != TNS:
                etree.SubElement(schemas[uri], f"{{{XS}}}import", namespace=other)
    schema = schemas[TNS]
    for operation in svc.operations.values():
        _wrapper_element(schema, types, operation.input_name, operation.params, names)
        if operation.output_element:
            _wrapper_element(schema, types, operation.output_element, operation.output_fields, names)
        else:
            _wrapper_element(schema, types, f"{operation.name}Response",
                             (Field(operation.response_name, operation.result),), names)
    headers = {field.name: field for op in svc.operations.values() for field in op.headers}
    for field in headers.values():
        _xs_element(schema, types, field, top_level=True)
    for declared in types.values():
        _xs_type(schemas[getattr(declared, "ns", TNS)], types, declared, names)

    port = f"BasicHttpBinding_{svc.contract}"
    port_type = etree.SubElement(root, f"{{{WSDL}}}portType", name=svc.contract)
    binding = etree.SubElement(root, f"{{{WSDL}}}binding", name=port, type=f"tns:{svc.contract}")
    etree.SubElement(binding, f"{{{WSDL_SOAP}}}binding", transport=HTTP_TRANSPORT)
    for operation in svc.operations.values():
        prefix = f"{svc.contract}_{operation.name}"
        _message(root, f"{prefix}_InputMessage", {"parameters": operation.input_name})
        _message(root, f"{prefix}_OutputMessage", {"parameters": operation.output_element
                                                   or f"{operation.name}Response"})
        if operation.headers:
            _message(root, f"{prefix}_Headers", {field.name: field.name for field in operation.headers})
        abstract = etree.SubElement(port_type, f"{{{WSDL}}}operation", name=operation.name)
        etree.SubElement(abstract, f"{{{WSDL}}}input", message=f"tns:{prefix}_InputMessage")
        etree.SubElement(abstract, f"{{{WSDL}}}output", message=f"tns:{prefix}_OutputMessage")
        concrete = etree.SubElement(binding, f"{{{WSDL}}}operation", name=operation.name)
        etree.SubElement(concrete, f"{{{WSDL_SOAP}}}operation", soapAction=svc.action(operation.name),
                         style="document")
        request = etree.SubElement(concrete, f"{{{WSDL}}}input")
        for field in operation.headers:
            etree.SubElement(request, f"{{{WSDL_SOAP}}}header", message=f"tns:{prefix}_Headers",
                             part=field.name, use="literal")
        etree.SubElement(request, f"{{{WSDL_SOAP}}}body", use="literal", **({"parts": "parameters"}
                                                                             if operation.headers else {}))
        etree.SubElement(etree.SubElement(concrete, f"{{{WSDL}}}output"), f"{{{WSDL_SOAP}}}body", use="literal")
    endpoint = etree.SubElement(etree.SubElement(root, f"{{{WSDL}}}service", name=svc.name), f"{{{WSDL}}}port",
                                name=port, binding=f"tns:{port}")
    etree.SubElement(endpoint, f"{{{WSDL_SOAP}}}address", location=location)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _message(root, name, parts):
    message = etree.SubElement(root, f"{{{WSDL}}}message", name=name)
    for part, element in parts.items():
        etree.SubElement(message, f"{{{WSDL}}}part", name=part, element=f"tns:{element}")


def _wrapper_element(schema, types, name, fields, names):
    element = etree.SubElement(schema, f"{{{XS}}}element", name=name)
    sequence = etree.SubElement(etree.SubElement(element, f"{{{XS}}}complexType"), f"{{{XS}}}sequence")
    for field in fields:
        _xs_element(sequence, types, field)


def _xs_type_ref(types, type_name):
    if type_name in BUILTINS:
        return f"xs:{type_name}"
    return f"{PREFIXES[getattr(types[type_name], 'ns', TNS)]}:{type_name}"


def _xs_element(parent, types, field, top_level=False, repeated=False, name=None):
    """An element declaration in WCF's style: every member optional, reference types nillable."""
    attributes = {} if top_level else {"minOccurs": "0"}
    if repeated:
        attributes["maxOccurs"] = "unbounded"
    attributes["name"] = name or field.name
    declared = types.get(field.type)
    if field.nillable or field.type in REFERENCE_BUILTINS or isinstance(declared, Complex | Array):
        attributes["nillable"] = "true"
    attributes["type"] = _xs_type_ref(types, field.type)
    etree.SubElement(parent, f"{{{XS}}}element", attributes)


def _xs_type(schema, types, declared, names):
    if isinstance(declared, Enum):
        simple = etree.SubElement(schema, f"{{{XS}}}simpleType", name=declared.name)
        restriction = etree.SubElement(simple, f"{{{XS}}}restriction", base="xs:string")
        for value in declared.values:
            etree.SubElement(restriction, f"{{{XS}}}enumeration", value=value)
        return
    complex_type = etree.SubElement(schema, f"{{{XS}}}complexType", name=declared.name)
    if isinstance(declared, Array):
        sequence = etree.SubElement(complex_type, f"{{{XS}}}sequence")
        _xs_element(sequence, types, Field(declared.item, declared.item), repeated=True)
        return
    if declared.base:
        content = etree.SubElement(complex_type, f"{{{XS}}}complexContent", mixed="false")
        extension = etree.SubElement(content, f"{{{XS}}}extension", base=_xs_type_ref(types, declared.base))
        sequence = etree.SubElement(extension, f"{{{XS}}}sequence")
    else:
        sequence = etree.SubElement(complex_type, f"{{{XS}}}sequence")
    for field in declared.fields:
        _xs_element(sequence, types, field, name=names(field.name))
