"""Gateway adapters: one interface (:class:`~autopay_soap.gateways.base.Gateway`), one
implementation per protocol. Import the concrete classes from their modules; importing
this package does not import zeep."""

from .base import Gateway

__all__ = ["Gateway"]
