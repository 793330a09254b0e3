"""The client's one reconcile step (``ScenarioSteps._reconcile``), on its own: what is sent again,
what is settled by looking, what is raised, and what is left when the attempts run out."""

import pytest

from autopay_soap.client import AutopayClient
from autopay_soap.errors import (
    AccessDenied,
    ConnectError,
    DuplicateOrderNumber,
    GatewaySystemError,
    Interrupted,
    OrderNotFound,
    ResponseTimeout,
    TLSError,
)
from autopay_soap.retry import RetryPolicy
from autopay_soap.scenarios.steps import AGAIN, GaveUp


class Script:
    """A send that raises or answers, in turn, what it was given; it counts its calls."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _client(attempts=3):
    return AutopayClient(gateway=None, retry=RetryPolicy(attempts=attempts), sleep=lambda _seconds: None,
                         deadline=None)


def test_a_request_that_never_left_is_sent_again_without_settling():
    send, settled = Script(ConnectError("refused"), "answer"), []
    done = _client()._reconcile(send, lambda sending: settled.append(sending) or sending.answer)
    assert done == "answer" and send.calls == 2
    assert [(s.answer, s.error, s.reached) for s in settled] == [("answer", None, True)]


def test_an_ambiguous_answer_is_settled_and_settle_decides_to_send_again():
    timeout = ResponseTimeout("no answer")
    send, settled = Script(timeout, "answer"), []

    def settle(sending):
        settled.append(sending.error)
        return AGAIN if sending.error is not None else "paid"

    assert _client()._reconcile(send, settle) == "paid"
    assert settled == [timeout, None] and send.calls == 2


def test_a_refusal_the_gateway_made_for_sure_is_raised_unless_the_step_settles_it():
    with pytest.raises(AccessDenied):
        _client()._reconcile(Script(AccessDenied("no")), lambda sending: pytest.fail("settled a sure refusal"))
    duplicate = DuplicateOrderNumber("code 1")
    settled = _client()._reconcile(Script(duplicate), lambda sending: sending.error,
                                   settles=(DuplicateOrderNumber,))
    assert settled is duplicate


def test_a_tls_error_is_never_sent_again():
    send = Script(TLSError("untrusted"), "answer")
    with pytest.raises(TLSError):
        _client()._reconcile(send, lambda sending: sending.answer)
    assert send.calls == 1


def test_a_read_sends_again_after_a_retryable_refusal_a_write_only_after_an_ambiguous_one():
    busy = GatewaySystemError("system error")  # ambiguous and retryable: both send again
    assert _client()._reconcile(Script(busy, "ok"), lambda s: AGAIN if s.error else s.answer, read=True) == "ok"
    assert _client()._reconcile(Script(busy, "ok"), lambda s: AGAIN if s.error else s.answer) == "ok"
    # a stop after a request left: ambiguous (a write looks the order up) but not worth another read
    stopped = Interrupted("stopped")
    assert _client()._reconcile(Script(stopped), lambda s: ("looked up", s.error)) == ("looked up", stopped)
    read = Script(stopped, "ok")
    with pytest.raises(Interrupted):
        _client()._reconcile(read, lambda s: AGAIN if s.error else s.answer, read=True)
    assert read.calls == 1
    not_found = OrderNotFound("none")  # neither: a read settles it only when asked to
    with pytest.raises(OrderNotFound):
        _client()._reconcile(Script(not_found), lambda s: s.answer, read=True)


def test_when_the_attempts_run_out_the_last_attempt_and_the_last_that_reached_the_gateway_are_kept():
    timeout, refused = ResponseTimeout("no answer"), ConnectError("refused")
    send = Script(timeout, refused, refused)
    gave_up = _client(attempts=3)._reconcile(send, lambda sending: AGAIN)
    assert isinstance(gave_up, GaveUp) and send.calls == 3
    assert gave_up.last.error is refused and not gave_up.last.reached
    assert gave_up.last_reached.error is timeout


def test_when_nothing_reached_the_gateway_there_is_no_last_reached_attempt():
    refused = ConnectError("refused")
    gave_up = _client(attempts=2)._reconcile(Script(refused, refused), lambda sending: pytest.fail("settled"))
    assert isinstance(gave_up, GaveUp) and gave_up.last.error is refused and gave_up.last_reached is None
