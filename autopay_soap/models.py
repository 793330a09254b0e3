"""Value types for what the gateways return: one result type whatever the transport.

All classes are frozen attrs classes. Gateway adapters build them from SOAP objects, REST
JSON or T-Bank replies; callers never see a raw zeep object or a gateway's key casing.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Mapping, Optional, Tuple

import attr

from .money import Money
from .receipts import Receipt

__all__ = [
    "Autopayment",
    "Binding",
    "BindingInfo",
    "CardCheck",
    "CardInfo",
    "CardSave",
    "CardSaveOutcome",
    "OperationResult",
    "OrderDetails",
    "OrderStatus",
    "PaymentState",
    "PaymentStep",
    "RegisteredOrder",
    "SbpAccount",
    "SbpQr",
]


class OrderStatus(enum.IntEnum):
    """RBS ``orderStatus``: where an order is in its life.

    "Paid" means :attr:`APPROVED` (held, two-stage) or :attr:`DEPOSITED`.
    """

    CREATED = 0
    """Registered, not paid."""
    APPROVED = 1
    """Amount held (pre-authorised); needs a deposit (capture)."""
    DEPOSITED = 2
    """Paid in full (one-stage payment, or a captured hold)."""
    REVERSED = 3
    """The authorisation was cancelled."""
    REFUNDED = 4
    """A refund was made."""
    ACS_AUTH = 5
    """Authorisation started at the issuer's ACS (3-D Secure in progress); not an error."""
    DECLINED = 6
    """Authorisation declined (or the order expired unpaid)."""
    PENDING = 7
    """Payment pending (newer gateway versions)."""
    PARTLY_DEPOSITED = 8
    """Intermediate completion of a multi-part capture (newer gateway versions)."""

    @property
    def is_paid(self) -> bool:
        """True for a hold or a deposit: the customer's money is taken or reserved."""
        return self in (OrderStatus.APPROVED, OrderStatus.DEPOSITED, OrderStatus.PARTLY_DEPOSITED)

    @property
    def is_pending(self) -> bool:
        """True while the payment may still happen (created, at the ACS, pending)."""
        return self in (OrderStatus.CREATED, OrderStatus.ACS_AUTH, OrderStatus.PENDING)


class PaymentState(enum.Enum):
    """RBS ``paymentAmountInfo.paymentState``."""

    CREATED = "CREATED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    REVERSED = "REVERSED"
    DEPOSITED = "DEPOSITED"
    REFUNDED = "REFUNDED"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RegisteredOrder:
    """A registered order: the gateway's id and the payer's page (``form_url``)."""

    order_id: str
    order_number: Optional[str] = None
    form_url: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PaymentStep:
    """What a payment step (``paymentOrderBinding``) answered.

    With ``acs_url`` set, the payer must pass 3-D Secure: POST ``PaReq`` (``pa_req``),
    ``MD`` (the order id) and ``TermUrl`` (``term_url``) to ``acs_url``. Without it the
    payment was processed; confirm with a status lookup (``redirect`` is the finish page).
    """

    order_id: str
    info: Optional[str] = None
    redirect: Optional[str] = None
    acs_url: Optional[str] = None
    pa_req: Optional[str] = None
    term_url: Optional[str] = None

    @property
    def needs_3ds(self) -> bool:
        """True when the payer must complete 3-D Secure at ``acs_url``."""
        return bool(self.acs_url)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CardInfo:
    """The card of a paid order, masked (``411111**1111``); never a full PAN."""

    masked_pan: Optional[str] = None
    expiration: Optional[str] = None
    cardholder_name: Optional[str] = None
    approval_code: Optional[str] = None
    payment_system: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class BindingInfo:
    """The binding an order created or used."""

    binding_id: str
    client_id: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class OrderDetails:
    """An order as ``getOrderStatusExtended`` (RBS) or ``GetState`` (T-Bank) describes it.

    ``approved``, ``deposited`` and ``refunded`` are the amounts held, captured and
    refunded so far, in the order's currency.
    """

    order_number: Optional[str]
    status: OrderStatus
    amount: Money
    order_id: Optional[str] = None
    action_code: Optional[int] = None
    action_code_description: Optional[str] = None
    payment_state: Optional[PaymentState] = None
    approved: Optional[Money] = None
    deposited: Optional[Money] = None
    refunded: Optional[Money] = None
    description: Optional[str] = None
    created_at: Optional[dt.datetime] = None
    card: Optional[CardInfo] = None
    binding: Optional[BindingInfo] = None
    gateway_status: Optional[str] = None
    """The gateway's own status word when it has one (T-Bank ``CONFIRMED``, ``3DS_CHECKING``...)."""

    @property
    def is_paid(self) -> bool:
        """True when the order is held or deposited."""
        return self.status.is_paid


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Binding:
    """A saved card of a client (``bindingId``), usable for autopayments while active."""

    binding_id: str
    client_id: Optional[str] = None
    masked_pan: Optional[str] = None
    expiry: Optional[str] = None
    """Card expiry as ``YYYYMM``."""
    active: bool = True
    expiry_text: Optional[str] = None
    """The gateway's expiry text when it could not be read as a month and year (``expiry`` is then
    None): the expiring-cards report lists such a binding as unreadable, never as fine."""


class CardCheck(str, enum.Enum):
    """How a card saved without a payment is checked (see "Saving a card" in the docs)."""

    VERIFY = "VERIFY"
    """RBS ``features=VERIFY``: a zero-amount authorisation (3-D Secure where the card asks),
    reversed at once; the order ends REVERSED with a binding. The only check on RBS."""
    NONE = "NO"
    """T-Bank ``CheckType=NO``: saved without a check; no RebillId, so it cannot be autopaid."""
    HOLD = "HOLD"
    """T-Bank: a zero hold, released; gives a RebillId."""
    THREE_DS = "3DS"
    """T-Bank: 3-D Secure and a zero charge; cards without 3-D Secure are not saved."""
    THREE_DS_HOLD = "3DSHOLD"
    """T-Bank: 3-D Secure where the card has it, a zero hold where it has not."""


class CardSaveOutcome(enum.Enum):
    """Where a card save stands."""

    SAVED = "saved"
    """The card is stored; the card save's ``binding`` is set when it can be autopaid."""
    PENDING = "pending"
    """Waiting for the payer (the page, 3-D Secure)."""
    REFUSED = "refused"
    """The check failed (declined, no 3-D Secure...): nothing is stored."""
    UNKNOWN = "unknown"
    """The gateway could not be asked; ask again (:meth:`~autopay_soap.client.AutopayClient.finish_card_save`)."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CardSave:
    """A card saved without a payment: where it stands, the page to send the payer to, and, once
    saved, the :class:`Binding` an autopayment takes.

    ``reference`` is what :meth:`~autopay_soap.client.AutopayClient.finish_card_save` asks about:
    the order id on RBS, the ``RequestKey`` on T-Bank. ``card_id`` is T-Bank's ``CardId``.
    """

    outcome: CardSaveOutcome
    client_id: str
    check: CardCheck
    reference: Optional[str] = None
    form_url: Optional[str] = None
    binding: Optional[Binding] = None
    card_id: Optional[str] = None
    message: Optional[str] = None
    order_number: Optional[str] = None

    @property
    def chargeable(self) -> bool:
        """True when the saved card can be charged by an autopayment (it has a binding id)."""
        return self.outcome is CardSaveOutcome.SAVED and self.binding is not None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class OperationResult:
    """A money or binding operation the gateway accepted.

    ``operation`` is the library's own word, the same on every transport: ``deposit``,
    ``reverse``, ``refund``, ``bind_card``, ``unbind_card``, ``extend_binding`` (T-Bank's ``Confirm`` is a
    ``deposit``, its ``Cancel`` a ``reverse`` or a ``refund``). The gateway's own method name is
    in the errors' ``operation`` and in the logs.
    """

    operation: str
    order_id: Optional[str] = None
    amount: Optional[Money] = None
    remaining: Optional[Money] = None
    """What is left on the order after the operation, when the gateway says (T-Bank ``NewAmount``)."""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SbpQr:
    """An SBP QR: the NSPK payload (a link) or an SVG, and the ``RequestKey`` of the account binding."""

    data: str
    request_key: Optional[str] = None
    payment_id: Optional[str] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SbpAccount:
    """An SBP account binding (``GetAddAccountQrState``): ``account_token`` once ``ACTIVE``."""

    request_key: str
    status: str
    account_token: Optional[str] = attr.ib(default=None, repr=False)
    """A charging token: never shown in a repr."""
    bank_member_id: Optional[str] = None
    bank_member_name: Optional[str] = None

    @property
    def active(self) -> bool:
        """True when the account can be charged (``ACTIVE``)."""
        return self.status == "ACTIVE"


@attr.s(frozen=True, slots=True, repr=False)
class Autopayment:
    """An autopayment checked, before anything is sent, for one transport's rules: what
    :meth:`AutopayClient.check_autopay <autopay_soap.client.AutopayClient.check_autopay>` builds
    and :meth:`AutopayClient.charge <autopay_soap.client.AutopayClient.charge>` sends without
    checking it again (a client whose transport checks differently checks it once more).

    Built by the client only: its fields are the arguments of
    :meth:`~autopay_soap.client.AutopayClient.autopay` as checked. The repr names the order
    number and the amount, never the binding or the account token.
    """

    order_number: str = attr.ib()
    amount: Money = attr.ib()
    client_id: Optional[str] = attr.ib()
    binding_id: Optional[str] = attr.ib()
    account_token: Optional[str] = attr.ib()
    two_stage: bool = attr.ib()
    description: Optional[str] = attr.ib()
    return_url: Optional[str] = attr.ib()
    initiator: Optional[str] = attr.ib()
    receipt: Optional[Receipt] = attr.ib()
    options: Mapping[str, Any] = attr.ib(eq=False)
    """The transport's options the checks found (initiator type, SBP, the receipt)."""
    checked_for: Tuple[Any, ...] = attr.ib(eq=False)
    """What the checks depended on (the transport and its settings, the default return URL)."""

    def arguments(self) -> Mapping[str, Any]:
        """The keyword arguments of :meth:`~autopay_soap.client.AutopayClient.check_autopay`
        that build this autopayment again (for a client that must check it itself)."""
        return {"order_number": self.order_number, "amount": self.amount, "client_id": self.client_id,
                "binding_id": self.binding_id, "account_token": self.account_token, "two_stage": self.two_stage,
                "description": self.description, "return_url": self.return_url, "initiator": self.initiator,
                "receipt": self.receipt}

    def __repr__(self) -> str:
        return f"Autopayment({self.order_number!r}, {self.amount})"
