"""A cluster task message names a queued row and nothing else (no Celery needed to read one)."""

import pytest

from autopay_soap.batch.task_message import MessageRefused, read_message, row_message, signing_key
from autopay_soap.signing import task_signature

KEY = b"k" * 32


def test_a_message_names_a_row_and_nothing_else():
    assert read_message(row_message("shop", "n1", "A-1"), None) == ("shop", "n1", "A-1")
    signed = row_message("shop", "n1", "A-1", key=KEY)
    assert signed["sig"] == task_signature(KEY, ("shop", "n1", "A-1"))
    assert read_message(signed, KEY) == ("shop", "n1", "A-1")
    forged = [
        ("shop", "n1", {"order_number": "A-1"}),  # the old charge order: three arguments
        {"merchant": "shop", "batch": "n1", "order_number": "A-1", "amount_minor": 99999},
        {"merchant": "shop", "batch": "n1", "order_number": "A-1", "binding_id": "someone-else"},
        {"merchant": "shop", "batch": "n1", "order_number": True},
        {"merchant": "shop", "batch": "n1"},
        {"merchant": "shop\n", "batch": "n1", "order_number": "A-1"},
        {"merchant": "shop", "batch": "x" * 201, "order_number": "A-1"},
        {"merchant": "shop", "batch": "n1", "order_number": ""},
        "shop n1 A-1",
        None,
    ]
    for message in forged:
        with pytest.raises(MessageRefused):
            read_message(message, None)


@pytest.mark.parametrize("change", [
    None,  # no signature where the worker holds a key
    {"order_number": "A-2"},  # a signed message with a shifted name
    {"sig": "UPPER"},  # the right signature, upper-cased
    {"sig": 7},
    {"sig": "0" * 64},
])
def test_a_worker_with_a_key_refuses_what_the_key_did_not_sign(change):
    signed = row_message("shop", "n1", "A-1", key=KEY)
    if change is None:
        message = row_message("shop", "n1", "A-1")
    else:
        message = {**signed, **change}
        if message.get("sig") == "UPPER":
            message["sig"] = signed["sig"].upper()
    with pytest.raises(MessageRefused, match="signature"):
        read_message(message, KEY)


def test_the_key_comes_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv("AUTOPAY_CELERY_SIGNING_KEY", raising=False)
    assert signing_key() is None and signing_key("given") == b"given"
    monkeypatch.setenv("AUTOPAY_CELERY_SIGNING_KEY", "from-env")
    assert signing_key() == b"from-env" and signing_key("given") == b"given"


# -- a message naming several rows (what a producer sends) --------------------------------------------

def test_a_rows_message_names_rows_of_one_batch_in_order():
    from autopay_soap.batch.task_message import MAX_ROWS, read_rows_message, rows_message

    assert read_rows_message(rows_message("shop", "n1", ["A-1", "A-2"]), None) == ("shop", "n1", ["A-1", "A-2"])
    signed = rows_message("shop", "n1", ("A-1", "A-2"), key=KEY)
    assert signed["sig"] == task_signature(KEY, ("shop", "n1", "A-1", "A-2"))
    assert read_rows_message(signed, KEY) == ("shop", "n1", ["A-1", "A-2"])
    forged = [
        {"merchant": "shop", "batch": "n1", "order_numbers": []},
        {"merchant": "shop", "batch": "n1", "order_numbers": "A-1"},  # a string is not a list of names
        {"merchant": "shop", "batch": "n1", "order_numbers": ["A-1", "A-1"]},  # the same row twice
        {"merchant": "shop", "batch": "n1", "order_numbers": ["A-1", 7]},
        {"merchant": "shop", "batch": "n1", "order_numbers": ["A-1", "A-2\nA-3"]},
        {"merchant": "shop", "batch": "n1", "order_numbers": [f"A-{i}" for i in range(MAX_ROWS + 1)]},
        {"merchant": "shop", "batch": "n1", "order_numbers": ["A-1"], "amount_minor": 99999},
        {"merchant": "shop", "order_numbers": ["A-1"]},
        {"merchant": "shop", "batch": "n1", "order_number": "A-1"},  # a one-row message is not this task's
        ["shop", "n1", ["A-1"]],
    ]
    for message in forged:
        with pytest.raises(MessageRefused):
            read_rows_message(message, None)


@pytest.mark.parametrize("change", [
    {"order_numbers": ["A-1", "A-3"]},  # a row swapped under the signature
    {"order_numbers": ["A-2", "A-1"]},  # the same rows in another order
    {"order_numbers": ["A-1", "A-2", "A-3"]},  # a row added
    {"order_numbers": ["A-1"]},  # a row dropped
    {"batch": "n2"},
    {"sig": None},
])
def test_a_worker_with_a_key_refuses_a_rows_message_the_key_did_not_sign(change):
    from autopay_soap.batch.task_message import read_rows_message, rows_message

    message = {**rows_message("shop", "n1", ["A-1", "A-2"], key=KEY), **change}
    with pytest.raises(MessageRefused, match="signature"):
        read_rows_message(message, KEY)
    one_row = row_message("shop", "n1", "A-1", key=KEY)  # a one-row signature is for that row alone
    with pytest.raises(MessageRefused, match="signature"):
        read_rows_message(rows_message("shop", "n1", ["A-1", "A-2"]) | {"sig": one_row["sig"]}, KEY)
