"""Input as people write it: each either accepted correctly or refused in one line naming the
file, the line and the column, before anything is charged."""

import json
import os
import socket
import subprocess
import sys

import pytest

from autopay_soap.batch import EXIT_CONFIG, EXIT_INVALID_INPUT, EXIT_OK, ChargeRow, RowError, read_rows, validate_file
from autopay_soap.sandbox import Sandbox

from ..support.batch import bind, charge_cmd

CLI = [sys.executable, "-m", "autopay_soap.cli"]
HEADER = "order_number,client_id,binding_id,amount,two_stage"


def rows_of(path, **options):
    return list(read_rows(path, **options))


def only_error(path):
    items = rows_of(path)
    errors = [item for item in items if isinstance(item, RowError)]
    assert len(errors) == 1, items
    return errors[0]


def test_excel_csv_utf8_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\nB-1,c,b,1.00,\n".encode())
    (row,) = rows_of(path)
    assert isinstance(row, ChargeRow) and row.order_number == "B-1" and row.amount.minor == 100


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_and_tab_separated_files_are_read(tmp_path, separator):
    path = tmp_path / "sep.csv"
    path.write_text(HEADER.replace(",", separator) + "\n" + separator.join(["S-1", "c", "b", "2.50", "true"]) + "\n",
                    encoding="utf-8")
    (row,) = rows_of(path)
    assert isinstance(row, ChargeRow) and (row.amount.minor, row.two_stage) == (250, True)
    assert rows_of(path, delimiter=separator) == [row]


def test_a_misspelt_column_is_refused_with_the_name_it_resembles(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("order_number,client_id,binding_id,amount,two_stgae\nT-1,c,b,1.00,true\n", encoding="utf-8")
    error = only_error(path)
    assert (error.line, error.field) == (1, "two_stgae") and "did you mean two_stage?" in str(error)
    path.write_text('{"order_number": "T-1", "client_id": "c", "binding_id": "b", "amount": "1.00", "twostage": 1}\n')
    path = path.rename(tmp_path / "typo.jsonl")
    assert "did you mean two_stage?" in str(only_error(path))


def test_an_unbalanced_quote_names_its_line_and_column(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text(f'{HEADER}\nQ-1,c,b,1.00,\nQ-2,"c,b,1.00,\nQ-3,c,b,1.00,\nQ-4,c,b,1.00,\n', encoding="utf-8")
    error = only_error(path)
    assert (error.line, error.field) == (3, "client_id") and "never closed" in error.message


def test_a_short_row_says_which_values_are_missing(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(f"{HEADER}\nR-1,c,b,1.00,\nR-2,c,b\n", encoding="utf-8")
    error = only_error(path)
    assert error.line == 3 and "3 value(s) for 5 columns (missing: amount, two_stage)" in error.message


@pytest.mark.parametrize("amount", ["1e3", "5_000", "\uff15\uff10", ".5", "5.", "499,00", "+5", " 1 000"])
def test_amounts_that_are_not_plain_decimals_are_refused(tmp_path, amount):
    path = tmp_path / "amount.csv"
    path.write_text(f'{HEADER}\nA-1,c,b,"{amount}",\n', encoding="utf-8")
    error = only_error(path)
    assert (error.line, error.field) == (2, "amount")


@pytest.mark.parametrize("line", [
    '{"order_number": "F-1", "client_id": "c", "binding_id": "b", "amount": 12.5}',
    '{"order_number": "F-1", "client_id": "c", "binding_id": "b", "amount_minor": 1250.0}',
    '{"order_number": "F-1", "client_id": "c", "binding_id": "b", "amount_minor": 1e3}',
    '{"order_number": "F-1", "client_id": "c", "binding_id": "b", "amount": NaN}',
])
def test_json_floats_are_refused(tmp_path, line):
    path = tmp_path / "float.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    error = only_error(path)
    assert error.line == 1 and error.field in ("amount", "amount_minor") and "JSON float" in error.message


def test_whole_json_numbers_are_exact_and_accepted(tmp_path):
    path = tmp_path / "ints.jsonl"
    path.write_text('{"order_number": 1001, "client_id": "c", "binding_id": "b", "amount_minor": 990}\n'
                    '{"order_number": "1002", "client_id": "c", "binding_id": "b", "amount": 12, "two_stage": true}\n')
    first, second = rows_of(path)
    assert (first.order_number, first.amount.minor) == ("1001", 990)
    assert (second.amount.minor, second.two_stage) == (1200, True)


def test_cli_refuses_a_cp1251_file_and_a_superscript_amount_with_exit_5_and_the_line(tmp_path, sb):
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes(f"{HEADER}\nL-1,c,b,1.00,\n".encode() + "L-2,Иванов,b,1.00,\n".encode("cp1251"))
    out = subprocess.run(charge_cmd(sb, legacy), capture_output=True, text=True, timeout=60)
    sup = tmp_path / "sup.csv"
    sup.write_text("order_number,client_id,binding_id,amount_minor\nM-1,c,b,\u00b2\n", encoding="utf-8")
    out2 = subprocess.run(charge_cmd(sb, sup), capture_output=True, text=True, timeout=60)
    assert sb.engine.orders() == []
    assert out.returncode == EXIT_INVALID_INPUT and "line 3: not UTF-8" in out.stderr and "Traceback" not in out.stderr
    assert out2.returncode == EXIT_INVALID_INPUT and "line 2, column amount_minor:" in out2.stderr


def test_every_bad_row_is_counted_not_just_the_first_fifty(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text(HEADER + "\n" + "".join(f"X-{i},c,b,1.001,\n" for i in range(137)), encoding="utf-8")
    found = validate_file(path)
    assert found.bad_rows == 137 and len(found.errors) == 50
    out = subprocess.run(CLI + ["charge", str(path), "--profile", "sandbox", "--dry-run"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == EXIT_INVALID_INPUT
    assert out.stderr.splitlines()[0] == f"autopay-soap: 137 bad row(s) in {path} (the first 50 below); nothing " \
                                         "was charged"


def test_a_missing_file_is_one_line_and_exit_5(tmp_path):
    out = subprocess.run(CLI + ["charge", str(tmp_path / "nope.csv"), "--profile", "sandbox"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == EXIT_INVALID_INPUT
    assert out.stderr == f"autopay-soap: {tmp_path / 'nope.csv'} does not exist; nothing was charged\n"


def test_paths_that_cannot_work_are_refused_before_anything_is_charged(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "paths.csv"
    file.write_text(f"{HEADER}\nP-1,cust,{binding},1.00,\n", encoding="utf-8")
    (tmp_path / "a-folder").mkdir()
    cases = {
        "report is a folder": ["--report", str(tmp_path / "a-folder")],
        "report folder missing": ["--report", str(tmp_path / "no" / "report.csv")],
        "report is the input": ["--report", str(file)],
        "journal folder missing": ["--journal", str(tmp_path / "typo" / "j.sqlite")],
    }
    results = {name: subprocess.run(charge_cmd(sb, file, *args), capture_output=True, text=True, timeout=60)
               for name, args in cases.items()}
    charged = [n for n in sb.engine.charges_by_order_number() if n.startswith("P-")]
    for name, out in results.items():
        assert out.returncode == EXIT_CONFIG, (name, out.stderr)
        assert out.stderr.count("\n") == 1 and out.stderr.startswith("autopay-soap: "), (name, out.stderr)
    assert "would destroy it" in results["report is the input"].stderr
    assert file.read_text().startswith(HEADER)  # the input is intact
    assert not (tmp_path / "typo").exists()
    assert charged == []


@pytest.mark.parametrize("argv, env, option", [
    (["charge", "F.csv", "--rate", "-1"], {}, "--rate"),
    (["charge", "F.csv", "--rate", "0"], {}, "--rate"),
    (["charge", "F.csv", "--concurrency", "0"], {}, "--concurrency"),
    (["charge", "F.csv", "--delimiter", "|"], {}, "--delimiter"),
    (["sandbox", "--latency", "fast"], {}, "--latency"),
    (["sandbox", "--port", "70000"], {}, "--port"),
    (["charge", "F.csv", "--profile", "sandbox"], {"AUTOPAY_TIMEOUT": "abc"}, "AUTOPAY_TIMEOUT"),
])
def test_bad_options_name_the_option(tmp_path, argv, env, option):
    (tmp_path / "F.csv").write_text(f"{HEADER}\nO-1,c,b,1.00,\n", encoding="utf-8")
    argv = [str(tmp_path / arg) if arg.endswith(".csv") else arg for arg in argv]
    out = subprocess.run(CLI + argv, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert out.returncode == 2 and option in out.stderr and "Traceback" not in out.stderr


def test_sandbox_on_a_port_in_use_says_so_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(CLI + ["sandbox", "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


def test_a_semicolon_file_with_a_bom_is_charged_through_the_cli(tmp_path, sb):
    binding = bind(sb, "cust")
    file = tmp_path / "excel.csv"
    text = "order_number;client_id;binding_id;amount\r\n" + "".join(
        f"E-{i};cust;{binding};1.50\r\n" for i in range(3))
    file.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    out = subprocess.run(charge_cmd(sb, file), capture_output=True, text=True, timeout=60)
    charges = sb.engine.charges_by_order_number()
    assert out.returncode == EXIT_OK, out.stderr
    assert json.loads(out.stdout)["paid"] == 3 and all(charges[f"E-{i}"] == 1 for i in range(3))


def test_a_report_that_fails_at_the_end_still_gives_the_summary(tmp_path, monkeypatch):
    import errno

    from autopay_soap.batch import BatchRunner
    from autopay_soap.batch import report as runner_module  # where the summary opens the report
    from autopay_soap.client import AutopayClient

    def full_disk(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner_module, "open_report", full_disk)
    with Sandbox() as sb:
        binding = bind(sb, "cust")
        file = tmp_path / "end.csv"
        file.write_text(f"{HEADER}\nEND-1,cust,{binding},1.00,\n", encoding="utf-8")
        runner = BatchRunner(lambda: AutopayClient.from_profile("sandbox", sandbox_url=sb.url,
                                                                return_url=sb.return_url), tmp_path / "end.sqlite")
        summary = runner.run(file, report=tmp_path / "end-report.csv")
    assert summary.paid == 1 and summary.exit_code == EXIT_CONFIG  # the charge is done, the report is missing
    assert summary.report_error == f"{tmp_path / 'end-report.csv'}: No space left on device"


@pytest.mark.parametrize("order_number, original, attempt, field", [
    ("S-1/r1", "S-1", "0", "attempt"),
    ("S-1/r1", "S-1", "x", "attempt"),
    ("S-1/r1", "S-1", "-2", "attempt"),
    ("S-1/r1", "", "2", "original_order_number"),  # a retry names its first order number
    ("S-1/r9", "S-1", "2", "order_number"),  # a hand-edited retry: not the derived number
    ("S-1/r1", "S-2", "2", "order_number"),  # shifted to another charge's retry
    ("S-1", "S-0", "1", "original_order_number"),  # a first attempt names no other number
])
def test_a_retry_row_that_does_not_link_to_its_first_attempt_is_refused(tmp_path, order_number, original, attempt,
                                                                        field):
    path = tmp_path / "retries.csv"
    path.write_text("order_number,client_id,binding_id,amount,original_order_number,attempt\n"
                    f"{order_number},c,b-1,1.00,{original},{attempt}\n", encoding="utf-8")
    [item] = list(read_rows(path))
    assert isinstance(item, RowError) and item.field == field, item


def test_a_retry_row_that_links_is_read(tmp_path):
    path = tmp_path / "retries.jsonl"
    path.write_text('{"order_number": "S-1/r2", "rebill_id": "123", "amount": "1.00", '
                    '"original_order_number": "S-1", "attempt": 3}\n', encoding="utf-8")
    [row] = list(read_rows(path))
    assert (row.attempt, row.root_order_number, row.instrument_column, row.max_order_number) == (3, "S-1", "rebill_id",
                                                                                                 36)
