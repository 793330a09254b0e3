"""The bundled RBS MerchantService WSDL: where it is, its one shared parse, its validator.

The WSDL in ``wsdl/`` (shipped as the package ``autopay_soap.wsdl``) is the single source
of truth for SOAP: the client serialises with zeep from it, and the sandbox and the tests
validate envelopes against the same schema: the sandbox with libxml2 (fast, it checks every
message), the tests also with xmlschema as an independent reference. Every parse is done once
per process, lazily and under a lock, and shared by every gateway.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from lxml import etree

if TYPE_CHECKING:  # pragma: no cover
    import xmlschema
    from zeep.wsdl import Document

__all__ = [
    "MERCHANT_NS",
    "SOAP_ENV_NS",
    "WSSE_NS",
    "EnvelopeValidator",
    "UnsafeXML",
    "envelope_schema",
    "envelope_validator",
    "operation_parts",
    "parse_xml",
    "shared_document",
    "wsdl_dir",
    "wsdl_path",
    "xsd_path",
    "zeep_settings",
]

MERCHANT_NS = "http://engine.paymentgate.ru/webservices/merchant"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XS_NS = "http://www.w3.org/2001/XMLSchema"

_lock = threading.Lock()
_document: Optional["Document"] = None
_schema: Optional["xmlschema.XMLSchema"] = None
_validator: Optional["EnvelopeValidator"] = None
_parts: Optional[Dict[str, Tuple[str, str]]] = None


def wsdl_dir() -> Path:
    """The folder holding the bundled WSDL and XSD files.

    Installed, they are the package ``autopay_soap.wsdl``; in a source checkout, ``wsdl/``.
    """
    installed = Path(__file__).resolve().parent / "wsdl"
    if (installed / "merchant-ws.wsdl").is_file():
        return installed
    checkout = Path(__file__).resolve().parent.parent / "wsdl"
    if (checkout / "merchant-ws.wsdl").is_file():
        return checkout
    raise FileNotFoundError("the bundled MerchantService WSDL is missing from the installation")


def wsdl_path() -> Path:
    """The concrete WSDL (binding and service), ``merchant-ws.wsdl``."""
    return wsdl_dir() / "merchant-ws.wsdl"


def xsd_path() -> Path:
    """The schema of the merchant namespace, ``merchant.xsd``."""
    return wsdl_dir() / "merchant.xsd"


class UnsafeXML(ValueError):
    """An XML document with a DTD, an entity or a processing trick was refused."""


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)


def parse_xml(data: bytes) -> "etree._Element":
    """Parse untrusted XML safely: no DTD, no entities, no network, no huge trees.

    Raises :class:`UnsafeXML` for a document with a DOCTYPE or an entity reference and
    :class:`lxml.etree.XMLSyntaxError` for malformed XML.
    """
    root = etree.fromstring(data, parser=_PARSER)
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXML("XML with a DOCTYPE is refused")
    for _ in root.iter(etree.Entity):
        raise UnsafeXML("XML with entity references is refused")
    return root


def zeep_settings() -> Any:
    """zeep ``Settings`` for payments: strict, no DTD, no entities, no external loads."""
    from zeep import Settings

    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                    xml_huge_tree=False, xsd_ignore_sequence_order=False)


def shared_document() -> "Document":
    """The bundled WSDL parsed by zeep, once per process, shared by every gateway.

    A zeep ``Document`` is read-only after parsing, so sharing it between threads and
    clients is safe; each gateway keeps its own transport and session.
    """
    global _document
    if _document is None:
        with _lock:
            if _document is None:
                from zeep.transports import Transport
                from zeep.wsdl import Document

                loader = Transport(timeout=10, operation_timeout=10)
                try:
                    _document = Document(str(wsdl_path()), loader, settings=zeep_settings())  # type: ignore[arg-type]
                finally:
                    loader.session.close()
    return _document


def operation_parts() -> Dict[str, Tuple[str, str]]:
    """``{message name: (part name, part type)}`` read from the abstract WSDL with lxml."""
    global _parts
    if _parts is None:
        tree = etree.parse(str(wsdl_dir() / "MerchantService.wsdl"), parser=_PARSER)
        found: Dict[str, Tuple[str, str]] = {}
        for message in tree.getroot().iterfind(f"{{{WSDL_NS}}}message"):
            part = message.find(f"{{{WSDL_NS}}}part")
            if part is not None:
                found[message.get("name", "")] = (part.get("name", ""), part.get("type", ""))
        _parts = found
    return _parts


def _envelope_schema_text() -> str:
    """The XSD both validators compile: a global element per WSDL message around its part."""
    lines: List[str] = [
        f'<xs:schema xmlns:xs="{XS_NS}" xmlns:tns="{MERCHANT_NS}" '
        f'targetNamespace="{MERCHANT_NS}" elementFormDefault="unqualified">',
        f'<xs:include schemaLocation="{xsd_path().as_uri()}"/>',
    ]
    for name, (part, part_type) in sorted(operation_parts().items()):
        lines.append(
            f'<xs:element name="{name}"><xs:complexType><xs:sequence>'
            f'<xs:element name="{part}" type="{part_type}"/>'
            f"</xs:sequence></xs:complexType></xs:element>"
        )
    lines.append("</xs:schema>")
    return "\n".join(lines)


def envelope_schema() -> "xmlschema.XMLSchema":
    """An xmlschema validator for the RPC body elements of every operation.

    Built from the WSDL messages: a global element per message (``registerOrder``,
    ``registerOrderResponse``...) whose one unqualified child is the part, typed as the
    WSDL says. Validate the body's child element with ``envelope_schema().validate(el)``.
    It is the reference validator of the tests; the sandbox uses :func:`envelope_validator`,
    compiled from the same schema text.
    """
    global _schema
    if _schema is None:
        with _lock:
            if _schema is None:
                import xmlschema

                _schema = xmlschema.XMLSchema(_envelope_schema_text(), base_url=str(wsdl_dir()))
    return _schema


class EnvelopeValidator:
    """The envelope schema compiled by libxml2 (``lxml.etree.XMLSchema``): the sandbox's validator.

    Same schema text as :func:`envelope_schema`, about a hundred times faster, which matters
    because the sandbox validates every request and every answer. Safe to share between
    threads: a validation and the reading of its error are done under one lock.
    """

    def __init__(self) -> None:
        document = etree.fromstring(_envelope_schema_text().encode(), parser=_PARSER,
                                    base_url=wsdl_dir().as_uri() + "/")
        self._schema = etree.XMLSchema(document)
        self._lock = threading.Lock()

    def first_error(self, element: "etree._Element") -> Optional[str]:
        """None if ``element`` (a body element) is valid, else the first reason it is not."""
        with self._lock:
            if self._schema.validate(element):
                return None
            errors = self._schema.error_log
            return errors[0].message if len(errors) else "invalid"


def envelope_validator() -> EnvelopeValidator:
    """The process-wide :class:`EnvelopeValidator`, built on first use."""
    global _validator
    if _validator is None:
        with _lock:
            if _validator is None:
                _validator = EnvelopeValidator()
    return _validator
