"""SOAP 1.1 document/literal wrapped, the way a WCF basicHttpBinding service speaks it.

A service is declared as data (types, operations, their parameters in order); from that one description this
module reads requests, writes answers and faults, and generates the WSDL that clients such as zeep load. So the
WSDL can never disagree with what the sandbox actually parses and answers.
"""

import base64
import binascii
import dataclasses

from lxml import etree

from ..timeutil import parse_iso, to_iso

TNS = "http://campaignmaster.com.au"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
CONTENT_TYPE = "text/xml; charset=utf-8"

BUILTINS = ("string", "int", "boolean", "dateTime", "base64Binary")
# WCF makes every reference type nillable in its schemas; value types only when declared Nullable.
REFERENCE_BUILTINS = ("string", "base64Binary")

# code -> (faultcode, errorType, message when the raiser gives none)
FAULTS = {
    "InvalidLogin": ("Client", "Application", "The client ID, user name or password is incorrect."),
    "InvalidToken": ("Client", "Application", "The token is invalid or has expired. Log in again."),
    "NotFound": ("Client", "Application", "The requested item does not exist."),
    "InvalidArgument": ("Client", "Application", "The request is not valid."),
    "ServiceUnavailable": ("Server", "System", "The service is temporarily unavailable."),
    "InternalError": ("Server", "System", "An internal error occurred."),
}

# Request bodies are small and come from loopback; still, no entity expansion and no network access.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


class SoapFault(Exception):
    """A SOAP Fault answer: ``raise SoapFault("NotFound", "No campaign with id 7 exists.")``.

    :param code: the ``cmFault`` code; its faultcode and errorType come from ``FAULTS`` (unknown codes are
        the server's: ``s:Server``, ``System``).
    """

    def __init__(self, code, message=None, faultcode=None, error_type=None):
        default_faultcode, default_error_type, default_message = FAULTS.get(code, ("Server", "System", code))
        self.code = code
        self.message = message or default_message
        self.faultcode = faultcode or default_faultcode
        self.error_type = error_type or default_error_type
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
    name: str
    fields: tuple


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
    :param headers: SOAP header elements the operation reads (``SecurityToken``).
    """

    name: str
    params: tuple
    result: str
    handler: object
    result_name: str = ""
    headers: tuple = ()

    @property
    def response_name(self):
        return self.result_name or f"{self.name}Result"


@dataclasses.dataclass
class Service:
    """A WCF service: ``contract`` is its interface name (``ICampaignMasterService``), used in SOAPActions."""

    name: str
    contract: str
    path: str
    types: dict
    operations: dict

    def action(self, operation):
        return f"{TNS}/{self.contract}/{operation}"


def make_service(name, contract, path, types, operations):
    """Build a Service from lists, refusing references to undeclared types (a WSDL zeep could not load)."""
    by_name = {t.name: t for t in types}
    for declared in types:
        for field in getattr(declared, "fields", ()):
            _check_type(by_name, field.type, f"{declared.name}.{field.name}")
        if isinstance(declared, Array):
            _check_type(by_name, declared.item, declared.name)
    for operation in operations:
        for field in (*operation.params, *operation.headers):
            _check_type(by_name, field.type, f"{operation.name}({field.name})")
        _check_type(by_name, operation.result, f"{operation.name} result")
    return Service(name, contract, path, by_name, {op.name: op for op in operations})


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
    ``problem`` is the Fault to answer, so the fault plan and the request log still see the call."""
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
    if action and name and action != name:
        return Call(name, problem=invalid(f"The SOAPAction names {action} but the body holds {name}."))
    if name is None:
        return Call(action, problem=invalid(f"The body's element {element.tag} is not an operation of {TNS}."))
    return Call(name, element, headers)


def _in_tns(element):
    return isinstance(element.tag, str) and etree.QName(element).namespace == TNS


def _children(element):
    return {etree.QName(child).localname: child for child in element if _in_tns(child)}


def read_params(svc, operation, call):
    """The operation's parameters and headers as Python values; a missing required one is InvalidArgument."""
    values = {}
    for source, fields in ((_children(call.body), operation.params), (call.headers, operation.headers)):
        for field in fields:
            element = source.get(field.name)
            value = None if element is None else read_value(svc.types, field.type, element, field.name)
            if value is None and not field.nillable:
                kind = "SOAP header" if fields is operation.headers else "parameter"
                raise invalid(f"The {kind} {field.name} is required and has not been provided.")
            values[field.name] = value
    return values


def read_value(types, type_name, element, path):
    """A request element as Python: dicts for complex types, lists for arrays, epoch seconds for dates."""
    if element.get(f"{{{XSI}}}nil") in ("true", "1"):
        return None
    declared = types.get(type_name)
    if isinstance(declared, Complex):
        children = _children(element)
        return {f.name: (read_value(types, f.type, children[f.name], f"{path}.{f.name}") if f.name in children
                         else None) for f in declared.fields}
    if isinstance(declared, Array):
        item_name = declared.item
        return [read_value(types, declared.item, child, f"{path}.{item_name}") for child in element
                if _in_tns(child) and etree.QName(child).localname == item_name]
    text = (element.text or "").strip() if type_name != "string" else (element.text or "")
    if isinstance(declared, Enum):
        if text not in declared.values:
            raise invalid(f"{path} must be one of {', '.join(declared.values)}, not {text!r}.")
        return text
    return _read_builtin(type_name, text, path)


def _read_builtin(type_name, text, path):
    try:
        if type_name == "int":
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


def response(svc, operation, value):
    """``<XResponse><XResult>…</XResult></XResponse>`` for a handler's result."""
    wrapper = etree.Element(f"{{{TNS}}}{operation.name}Response", nsmap={None: TNS, "i": XSI})
    write_value(svc.types, wrapper, operation.response_name, operation.result, value)
    return envelope(wrapper)


def write_value(types, parent, name, type_name, value):
    """Append element ``name`` holding ``value``; None is ``xsi:nil``, as WCF writes a null member."""
    element = etree.SubElement(parent, f"{{{TNS}}}{name}")
    if value is None:
        element.set(f"{{{XSI}}}nil", "true")
        return
    declared = types.get(type_name)
    if isinstance(declared, Complex):
        # Only declared members are written: a key a handler sets for a member the contract dropped is ignored.
        for field in declared.fields:
            write_value(types, element, field.name, field.type, value.get(field.name))
    elif isinstance(declared, Array):
        for item in value:
            write_value(types, element, declared.item, declared.item, item)
    elif type_name == "boolean":
        element.text = "true" if value else "false"
    elif type_name == "dateTime":
        element.text = to_iso(value)
    elif type_name == "base64Binary":
        element.text = base64.b64encode(value).decode("ascii")
    else:
        element.text = str(value)


def fault_envelope(exc):
    """The Fault envelope of a SoapFault: faultcode, faultstring and the ``cmFault`` detail."""
    root = etree.Element(f"{{{SOAP_ENV}}}Fault", nsmap={"s": SOAP_ENV})
    etree.SubElement(root, "faultcode").text = f"s:{exc.faultcode}"
    faultstring = etree.SubElement(root, "faultstring")
    faultstring.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    faultstring.text = exc.message
    detail = etree.SubElement(etree.SubElement(root, "detail"), f"{{{TNS}}}cmFault", nsmap={None: TNS, "i": XSI})
    for name, text in (("errorType", exc.error_type), ("code", exc.code), ("message", exc.message)):
        etree.SubElement(detail, f"{{{TNS}}}{name}").text = text
    return envelope(root)


# -- WSDL -----------------------------------------------------------------------------------------------------

FAULT_TYPES = [
    Enum("cmErrorType", ("None", "Application", "System")),
    Complex("cmFault", (Field("errorType", "cmErrorType"), Field("code", "string"), Field("message", "string"))),
]


def wsdl(svc, location):
    """The service's WSDL 1.1, one self-contained document (``?wsdl`` and ``?singleWsdl`` answer the same)."""
    ns = {"wsdl": WSDL, "soap": WSDL_SOAP, "xs": XS, "tns": TNS}
    root = etree.Element(f"{{{WSDL}}}definitions", nsmap=ns, name=svc.name, targetNamespace=TNS)
    schema = etree.SubElement(etree.SubElement(root, f"{{{WSDL}}}types"), f"{{{XS}}}schema",
                              elementFormDefault="qualified", targetNamespace=TNS)
    types = dict(svc.types)
    types.update({t.name: t for t in FAULT_TYPES if t.name not in types})
    for operation in svc.operations.values():
        _wrapper_element(schema, types, operation.name, operation.params)
        _wrapper_element(schema, types, f"{operation.name}Response",
                         (Field(operation.response_name, operation.result),))
    headers = {field.name: field for op in svc.operations.values() for field in op.headers}
    for field in headers.values():
        _xs_element(schema, types, field, top_level=True)
    _xs_element(schema, types, Field("cmFault", "cmFault"), top_level=True)
    for declared in types.values():
        _xs_type(schema, types, declared)

    port = f"BasicHttpBinding_{svc.contract}"
    _message(root, f"{svc.contract}_cmFault_FaultMessage", "detail", "cmFault")
    for name in headers:
        _message(root, f"{svc.contract}_{name}_Header", name, name)
    port_type = etree.SubElement(root, f"{{{WSDL}}}portType", name=svc.contract)
    binding = etree.SubElement(root, f"{{{WSDL}}}binding", name=port, type=f"tns:{svc.contract}")
    etree.SubElement(binding, f"{{{WSDL_SOAP}}}binding", transport=HTTP_TRANSPORT)
    for operation in svc.operations.values():
        prefix = f"{svc.contract}_{operation.name}"
        _message(root, f"{prefix}_InputMessage", "parameters", operation.name)
        _message(root, f"{prefix}_OutputMessage", "parameters", f"{operation.name}Response")
        abstract = etree.SubElement(port_type, f"{{{WSDL}}}operation", name=operation.name)
        etree.SubElement(abstract, f"{{{WSDL}}}input", message=f"tns:{prefix}_InputMessage")
        etree.SubElement(abstract, f"{{{WSDL}}}output", message=f"tns:{prefix}_OutputMessage")
        etree.SubElement(abstract, f"{{{WSDL}}}fault", name="cmFaultFault",
                         message=f"tns:{svc.contract}_cmFault_FaultMessage")
        concrete = etree.SubElement(binding, f"{{{WSDL}}}operation", name=operation.name)
        etree.SubElement(concrete, f"{{{WSDL_SOAP}}}operation", soapAction=svc.action(operation.name),
                         style="document")
        request = etree.SubElement(concrete, f"{{{WSDL}}}input")
        for field in operation.headers:
            etree.SubElement(request, f"{{{WSDL_SOAP}}}header", message=f"tns:{svc.contract}_{field.name}_Header",
                             part=field.name, use="literal")
        etree.SubElement(request, f"{{{WSDL_SOAP}}}body", use="literal")
        etree.SubElement(etree.SubElement(concrete, f"{{{WSDL}}}output"), f"{{{WSDL_SOAP}}}body", use="literal")
        etree.SubElement(etree.SubElement(concrete, f"{{{WSDL}}}fault", name="cmFaultFault"),
                         f"{{{WSDL_SOAP}}}fault", name="cmFaultFault", use="literal")
    endpoint = etree.SubElement(etree.SubElement(root, f"{{{WSDL}}}service", name=svc.name), f"{{{WSDL}}}port",
                                name=port, binding=f"tns:{port}")
    etree.SubElement(endpoint, f"{{{WSDL_SOAP}}}address", location=location)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _message(root, name, part, element):
    message = etree.SubElement(root, f"{{{WSDL}}}message", name=name)
    etree.SubElement(message, f"{{{WSDL}}}part", name=part, element=f"tns:{element}")


def _wrapper_element(schema, types, name, fields):
    element = etree.SubElement(schema, f"{{{XS}}}element", name=name)
    sequence = etree.SubElement(etree.SubElement(element, f"{{{XS}}}complexType"), f"{{{XS}}}sequence")
    for field in fields:
        _xs_element(sequence, types, field)


def _xs_type_ref(type_name):
    return f"xs:{type_name}" if type_name in BUILTINS else f"tns:{type_name}"


def _xs_element(parent, types, field, top_level=False, repeated=False):
    """An element declaration in WCF's style: every member optional, reference types nillable."""
    attributes = {} if top_level else {"minOccurs": "0"}
    if repeated:
        attributes["maxOccurs"] = "unbounded"
    attributes["name"] = field.name
    declared = types.get(field.type)
    if field.nillable or field.type in REFERENCE_BUILTINS or isinstance(declared, Complex | Array):
        attributes["nillable"] = "true"
    attributes["type"] = _xs_type_ref(field.type)
    etree.SubElement(parent, f"{{{XS}}}element", attributes)


def _xs_type(schema, types, declared):
    if isinstance(declared, Enum):
        simple = etree.SubElement(schema, f"{{{XS}}}simpleType", name=declared.name)
        restriction = etree.SubElement(simple, f"{{{XS}}}restriction", base="xs:string")
        for value in declared.values:
            etree.SubElement(restriction, f"{{{XS}}}enumeration", value=value)
        return
    sequence = etree.SubElement(etree.SubElement(schema, f"{{{XS}}}complexType", name=declared.name),
                                f"{{{XS}}}sequence")
    if isinstance(declared, Array):
        _xs_element(sequence, types, Field(declared.item, declared.item), repeated=True)
        return
    for field in declared.fields:
        _xs_element(sequence, types, field)
