"""The records of the sandbox's T-Bank front end (terminals, payments, saved cards, SBP accounts)
and its refusal, apart from the methods that use them."""

from __future__ import annotations

from typing import Any, Dict, Optional

import attr

from .._dirty import mark_dirty

__all__ = ["TBankError", "TBankTerminal", "ok_answer"]


class TBankError(Exception):
    """A refusal with T-Bank's ErrorCode, message and, for payments, the status."""

    def __init__(self, code: int, message: str, details: str = "", status: Optional[str] = None) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.details = details
        self.status = status


@attr.s(slots=True, auto_attribs=True, on_setattr=mark_dirty)
class TBankTerminal:
    """A sandbox terminal: key, password, merchant, and the options T-Bank documents.

    :param charge_enabled: ``Charge`` allowed (the real default is off; error 10).
    :param two_stage: the terminal's default ``PayType`` (Init's ``PayType`` wins).
    :param terminal_type: ``ECOM`` or ``AFT`` (which initiator types are allowed).
    :param notification_url: the terminal's configured notification URL; SBP account-binding
        notifications always go here.
    """

    key: str
    password: str = attr.ib(repr=False)
    merchant: str = "sandbox-merchant"
    charge_enabled: bool = True
    two_stage: bool = False
    terminal_type: str = "ECOM"
    notification_url: Optional[str] = None
    sbp_enabled: bool = True
    dirty: bool = attr.ib(default=True, eq=False, repr=False)  # changed since written to a state file


@attr.s(slots=True, auto_attribs=True, on_setattr=mark_dirty)
class _Payment:
    payment_id: str
    engine_id: str
    terminal: str
    order_id: str
    recurrent: bool
    customer_key: Optional[str]
    initiator: Optional[str]
    qr: bool
    notification_url: Optional[str]
    form_shown: bool = False
    canceled: bool = False
    charged: bool = False
    request_key: Optional[str] = None
    refund_keys: Dict[str, Dict[str, Any]] = attr.ib(factory=dict)
    acs_pa_res: Optional[str] = None
    card_check: Optional[str] = None  # an AddCard session: its CheckType (see sandbox.tbank.cards)
    dirty: bool = attr.ib(default=True, eq=False, repr=False)  # changed since written to a state file


@attr.s(slots=True, auto_attribs=True, on_setattr=mark_dirty)
class _Card:
    card_id: str
    terminal: str
    customer_key: str
    engine_binding: str
    pan: str
    exp_date: str  # MMYY
    rebill_id: Optional[str] = None
    status: str = "A"
    dirty: bool = attr.ib(default=True, eq=False, repr=False)  # changed since written to a state file


@attr.s(slots=True, auto_attribs=True, on_setattr=mark_dirty)
class _Account:
    request_key: str
    merchant: str
    terminal: str
    status: str = "NEW"
    account_token: Optional[str] = None
    payment_id: Optional[str] = None
    insufficient_funds: bool = False
    behaviour: str = ""  # how its ChargeQr answer: a sandbox.cards.Behaviour value ("" approves)
    declined_since: Optional[float] = None
    dirty: bool = attr.ib(default=True, eq=False, repr=False)  # changed since written to a state file


def ok_answer(terminal: TBankTerminal, **fields: Any) -> Dict[str, Any]:
    """A success answer of ``terminal`` with ``fields``."""
    return {"Success": True, "ErrorCode": "0", "TerminalKey": terminal.key, **fields}
