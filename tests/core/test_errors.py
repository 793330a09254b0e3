import pytest

from autopay_soap import errors
from autopay_soap.codes.rbs import error_for_code


def test_every_error_derives_from_the_root():
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.AutopayError), name


def test_tree_keeps_the_three_kinds_apart():
    assert issubclass(errors.PaymentDeclined, errors.GatewayError)
    assert issubclass(errors.ResponseTimeout, errors.OutcomeUnknown)
    assert issubclass(errors.ConnectionDropped, errors.OutcomeUnknown)
    assert issubclass(errors.BadResponse, errors.OutcomeUnknown)
    assert not issubclass(errors.ConnectError, errors.OutcomeUnknown)
    assert issubclass(errors.TLSError, errors.ConnectError)
    assert issubclass(errors.ValidationError, ValueError)
    assert not issubclass(errors.OutcomeUnknown, errors.GatewayError)


@pytest.mark.parametrize(
    "code, operation, message, expected",
    [
        (1, "registerOrder", "Заказ с таким номером уже обработан", errors.DuplicateOrderNumber),
        (1, "getOrderStatusExtended", "orderId or orderNumber expected", errors.InvalidRequest),
        (2, "unBindCard", "binding is not active", errors.BindingStateError),
        (3, "registerOrder", "unknown currency", errors.InvalidRequest),
        (4, "registerOrder", "amount missing", errors.InvalidRequest),
        (5, "registerOrder", "Access denied", errors.AccessDenied),
        (5, "registerOrder", "Доступ запрещён", errors.AccessDenied),
        (5, "registerOrder", "wrong amount", errors.InvalidRequest),
        (6, "getOrderStatusExtended", "Заказ не найден", errors.OrderNotFound),
        (7, "depositOrder", "payment must be in correct state", errors.InvalidOrderState),
        (7, "getBindings", "system error", errors.GatewaySystemError),
        (13, "registerOrder", "AUTO_PAYMENT not allowed", errors.InvalidRequest),
        (999, "registerOrder", "?", errors.GatewaySystemError),
    ],
)
def test_codes_map_by_meaning(code, operation, message, expected):
    err = error_for_code(code, message, operation=operation, order_number="N-1")
    assert type(err) is expected
    assert err.gateway_code == code
    assert err.operation == operation
    assert err.order_number == "N-1"
    assert "N-1" in str(err) and str(code) in str(err)


def test_context_lists_only_what_is_set():
    err = errors.ResponseTimeout("late", operation="paymentOrderBinding", order_id="abc", http_status=None)
    assert err.context() == {"operation": "paymentOrderBinding", "order_id": "abc"}
    declined = errors.PaymentDeclined("no", action_code=116)
    assert declined.context() == {"action_code": 116}


def test_ambiguity_and_retryability_are_properties_of_the_classes():
    from autopay_soap import errors as e
    from autopay_soap.retry import RetryPolicy

    ambiguous = {c for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.AutopayError) and c.ambiguous}
    assert ambiguous == {e.OutcomeUnknown, e.ResponseTimeout, e.ConnectionDropped, e.DeadlineExceeded, e.BadResponse,
                         e.ReplyTooLarge, e.SoapFaultError, e.GatewaySystemError, e.Interrupted}
    assert e.ConnectError.retryable and not e.TLSError.retryable and not e.Interrupted.retryable
    assert not e.PaymentDeclined.ambiguous and not e.OrderMismatch.retryable
    assert RetryPolicy.retryable(e.ConnectError("x")) and not RetryPolicy.retryable(e.TLSError("x"))
