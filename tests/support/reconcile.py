"""A journal charged through the sandbox, for the reconciliation tests."""

import csv

from autopay_soap import Money
from autopay_soap.batch import BatchRunner
from autopay_soap.client import AutopayClient
from autopay_soap.retry import RetryPolicy
from autopay_soap.sandbox import TestCards

from . import no_wait


def client_for(sb, transport):
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, return_url=sb.return_url,
                                      retry=RetryPolicy(attempts=3), sleep=no_wait)


def first_payment(sb, transport):
    """A saved card, made as a website makes it: an order numbered WEB-..., outside the journal."""
    with client_for(sb, transport) as client:
        started = client.start_first_payment(f"WEB-{transport}", Money.of("1.00", "RUB"), "cust")
        sb.pay(started.form_url, TestCards.TBANK_SUCCESS if transport == "tbank" else TestCards.SUCCESS)
        return client.finish_first_payment(order_id=started.order_id, client_id="cust").binding.binding_id


def charged_journal(sb, transport, tmp_path, rows=6):
    """A batch of ``rows`` autopayments of 5.00, charged; the journal's path."""
    binding = first_payment(sb, transport)
    column = "rebill_id" if transport == "tbank" else "binding_id"
    file = tmp_path / "batch.csv"
    with open(file, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", column, "amount"])
        writer.writerows([(f"R-{i}", "cust", binding, "5.00") for i in range(1, rows + 1)])
    journal = tmp_path / "batch.sqlite"
    summary = BatchRunner(lambda: client_for(sb, transport), journal, concurrency=2, quiet=True).run(file)
    assert summary.paid == rows
    return journal
