"""A checked autopayment (:class:`autopay_soap.models.Autopayment`): built once from the
arguments by ``check_autopay``, sent by ``charge`` without checking them again when the client
checks as the one that built it, checked again when it does not, and a batch row checked once."""

import pytest

from autopay_soap import AutopayClient, ChargeOutcome, Money
from autopay_soap.batch import BatchRunner
from autopay_soap.errors import UnsupportedOperation, ValidationError
from autopay_soap.models import Autopayment, SbpAccount

from ..support import no_wait
from ..support.batch import bind, write_csv
from ..support.receipts import month

BINDING = "6f1c2a40-0000-4000-8000-000000000001"


def _counting(monkeypatch):
    """Count the client's checks of an autopayment's arguments."""
    calls = []
    real = AutopayClient._autopay_checks

    def counted(self, order_number, *args, **kwargs):
        calls.append(order_number)
        return real(self, order_number, *args, **kwargs)

    monkeypatch.setattr(AutopayClient, "_autopay_checks", counted)
    return calls


def _client(sb, transport="soap", **settings):
    settings.setdefault("return_url", sb.return_url)
    return AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport=transport, sleep=no_wait, **settings)


def test_charge_sends_what_check_autopay_built_without_checking_it_again(sandbox, monkeypatch):
    binding = bind(sandbox, "cust")
    checks = _counting(monkeypatch)
    with _client(sandbox) as client:
        payment = client.check_autopay("AP-1", Money.of("12.34", "RUB"), client_id="cust", binding_id=binding)
        assert isinstance(payment, Autopayment) and checks == ["AP-1"]
        result = client.charge(payment)
        assert result.outcome is ChargeOutcome.PAID and checks == ["AP-1"]  # no second check
        assert client.charge(payment).outcome is ChargeOutcome.PAID  # sent again: found paid, not paid twice
        assert client.autopay("AP-2", Money.of("1.00", "RUB"), client_id="cust", binding_id=binding).ok
        assert checks == ["AP-1", "AP-2"]  # autopay checks its plain arguments, once
    assert sandbox.engine.charges_by_order_number()["AP-1"] == 1  # charged once


def test_a_payment_checked_for_other_settings_is_checked_again_and_refused_before_sending(sandbox, monkeypatch):
    """A REST client takes a receipt; a SOAP client of the 2016 WSDL cannot carry one. A payment
    the first checked is checked again by the second, which refuses it: nothing is sent."""
    binding = bind(sandbox, "cust")
    with _client(sandbox, "rest") as rest:
        payment = rest.check_autopay("AP-R", Money.of("499.00", "RUB"), client_id="cust", binding_id=binding,
                                     receipt=month())
    checks = _counting(monkeypatch)
    old = _client(sandbox, "soap", soap_cart="2016")
    with old, pytest.raises(UnsupportedOperation, match="2016-generation"):
        old.charge(payment)
    assert checks == ["AP-R"]
    other_url = _client(sandbox, "rest", return_url="https://shop.example/other")
    with other_url:
        assert other_url.charge(payment).ok  # another default return URL: checked again, then sent
    assert checks == ["AP-R", "AP-R"]
    assert [o.order_number for o in sandbox.engine.orders() if o.order_number == "AP-R"] == ["AP-R"]


def test_charge_takes_only_an_autopayment_and_a_forged_one_is_still_refused_by_the_gateway(sandbox):
    with _client(sandbox) as client:
        with pytest.raises(ValidationError, match="payment: expected an Autopayment") as caught:
            client.charge({"order_number": "AP-X", "amount": Money.of("1.00", "RUB")})  # type: ignore[arg-type]
        assert caught.value.field == "payment"
        good = client.check_autopay("AP-F", Money.of("1.00", "RUB"), client_id="cust", binding_id=BINDING)
        forged = Autopayment("F" * 40, good.amount, "cust", BINDING, None, False, None, None, None, None, {},
                             good.checked_for)  # built by hand with the right key: the gateway's own checks hold
        with pytest.raises(ValidationError) as caught:
            client.charge(forged)
        assert caught.value.field == "order_number"
    assert sandbox.engine.orders() == []  # nothing registered


def test_a_repr_names_the_order_and_amount_never_the_binding_or_token():
    payment = Autopayment("AP-9", Money.of("5.00", "RUB"), "cust", BINDING, "tok-SECRET-1", False, None, None,
                          None, None, {}, ("k",))
    assert repr(payment) == "Autopayment('AP-9', 5.00 RUB)"
    assert "tok-SECRET-1" not in repr(SbpAccount("rk", "ACTIVE", "tok-SECRET-1"))


def test_a_batch_row_is_checked_once_by_the_pre_flight_and_charged_as_checked(sandbox, monkeypatch, tmp_path):
    binding = bind(sandbox, "cust")
    file = tmp_path / "rows.csv"
    write_csv(file, [(f"AP-B{i}", "cust", binding, "3.00", "RUB", "") for i in range(12)])
    checks = _counting(monkeypatch)
    factory = lambda: _client(sandbox)  # noqa: E731
    summary = BatchRunner(factory, tmp_path / "j.sqlite", concurrency=3, quiet=True).run(file)
    assert summary.paid == 12
    assert sorted(checks) == sorted(f"AP-B{i}" for i in range(12))  # once each: before, three times


def test_the_scenarios_chapter_snippet_runs_as_written(sandbox, monkeypatch, capsys):
    import re
    from pathlib import Path

    chapter = Path(__file__).resolve().parent.parent.parent / "docs" / "scenarios.rst"
    text = chapter.read_text("utf-8")
    section = text[text.index("Check now, charge later"):]
    block = re.search(r"\.\. code-block:: python\n\n(.*?)\n\n(?=\S)", section, re.S).group(1)
    monkeypatch.setenv("SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("BINDING_ID", bind(sandbox, "cust-7"))
    exec(compile("\n".join(line[4:] for line in block.splitlines()), str(chapter), "exec"), {})
    assert capsys.readouterr().out.strip() == "['paid', 'paid']"
    assert {n: c for n, c in sandbox.engine.charges_by_order_number().items() if n.startswith("SUB-7")} == {
        "SUB-7-01": 1, "SUB-7-02": 1}


def test_the_key_is_one_object_per_client_and_follows_its_default_return_url(sandbox, monkeypatch):
    """One key object for every payment a client checks (a spooled page pickles it once), kept on
    the client rather than in a process-wide table that per-order return URLs would grow; a
    client whose default return URL changed checks again."""
    import autopay_soap.client as client_module

    binding = bind(sandbox, "cust")
    checks = _counting(monkeypatch)
    with _client(sandbox) as client:
        first = client.check_autopay("AP-K1", Money.of("1.00", "RUB"), client_id="cust", binding_id=binding)
        second = client.check_autopay("AP-K2", Money.of("1.00", "RUB"), client_id="cust", binding_id=binding)
        assert first.checked_for is second.checked_for
        client.return_url = "https://shop.example/elsewhere"
        assert client.charge(first).ok and checks == ["AP-K1", "AP-K2", "AP-K1"]  # checked again
        assert client.charge(client.check_autopay("AP-K3", Money.of("1.00", "RUB"), client_id="cust",
                                                  binding_id=binding)).ok
        assert checks == ["AP-K1", "AP-K2", "AP-K1", "AP-K3"]
    assert not any(isinstance(value, dict) and any(isinstance(k, tuple) for k in value)
                   for value in vars(client_module).values())  # no process-wide table of keys
