"""``autopay-soap demo``: the scenarios of the seed documents against the embedded sandbox.

Over each transport: a one-stage first payment with 3-D Secure (the payer's part is driven
through the sandbox page), a two-stage first payment captured afterwards, then a one-stage
and a two-stage autopayment on the new binding, and a partial refund. Over T-Bank also the
two SBP ways: an account bound before any payment, and one bound by a first payment, each
then charged by ChargeQr. Prints each step and a summary; the exit status is 0 only when
every step succeeded.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable, List, Optional, TextIO, Tuple

from .client import AutopayClient, ChargeOutcome
from .errors import AutopayError
from .models import OrderStatus
from .money import Money

__all__ = ["run_demo"]

Row = Tuple[str, str, str, str, str, bool]


def run_demo(transports: List[str], *, verbose: bool = False, out: TextIO = sys.stdout) -> int:
    """Run the demo over ``transports`` (``soap``, ``rest``, ``tbank``); 0 when every step succeeded."""
    from .sandbox import Sandbox

    if verbose:
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("    %(name)s: %(message)s"))
        for name in ("autopay_soap.wire", "autopay_soap.gateways"):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
    rows: List[Row] = []

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    with Sandbox() as sandbox:
        say(f"sandbox gateway at {sandbox.url} (for the length of this demo)")
        for transport in transports:
            _demo_transport(sandbox, transport, rows, say)
        charges = sandbox.engine.charges_by_order_number()
        ledger = sandbox.ledger()
    say("")
    say(_table(rows))
    doubles = [number for number, count in charges.items() if count > 1]
    expected = sum(7 if transport == "tbank" else 5 for transport in transports)
    all_ok = all(row[5] for row in rows) and not doubles and len(rows) == expected
    say(f"\nledger: {len(ledger)} money movements, {len(charges)} orders charged, "
        f"{'no double charge' if not doubles else 'DOUBLE CHARGES: ' + ', '.join(doubles)}")
    say("demo: all scenarios succeeded" if all_ok else "demo: FAILED")
    for line in NEXT_STEPS:
        say(line)
    return 0 if all_ok else 1


NEXT_STEPS = (
    "",
    "The demo's sandbox has stopped. Next:",
    "  autopay-soap sandbox        a sandbox that stays up, with its dashboard at http://127.0.0.1:8089/_sandbox/",
    "  README.md, Quick start      your first payment and autopayment in code (docs/quickstart.rst)",
)
"""What the demo ends with: the sandbox it used is gone, so where to go from here."""


class _TransportDemo:
    """The five scenarios over one transport, a row per step (each scenario a method)."""

    def __init__(self, sandbox: "Any", transport: str, rows: List[Row], say: Callable[[str], None]) -> None:
        from .sandbox import TestCards

        self.sandbox, self.transport, self.rows, self.say = sandbox, transport, rows, say
        self.client = AutopayClient.from_profile("sandbox", sandbox_url=sandbox.url, transport=transport,
                                                 return_url=sandbox.return_url)
        self.tag = transport.upper()
        self.binding: List[str] = []
        self.card = TestCards.TBANK_3DS_CHALLENGE if transport == "tbank" else TestCards.SUCCESS_3DS
        self.plain_card = TestCards.SUCCESS

    def step(self, scenario: str, number: str, action: Callable[[], Tuple[str, str, bool]]) -> None:
        """Run one scenario and record its row; an error is a failed row, not the end of the demo."""
        try:
            outcome, status, ok = action()
        except AutopayError as exc:
            outcome, status, ok = "error", str(exc), False
        self.rows.append((self.transport, scenario, number, outcome, status, ok))
        self.say(f"[{self.tag}] {scenario}: {number} -> {outcome} ({status}){'' if ok else '  <-- FAILED'}")

    def first_one_stage(self) -> Tuple[str, str, bool]:
        """A first payment with 3-D Secure that saves the card."""
        tag, card = self.tag, self.card
        started = self.client.start_first_payment(f"{tag}-FIRST-1", Money.of("499.00", "RUB"), "demo-customer")
        self.say(f"[{tag}]   registered order {started.order_id}; the payer opens {started.form_url}")
        paid = self.sandbox.pay(started.form_url or "", card)
        self.say(f"[{tag}]   the payer paid with card {card.masked_pan} and passed 3-D Secure "
                 f"-> back at {paid.redirect_url}")
        result = self.client.finish_first_payment(order_id=started.order_id, client_id="demo-customer")
        if result.binding:
            self.binding.append(result.binding.binding_id)
            self.say(f"[{tag}]   binding {result.binding.binding_id} saved for demo-customer")
        status = result.details.status.name if result.details else "?"
        return result.outcome.value, status, result.outcome is ChargeOutcome.PAID and bool(result.binding)

    def first_two_stage(self) -> Tuple[str, str, bool]:
        """A first payment held, then captured."""
        started = self.client.start_first_payment(f"{self.tag}-FIRST-2", Money.of("1500.00", "RUB"),
                                                  "demo-customer-2", two_stage=True)
        self.sandbox.pay(started.form_url or "", self.plain_card)
        held = self.client.finish_first_payment(order_id=started.order_id, client_id="demo-customer-2")
        self.say(f"[{self.tag}]   held {held.details.approved if held.details else '?'}; capturing it")
        captured = self.client.capture(started.order_id or "")
        return held.outcome.value + "+captured", captured.status.name, \
            held.outcome is ChargeOutcome.HELD and captured.status is OrderStatus.DEPOSITED

    def autopay_one_stage(self) -> Tuple[str, str, bool]:
        """An autopayment on the saved card."""
        result = self.client.autopay(f"{self.tag}-AUTO-1", Money.of("499.00", "RUB"), client_id="demo-customer",
                                     binding_id=self.binding[0])
        return result.outcome.value, result.details.status.name if result.details else "?", result.ok

    def autopay_two_stage(self) -> Tuple[str, str, bool]:
        """An autopayment held, then captured in part."""
        result = self.client.autopay(f"{self.tag}-AUTO-2", Money.of("250.00", "RUB"), client_id="demo-customer",
                                     binding_id=self.binding[0], two_stage=True)
        captured = self.client.capture(result.order_id or "", Money.of("200.00", "RUB"))
        self.say(f"[{self.tag}]   held 250.00 RUB, captured {captured.deposited}")
        return result.outcome.value + "+captured", captured.status.name, \
            result.outcome is ChargeOutcome.HELD and captured.status is OrderStatus.DEPOSITED

    def refund(self) -> Tuple[str, str, bool]:
        """A partial refund of the one-stage autopayment."""
        order = self.client.status(order_number=f"{self.tag}-AUTO-1")
        after = self.client.refund(order.order_id or "", Money.of("99.00", "RUB"), refund_id=f"{self.tag}-RF-1")
        return f"refunded {after.refunded}", after.status.name, after.refunded == Money.of("99.00", "RUB")

    def run(self) -> None:
        """Every scenario in order; the autopayments only once a card was saved."""
        tag = self.tag
        self.step("first payment, one-stage, 3-D Secure", f"{tag}-FIRST-1", self.first_one_stage)
        self.step("first payment, two-stage + capture", f"{tag}-FIRST-2", self.first_two_stage)
        if self.binding:
            self.step("autopayment, one-stage", f"{tag}-AUTO-1", self.autopay_one_stage)
            self.step("autopayment, two-stage + capture", f"{tag}-AUTO-2", self.autopay_two_stage)
            self.step("partial refund of the autopayment", f"{tag}-AUTO-1", self.refund)
        if self.transport == "tbank":
            _demo_sbp(self.sandbox, self.client, tag, self.step, self.say)
        self.client.close()


def _demo_transport(sandbox: "Any", transport: str, rows: List[Row], say: Callable[[str], None]) -> None:
    """The five scenarios over one transport, appending a row per step."""
    _TransportDemo(sandbox, transport, rows, say).run()


def _demo_sbp(sandbox: "Any", client: AutopayClient, tag: str, step: Callable[..., None],
              say: Callable[[str], None]) -> None:
    """T-Bank SBP: bind before a payment (AddAccountQr) and by a payment (Init QR + GetQr), then ChargeQr."""

    def bind_first() -> Tuple[str, str, bool]:
        qr = client.bind_sbp_account("Подписка autopay_soap demo")
        say(f"[{tag}]   account binding QR {qr.data[:48]}...; the payer approves it in the bank app")
        if qr.request_key is None:
            raise RuntimeError("AddAccountQr answered without a RequestKey")
        sandbox.sbp_bind(qr.request_key)
        account = client.sbp_account(qr.request_key)
        say(f"[{tag}]   account {account.status} at {account.bank_member_name}; charging it by ChargeQr")
        result = client.autopay(f"{tag}-SBP-1", Money.of("199.00", "RUB"), account_token=account.account_token)
        return result.outcome.value, result.details.gateway_status or "?" if result.details else "?", result.ok

    def pay_then_bind() -> Tuple[str, str, bool]:
        started = client.start_first_payment(f"{tag}-SBP-FIRST", Money.of("299.00", "RUB"), sbp=True,
                                             description="Подписка autopay_soap demo")
        say(f"[{tag}]   SBP QR {(started.form_url or '')[:48]}...; the payer pays it")
        sandbox.sbp_pay(started.order_id or "")
        account = client.sbp_account(started.sbp_request_key or "")
        result = client.autopay(f"{tag}-SBP-2", Money.of("299.00", "RUB"), account_token=account.account_token)
        say(f"[{tag}]   first payment bound the account ({account.status}); the next one charged by ChargeQr")
        return result.outcome.value, result.details.gateway_status or "?" if result.details else "?", result.ok

    step("SBP: account bound first, then ChargeQr", f"{tag}-SBP-1", bind_first)
    step("SBP: first payment binds, then ChargeQr", f"{tag}-SBP-2", pay_then_bind)


def _table(rows: List[Row]) -> str:
    head = ("transport", "scenario", "order number", "outcome", "status", "ok")
    cells = [head] + [(t, s, n, o, st, "yes" if ok else "NO") for t, s, n, o, st, ok in rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(head))]
    lines = ["  ".join(str(value).ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(transport: Optional[str] = None, verbose: bool = False) -> int:
    """Entry point used by the CLI."""
    transports = ["soap", "rest", "tbank"] if transport in (None, "all") else [transport or "soap"]
    return run_demo(transports, verbose=verbose)
