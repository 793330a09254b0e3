"""Receipts in batch files: a receipt per row (CSV single-line columns, JSON Lines objects), checked
in the pre-flight, sent with each charge, kept as a digest in the journal (another receipt on a
re-run is a mismatch, never a second charge), carried by dunning, shown in the report; through
``kill -9``, each row charged exactly once with its receipt."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from autopay_soap import AutopayClient, Money
from autopay_soap.batch import EXIT_OK, open_journal
from autopay_soap.batch.dunning import plan_dunning
from autopay_soap.batch.outcome import EXIT_INVALID_INPUT
from autopay_soap.sandbox import Sandbox, TestCards

from ..support.batch import ChargeCounter

CSV_HEADER = ["order_number", "client_id", "binding_id", "amount", "taxation", "item_name", "tax", "payment_object",
              "customer_email"]


def bind(sb, client_id, card=TestCards.SUCCESS):
    client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="rest", return_url=sb.return_url)
    from autopay_soap import Receipt

    started = client.start_first_payment(f"FIRST-{client_id}", Money.of("1.00", "RUB"), client_id,
                                         receipt=Receipt.single_item("Привязка", Money.of("1.00", "RUB"), tax="none",
                                                                     taxation="osn", email="a@b.ru"))
    assert sb.pay(started.payment_url(), card).paid
    binding = client.finish_first_payment(order_id=started.order_id).new_binding().binding_id
    client.close()
    return binding


def charge(sb, file, *extra, timeout=300):
    return subprocess.run([sys.executable, "-m", "autopay_soap.cli", "charge", str(file), "--profile", "sandbox",
                           "--sandbox-url", sb.url, "--transport", "rest", "--quiet", *extra],
                          capture_output=True, text=True, timeout=timeout)


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)


def two_lines(amount_rub):
    """A JSON Lines receipt of two lines adding up to ``amount_rub`` (whole roubles)."""
    return {"taxation": "usn_income", "email": "buyer@example.com", "items": [
        {"name": "Подписка", "price": f"{amount_rub - 1}.00", "tax": "none", "payment_object": "service"},
        {"name": "Сервисный сбор", "price": "0.50", "quantity": "2", "tax": "none", "payment_object": "service"}]}


def test_csv_and_json_lines_receipts_are_sent_kept_and_reported(tmp_path):
    with Sandbox(receipts_required=True) as sb:
        binding = bind(sb, "r-cust")
        csv_file = tmp_path / "month.csv"
        write_csv(csv_file, [(f"RC-{i}", "r-cust", binding, "499.00", "osn", "Подписка, месяц", "vat20", "service",
                              "buyer@example.com") for i in range(3)])
        jsonl = tmp_path / "month.jsonl"
        jsonl.write_text("".join(json.dumps({"order_number": f"RJ-{i}", "client_id": "r-cust", "binding_id": binding,
                                             "amount": "10.00", "receipt": two_lines(10)}) + "\n" for i in range(3)))
        first = charge(sb, csv_file, "--report", str(tmp_path / "csv.report.jsonl"))
        second = charge(sb, jsonl, "--report", str(tmp_path / "jsonl.report.jsonl"))
        kept = {number: [r["receipt"] for r in sb.fiscal.receipts(sb.engine.order(order_number=number).order_id)]
                for number in ("RC-0", "RJ-2")}
        charges = sb.engine.charges_by_order_number()
    assert first.returncode == EXIT_OK, first.stderr
    assert second.returncode == EXIT_OK, second.stderr
    assert all(charges[f"R{kind}-{i}"] == 1 for kind in "CJ" for i in range(3))
    sold = kept["RC-0"][0]["cartItems"]["items"]
    assert [(line["name"], line["itemAmount"], line["tax"]["taxType"]) for line in sold] == [
        ("Подписка, месяц", 49900, 6)]
    assert [line["itemAmount"] for line in kept["RJ-2"][0]["cartItems"]["items"]] == [900, 100]
    for report in ("csv", "jsonl"):
        rows = [json.loads(line) for line in (tmp_path / f"{report}.report.jsonl").read_text().splitlines()]
        assert [(r["outcome"], r["receipt"]) for r in rows] == [("paid", "sent")] * 3


def test_a_row_whose_receipt_is_wrong_is_a_bad_row_and_nothing_is_charged(tmp_path):
    with Sandbox(receipts_required=True) as sb:
        binding = bind(sb, "r-bad")
        jsonl = tmp_path / "bad.jsonl"
        rows = [{"order_number": "RB-1", "client_id": "r-bad", "binding_id": binding, "amount": "10.00",
                 "receipt": two_lines(10)},
                {"order_number": "RB-2", "client_id": "r-bad", "binding_id": binding, "amount": "11.00",
                 "receipt": two_lines(10)},  # the lines add up to 10.00
                {"order_number": "RB-3", "client_id": "r-bad", "binding_id": binding, "amount": "10.00",
                 "receipt": {**two_lines(10), "items": [{**two_lines(10)["items"][0], "tax": "vat18"}]}},
                {"order_number": "RB-4", "client_id": "r-bad", "binding_id": binding, "amount": "10.00",
                 "receipt": {**two_lines(10), "items": [{"name": "x", "price": 10.0}]}}]
        jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
        csv_file = tmp_path / "bad.csv"
        write_csv(csv_file, [("RB-5", "r-bad", binding, "1.00", "", "Подписка", "vat20", "service", "a@b.ru"),
                             ("RB-6", "r-bad", binding, "1.00", "osn", "Подписка", "vat20", "service",
                              "not an address")])
        refused = charge(sb, jsonl)
        refused_csv = charge(sb, csv_file)
        charges = sb.engine.charges_by_order_number()
    assert refused.returncode == EXIT_INVALID_INPUT and refused_csv.returncode == EXIT_INVALID_INPUT
    assert "3 bad row(s)" in refused.stderr
    assert "line 2, column receipt: the lines add up to 10.00 RUB, the row's amount is 11.00 RUB" in refused.stderr
    assert "line 3, column receipt.items[0].tax: 'vat18' is not one of" in refused.stderr
    assert "line 4, column receipt.items[0].price: a JSON float; write prices" in refused.stderr
    assert "line 2, column taxation: a receipt needs the taxation system" in refused_csv.stderr
    assert "line 3, column customer_email: not an e-mail address" in refused_csv.stderr
    assert not [n for n in charges if n.startswith("RB-")]


def test_a_re_run_with_another_receipt_is_a_mismatch_never_a_second_charge(tmp_path):
    with Sandbox(receipts_required=True) as sb:
        binding = bind(sb, "r-mm")
        file = tmp_path / "m.csv"
        write_csv(file, [("RM-1", "r-mm", binding, "5.00", "osn", "Подписка", "vat20", "service", "a@b.ru")])
        first = charge(sb, file)
        write_csv(file, [("RM-1", "r-mm", binding, "5.00", "osn", "Другая подписка", "vat20", "service", "a@b.ru")])
        again = charge(sb, file, "--report", str(tmp_path / "m.report.jsonl"))
        charges = sb.engine.charges_by_order_number()
    assert first.returncode == EXIT_OK and charges["RM-1"] == 1
    report = json.loads((tmp_path / "m.report.jsonl").read_text())
    assert report["outcome"] == "mismatch" and "the receipt differs" in report["message"]
    assert json.loads(again.stdout.strip().splitlines()[-1])["mismatch"] == 1


def test_dunning_retries_carry_the_same_receipt(tmp_path):
    with Sandbox(receipts_required=True) as sb:
        binding = bind(sb, "r-dun", card=TestCards.RECURRING_INSUFFICIENT)
        file = tmp_path / "d.jsonl"
        file.write_text(json.dumps({"order_number": "RD-1", "client_id": "r-dun", "binding_id": binding,
                                    "amount": "10.00", "receipt": two_lines(10)}) + "\n")
        declined = charge(sb, file)
        with open_journal(tmp_path / "d.jsonl.journal.sqlite") as journal:
            entry = journal.get("RD-1")
            plan = plan_dunning([file], journal, due=entry.next_attempt_at + 1)
        retries_jsonl, retries_csv = tmp_path / "retries.jsonl", tmp_path / "retries.csv"
        plan.write(retries_jsonl)
        plan.write(retries_csv)
    assert declined.returncode != EXIT_OK and entry.receipt_digest and entry.decline_kind == "soft"
    (retry,) = plan.retries
    written = json.loads(retries_jsonl.read_text())
    assert written["receipt"] == retry.receipt.as_json() and written["order_number"] == retry.order_number
    from autopay_soap.batch.rows import read_rows

    (from_csv,) = list(read_rows(retries_csv))
    (from_jsonl,) = list(read_rows(retries_jsonl))
    assert from_csv.receipt == from_jsonl.receipt == retry.receipt and retry.receipt_digest == entry.receipt_digest


def _kill_file(path, binding, rows):
    """Half the rows with a single-line receipt (columns), half with a two-line receipt object."""
    records = []
    for i in range(rows):
        row = {"order_number": f"RK-{i:03d}", "client_id": "r-kill", "binding_id": binding, "amount": "10.00"}
        if i % 2:
            row["receipt"] = two_lines(10)
        else:
            row.update(taxation="osn", item_name="Подписка", tax="vat20", customer_phone="+79031234567")
        records.append(row)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in records))
        return
    names = ["order_number", "client_id", "binding_id", "amount", "taxation", "item_name", "tax", "customer_phone",
             "receipt"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for row in records:
            writer.writerow({**row, "receipt": json.dumps(row["receipt"], ensure_ascii=False)} if "receipt" in row
                            else row)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_200_rows_with_receipts_through_kill_9_each_charged_once_with_its_receipt(tmp_path, suffix):
    rows = 200
    with Sandbox(receipts_required=True) as sb:
        binding = bind(sb, "r-kill")
        file = tmp_path / f"kill{suffix}"
        _kill_file(file, binding, rows)
        counter = ChargeCounter(sb, rows // 3)
        proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "charge", str(file), "--profile", "sandbox",
                                 "--sandbox-url", sb.url, "--transport", "rest", "--concurrency", "6", "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert counter.reached.wait(120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        with open_journal(tmp_path / f"kill{suffix}.journal.sqlite") as journal:
            assert journal.counts().get("paid", 0) < rows  # really stopped part-way
        resumed = charge(sb, file, "--report", str(tmp_path / "kill.report.jsonl"))
        charges = sb.engine.charges_by_order_number()
        receipts = {f"RK-{i:03d}": sb.fiscal.receipts(sb.engine.order(order_number=f"RK-{i:03d}").order_id)
                    for i in range(rows)}
    assert resumed.returncode == EXIT_OK, resumed.stderr
    assert all(charges[f"RK-{i:03d}"] == 1 for i in range(rows))
    assert all(len(kept) >= 1 and kept[-1]["amount"] == 1000 for kept in receipts.values())
    report = [json.loads(line) for line in (tmp_path / "kill.report.jsonl").read_text().splitlines()]
    assert len(report) == rows and {(r["outcome"], r["receipt"]) for r in report} == {("paid", "sent")}
    with open_journal(tmp_path / f"kill{suffix}.journal.sqlite") as journal:
        digests = {journal.get(f"RK-{i:03d}").receipt_digest for i in range(rows)}
    assert None not in digests and len(digests) == 2  # one per receipt shape


def test_the_receipts_chapter_s_file_examples_read_as_written(tmp_path):
    """docs/receipts.rst's CSV and JSON Lines rows, with a real binding id for the placeholder."""
    import re
    from pathlib import Path

    from autopay_soap.batch.rows import read_rows

    text = (Path(__file__).resolve().parent.parent.parent / "docs" / "receipts.rst").read_text("utf-8")
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", text)
    csv_block = next(b for b in blocks if b.lstrip().startswith("order_number,"))
    json_block = next(b for b in blocks if b.lstrip().startswith('{"order_number"'))
    binding = "6f1c2a40-0000-4000-8000-000000000001"
    (tmp_path / "doc.csv").write_text("\n".join(line[4:] for line in csv_block.strip("\n").splitlines())
                                      .replace("6f1c...", binding) + "\n")
    (tmp_path / "doc.jsonl").write_text(" ".join(line.strip() for line in json_block.splitlines())
                                        .replace("6f1c...", binding).strip() + "\n")
    (csv_row,) = list(read_rows(tmp_path / "doc.csv"))
    (json_row,) = list(read_rows(tmp_path / "doc.jsonl"))
    assert csv_row.receipt.total == Money.of("499.00", "RUB") and csv_row.receipt.items[0].tax == "vat20"
    assert json_row.receipt.total == Money.of("10.00", "RUB") and len(json_row.receipt.items) == 2


def test_a_batch_with_receipts_on_a_soap_profile_that_cannot_carry_them_stops_in_the_pre_flight(tmp_path):
    from autopay_soap.batch import EXIT_CONFIG

    with Sandbox(receipts_required=True) as sb:
        binding = bind(sb, "r-2016")
        file = tmp_path / "old.csv"
        write_csv(file, [("R16-1", "r-2016", binding, "5.00", "osn", "Подписка", "vat20", "service", "a@b.ru")])
        done = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "charge", str(file), "--profile", "sandbox",
                               "--sandbox-url", sb.url, "--quiet"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "AUTOPAY_SOAP_CART": "2016"})
        charges = sb.engine.charges_by_order_number()
    assert done.returncode == EXIT_CONFIG and "R16-1" not in charges
    assert "serves the 2016-generation MerchantService WSDL" in done.stderr and "Traceback" not in done.stderr
