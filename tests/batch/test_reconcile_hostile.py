"""Reconciliation against a hostile or broken gateway: every answer bounded, reported, and never a
journal change from an answer that could not be read."""

import datetime as dt
import json
import sqlite3
from urllib.parse import parse_qs

import pytest
import responses

from autopay_soap.batch import open_journal
from autopay_soap.batch.states import RowState
from autopay_soap.client import AutopayClient
from autopay_soap.gateways.order_list import OrderPage, check_page_request
from autopay_soap.gateways.rbs_rest import RbsRestGateway
from autopay_soap.http import Timeouts
from autopay_soap.reconcile import EXIT_INCOMPLETE, Kind, reconcile
from autopay_soap.reconcile.compare import compare, settlement
from autopay_soap.retry import RetryPolicy

from ..support import no_wait
from ..support.hostile_server import HostileServer

BASE = "https://gateway.test/payment/rest/"
SINCE = dt.datetime(2026, 12, 4, tzinfo=dt.timezone.utc)
UNTIL = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)
PAID_AT = SINCE.timestamp() + 3600


def order(number, amount=500, status=2, refunded=0):
    return {"orderNumber": number, "orderStatus": status, "amount": amount, "currency": "643", "actionCode": 0,
            "attributes": [{"name": "mdOrder", "value": f"id-{number}"}],
            "paymentAmountInfo": {"paymentState": "DEPOSITED", "approvedAmount": amount, "depositedAmount": amount,
                                  "refundedAmount": refunded}}


def journal_with(path, rows):
    """A SQLite journal holding ``rows``: (order_number, state, amount_minor)."""
    with open_journal(path):
        pass
    with sqlite3.connect(path) as db:
        for line, (number, state, amount) in enumerate(rows, 1):
            db.execute("INSERT INTO charges (order_number, line, amount_minor, currency, state, attempts, updated_at, "
                       "finished_at) VALUES (?, ?, ?, 'RUB', ?, 1, 0, ?)", (number, line, amount, state, PAID_AT))
    return path


def states_of(path):
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT order_number, state FROM charges ORDER BY order_number"))


def list_reply(pages, total, page_size=200):
    """A ``getLastOrdersForMerchants.do`` callback answering ``pages(page_number)``."""
    asked = []

    def answer(request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        asked.append(form)
        if "getLastOrdersForMerchants" not in request.url:
            return 200, {}, json.dumps({"errorCode": "6", "errorMessage": "No such order"})
        number = int(form["page"])
        return 200, {}, json.dumps({"errorCode": "0", "orderStatuses": pages(number), "totalCount": total,
                                    "page": number, "pageSize": page_size})
    return answer, asked


def run(tmp_path, journal, **kwargs):
    client = AutopayClient(RbsRestGateway(BASE, "api", "secret-password", **kwargs), retry=RetryPolicy(attempts=1),
                           sleep=no_wait)
    lines = []
    with open_journal(journal) as opened:
        summary = reconcile(client, opened, SINCE, UNTIL, report=lines.append, lookups_per_second=None)
    client.close()
    return summary, lines


def mock(callback):
    responses.add_callback(responses.POST, BASE + "getLastOrdersForMerchants.do", callback=callback)
    responses.add_callback(responses.POST, BASE + "getOrderStatusExtended.do", callback=callback)


@responses.activate
def test_a_page_repeated_for_ever_stops_after_one_repeat(tmp_path):
    answer, asked = list_reply(lambda page: [order("A-1"), order("A-2")], total=1000, page_size=2)
    mock(answer)
    journal = journal_with(tmp_path / "j.sqlite", [("A-1", "paid", 500), ("GONE-1", "paid", 500)])
    summary, lines = run(tmp_path, journal)
    assert len(asked) == 2  # page 0, then page 1 repeating it: stop
    assert not summary.complete and "already listed" in summary.problem
    assert summary.exit_code == EXIT_INCOMPLETE
    kinds = sorted(line.kind.value for line in lines)
    # A-2 is the gateway's alone; GONE-1 is not concluded "not paid" from a list cut short
    assert kinds == ["duplicate", "duplicate", "gateway_only", "unreadable"]


@responses.activate
def test_a_count_beyond_the_page_bound_is_refused_after_one_page(tmp_path):
    answer, asked = list_reply(lambda page: [order("A-1")], total=10**9)
    mock(answer)
    summary, lines = run(tmp_path, journal_with(tmp_path / "j.sqlite", []))
    assert len(asked) == 1 and not summary.complete and "reconcile a shorter window" in summary.problem
    absurd, _asked = list_reply(lambda page: [order("A-1")], total=10**15)  # more digits than any count: unread
    responses.replace(responses.POST, BASE + "getLastOrdersForMerchants.do", body="")
    responses.add_callback(responses.POST, BASE + "getLastOrdersForMerchants.do", callback=absurd)
    summary, lines = run(tmp_path, journal_with(tmp_path / "k.sqlite", []))
    assert not summary.complete and "could not be read" in summary.problem and len(lines) == 1


@responses.activate
def test_a_page_larger_than_asked_is_not_used(tmp_path):
    answer, asked = list_reply(lambda page: [order(f"B-{i}") for i in range(201)], total=201, page_size=500)
    mock(answer)
    summary, lines = run(tmp_path, journal_with(tmp_path / "j.sqlite", [("B-1", "paid", 999)]))
    assert asked[0]["size"] == "200"
    assert not summary.complete and "could not be read" in summary.problem
    assert [line.kind for line in lines] == [Kind.UNREADABLE]  # not 201 gateway_only lines, not B-1's amount


@responses.activate
def test_an_unreadable_order_is_reported_and_the_rest_of_the_page_counts(tmp_path):
    bad = order("C-2", amount="12.50")
    answer, _asked = list_reply(lambda page: [order("C-1", amount=700), bad, order("C-3")], total=3)
    mock(answer)
    journal = journal_with(tmp_path / "j.sqlite", [("C-1", "paid", 500), ("C-2", "unknown", 500),
                                                  ("C-3", "paid", 500)])
    summary, lines = run(tmp_path, journal)
    found = sorted((line.kind.value, line.order_number) for line in lines)
    # C-2's look-up answers "no such order" (error 6): still unknown, left as it is
    assert found == [("amount_differs", "C-1"), ("still_unknown", "C-2"), ("unreadable", "C-2")]
    assert summary.complete and states_of(journal)["C-2"] == RowState.UNKNOWN.value


@responses.activate
def test_an_unknown_row_whose_look_up_is_unreadable_is_never_settled(tmp_path):
    def answer(request):
        if "getOrderStatusExtended" in request.url:
            return 200, {}, json.dumps({**order("D-1"), "amount": "a lot"})
        return 200, {}, json.dumps({"errorCode": "0", "orderStatuses": [], "totalCount": 0})
    mock(answer)
    journal = journal_with(tmp_path / "j.sqlite", [("D-1", "in_flight", 500)])
    summary, lines = run(tmp_path, journal)
    assert [(line.kind, line.order_number) for line in lines] == [(Kind.STILL_UNKNOWN, "D-1")]
    assert "look-up failed" in lines[0].detail and states_of(journal)["D-1"] == RowState.IN_FLIGHT.value


def test_a_100_mb_list_is_refused_at_the_reply_limit(tmp_path):
    journal = journal_with(tmp_path / "j.sqlite", [("E-1", "paid", 500)])
    with HostileServer("huge_chunked") as server:
        client = AutopayClient(RbsRestGateway(server.url + "/payment/rest/", "api", "pw", max_reply_bytes=1_000_000,
                                              timeouts=Timeouts(connect=2, read=5, total=20)),
                               retry=RetryPolicy(attempts=1), sleep=no_wait)
        lines = []
        with open_journal(journal) as opened:
            summary = reconcile(client, opened, SINCE, UNTIL, report=lines.append, lookups_per_second=None)
        client.close()
    assert not summary.complete and [line.kind for line in lines] == [Kind.UNREADABLE]
    assert states_of(journal) == {"E-1": "paid"}


def test_the_page_request_is_checked_before_anything_is_sent():
    naive = dt.datetime(2026, 12, 4)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_page_request(naive, UNTIL, 0, 200, ["DEPOSITED"])
    with pytest.raises(ValueError, match="size"):
        check_page_request(SINCE, UNTIL, 0, 201, ["DEPOSITED"])
    with pytest.raises(ValueError, match="states"):
        check_page_request(SINCE, UNTIL, 0, 200, ["PAID"])
    with pytest.raises(ValueError, match="start before"):
        check_page_request(UNTIL, SINCE, 0, 200, ["DEPOSITED"])
    assert OrderPage((), 4, 200, 1000).last and not OrderPage((), 3, 200, 1000).last


def test_rules_without_a_gateway():
    from autopay_soap.batch.journal import JournalEntry
    from autopay_soap.models import OrderDetails, OrderStatus
    from autopay_soap.money import Money

    def details(status, amount=500, refunded=None):
        return OrderDetails("N-1", OrderStatus(status), Money.from_minor(amount, "RUB"),
                            refunded=None if refunded is None else Money.from_minor(refunded, "RUB"))

    paid = JournalEntry("N-1", 1, "paid", amount_minor=500, currency="RUB")
    assert compare(details(2), paid) == ([], None)
    lines, remember = compare(details(4, refunded=500), paid)
    assert [x.kind for x in lines] == [Kind.REFUNDED] and remember == (500, False)
    assert compare(details(4, refunded=500), paid, (500, False)) == ([], None)  # already reported
    lines, remember = compare(details(3), paid)
    assert [x.kind for x in lines] == [Kind.REVERSED] and remember == (0, True)
    assert [x.kind for x in compare(details(6), paid)[0]] == [Kind.NOT_PAID_AT_GATEWAY]
    declined = JournalEntry("N-1", 1, "declined", amount_minor=500, currency="RUB")
    assert [x.kind for x in compare(details(2), declined)[0]] == [Kind.GATEWAY_ONLY]
    assert compare(details(6), None) == ([], None)  # a declined order outside the journal moved no money
    unknown = JournalEntry("N-1", 1, "unknown", amount_minor=500, currency="RUB")
    assert settlement(details(1), unknown) is RowState.HELD and settlement(details(2), unknown) is RowState.PAID
    assert settlement(details(6), unknown) is RowState.DECLINED and settlement(details(0), unknown) is None
    assert settlement(details(2, amount=501), unknown) is None  # another charge under this number
