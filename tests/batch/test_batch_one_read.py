"""A run reads its input file once: the rows the pre-flight checked are what every later pass
charges and reports (``autopay_soap.batch.spool``), whatever happens to the file meanwhile."""

import csv
import functools
import os
import tempfile
from pathlib import Path

import pytest

import autopay_soap.batch.preflight as preflight
import autopay_soap.batch.rows as rows_module
from autopay_soap.batch import BatchInputError, BatchRunner
from autopay_soap.client import AutopayClient
from autopay_soap.sandbox import Sandbox

from ..support.batch import bind, write_csv


def _batch_charges(sb):
    """Charges per order number, the binding's first payment aside."""
    return {n: c for n, c in sb.engine.charges_by_order_number().items() if not n.startswith("FIRST-")}


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Temporary files of this test's own, to see that a run leaves none behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_run_reads_its_file_once_and_leaves_no_spool_behind(tmp_path, monkeypatch, own_tmp):
    reads = []
    real = rows_module._lines

    def counted(path, *rest):
        reads.append(str(path))
        return real(path, *rest)

    monkeypatch.setattr(rows_module, "_lines", counted)
    with Sandbox() as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "batch.csv"
        write_csv(file, [(f"OR-{i:02d}", "cust", binding, "2.00", "RUB", "") for i in range(12)])
        factory = functools.partial(AutopayClient.from_profile, "sandbox", sandbox_url=sb.url,
                                    return_url=sb.return_url)
        summary = BatchRunner(factory, tmp_path / "j.sqlite", quiet=True).run(file, report=tmp_path / "r.csv")
        assert summary.paid == 12 and reads == [str(file)]  # the pre-flight's read; the charge and report read none
        with open(tmp_path / "r.csv", encoding="utf-8") as handle:
            assert [r["order_number"] for r in csv.DictReader(handle)] == [f"OR-{i:02d}" for i in range(12)]
        assert os.listdir(own_tmp) == []
        reads.clear()
        again = BatchRunner(factory, tmp_path / "j.sqlite", quiet=True).run(file)  # a second run: once again
        assert again.paid == 12 and again.charged_this_run == 0 and reads == [str(file)]
        assert _batch_charges(sb) == {f"OR-{i:02d}": 1 for i in range(12)}
    write_csv(file, [("BAD-1", "cust", "b-1", "-2.00", "RUB", "")])
    with pytest.raises(BatchInputError):
        BatchRunner(factory, tmp_path / "j2.sqlite", quiet=True, check_access=False).run(file)
    assert os.listdir(own_tmp) == []  # a refused file leaves nothing either


@pytest.mark.parametrize("processes", [1, 2])
def test_a_file_edited_after_the_pre_flight_changes_nothing_that_is_charged(tmp_path, monkeypatch, processes, sb):
    """The file is rewritten the moment the pre-flight ends (bigger amounts, one row more): the
    run charges and reports the rows it checked, in threads and in worker processes alike."""
    binding = bind(sb, "cust")
    file = tmp_path / "batch.csv"
    write_csv(file, [(f"ED-{i}", "cust", binding, "3.00", "RUB", "") for i in range(6)])
    real = preflight.check_access

    def then_edit(client):
        real(client)
        write_csv(file, [(f"ED-{i}", "cust", binding, "999.00", "RUB", "") for i in range(7)])

    monkeypatch.setattr(preflight, "check_access", then_edit)
    factory = functools.partial(AutopayClient.from_profile, "sandbox", sandbox_url=sb.url,
                                return_url=sb.return_url)
    summary = BatchRunner(factory, tmp_path / "j.sqlite", quiet=True, processes=processes,
                          concurrency=4).run(file)
    assert (summary.rows, summary.paid) == (6, 6)
    assert _batch_charges(sb) == {f"ED-{i}": 1 for i in range(6)}
    assert sorted({m.amount for m in sb.ledger() if m.amount != 100}) == [300]  # the binding's 1.00 aside


def test_the_spool_gives_back_every_row_as_checked_in_file_order_and_by_shard(own_tmp):
    from autopay_soap.batch.rows import ChargeRow
    from autopay_soap.batch.spool import RowSpool
    from autopay_soap.money import Money

    kept = [ChargeRow(line, f"SP-{line:05d}", f"client-{line % 7}", "b" * 36,
                      Money(100 + line, "RUB" if line % 2 else "EUR"), two_stage=line % 3 == 0,
                      description=None if line % 5 else "d") for line in range(2, 4503)]
    with RowSpool() as spool:
        for row in kept:
            assert spool.add(row) is None
        assert spool.add(kept[4000]) == kept[4000].line  # a repeated number is refused, not kept
        spool.finish()
        back = list(spool.rows())
        assert back == kept  # three pages (2,000 rows each), in file order, the last one short
        assert [hash(row.amount) for row in back] == [hash(row.amount) for row in kept]
        assert {row.amount.currency.alpha for row in back} == {"RUB", "EUR"}
        shards = [list(spool.rows((k, 3))) for k in range(3)]
        assert [len(part) for part in shards] == [1501, 1500, 1500]
        assert shards[1] == kept[1::3] and shards[2] == kept[2::3]  # across the pages' edges too
        assert sorted(shards[0] + shards[1] + shards[2], key=lambda row: row.line) == kept
    assert os.listdir(own_tmp) == []


def test_a_spooled_row_keeps_the_autopayment_the_pre_flight_checked(own_tmp):
    import attr

    from autopay_soap.batch.preflight import check_row
    from autopay_soap.batch.rows import ChargeRow
    from autopay_soap.batch.spool import RowSpool
    from autopay_soap.money import Money

    client = AutopayClient.from_profile("sandbox", sandbox_url="http://127.0.0.1:9", return_url="https://shop/ok")
    row = ChargeRow(2, "SP-P1", "cust", "6f1c2a40-0000-4000-8000-000000000001", Money.of("7.00", "RUB"),
                    description="month")
    payment = check_row(client, row)
    with RowSpool() as spool:
        spool.add(attr.evolve(row, payment=payment))
        spool.add(ChargeRow(3, "SP-P2", "cust", "6f1c2a40-0000-4000-8000-000000000001", Money.of("1.00", "RUB")))
        back, bare = list(spool.finish().rows())
    assert back == row and bare.payment is None
    assert back.payment == payment and back.payment.checked_for == client._check_key() == payment.checked_for
    assert dict(back.payment.options) == dict(payment.options)
    client.close()


@pytest.mark.parametrize("name, text", [
    ("rows.csv", "\ufefforder_number,client_id,binding_id,amount,currency\r\n"
                 "D-1,c,6f1c2a40-0000-4000-8000-000000000001,1.00,RUB\r\n"
                 "D-2,c,6f1c2a40-0000-4000-8000-000000000001,2.00,RUB"),
    ("rows.jsonl", '{"order_number": "D-1", "client_id": "c", "binding_id": "6f1c2a40-0000-4000-8000-000000000001", '
                   '"amount": "1.00", "currency": "RUB"}\n\n'),
])
def test_the_files_digest_is_taken_from_the_bytes_the_pre_flight_read(tmp_path, own_tmp, name, text):
    """What a PostgreSQL batch is tied to is the digest of the bytes checked, taken in the one
    read (a second read could see a file edited meanwhile)."""
    import hashlib

    from autopay_soap.batch.rows import validate_file
    from autopay_soap.batch.spool import RowSpool

    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    with RowSpool() as spool:
        with pytest.raises(RuntimeError, match="not read to its end"):
            spool.digest.hexdigest()
        assert validate_file(path, spool=spool).errors == []
        assert spool.digest.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    with RowSpool() as cut:  # a file that cannot be read to its end has no digest
        path.write_bytes(b"order_number,amount\nX-1,1.00\n\xff\xfe\n")
        assert validate_file(path, spool=cut).errors
        with pytest.raises(RuntimeError):
            cut.digest.hexdigest()


def test_a_spool_cut_short_under_the_run_raises_rather_than_dropping_rows(own_tmp):
    """The spool is a file of the run's own; one truncated under it (a full disk, a temp-folder
    cleaner) must stop the reading with a word, never end the pass early as if no rows were left."""
    from autopay_soap.batch.rows import ChargeRow
    from autopay_soap.batch.spool import RowSpool
    from autopay_soap.money import Money

    with RowSpool() as spool:
        for line in range(2, 5002):  # three pages
            spool.add(ChargeRow(line, f"CUT-{line}", "c", "b" * 36, Money(100, "RUB")))
        spool.finish()
        assert len(list(spool.rows())) == 5000 and len(list(spool.rows((1, 2)))) == 2500
        whole = Path(spool.path).read_bytes()
        for size in (len(whole) - 3, len(whole) // 2, len(whole) // 3 + 7):  # the end gone; mid-page cuts
            with open(spool.path, "wb") as handle:
                handle.write(whole[:size])
            with pytest.raises(RuntimeError, match="cut short after"):
                list(spool.rows())
            with pytest.raises(RuntimeError, match="cut short"):
                list(spool.rows((1, 3)))
