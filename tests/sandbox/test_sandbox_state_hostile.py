"""A state file is input: what a tired operator or a forger leaves at ``--state`` is refused in one
line naming the file (exit 2), left as it was found, and one file is held by one sandbox at a time.
JSON nested too deeply, wherever it comes in, is an unreadable body and never a traceback."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import requests
import responses

from autopay_soap import AutopayClient
from autopay_soap.codes.reasons import DeclineReason
from autopay_soap.errors import BadResponse, ConfigurationError
from autopay_soap.sandbox import Sandbox, TestCards
from autopay_soap.sandbox.rbs_words import action_code, action_text
from autopay_soap.sandbox.state import StateFileError
from autopay_soap.sandbox.tbank.rules import decline_of

CLI = [sys.executable, "-m", "autopay_soap.cli"]
DEEP = "[" * 100_000 + "]" * 100_000


def good_state(path):
    with Sandbox(state=path) as sb:
        sb.engine.register(order_number="H-1", amount=100, return_url="https://shop/ok")
    return path


def edit(path, sql, *params):
    db = sqlite3.connect(str(path))
    assert db.execute(sql, params).rowcount >= 1
    db.commit()
    db.close()
    return path


def order_body(path):
    db = sqlite3.connect(str(path))
    try:
        return json.loads(db.execute("SELECT body FROM objects WHERE kind = 'order'").fetchone()[0])
    finally:
        db.close()


def with_order_field(path, **changes):
    body = order_body(path)
    body.update(changes)
    return edit(path, "UPDATE objects SET body = ? WHERE kind = 'order'", json.dumps(body))


def garbage(tmp):
    (tmp / "s").write_bytes(os.urandom(8192))
    return tmp / "s"


def text(tmp):
    (tmp / "s").write_text("orders: none\n")
    return tmp / "s"


def folder(tmp):
    (tmp / "s").mkdir()
    return tmp / "s"


def fifo(tmp):
    os.mkfifo(tmp / "s")
    return tmp / "s"


def symlink(tmp):
    os.symlink(good_state(tmp / "real.sqlite"), tmp / "s")
    return tmp / "s"


def dangling_symlink(tmp):
    os.symlink(tmp / "nowhere.sqlite", tmp / "s")
    return tmp / "s"


def device(tmp):
    return "/dev/null"


def truncated(tmp):
    good = good_state(tmp / "good.sqlite").read_bytes()
    (tmp / "s").write_bytes(good[:1500])
    return tmp / "s"


def foreign_sqlite(tmp):
    path = tmp / "s"
    db = sqlite3.connect(str(path))
    db.execute("CREATE TABLE users (name TEXT)")
    db.execute("INSERT INTO users VALUES ('ann')")
    db.commit()
    db.close()
    return path


def other_columns(tmp):
    db = sqlite3.connect(str(tmp / "s"))
    db.execute("CREATE TABLE objects (kind TEXT, body TEXT)")
    db.commit()
    db.close()
    return tmp / "s"


def deep_json(tmp):
    return edit(good_state(tmp / "s"), "UPDATE objects SET body = ? WHERE kind = 'order'", DEEP)


def not_json(tmp):
    return edit(good_state(tmp / "s"), "UPDATE objects SET body = '{\"order_id\": ' WHERE kind = 'order'")


def order_is_a_list(tmp):
    return edit(good_state(tmp / "s"), "UPDATE objects SET body = '[]' WHERE kind = 'order'")


def amount_is_text(tmp):
    return with_order_field(good_state(tmp / "s"), amount="100")


def amount_is_a_flag(tmp):
    return with_order_field(good_state(tmp / "s"), amount=True)


def unknown_status(tmp):
    return with_order_field(good_state(tmp / "s"), status={"$enum": "OrderStatus", "value": 99})


def unknown_enum(tmp):
    return with_order_field(good_state(tmp / "s"), status={"$enum": "os.system", "value": "ls"})


def order_id_missing(tmp):
    path = good_state(tmp / "s")
    body = order_body(path)
    del body["order_id"]
    return edit(path, "UPDATE objects SET body = ? WHERE kind = 'order'", json.dumps(body))


def as_stored_by_0x(path, action_code, **changes):
    """An order as a sandbox of 0.x stored it: an RBS ``action_code``, no ``decline_reason``."""
    body = order_body(path)
    del body["decline_reason"]
    body.update(action_code=action_code, **changes)
    return edit(path, "UPDATE objects SET body = ? WHERE kind = 'order'", json.dumps(body))


def old_action_code_unknown(tmp):
    return as_stored_by_0x(good_state(tmp / "s"), 4242)


def old_action_code_text(tmp):
    return as_stored_by_0x(good_state(tmp / "s"), "116")


def customers_wrong(tmp):
    return edit(good_state(tmp / "s"), "INSERT OR REPLACE INTO meta VALUES ('customers', '{\"a\": 1}')")


def notification_wrong(tmp):
    return edit(good_state(tmp / "s"), "INSERT OR REPLACE INTO meta VALUES ('notifications', '[{\"url\": 5}]')")


def next_id_wrong(tmp):
    return edit(good_state(tmp / "s"), "INSERT OR REPLACE INTO meta VALUES ('tbank_next_id', '\"x\"')")


def movement_short(tmp):
    return edit(good_state(tmp / "s"), "INSERT INTO movements VALUES (0, '{\"kind\": \"hold\"}')")


HOSTILE = [garbage, text, folder, fifo, symlink, dangling_symlink, device, truncated, foreign_sqlite, other_columns,
           deep_json, not_json, order_is_a_list, amount_is_text, amount_is_a_flag, unknown_status, unknown_enum,
           order_id_missing, old_action_code_unknown, old_action_code_text, customers_wrong, notification_wrong,
           next_id_wrong, movement_short]


def snapshot(path):
    """What is on disk at ``path`` and beside it (a refused file must be left as it was found)."""
    folder = os.path.dirname(os.path.abspath(path))
    seen = {}
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        if os.path.isfile(full) and not os.path.islink(full):
            with open(full, "rb") as handle:
                seen[name] = handle.read()
        else:
            seen[name] = os.lstat(full).st_mode
    return seen


@pytest.mark.parametrize("make", HOSTILE, ids=[f.__name__ for f in HOSTILE])
def test_a_hostile_state_file_is_one_line_naming_it_and_exit_2(tmp_path, make):
    path = make(tmp_path)
    before = snapshot(path) if path != "/dev/null" else None
    with pytest.raises(StateFileError) as refused:
        Sandbox(state=path)
    assert str(path) in str(refused.value) and isinstance(refused.value, ConfigurationError)
    cli = subprocess.run(CLI + ["sandbox", "--port", "0", "--state", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert cli.stdout == "" and "Traceback" not in cli.stderr
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autopay-soap: --state: ") and str(path) in lines[0], lines
    if before is not None:
        assert snapshot(path) == before


@pytest.mark.parametrize("make, says", [
    (garbage, "not a state file the sandbox wrote"), (folder, "is a folder"), (fifo, "FIFO"),
    (symlink, "symbolic link"), (dangling_symlink, "symbolic link"), (device, "is a device"),
    (foreign_sqlite, "another program (table 'users')"), (deep_json, "nested too deeply"),
    (amount_is_text, "an order: amount: '100' is not a whole number"), (unknown_status, "99 is not a valid"),
    (order_id_missing, "an order: order_id is missing"), (customers_wrong, "customers"),
    (old_action_code_unknown, "actionCode 4242 is not one the sandbox gives"),
    (old_action_code_text, "an order: action_code: '116' is not"),
    (notification_wrong, "notifications[0]: url: 5 is not a str"), (movement_short, "movement 0: order_id is missing"),
])
def test_the_line_says_what_is_wrong(tmp_path, make, says):
    with pytest.raises(StateFileError) as refused:
        Sandbox(state=make(tmp_path))
    assert says in str(refused.value)


def test_a_state_file_the_sandbox_wrote_still_opens_with_everything_in_it(tmp_path):
    path = good_state(tmp_path / "s.sqlite")
    with Sandbox(state=path) as again:
        assert again.engine.order(order_number="H-1").amount == 100


def test_an_order_a_0x_sandbox_stored_with_its_action_code_comes_back_with_its_reason(tmp_path):
    """0.x kept an RBS ``action_code`` on a declined order; it is read as the engine's own reason,
    and each front end answers for that reason as before: RBS its code, T-Bank its ErrorCode."""
    declined = {"$enum": "OrderStatus", "value": 6}
    path = as_stored_by_0x(good_state(tmp_path / "s"), 116, status=declined)
    with Sandbox(state=path) as again:
        order = again.engine.order(order_number="H-1")
        assert order.decline_reason is DeclineReason.INSUFFICIENT_FUNDS
        assert action_code(order) == 116 and action_text(order) == "Insufficient funds"
        assert decline_of(order) == (1051, "Недостаточно средств на карте")
    fresh = as_stored_by_0x(good_state(tmp_path / "t"), None)
    with Sandbox(state=fresh) as again:
        order = again.engine.order(order_number="H-1")
        assert order.decline_reason is None and action_code(order) is None


def test_an_empty_file_is_a_new_state(tmp_path):
    (tmp_path / "empty.sqlite").write_bytes(b"")
    with Sandbox(state=tmp_path / "empty.sqlite") as sb:
        sb.engine.register(order_number="E-1", amount=1, return_url="https://shop/ok")
    with Sandbox(state=tmp_path / "empty.sqlite") as again:
        assert again.engine.order(order_number="E-1").amount == 1


def test_one_state_file_is_held_by_one_sandbox_in_this_process(tmp_path):
    path = tmp_path / "one.sqlite"
    first = Sandbox(state=path).start()
    try:
        with pytest.raises(StateFileError, match="another sandbox has this state file open"):
            Sandbox(state=path)
        first.engine.register(order_number="L-1", amount=5, return_url="https://shop/ok")
    finally:
        first.stop()
    with Sandbox(state=path) as second:  # let go by stop(): the next one opens it, with what the first kept
        assert second.engine.order(order_number="L-1").amount == 5


def test_a_second_sandbox_process_on_one_state_file_is_refused(tmp_path):
    path = tmp_path / "shared.sqlite"
    first = subprocess.Popen(CLI + ["sandbox", "--port", "0", "--state", str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        url = first.stdout.readline().split()[-1]
        assert url.startswith("http://127.0.0.1:")
        second = subprocess.run(CLI + ["sandbox", "--port", "0", "--state", str(path)], capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr.strip().splitlines() == [
            f"autopay-soap: --state: {path}: another sandbox has this state file open (one sandbox per file); "
            "stop it, or give this one another --state"]
        with pytest.raises(StateFileError, match="another sandbox"):
            Sandbox(state=path)
        assert requests.get(url + "/_sandbox/ledger", timeout=10).status_code == 200  # the first one serves on
    finally:
        first.kill()
        first.wait(10)
    with Sandbox(state=path):  # the lock dies with the process
        pass


def test_a_sandbox_restarted_after_stop_keeps_its_state_file(tmp_path):
    path = tmp_path / "restart.sqlite"
    sb = Sandbox(state=path).start()
    sb.stop()
    sb.start()
    try:
        sb.engine.register(order_number="R-1", amount=7, return_url="https://shop/ok")
        with pytest.raises(StateFileError, match="another sandbox"):
            Sandbox(state=path)
    finally:
        sb.stop()
    with Sandbox(state=path) as again:
        assert again.engine.order(order_number="R-1").amount == 7


@pytest.mark.parametrize("body", [DEEP, '{"a":' * 5000 + "1" + "}" * 5000])
def test_a_deeply_nested_request_to_the_sandbox_is_a_400_not_a_traceback(body, sb):
    clock = requests.post(sb.url + "/_sandbox/clock", data=body, timeout=30)
    pay = requests.post(sb.url + "/_sandbox/pay", data=body, headers={"Content-Type": "application/json"},
                        timeout=30)
    tbank = requests.post(sb.tbank_url + "/Init", data=body, headers={"Content-Type": "application/json"},
                          timeout=30)
    assert requests.post(sb.url + "/_sandbox/clock", json={"advance_seconds": 60}, timeout=10).status_code == 200
    # Python 3.13's decoder reads 5,000 nested objects without a RecursionError: then the body is just
    # an object without the fields asked for (no step of the clock, no form to pay), never a traceback
    if clock.status_code == 200:
        assert body.startswith("{") and clock.json()["offset"] == 0
    else:
        assert clock.status_code == 400 and clock.json() == {"error": "nested too deeply: line 1 column 1 (char 0)"}
    if pay.status_code != 400:  # read as an object that names no order
        assert body.startswith("{") and pay.status_code == 404
    else:
        assert "nested too deeply" in pay.json()["error"]
    assert tbank.status_code == 200 and tbank.json()["ErrorCode"] == "9999"


@responses.activate
@pytest.mark.parametrize("profile", ["rest", "tbank"])
def test_a_deeply_nested_gateway_reply_is_a_bad_response(profile):
    gateway = "http://127.0.0.1:9"
    client = AutopayClient.from_profile("sandbox", sandbox_url=gateway, transport=profile, return_url="https://s/ok")
    if profile == "rest":
        responses.add(responses.POST, gateway + "/payment/rest/getOrderStatusExtended.do", body=DEEP)
    else:
        responses.add(responses.POST, gateway + "/v2/GetState", body=DEEP)
    with pytest.raises(BadResponse, match="not JSON"):
        client.status(order_id="8f1e1b52-0000-4000-8000-000000000001" if profile == "rest" else "123")
    client.close()


def test_a_deeply_nested_t_bank_notification_is_refused_as_not_genuine():
    import io

    from autopay_soap.callbacks import TBankCallbackApp

    app = TBankCallbackApp(lambda n: None, password="pw", offline=True)
    seen = []
    body = ("[" * 2000 + "]" * 2000).encode()  # 4 KB: under the body limit, too deep for json.loads
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    answer = b"".join(app(environ, lambda status, headers: seen.append(status)))
    assert seen == ["403 Forbidden"] and answer == b"forbidden"


def test_a_deeply_nested_json_batch_row_is_a_bad_row(tmp_path):
    from autopay_soap.batch import validate_file

    path = tmp_path / "rows.jsonl"
    path.write_text('{"order_number": "A-1", "client_id": "c", "binding_id": "b", "amount": "1.00"}\n' + DEEP + "\n")
    check = validate_file(path)
    assert [(e.line, e.message) for e in check.errors] == [(2, "not valid JSON (nested too deeply at character 1)")]


def test_a_state_file_with_one_bad_record_loads_nothing_into_the_engine(tmp_path):
    """The ledger imports a state file's records whole: good orders before a corrupt binding are
    not left in the engine when the file is refused."""
    from autopay_soap.sandbox.state import StateFile, restore

    path = tmp_path / "s.sqlite"
    with Sandbox(state=path) as sb:
        first = sb.engine.register(order_number="H-1", amount=100, return_url="https://shop/ok", client_id="c")
        sb.pay(f"{sb.url}/payment/merchants/sandbox/payment_ru.html?mdOrder={first.order_id}", TestCards.SUCCESS)
    edit(path, "UPDATE objects SET body = ? WHERE kind = 'binding'", json.dumps({"binding_id": 7}))
    fresh = Sandbox()
    state = StateFile(path)
    try:
        with pytest.raises(StateFileError):
            restore(fresh.engine, fresh.tbank, fresh.tbank_terminals.append, fresh.resubmit_notification, state)
    finally:
        state.close()
    assert fresh.engine.orders() == [] and fresh.engine.all_bindings() == [] and fresh.engine.movements() == []
