"""Saving a card without a payment: the steps behind
:meth:`~autopay_soap.client.AutopayClient.start_card_save` and
:meth:`~autopay_soap.client.AutopayClient.finish_card_save`.

* **RBS** (SOAP and REST): an order of zero with ``features=VERIFY`` and the ``clientId``,
  registered exactly once by its order number like any first payment; the payer enters the card
  on the gateway's page (3-D Secure where the card asks); the gateway checks it with a
  zero-amount authorisation it reverses at once, so the order ends ``REVERSED`` and names the
  new binding. Nothing is charged.
* **T-Bank**: ``AddCustomer`` (when the customer is new), then ``AddCard`` with a ``CheckType``;
  the payer enters the card on ``PaymentURL``; ``GetAddCardState`` (or the ``AddCard``
  notification) gives the ``CardId`` and, for every check but ``NO``, the ``RebillId``, which
  is the binding an autopayment takes. A repeated ``AddCard`` opens a second session and moves
  no money, so an ambiguous one is simply asked again.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from .errors import OrderMismatch, OrderNotFound, ValidationError
from .gateways.base import expiry_yyyymm
from .initiators import Initiator, RecurringTerms, needs_terms, starts_chain
from .models import Binding, CardCheck, CardSave, CardSaveOutcome, OrderDetails, OrderStatus
from .money import Money
from .scenarios.steps import AGAIN, GaveUp
from .validation import check_client_id, check_recurring

AutopayClient = Any  # the client (not imported: it imports this module); typed where it is called

__all__ = ["check_card_save", "finish_rbs", "start_rbs"]

DEFAULT_TBANK_CHECK = CardCheck.THREE_DS_HOLD
"""T-Bank's check when none is given: 3-D Secure where the card has it, a zero hold where it has
not; every card that passes gets a RebillId (``NO``, T-Bank's own default, gives none)."""


def check_card_save(client: AutopayClient, client_id: Any, check: Any, initiator: Any,
                    recurring: Any) -> CardCheck:
    """Every argument of a card save checked against the client's transport, nothing sent; the check."""
    check_client_id(client_id, required=True)
    checks = client.gateway.features.card_checks
    if check is None:
        chosen = CardCheck.VERIFY if "VERIFY" in checks else DEFAULT_TBANK_CHECK
    else:
        try:
            chosen = CardCheck(check)
        except ValueError:
            raise ValidationError(f"check: {check!r} is not a card check; use a CardCheck", field="check") from None
    if chosen.value not in checks:
        raise ValidationError(f"check: the {client.gateway.name} transport saves cards with "
                              f"{', '.join(checks)}, not {chosen.value}", field="check")
    if initiator is not None and not starts_chain(initiator):
        raise ValidationError("initiator: a saved card starts a chain; use CUSTOMER_SAVES_CARD, "
                              "CUSTOMER_STARTS_RECURRING or CUSTOMER_STARTS_INSTALMENTS", field="initiator")
    if recurring is not None and "VERIFY" not in checks:
        raise ValidationError(f"recurring: the {client.gateway.name} transport carries no recurring terms "
                              "(T-Bank chains autopayments by RebillId alone)", field="recurring")
    if recurring is None and needs_terms(initiator) and "VERIFY" in checks:
        raise ValidationError(f"recurring: {Initiator(initiator).name} on RBS needs the chain's RecurringTerms "
                              "(recurringFrequency, recurringExpiry)", field="recurring")
    check_recurring(recurring)
    return chosen


def start_rbs(client: AutopayClient, order_number: str, client_id: str, currency: str, *,
              recurring: Optional[RecurringTerms], **options: Any) -> CardSave:
    """Register the VERIFY order exactly once; PENDING with the page, or where a found order stands."""
    zero = Money.of(0, currency)
    order, details, note = client._register(order_number, zero, client_id=client_id, verify=True,
                                             recurring=recurring, **options)
    if order is None:
        return CardSave(CardSaveOutcome.UNKNOWN, client_id, CardCheck.VERIFY, message=note,
                        order_number=order_number)
    if details is not None:
        return _from_order(details, client_id, order_number)
    return CardSave(CardSaveOutcome.PENDING, client_id, CardCheck.VERIFY, order.order_id, order.form_url,
                    message=note or None, order_number=order_number)


def finish_rbs(client: AutopayClient, reference: Optional[str], order_number: Optional[str],
               client_id: str) -> CardSave:
    """The VERIFY order by id (or number) and what it says of the card."""
    found: Union[OrderDetails, Any] = client._lookup(order_id=reference, order_number=order_number)
    if isinstance(found, OrderDetails):
        return _from_order(found, client_id, order_number or found.order_number)
    if found is None:
        return CardSave(CardSaveOutcome.UNKNOWN, client_id, CardCheck.VERIFY, reference,
                        message="status look-up failed", order_number=order_number)
    raise OrderNotFound("no such card check", order_id=reference, order_number=order_number)


def _from_order(details: OrderDetails, client_id: str, order_number: Optional[str]) -> CardSave:
    """A card check's order read: REVERSED with a binding is SAVED; DECLINED is REFUSED; not yet
    paid is PENDING. A paid order, or a binding of another client, is no card check of this client."""
    status, reference = details.status, details.order_id
    if details.amount.minor != 0 or status in (OrderStatus.APPROVED, OrderStatus.DEPOSITED, OrderStatus.REFUNDED):
        raise OrderMismatch(f"order {order_number!r} is a payment of {details.amount}, not a card check; "
                            "nothing was saved", requested={"amount": 0}, found={"amount": details.amount.minor},
                            order_number=order_number, order_id=reference)
    if details.binding is not None and details.binding.client_id not in (None, "", client_id):
        raise OrderMismatch(f"order {order_number!r} saved a card of another client", order_number=order_number,
                            order_id=reference, requested={"client_id": client_id},
                            found={"client_id": details.binding.client_id})
    if status is OrderStatus.REVERSED and details.binding is not None:
        card = details.card
        binding = Binding(details.binding.binding_id, client_id, card.masked_pan if card else None,
                          _expiry(card.expiration if card else None))
        return CardSave(CardSaveOutcome.SAVED, client_id, CardCheck.VERIFY, reference, binding=binding,
                        order_number=order_number)
    if status is OrderStatus.DECLINED or status is OrderStatus.REVERSED:
        text = details.action_code_description or "the card check was declined"
        return CardSave(CardSaveOutcome.REFUSED, client_id, CardCheck.VERIFY, reference, message=text,
                        order_number=order_number)
    return CardSave(CardSaveOutcome.PENDING, client_id, CardCheck.VERIFY, reference, order_number=order_number)


def _expiry(value: Optional[str]) -> Optional[str]:
    """RBS's card ``expiration`` (``YYYYMM``) when it reads as one."""
    return expiry_yyyymm(value, "YYYYMM")


def retried(client: AutopayClient, call: Any, *, give_up: bool = False) -> Any:
    """``call()`` within the client's retry policy (for steps that are safe to repeat). When every
    attempt failed with a retryable error: that error, or None with ``give_up`` (a look-up whose
    answer is then unknown); None too when no attempt fitted in the deadline."""
    done = client._reconcile(call, lambda sending: AGAIN if sending.error is not None else sending.answer,
                             read=True)  # safe to repeat: every retryable error is worth another attempt
    if not isinstance(done, GaveUp):
        return done
    if done.last is not None and done.last.error is not None and not give_up:
        raise done.last.error
    return None
