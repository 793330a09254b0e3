"""A broken or hostile T-Bank answering the card-save calls: each odd reply is refused or reported
as what it is, never read as a saved card."""

from __future__ import annotations

import pytest
import responses

from autopay_soap.client import AutopayClient
from autopay_soap.errors import BadResponse
from autopay_soap.gateways.tbank import TBankGateway
from autopay_soap.models import CardCheck, CardSaveOutcome

from ..support import no_wait
from ..support.tbank import API

OK = {"Success": True, "ErrorCode": "0", "TerminalKey": "T1"}


def client():
    return AutopayClient(TBankGateway("T1", "pw", base_url=API), sleep=no_wait)


@responses.activate
def test_add_card_without_a_request_key_is_a_bad_response():
    responses.post(API + "GetCustomer", json={**OK, "CustomerKey": "c-1"})
    responses.post(API + "AddCard", json={**OK, "CustomerKey": "c-1", "PaymentId": 1, "PaymentURL": "https://p"})
    with pytest.raises(BadResponse):
        client().start_card_save("S-1", "c-1", check=CardCheck.HOLD)


@pytest.mark.parametrize("state, outcome", [
    ({"Status": "COMPLETED", "CustomerKey": "c-other", "CardId": "5", "RebillId": "9"}, CardSaveOutcome.UNKNOWN),
    ({"Status": "SOMETHING_NEW"}, CardSaveOutcome.PENDING),
    ({"Status": "REJECTED", "Message": "Отказ"}, CardSaveOutcome.REFUSED),
    ({"Status": "COMPLETED", "CustomerKey": "c-1", "CardId": "5"}, CardSaveOutcome.SAVED),  # no RebillId
])
@responses.activate
def test_add_card_state_replies(state, outcome):
    """An answer for another customer is no answer (UNKNOWN once the retries are spent); a status
    not in the spec is still in progress; a card without a RebillId is saved but not chargeable."""
    responses.post(API + "GetAddCardState", json={**OK, "RequestKey": "rk-1", **state})
    responses.post(API + "GetCardList", json=[{"CardId": "5", "Pan": "430000******0777", "Status": "A",
                                               "CardType": 0, "ExpDate": "1399"}])
    got = client().finish_card_save("rk-1", client_id="c-1", check=CardCheck.HOLD)
    assert got.outcome is outcome and not got.chargeable  # no RebillId, or not saved: never chargeable


@responses.activate
def test_an_unreachable_gateway_makes_the_state_unknown_not_refused():
    responses.post(API + "GetAddCardState", status=502, body="bad gateway")
    got = client().finish_card_save("rk-1", client_id="c-1", check=CardCheck.HOLD)
    assert got.outcome is CardSaveOutcome.UNKNOWN and got.binding is None and got.reference == "rk-1"
    calls = [call.request.url for call in responses.calls]  # asked again, within the retry policy, first
    assert len(calls) > 1 and set(calls) == {API + "GetAddCardState"}
