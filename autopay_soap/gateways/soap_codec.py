"""Compiled codecs for the SOAP operations a batch repeats, generated from zeep's binding.

zeep stays the source of truth. When a gateway is built, each hot operation's input and output
message types are read from zeep's own view of the bundled WSDL (element and attribute names,
namespaces, order, occurrence, and zeep's converters of each simple type) and turned into a
plan: an envelope built with lxml directly, and a reader of exactly the reply the schema
describes. Whatever a plan does not cover exactly is handed to zeep:

* a request with a value the plan does not know (an unknown key, a missing required field):
  zeep builds it (and raises what it raises);
* a reply that is anything but the plain answer (a Fault, a header, an unknown element or
  attribute, a number that is not plain digits, an empty element, text where elements go...):
  zeep parses the same response, so the result or the error is zeep's.

Property-based tests (``tests/gateways/test_soap_codec.py``) prove the envelopes identical to zeep's after
C14N and the parsed results equal to zeep's for generated replies. ``RbsSoapGateway(...,
compiled=False)`` uses zeep for everything.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Dict, Optional, Tuple

import attr
from lxml import etree

__all__ = ["FALLBACK", "HOT_OPERATIONS", "FieldPlan", "OperationCodec", "Record", "SimplePlan", "TypePlan",
           "codecs_for", "compile_type"]

HOT_OPERATIONS = ("registerOrder", "registerOrderPreAuth", "paymentOrderBinding", "getOrderStatusExtended",
                  "depositOrder")
"""The operations a batch repeats: compiled when the gateway is built."""
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                 "#PasswordText")
_INTEGER_TYPES = {"int", "long", "short", "integer", "byte", "unsignedInt", "unsignedLong", "unsignedShort",
                  "nonNegativeInteger", "positiveInteger"}
_PLAIN_INTEGER = re.compile(r"-?[0-9]+\Z")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=False)


class _Fallback(Exception):
    """The plan does not cover this value or reply exactly: zeep handles it."""


FALLBACK = _Fallback
"""Raised by a codec when zeep must do the work (callers catch it)."""


class Record:
    """A parsed reply object: attribute access like zeep's objects (``result.orderId``), every field
    of the type present (None, or [] for a repeated element), nested records for nested types."""

    __slots__ = ("__values__",)

    def __init__(self, values: Dict[str, Any]) -> None:
        object.__setattr__(self, "__values__", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__values__[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"Record({self.__values__!r})"

    def as_dict(self) -> Dict[str, Any]:
        """Plain dicts and lists all the way down (what ``zeep.helpers.serialize_object`` gives)."""
        return {k: _plain(v) for k, v in self.__values__.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SimplePlan:
    """A simple type: zeep's own converters, and whether its text must be plain digits."""

    xsd: Any
    integer: bool

    def to_text(self, value: Any) -> str:
        if isinstance(value, bool) or (self.integer and not isinstance(value, int)) or \
                (not self.integer and not isinstance(value, str)):
            raise _Fallback("a value of another Python type")
        return str(self.xsd.xmlvalue(value))

    def from_text(self, text: Optional[str]) -> Any:
        if text is None:
            raise _Fallback("an element without text")
        if self.integer and not _PLAIN_INTEGER.match(text):
            raise _Fallback("not a plain integer")
        try:
            return self.xsd.pythonvalue(text)
        except Exception:  # noqa: BLE001 - zeep decides what a bad value becomes
            raise _Fallback("zeep's converter refused it") from None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FieldPlan:
    """An attribute or a child element of a complex type."""

    name: str
    tag: str  # the attribute's or element's name as it appears on the wire (Clark notation if qualified)
    simple: Optional[SimplePlan]
    complex: Optional["TypePlan"]
    required: bool
    many: bool


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TypePlan:
    """A complex type: attributes, then the child elements of its sequence, in order."""

    attributes: Tuple[FieldPlan, ...]
    elements: Tuple[FieldPlan, ...]
    opaque: Tuple[str, ...]  # fields zeep names but no reply carries (an empty extension's `_value_1`)

    def build(self, tag: str, value: Any, nsmap: Optional[Dict[str, str]] = None) -> etree._Element:
        if not isinstance(value, dict):
            raise _Fallback("a complex value that is not a dict")
        known = {f.name for f in self.attributes} | {f.name for f in self.elements}
        if set(value) - known:
            raise _Fallback("an unknown key")
        node = etree.Element(tag, nsmap=nsmap) if nsmap else etree.Element(tag)
        for field in self.attributes:
            item = value.get(field.name)
            if item is None:
                if field.required:
                    raise _Fallback("a required attribute is missing")
                continue
            node.set(field.tag, field.simple.to_text(item))  # type: ignore[union-attr]
        for field in self.elements:
            item = value.get(field.name)
            items = item if field.many and isinstance(item, list) else ([] if item is None else [item])
            if field.many and item is not None and not isinstance(item, list):
                raise _Fallback("a repeated element given one value")
            if not items and field.required:
                raise _Fallback("a required element is missing")
            for one in items:
                if field.complex is not None:
                    node.append(field.complex.build(field.tag, one))
                else:
                    child = etree.SubElement(node, field.tag)
                    child.text = field.simple.to_text(one)  # type: ignore[union-attr]
        return node

    def read(self, node: etree._Element) -> Record:
        if node.text is not None and node.text.strip():
            raise _Fallback("text in a complex element")
        values: Dict[str, Any] = {}
        by_tag = {f.tag: f for f in self.attributes}
        if any(key not in by_tag for key in node.attrib):
            raise _Fallback("an unknown attribute")
        for field in self.attributes:
            text = node.get(field.tag)
            if text is None:
                if field.required:
                    raise _Fallback("a required attribute is missing")
                values[field.name] = None
            else:
                values[field.name] = field.simple.from_text(text)  # type: ignore[union-attr]
        children = [child for child in node if isinstance(child.tag, str)]
        if len(children) != len(node):
            raise _Fallback("a comment or a processing instruction")
        position = 0
        for field in self.elements:
            found = []
            while position < len(children) and children[position].tag == field.tag:
                found.append(self._child(field, children[position]))
                position += 1
                if not field.many:
                    break
            if field.required and not found:
                raise _Fallback("a required element is missing")
            values[field.name] = found if field.many else (found[0] if found else None)
        if position != len(children):
            raise _Fallback("an unexpected element")
        for name in self.opaque:
            values[name] = None
        return Record(values)

    @staticmethod
    def _child(field: FieldPlan, child: etree._Element) -> Any:
        if child.tail is not None and child.tail.strip():
            raise _Fallback("text between elements")
        if field.complex is not None:
            if not child.attrib and not len(child):
                raise _Fallback("an empty complex element (zeep reads it as nothing)")
            return field.complex.read(child)
        if len(child) or child.attrib:
            raise _Fallback("a simple element with content")
        return field.simple.from_text(child.text)  # type: ignore[union-attr]


def _tag(qname: Any, name: str) -> str:
    return qname.text if qname is not None and getattr(qname, "namespace", None) else name


def _simple(xsd_type: Any) -> SimplePlan:
    return SimplePlan(xsd_type, (getattr(xsd_type, "name", "") or "") in _INTEGER_TYPES)


def compile_type(xsd_type: Any, depth: int = 0) -> TypePlan:
    """The plan of a zeep complex type; ValueError for content it does not cover (zeep then keeps
    the whole operation)."""
    if depth > 8:
        raise ValueError("types nested too deep")
    attributes = []
    for name, attribute in xsd_type.attributes:
        if not hasattr(attribute.type, "pythonvalue") or hasattr(attribute.type, "elements"):
            raise ValueError(f"attribute {name}: not a simple type")
        attributes.append(FieldPlan(name, _tag(attribute.qname, name), _simple(attribute.type), None,
                                 bool(getattr(attribute, "required", False)), False))
    elements, opaque = [], []
    content = type(getattr(xsd_type, "_element", None)).__name__
    for name, element in xsd_type.elements:
        if content not in ("Sequence", "NoneType"):
            if name.startswith("_value_") and not list(getattr(element.type, "elements", [])):
                opaque.append(name)  # an extension with an empty sequence: nothing on the wire
                continue
            raise ValueError(f"{content} content")
        if type(element).__name__ != "Element":
            raise ValueError(f"element {name}: {type(element).__name__}")
        many = element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1)
        nested = compile_type(element.type, depth + 1) if hasattr(element.type, "elements") else None
        elements.append(FieldPlan(name, _tag(element.qname, name), None if nested else _simple(element.type), nested,
                               element.min_occurs >= 1, many))
    return TypePlan(tuple(attributes), tuple(elements), tuple(opaque))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class OperationCodec:
    """One operation: build its envelope, read its reply."""

    name: str
    request_tag: str
    response_tag: str
    parts: Tuple[Tuple[str, str, TypePlan], ...]  # (part name, wire tag, plan)
    result: Tuple[str, TypePlan]  # the reply's part: wire tag, plan
    headers: Dict[str, str]

    def envelope(self, username: str, password: str, parts: Dict[str, Any]) -> etree._Element:
        """The request envelope, WS-Security UsernameToken included (raises FALLBACK)."""
        if set(parts) - {name for name, _tag, _plan in self.parts}:
            raise _Fallback("an unknown part")
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
        header = etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
        security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = username
        secret = etree.SubElement(token, f"{{{WSSE}}}Password", Type=PASSWORD_TEXT)
        secret.text = password
        body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
        namespace = self.request_tag[1:].split("}")[0]
        call = etree.SubElement(body, self.request_tag, nsmap={"ns0": namespace})
        for name, tag, plan in self.parts:
            if parts.get(name) is None:
                raise _Fallback("a part is missing")
            call.append(plan.build(tag, parts[name]))
        return env

    def read(self, content: bytes) -> Record:
        """The reply's result (raises FALLBACK for anything but the plain answer)."""
        if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
            raise _Fallback("a DTD: zeep refuses it")
        try:
            root = etree.fromstring(content, parser=_PARSER)
        except etree.XMLSyntaxError:
            raise _Fallback("not XML") from None
        if root.tag != f"{{{SOAP_ENV}}}Envelope" or len(root) != 1:
            raise _Fallback("not a plain envelope")
        body = root[0]
        if body.tag != f"{{{SOAP_ENV}}}Body" or len(body) != 1 or body.attrib:
            raise _Fallback("not a plain body")
        answer = body[0]
        tag, plan = self.result
        if answer.tag != self.response_tag or len(answer) != 1 or answer.attrib or answer[0].tag != tag:
            raise _Fallback("not the expected answer")
        if (answer.text or "").strip() or (answer[0].tail or "").strip() or not (answer[0].attrib or len(answer[0])):
            raise _Fallback("text, or an empty answer")
        return plan.read(answer[0])


def _compile_operation(binding: Any, name: str) -> OperationCodec:
    operation = binding._operations[name]
    request, response = operation.input.body, operation.output.body
    parts = tuple((part, _tag(element.qname, part), compile_type(element.type))
                  for part, element in request.type.elements)
    (result_name, result_element), = response.type.elements
    headers = {"SOAPAction": f'"{operation.soapaction or ""}"', "Content-Type": "text/xml; charset=utf-8"}
    return OperationCodec(name, request.qname.text, response.qname.text, parts,
                          (_tag(result_element.qname, result_name), compile_type(result_element.type)), headers)


_cache: Dict[int, Dict[str, OperationCodec]] = {}
_lock = threading.Lock()


def codecs_for(binding: Any) -> Dict[str, OperationCodec]:
    """The codecs of the hot operations of a zeep binding, compiled once per binding (the WSDL is
    parsed once per process, so once per process). An operation the plans cannot cover exactly
    is left out: zeep runs it."""
    key = id(binding)
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = {}
            for name in HOT_OPERATIONS:
                try:
                    found[name] = _compile_operation(binding, name)
                except (ValueError, KeyError, AttributeError, TypeError):
                    continue
            _cache[key] = found
    return found

