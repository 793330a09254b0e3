"""Saving a card without a payment, and the bindings a client has (the client's scenarios)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import attr

from ..card_saving import check_card_save, finish_rbs, retried, start_rbs
from ..errors import ValidationError
from ..http import read_only
from ..initiators import Initiator, RecurringTerms
from ..models import Binding, CardCheck, CardSave, CardSaveOutcome, OperationResult, OrderDetails
from ..money import Money
from ..validation import check_client_id, check_order_number
from .steps import ScenarioSteps, scenario

__all__ = ["CardsAndBindings"]


class CardsAndBindings(ScenarioSteps):
    """Saving a card without a payment, and a client's saved cards (bindings): a base of
    :class:`~autopay_soap.client.AutopayClient`."""

    __slots__ = ()

    @scenario
    def start_card_save(
        self, order_number: str, client_id: str, *, check: Union[CardCheck, str, None] = None,
        return_url: Optional[str] = None, fail_url: Optional[str] = None, description: Optional[str] = None,
        language: Optional[str] = None, currency: str = "RUB", initiator: Union[Initiator, str, None] = None,
        recurring: Optional[RecurringTerms] = None,
    ) -> CardSave:
        """Save a client's card without charging it: returns a PENDING :class:`~autopay_soap.models.CardSave`
        whose ``form_url`` is the page to send the payer to; then :meth:`finish_card_save`.

        RBS (SOAP, REST): an order of zero with ``features=VERIFY`` (``check`` VERIFY, the only
        one), registered exactly once by ``order_number`` like a first payment. ``recurring``
        (:class:`~autopay_soap.initiators.RecurringTerms`) goes with it as ``recurringFrequency`` /
        ``recurringExpiry``; ``initiator`` CUSTOMER_STARTS_RECURRING or _INSTALMENTS requires it.
        T-Bank: ``AddCustomer`` if new, then ``AddCard`` with ``check`` (default ``3DSHOLD``; ``NO``
        saves a card without a RebillId, which cannot be autopaid); ``order_number`` is only kept
        in the result, and the page returns to the terminal's Success/Fail Add Card URLs (set in
        the merchant cabinet: ``AddCard`` has no URL fields, so ``return_url``, ``fail_url``,
        ``description`` and ``language`` are not sent). Every argument is checked before anything
        is sent.
        """
        chosen = check_card_save(self, client_id, check, initiator, recurring)
        if "VERIFY" in self.gateway.features.card_checks:
            options: Dict[str, Any] = {"return_url": return_url or self.return_url, "fail_url": fail_url,
                                       "description": description, "language": language}
            self.gateway.check_registration(order_number, Money.of(0, currency), client_id=client_id,
                                            **{"verify": True, "recurring": recurring, **options})
            return start_rbs(self, order_number, client_id, currency, recurring=recurring, **options)
        check_order_number(order_number)  # only kept on T-Bank, but a bad one is still refused by name
        started = retried(self, lambda: self.gateway.start_card_save(  # type: ignore[attr-defined]
            client_id, chosen, ip=self.payer_ip))
        if started is None:  # no attempt fitted in the deadline: nothing was asked
            return CardSave(CardSaveOutcome.UNKNOWN, client_id, chosen, order_number=order_number,
                            message="no attempt fitted in the deadline; start again")
        return attr.evolve(started, order_number=order_number)

    @scenario
    def finish_card_save(self, reference: Optional[str] = None, *, client_id: str,
                         order_number: Optional[str] = None, check: Union[CardCheck, str, None] = None) -> CardSave:
        """Where a card save stands: SAVED (with the :class:`~autopay_soap.models.Binding` that
        :meth:`autopay` takes as ``binding_id``), PENDING, REFUSED, or UNKNOWN when the gateway
        could not be asked. ``reference`` is the ``reference`` of the card save that
        :meth:`start_card_save` returned (RBS: or give ``order_number``); T-Bank also wants the
        ``check`` it was started with when not the default."""
        chosen = check_card_save(self, client_id, check, None, None)
        if "VERIFY" in self.gateway.features.card_checks:
            if reference is None and order_number is None:
                raise ValidationError("reference: give the card save's reference or its order number",
                                      field="reference")
            return finish_rbs(self, reference, order_number, client_id)
        if not reference:
            raise ValidationError("reference: T-Bank's RequestKey of the card save is required", field="reference")
        with read_only():
            state = retried(self, lambda: self.gateway.card_save_state(  # type: ignore[attr-defined]
                reference, client_id, chosen), give_up=True)
        if state is None:
            return CardSave(CardSaveOutcome.UNKNOWN, client_id, chosen, reference, order_number=order_number,
                            message="status look-up failed")
        return attr.evolve(state, order_number=order_number)

    @scenario
    def list_cards(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """A client's saved cards that can be autopaid (RBS ``getBindings``, T-Bank ``GetCardList``);
        the same as :meth:`bindings`."""
        return self.gateway.bindings(client_id, show_expired=show_expired)

    @scenario
    def remove_card(self, binding_id: str, *, client_id: str) -> OperationResult:
        """Remove a saved card: RBS ``unBindCard``, T-Bank ``RemoveCard`` (the card whose RebillId
        is ``binding_id``); it can no longer be charged."""
        check_client_id(client_id, required=True)
        return self.gateway.unbind_card(binding_id, client_id=client_id)

    @scenario
    def status(self, *, order_id: Optional[str] = None, order_number: Optional[str] = None) -> OrderDetails:
        """An order by gateway id or by merchant order number."""
        if order_id is not None:
            return self.gateway.order_status(order_id=order_id)
        return self.gateway.order_status(order_number=order_number)

    @scenario
    def bindings(self, client_id: str, *, show_expired: bool = False) -> Tuple[Binding, ...]:
        """A client's saved cards."""
        return self.gateway.bindings(client_id, show_expired=show_expired)

    @scenario
    def unbind(self, binding_id: str, *, client_id: Optional[str] = None) -> OperationResult:
        """Deactivate a binding: it can no longer be charged (T-Bank needs the ``client_id``)."""
        return self.gateway.unbind_card(binding_id, client_id=client_id)

    @scenario
    def bind(self, binding_id: str) -> OperationResult:
        """Re-activate a binding."""
        return self.gateway.bind_card(binding_id)

    @scenario
    def extend_binding(self, binding_id: str, new_expiry: str) -> OperationResult:
        """Set a binding's expiry (``YYYYMM``)."""
        return self.gateway.extend_binding(binding_id, new_expiry)
