"""The embedded sandbox gateway: a stateful offline emulator of RBS (SOAP, REST) and T-Bank v2.

``with Sandbox() as gw:`` serves SOAP (``gw.soap_url``), REST (``gw.rest_url``), T-Bank JSON
(``gw.tbank_url``), the payer's page with 3-D Secure, callbacks and notifications, fault
injection and a dashboard on a free loopback port; one ledger behind all three.
"""

from .cards import TestCard, TestCards
from .engine import Engine, EngineError
from .faults import FaultPlan
from .server import PayerResult, Sandbox
from .settings import DEFAULT_PASSWORD, DEFAULT_TBANK_TERMINAL, DEFAULT_USERNAME, SandboxSettings
from .tbank import SANDBOX_CARD_KEY_PEM, TBankTerminal

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_TBANK_TERMINAL", "DEFAULT_USERNAME", "Engine", "EngineError", "FaultPlan",
           "PayerResult", "SANDBOX_CARD_KEY_PEM", "Sandbox", "SandboxSettings", "TBankTerminal", "TestCard",
           "TestCards"]
