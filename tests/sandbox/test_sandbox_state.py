"""A sandbox left running: ``--state FILE`` survives ``kill -9`` mid-batch, and the resumed batch
finds its bindings and orders and charges every row exactly once."""

import collections
import json
import os
import signal
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from autopay_soap import AutopayClient, Money
from autopay_soap.batch import EXIT_OK, open_journal
from autopay_soap.sandbox import Sandbox, TestCards

CLI = [sys.executable, "-m", "autopay_soap.cli"]


def start_sandbox(state, *options):
    proc = subprocess.Popen(CLI + ["sandbox", "--port", "0", "--state", str(state), "--latency", "3ms", *options],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1]
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url


def holds(url):
    ledger = requests.get(url + "/_sandbox/ledger", timeout=10).json()
    return collections.Counter(m["orderNumber"] for m in ledger["movements"] if m["kind"] == "hold")


@pytest.mark.slow
def test_kill_9_of_the_sandbox_mid_batch_loses_nothing_it_answered(tmp_path):
    rows = 150
    state = tmp_path / "sandbox.sqlite"
    sandbox, url = start_sandbox(state)
    try:
        client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/_sandbox/return")
        first = client.start_first_payment("ST-FIRST", Money.of("1.00", "RUB"), "st-client")
        requests.post(url + "/_sandbox/pay", json={"form_url": first.form_url, "card": "SUCCESS"}, timeout=10)
        binding = client.finish_first_payment(order_id=first.order_id).binding.binding_id
        client.close()
        file = tmp_path / "st.csv"
        file.write_text("order_number,client_id,binding_id,amount\n"
                        + "".join(f"ST-{i:03d},st-client,{binding},1.00\n" for i in range(rows)))
        runner = subprocess.Popen(CLI + ["charge", str(file), "--profile", "sandbox", "--sandbox-url", url,
                                         "--concurrency", "4", "--quiet"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while sum(holds(url).values()) < 40:  # a third of the batch charged
            assert runner.poll() is None, runner.stderr.read()
        os.kill(sandbox.pid, signal.SIGKILL)  # the machine loses power, as far as the sandbox knows
        os.kill(runner.pid, signal.SIGKILL)
        sandbox.wait(10)
        runner.communicate(timeout=10)
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
    with open_journal(tmp_path / "st.csv.journal.sqlite") as journal:
        told_paid = [number for number, in journal.db.execute("SELECT order_number FROM charges WHERE state = 'paid'")]
    assert 20 <= len(told_paid) < rows

    sandbox, url = start_sandbox(state)
    try:
        restored = holds(url)
        binding_list = requests.post(url + "/payment/rest/getBindings.do", data={
            "userName": "sandbox-api", "password": "sandbox-password", "clientId": "st-client"}, timeout=10).json()
        resumed = subprocess.run(CLI + ["charge", str(file), "--profile", "sandbox", "--sandbox-url", url, "--quiet"],
                                 capture_output=True, text=True, timeout=300)
        final = holds(url)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    assert all(restored[number] == 1 for number in told_paid)  # everything a client was told survived
    assert restored["ST-FIRST"] == 1 and [b["bindingId"] for b in binding_list["bindings"]] == [binding]
    assert resumed.returncode == EXIT_OK, resumed.stderr
    assert json.loads(resumed.stdout)["paid"] == rows
    assert all(final[f"ST-{i:03d}"] == 1 for i in range(rows)) and sum(final.values()) == rows + 1


def test_state_keeps_t_bank_payments_and_cards(tmp_path):
    state = tmp_path / "tb.sqlite"
    with Sandbox(state=state) as sb:
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, transport="tbank", return_url=sb.return_url)
        first = client.start_first_payment("TS-1", Money.of("5.00", "RUB"), "ts-customer")
        sb.pay(first.form_url, TestCards.TBANK_SUCCESS)
        rebill = client.finish_first_payment(order_id=first.order_id, client_id="ts-customer").binding.binding_id
        client.close()
        first_payment_id = first.order_id
    with Sandbox(state=state) as again:
        client = AutopayClient.from_profile("sandbox", sandbox_url=again.url, transport="tbank",
                                            return_url=again.return_url)
        charged = client.autopay("TS-2", Money.of("2.00", "RUB"), binding_id=rebill)
        repeated = client.autopay("TS-2", Money.of("2.00", "RUB"), binding_id=rebill)
        client.close()
        charges = again.engine.charges_by_order_number()
        assert again.tbank.payment_of(first_payment_id) is not None  # the first payment came back too
    assert charged.outcome.name == repeated.outcome.name == "PAID"
    assert charges == {"TS-1": 1, "TS-2": 1}


class Receiver:
    """A merchant's callback endpoint that holds the first callback until released."""

    def __init__(self):
        import http.server
        import threading

        self.release = threading.Event()
        self.got_first = threading.Event()
        self.queries = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                receiver.queries.append(self.path)
                if len(receiver.queries) == 1:
                    receiver.got_first.set()
                    receiver.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_notification_pending_when_the_sandbox_dies_is_sent_by_the_next_one(tmp_path):
    state = tmp_path / "cb.sqlite"
    receiver = Receiver()
    try:
        first, url = start_sandbox(state, "--callback-url", receiver.url)
        try:
            client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/_sandbox/return")
            started = client.start_first_payment("CB-1", Money.of("1.00", "RUB"), "cb")
            paid = requests.post(url + "/_sandbox/pay", json={"form_url": started.form_url, "card": "SUCCESS"},
                                 timeout=10)
            assert paid.status_code == 200 and paid.json()["paid"], paid.text
            client.close()
            assert receiver.got_first.wait(30)  # the callback is on its way, held by the merchant
        finally:
            first.kill()  # kill -9 while the callback is held: the file (and its lock) are let go
            first.wait(10)
        second = Sandbox(state=state, callback_url=receiver.url)
        pending = second.pending_notifications()
        second.start()
        assert second.wait_for_callbacks(30)
        held, sent_by_second = receiver.queries[0], receiver.queries[1:]
        second.stop()
    finally:
        receiver.close()
    assert pending and {item["params"]["orderNumber"] for item in pending} == {"CB-1"}
    assert len(sent_by_second) == len(pending) and held in sent_by_second  # the one that never got through
    assert parse_qs(urlsplit(held).query)["operation"] == ["deposited"]


def test_a_state_file_is_json_not_code(tmp_path):
    import sqlite3

    state = tmp_path / "plain.sqlite"
    with Sandbox(state=state) as sb:
        client = AutopayClient.from_profile("sandbox", sandbox_url=sb.url, return_url=sb.return_url)
        client.start_first_payment("PJ-1", Money.of("1.00", "RUB"), "pj")
        client.close()
    db = sqlite3.connect(str(state))
    bodies = [row[0] for row in db.execute("SELECT body FROM objects")]
    db.close()
    assert bodies and all(isinstance(json.loads(body), dict) for body in bodies)


def test_an_order_between_steps_survives_a_restart(tmp_path):
    """The states an order rests in between two requests: refunded in part (with its refund ids)
    and waiting for 3-D Secure (with what to finish). After a restart both go on where they were."""
    state = tmp_path / "steps.sqlite"
    with Sandbox(state=state) as sb:
        engine = sb.engine
        paid = engine.register(order_number="R-1", amount=1000, return_url="https://shop/ok")
        card = TestCards.SUCCESS
        engine.pay_with_card(paid.order_id, pan=card.pan, expiry=card.expiry, cvc=card.cvc)
        engine.refund(paid.order_id, 300, external_refund_id="ref-1")
        waiting = engine.register(order_number="W-1", amount=500, return_url="https://shop/ok", client_id="c1")
        secure = TestCards.SUCCESS_3DS
        assert engine.pay_with_card(waiting.order_id, pan=secure.pan, expiry=secure.expiry, cvc=secure.cvc).needs_3ds
        sb.save_state()
    with Sandbox(state=state) as again:
        engine = again.engine
        refunded = engine.order(order_number="R-1")
        assert (refunded.refunded, refunded.refund_ids, len(refunded.refunds)) == (300, {"ref-1": 300}, 1)
        engine.refund(refunded.order_id, 300, external_refund_id="ref-1")  # the same id: not refunded again
        assert engine.refund(refunded.order_id, 0).status.name == "REFUNDED"  # the rest, 700
        finished = engine.finish_3ds(engine.order(order_number="W-1").order_id, secure.three_ds_code)
        assert finished.paid and finished.order.binding_id is not None
        assert [(m.kind, m.amount) for m in engine.movements() if m.order_number == "R-1"] == [
            ("hold", 1000), ("deposit", 1000), ("refund", 300), ("refund", 700)]


def test_a_moved_clock_and_a_recovering_card_survive_a_restart(tmp_path):
    """The decline cards keep their memory (when a recovering balance's bad days began) and the
    sandbox's clock stays where it was moved: a dunning loop may span restarts."""
    import requests

    from autopay_soap.sandbox.cards import RECOVERY_DAYS

    state = tmp_path / "clock.sqlite"
    with Sandbox(state=state) as sb:
        engine = sb.engine
        first = engine.register(order_number="F-1", amount=100, return_url="https://shop/ok", client_id="c1")
        card = TestCards.RECOVERING_FUNDS
        engine.pay_with_card(first.order_id, pan=card.pan, expiry=card.expiry, cvc=card.cvc)
        binding = engine.order(order_number="F-1").binding_id
        auto = engine.register(order_number="A-1", amount=100, return_url="https://shop/ok", client_id="c1",
                               features=("AUTO_PAYMENT",))
        assert engine.pay_with_binding(auto.order_id, binding).declined
        moved = requests.post(sb.url + "/_sandbox/clock", json={"advance_seconds": 86400}, timeout=5).json()
    with Sandbox(state=state) as again:
        assert again.clock.offset == moved["offset"] == 86400
        engine = again.engine
        retry = engine.register(order_number="A-1/r1", amount=100, return_url="https://shop/ok", client_id="c1",
                                features=("AUTO_PAYMENT",))
        assert engine.pay_with_binding(retry.order_id, binding).declined  # day 1 of 3: still short
        again.clock.advance(days=RECOVERY_DAYS - 1)  # 3 days after the first decline, kept by the state
        later = engine.register(order_number="A-1/r2", amount=100, return_url="https://shop/ok", client_id="c1",
                                features=("AUTO_PAYMENT",))
        assert engine.pay_with_binding(later.order_id, binding).paid


@pytest.mark.parametrize("stored", ["NaN", "1e300", "-Infinity", '"86400"', "true", "[1]"])
def test_a_state_file_with_a_tampered_clock_is_refused_by_name(tmp_path, stored):
    import sqlite3

    state = tmp_path / "tampered.sqlite"
    with Sandbox(state=state) as sb:
        sb.clock.advance(days=1)
        sb.engine.register(order_number="T-1", amount=100, return_url="https://shop/ok")
    db = sqlite3.connect(str(state))
    assert db.execute("UPDATE meta SET body = ? WHERE key = 'clock_offset'", (stored,)).rowcount == 1
    db.commit()
    db.close()
    with pytest.raises(ValueError, match=r"tampered\.sqlite: clock_offset .* is not a number of seconds"):
        Sandbox(state=state)
    def content():
        reader = sqlite3.connect(str(state))
        try:
            return list(reader.iterdump())
        finally:
            reader.close()

    if stored == "NaN":  # the command says so in a line and exits 2, and leaves the file's content as it was
        before = content()
        cli = subprocess.run([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--port", "0", "--state",
                              str(state)], capture_output=True, text=True, timeout=60)
        assert cli.returncode == 2 and "Traceback" not in cli.stderr
        assert "--state:" in cli.stderr and "clock_offset nan" in cli.stderr
        assert content() == before
