"""The sandbox's state in a SQLite file, so that a sandbox left running survives a restart.

``Sandbox(state="sandbox.sqlite")`` (``autopay-soap sandbox --state FILE``) keeps orders,
bindings, the ledger (money movements), the T-Bank payments, cards, customers, SBP accounts and
terminals, and the notifications not yet delivered. What an answer reports is written, in one
committed transaction, **before** the answer is sent: a ``kill -9`` at any moment loses nothing
a client was told. Work that was done but not yet answered when the process died is lost
with its answer, which the client saw as an unknown outcome and reconciles by a look-up.

Only what changed is written: the objects carry a ``dirty`` flag, set by any assignment to one
of their fields (attrs' ``on_setattr``) and by the few in-place changes, cleared when written.
The file holds JSON, never pickles, so a state file read back cannot run code.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Type, Union

import attr

from ..models import OrderStatus
from .cards import Behaviour
from .clock import MAX_OFFSET, SandboxClock
from .engine import BindingRecord, Engine, Movement, Order
from .tbank import TBankFrontEnd, TBankTerminal, _Account, _Card, _Payment

__all__ = ["StateFile", "restore", "save"]

_ENUMS: Dict[str, Type[enum.Enum]] = {"OrderStatus": OrderStatus, "Behaviour": Behaviour}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
                                    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS movements (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


def _plain(value: Any) -> Any:
    """A value as JSON: enums and tuples tagged, so that they come back as they were."""
    if isinstance(value, enum.Enum):
        return {"$enum": type(value).__name__, "value": value.value}
    if isinstance(value, tuple):
        return {"$tuple": [_plain(item) for item in value]}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        if "$enum" in value:
            return _ENUMS[value["$enum"]](value["value"])
        if "$tuple" in value:
            return tuple(_typed(item) for item in value["$tuple"])
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return value


def dump(obj: Any) -> str:
    """An attrs object's fields (not ``dirty``) as JSON text."""
    fields = {a.name: _plain(getattr(obj, a.name)) for a in attr.fields(type(obj)) if a.name != "dirty"}
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def load(cls: Type[Any], text: str) -> Any:
    """An attrs object back from :func:`dump`'s text, not dirty."""
    fields = {name: _typed(value) for name, value in json.loads(text).items()}
    known = {a.name for a in attr.fields(cls)}
    obj = cls(**{k: v for k, v in fields.items() if k in known})
    object.__setattr__(obj, "dirty", False)
    return obj


def _clock_offset(state: "StateFile") -> float:
    """The stored clock offset: a finite number of seconds, 0 or more (a hand-edited or foreign
    file is refused by name, not turned into a clock that reads NaN or the year 30000)."""
    value = state.meta("clock_offset", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_OFFSET:
        raise ValueError(f"{state.path}: clock_offset {value!r} is not a number of seconds from 0 to "
                         f"{MAX_OFFSET:.0f} (100 years); this is not a state file the sandbox wrote")
    return float(value)


class StateFile:
    """The SQLite file of one sandbox (see the module docstring)."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"the state file's folder {self.path.parent} does not exist")
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # every commit survives the process being killed
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._movements_saved = int(self._db.execute("SELECT COUNT(*) FROM movements").fetchone()[0])
        self._meta_saved: Dict[str, str] = {}

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    # -- reading -----------------------------------------------------------------------------

    def objects(self, kind: str) -> List[str]:
        """The stored JSON texts of one kind."""
        return [row[0] for row in self._db.execute("SELECT body FROM objects WHERE kind = ? ORDER BY rowid",
                                                   (kind,))]

    def movements(self) -> List[Dict[str, Any]]:
        """The stored ledger, in order."""
        return [json.loads(row[0]) for row in self._db.execute("SELECT body FROM movements ORDER BY seq")]

    def meta(self, key: str, default: Any = None) -> Any:
        """A stored value (JSON) or ``default``."""
        row = self._db.execute("SELECT body FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- writing -----------------------------------------------------------------------------

    def write(self, dirty: List[tuple], movements: List[Dict[str, Any]], meta: Dict[str, Any],
              removed: Iterable[tuple] = ()) -> None:
        """One transaction: ``(kind, key, object)`` rows (their ``dirty`` flags cleared once
        committed), the movements not yet written, the meta values that changed."""
        rows = [(kind, key, dump(obj)) for kind, key, obj in dirty]
        new_meta = {key: json.dumps(_plain(value), ensure_ascii=False) for key, value in meta.items()}
        new_meta = {key: text for key, text in new_meta.items() if self._meta_saved.get(key) != text}
        gone = list(removed)
        fresh = movements[self._movements_saved:]
        if not rows and not new_meta and not gone and not fresh:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO objects (kind, key, body) VALUES (?, ?, ?)", rows)
                self._db.executemany("DELETE FROM objects WHERE kind = ? AND key = ?", gone)
                self._db.executemany("INSERT INTO movements (seq, body) VALUES (?, ?)",
                                     [(self._movements_saved + i, json.dumps(m, ensure_ascii=False))
                                      for i, m in enumerate(fresh)])
                self._db.executemany("INSERT OR REPLACE INTO meta (key, body) VALUES (?, ?)", new_meta.items())
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._movements_saved += len(fresh)
        self._meta_saved.update(new_meta)
        for _kind, _key, obj in dirty:
            object.__setattr__(obj, "dirty", False)


def save(engine: Engine, tbank: TBankFrontEnd, notifications: List[Dict[str, Any]], state: StateFile) -> None:
    """Write what changed since the last call (under the engine's and the front end's locks)."""
    with tbank._lock, engine._lock:  # the order the request handlers take them in
        dirty: List[tuple] = []
        dirty += [("order", o.order_id, o) for o in engine._orders.values() if o.dirty]
        dirty += [("binding", b.binding_id, b) for b in engine._bindings.values() if b.dirty]
        dirty += [("payment", p.payment_id, p) for p in tbank._payments.values() if p.dirty]
        dirty += [("card", c.engine_binding, c) for c in tbank._cards.values() if c.dirty]
        dirty += [("account", a.request_key, a) for a in tbank._accounts.values() if a.dirty]
        dirty += [("terminal", t.key, t) for t in tbank.terminals.values() if t.dirty]
        movements = [m.as_state() for m in engine._movements]
        meta = {"tbank_next_id": tbank.peek_next_id(), "clock_offset": getattr(engine.clock, "offset", 0.0),
                "customers": [[terminal, key, fields] for (terminal, key), fields in tbank._customers.items()],
                "notifications": notifications}
        state.write(dirty, movements, meta)


def restore(engine: Engine, tbank: TBankFrontEnd, add_terminal: Callable[[TBankTerminal], None],
            resubmit: Callable[[Dict[str, Any]], None], state: StateFile) -> None:
    """Load the stored state into a fresh engine and T-Bank front end (before they serve);
    ``add_terminal`` takes a terminal the sandbox was not built with, ``resubmit`` a
    notification that was pending."""
    with tbank._lock, engine._lock:
        for text in state.objects("order"):
            order = load(Order, text)
            engine._orders[order.order_id] = order
            engine._by_number[order.order_number] = order.order_id
        for text in state.objects("binding"):
            binding = load(BindingRecord, text)
            engine._bindings[binding.binding_id] = binding
        engine._movements[:] = [Movement.from_state(m) for m in state.movements()]
        for text in state.objects("terminal"):
            terminal = load(TBankTerminal, text)
            known = tbank.terminals.get(terminal.key)
            if known is None:
                add_terminal(terminal)
                tbank.terminals[terminal.key] = terminal
            else:  # the same object the sandbox holds: keep it, take the stored settings
                for a in attr.fields(TBankTerminal):
                    if a.name != "dirty":
                        object.__setattr__(known, a.name, getattr(terminal, a.name))
                object.__setattr__(known, "dirty", False)
        for text in state.objects("payment"):
            payment = load(_Payment, text)
            tbank._payments[payment.payment_id] = payment
            tbank._by_engine[payment.engine_id] = payment.payment_id
        for text in state.objects("card"):
            card = load(_Card, text)
            tbank._cards[card.engine_binding] = card
        for text in state.objects("account"):
            account = load(_Account, text)
            tbank._accounts[account.request_key] = account
        tbank.set_next_id(state.meta("tbank_next_id", tbank.peek_next_id()))
        clock = engine.clock
        if isinstance(clock, SandboxClock):  # a moved clock stays moved: the state's times are on it
            clock.advance(seconds=max(_clock_offset(state) - clock.offset, 0.0))
        tbank._customers.update({(t, k): dict(fields) for t, k, fields in state.meta("customers", [])})
    for item in state.meta("notifications", []):
        resubmit(item)
