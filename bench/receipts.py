"""Cost of 54-FZ receipts, without a gateway.

* reading a batch file of N rows (``validate_file``: every row parsed and checked) without
  receipts, with the single-line CSV columns, and with a two-line ``receipt`` object in JSON
  Lines: microseconds per row;
* building each wire form of one receipt (T-Bank ``Receipt``, RBS REST ``orderBundle``, the SOAP
  cart zeep is given) and its journal digest: microseconds per receipt.

    python bench/receipts.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autopay_soap import Money, Receipt, ReceiptItem  # noqa: E402
from autopay_soap.batch.rows import ChargeRow, validate_file  # noqa: E402
from autopay_soap.gateways.receipt_wire import rbs_order_bundle, soap_order_bundle, tbank_receipt  # noqa: E402

BINDING = "6f1c2a40-0000-4000-8000-000000000001"


def _files(folder: Path, rows: int) -> dict:
    plain, single, multi = folder / "plain.csv", folder / "single.csv", folder / "multi.jsonl"
    with plain.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", "binding_id", "amount"])
        writer.writerows((f"P-{i}", "c", BINDING, "499.00") for i in range(rows))
    with single.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_number", "client_id", "binding_id", "amount", "taxation", "item_name", "tax",
                         "customer_email"])
        writer.writerows((f"S-{i}", "c", BINDING, "499.00", "osn", "Подписка, месяц", "vat20", "a@b.ru")
                         for i in range(rows))
    receipt = {"taxation": "usn_income", "email": "a@b.ru", "items": [
        {"name": "Подписка", "price": "498.00", "tax": "none", "payment_object": "service"},
        {"name": "Сбор", "price": "0.50", "quantity": "2", "tax": "none", "payment_object": "service"}]}
    multi.write_text("".join(json.dumps({"order_number": f"M-{i}", "client_id": "c", "binding_id": BINDING,
                                         "amount": "499.00", "receipt": receipt}) + "\n" for i in range(rows)))
    return {"no receipt (CSV)": plain, "single-line columns (CSV)": single, "two-line object (JSON Lines)": multi}


def _per_row(path: Path, rows: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        found = validate_file(path)
        best = min(best, time.perf_counter() - started)
        assert found.rows == rows and not found.errors, found.errors[:3]
    return best / rows * 1e6


def _wire(rounds: int) -> dict:
    receipt = Receipt([ReceiptItem("Подписка", Money.of("498.00", "RUB"), tax="vat20", payment_object="service"),
                       ReceiptItem("Сбор", Money.of("0.50", "RUB"), 2, tax="none", payment_object="service")],
                      taxation="osn", email="a@b.ru")
    row = ChargeRow(line=1, order_number="X-1", client_id="c", binding_id=BINDING, amount=receipt.total,
                    receipt=receipt)
    costs = {}
    for name, work in (("T-Bank Receipt", lambda: tbank_receipt(receipt)),
                       ("RBS REST orderBundle", lambda: rbs_order_bundle(receipt)),
                       ("RBS SOAP cart", lambda: soap_order_bundle(receipt)),
                       ("journal digest", lambda: row.receipt_digest)):
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        costs[name] = (time.perf_counter() - started) / rounds * 1e6
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for label, path in _files(Path(folder), args.rows).items():
            print(f"validate_file, {label}: {_per_row(path, args.rows):.1f} µs per row ({args.rows} rows)")
    for label, micros in _wire(20000).items():
        print(f"{label} of a two-line receipt: {micros:.1f} µs")


if __name__ == "__main__":
    main()
