"""The embedded sandbox gateway: a stateful offline emulator of the RBS gateway.

``with Sandbox() as gw:`` serves SOAP (``gw.soap_url``), REST (``gw.rest_url``), the payer's
page with 3-D Secure, callbacks, fault injection and a dashboard on a free loopback port.
"""

from .cards import TestCard, TestCards
from .engine import Engine, EngineError
from .faults import FaultPlan
from .server import DEFAULT_PASSWORD, DEFAULT_USERNAME, PayerResult, Sandbox

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERNAME", "Engine", "EngineError", "FaultPlan", "PayerResult",
           "Sandbox", "TestCard", "TestCards"]
