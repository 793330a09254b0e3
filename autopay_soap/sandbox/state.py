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

A state file is input: one sandbox process holds it at a time (an exclusive ``flock`` on the
file, taken before SQLite opens it; a second sandbox is refused by name), and what is read back
is checked before the sandbox serves. Anything but a regular file (a folder, a FIFO, a device, a
symbolic link), a file that is not SQLite, an SQLite file of another program, and a body that
is not what the sandbox writes (not JSON, nested too deeply, a field of the wrong type, an
unknown enum value) raise :class:`StateFileError`, which names the file and the first problem;
``autopay-soap sandbox --state FILE`` prints that one line and exits 2. A refused file is left
as it was found.
"""

from __future__ import annotations

import enum
import errno
import json
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Type, Union

import attr

from ..codes.reasons import DeclineReason
from ..errors import ConfigurationError
from ..models import OrderStatus
from .cards import Behaviour
from .clock import MAX_OFFSET, SandboxClock
from .engine import BindingRecord, Engine, Movement, Order
from .rbs_words import reason_of_action
from .stored_types import check_fields, check_value
from .tbank import TBankFrontEnd, TBankTerminal
from .tbank.records import _Account, _Card, _Payment

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; one sandbox per file is then the user's to keep
    fcntl = None  # type: ignore[assignment]

__all__ = ["StateFile", "StateFileError", "restore", "save"]


class StateFileError(ConfigurationError, ValueError):
    """The sandbox's ``state`` file cannot be used: not a regular file, not one the sandbox
    wrote, or held by another sandbox. The message names the file; nothing in it was changed."""

_ENUMS: Dict[str, Type[enum.Enum]] = {"OrderStatus": OrderStatus, "Behaviour": Behaviour,
                                      "DeclineReason": DeclineReason}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
                                    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS movements (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, body TEXT NOT NULL);
"""
_COLUMNS = {"objects": ("kind", "key", "body"), "movements": ("seq", "body"), "meta": ("key", "body")}


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
            kind = _ENUMS.get(value["$enum"]) if isinstance(value["$enum"], str) else None
            if kind is None:
                raise ValueError(f"{value['$enum']!r} is not an enum the sandbox stores")
            return kind(value.get("value"))  # an unknown value: ValueError, naming it
        if "$tuple" in value:
            if not isinstance(value["$tuple"], list):
                raise ValueError("a stored tuple that is not a list")
            return tuple(_typed(item) for item in value["$tuple"])
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return value


def dump(obj: Any) -> str:
    """An attrs object's fields (not ``dirty``) as JSON text."""
    fields = {a.name: _plain(getattr(obj, a.name)) for a in attr.fields(type(obj)) if a.name != "dirty"}
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


def load(cls: Type[Any], text: str, where: str = "") -> Any:
    """An attrs object back from :func:`dump`'s text, not dirty; ``ValueError`` (naming
    ``where`` and the field) for text that is not what :func:`dump` writes."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{where or cls.__name__}: not a JSON object")
    fields = {name: _typed(value) for name, value in data.items()}
    if cls is Order:
        fields = _upgraded_order(fields, where or cls.__name__)
    check_fields(cls, fields, where or cls.__name__)
    known = {a.name for a in attr.fields(cls)}
    obj = cls(**{k: v for k, v in fields.items() if k in known})
    object.__setattr__(obj, "dirty", False)
    return obj


def _upgraded_order(fields: Dict[str, Any], where: str) -> Dict[str, Any]:
    """An order a sandbox of 0.x stored, with the RBS ``action_code`` it declined with, read with
    the reason that code stands for (a code the sandbox never gave: ``ValueError``)."""
    if "action_code" not in fields or "decline_reason" in fields:
        return fields
    fields = dict(fields)
    code = fields.pop("action_code")
    check_value(code, Optional[int], f"{where}: action_code")
    fields["decline_reason"] = reason_of_action(code)
    return fields


def _clock_offset(state: "StateFile") -> float:
    """The stored clock offset: a finite number of seconds, 0 or more (a hand-edited or foreign
    file is refused by name, not turned into a clock that reads NaN or the year 30000)."""
    value = state.meta("clock_offset", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_OFFSET:
        raise StateFileError(f"{state.path}: clock_offset {value!r} is not a number of seconds from 0 to "
                         f"{MAX_OFFSET:.0f} (100 years); this is not a state file the sandbox wrote")
    return float(value)


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _open_exclusively(path: Path) -> int:
    """A descriptor of ``path`` (created if missing, mode 0600) holding an exclusive ``flock``;
    :class:`StateFileError` for anything but a regular file, or a file another sandbox holds.
    The file is never opened through a symbolic link (``O_NOFOLLOW``) and never read here, so a
    FIFO cannot hang the sandbox."""
    try:
        info: Optional[os.stat_result] = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise StateFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise StateFileError(f"{path}: is a symbolic link; give the state file's own path")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise StateFileError(f"{path}: is {_kind_of(info.st_mode)}, not a state file")
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        reason = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
        raise StateFileError(f"{path}: {reason}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between the look and the open
            raise StateFileError(f"{path}: is {_kind_of(mode)}, not a state file")
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StateFileError(f"{path}: cannot be locked ({exc.strerror})") from None
                raise StateFileError(f"{path}: another sandbox has this state file open (one sandbox per "
                                     "file); stop it, or give this one another --state") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _same_file(fd: int, path: Path) -> bool:
    """True when ``path`` still names the file behind ``fd`` (SQLite opened what was locked)."""
    try:
        here, there = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


class StateFile:
    """The SQLite file of one sandbox (see the module docstring)."""

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StateFileError(f"{self.path}: its folder {self.path.parent} does not exist")
        self._fd: Optional[int] = _open_exclusively(self.path)
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            self._release()
            raise StateFileError(f"{self.path}: SQLite cannot open it ({exc})") from None
        try:
            if not _same_file(self._fd, self.path):
                raise StateFileError(f"{self.path}: the file was replaced while it was being opened")
            self._check_tables()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # every commit survives the process being killed
            self._db.executescript(_SCHEMA)
            self._movements_saved = int(self._db.execute("SELECT COUNT(*) FROM movements").fetchone()[0])
        except sqlite3.Error as exc:
            self._db.close()
            self._release()
            raise StateFileError(f"{self.path}: not a state file the sandbox wrote ({exc})") from None
        except BaseException:
            self._db.close()
            self._release()
            raise
        self._lock = threading.Lock()
        self._meta_saved: Dict[str, str] = {}

    def _check_tables(self) -> None:
        """Refuse an SQLite file of another program before anything is written to it (the
        schema's ``CREATE TABLE IF NOT EXISTS`` and WAL mode would otherwise change it)."""
        tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = sorted(tables - set(_COLUMNS))
        if foreign:
            raise StateFileError(f"{self.path}: an SQLite file of another program (table {foreign[0]!r}); "
                                 "give the sandbox a file of its own")
        for table in tables:
            columns = [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]
            if columns != list(_COLUMNS[table]):
                raise StateFileError(f"{self.path}: table {table!r} has columns {columns}, not the sandbox's")

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None

    def close(self) -> None:
        """Close the file and let another sandbox open it (a second call does nothing)."""
        with self._lock:
            if self._fd is None:
                return
            self._db.close()
            self._release()

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
    with tbank.lock, engine.lock:  # the order the request handlers take them in
        dirty: List[tuple] = engine.export_changed() + tbank.export_changed()
        movements = engine.export_movements()
        meta = {"tbank_next_id": tbank.peek_next_id(), "clock_offset": getattr(engine.clock, "offset", 0.0),
                "customers": [list(customer) for customer in tbank.export_customers()],
                "notifications": notifications}
        state.write(dirty, movements, meta)


def restore(engine: Engine, tbank: TBankFrontEnd, add_terminal: Callable[[TBankTerminal], None],
            resubmit: Callable[[Dict[str, Any]], None], state: StateFile) -> None:
    """Load the stored state into a fresh engine and T-Bank front end (before they serve);
    ``add_terminal`` takes a terminal the sandbox was not built with, ``resubmit`` a
    notification that was pending. :class:`StateFileError` (naming the file and the first bad
    value) for a file whose content the sandbox did not write."""
    try:
        _restore(engine, tbank, add_terminal, resubmit, state)
    except StateFileError:
        raise
    except RecursionError:
        raise StateFileError(f"{state.path}: a stored value is nested too deeply; this is not a state file the "
                             "sandbox wrote") from None
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{state.path}: a stored value is not JSON ({exc.msg}); this is not a state file the "
                             "sandbox wrote") from None
    except (ValueError, TypeError, KeyError, AttributeError, sqlite3.Error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StateFileError(f"{state.path}: {reason}; this is not a state file the sandbox wrote") from None


def _checked_meta(state: StateFile, key: str, default: Any, hint: Any) -> Any:
    value = state.meta(key, default)
    check_value(value, hint, key)
    return value


def _restore(engine: Engine, tbank: TBankFrontEnd, add_terminal: Callable[[TBankTerminal], None],
             resubmit: Callable[[Dict[str, Any]], None], state: StateFile) -> None:
    next_id = _checked_meta(state, "tbank_next_id", tbank.peek_next_id(), int)
    if next_id < 0:
        raise ValueError(f"tbank_next_id: {next_id} is below 0")
    customers = [tuple(item) if isinstance(item, list) else item  # stored as JSON arrays
                 for item in _checked_meta(state, "customers", [], List[Any])]
    check_value(customers, List[Tuple[str, str, Dict[str, Any]]], "customers")
    notifications = _checked_meta(state, "notifications", [], List[Dict[str, Any]])
    for index, item in enumerate(notifications):
        check_value(item.get("url"), str, f"notifications[{index}]: url")
        check_value(item.get("params"), Dict[str, Any], f"notifications[{index}]: params")
        check_value(item.get("as_json"), bool, f"notifications[{index}]: as_json")
    with tbank.lock, engine.lock:
        orders = [load(Order, text, "an order") for text in state.objects("order")]
        bindings = [load(BindingRecord, text, "a binding") for text in state.objects("binding")]
        movements = state.movements()
        for index, movement in enumerate(movements):
            if not isinstance(movement, dict):
                raise ValueError(f"movement {index}: not a JSON object")
            check_fields(Movement, movement, f"movement {index}")
        engine.import_records(orders, bindings, movements)
        for text in state.objects("terminal"):
            terminal = load(TBankTerminal, text, "a T-Bank terminal")
            known = tbank.terminals.get(terminal.key)
            if known is None:
                add_terminal(terminal)
                tbank.terminals[terminal.key] = terminal
            else:  # the same object the sandbox holds: keep it, take the stored settings
                for a in attr.fields(TBankTerminal):
                    if a.name != "dirty":
                        object.__setattr__(known, a.name, getattr(terminal, a.name))
                object.__setattr__(known, "dirty", False)
        tbank.import_records(([load(_Payment, text, "a T-Bank payment") for text in state.objects("payment")],
                              [load(_Card, text, "a T-Bank card") for text in state.objects("card")],
                              [load(_Account, text, "an SBP account") for text in state.objects("account")],
                              customers))
        tbank.set_next_id(next_id)
        clock = engine.clock
        if isinstance(clock, SandboxClock):  # a moved clock stays moved: the state's times are on it
            clock.advance(seconds=max(_clock_offset(state) - clock.offset, 0.0))
    for item in notifications:
        resubmit(item)
