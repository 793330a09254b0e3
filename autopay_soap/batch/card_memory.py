"""The hard-decline memory of a merchant: cards never to be charged again, whatever file or
journal a later run uses.

A run with the default per-file SQLite journal (``FILE.journal.sqlite``) would otherwise forget,
next month, that a card was declined hard this month. Every hard decline is therefore also
written here, and every charge is checked here first. The default file is
``$AUTOPAY_STATE_DIR/hard-declines.sqlite`` (``AUTOPAY_STATE_DIR`` defaults to
``$XDG_STATE_HOME/autopay_soap``, that is ``~/.local/state/autopay_soap``): one per merchant
account on a host. Give each merchant its own ``AUTOPAY_STATE_DIR`` (or ``--card-memory``) when
one account runs several; put it on storage that outlives the host if batches move between hosts.
A PostgreSQL journal needs none of this: its hard-decline look-up spans the whole database.

Cards are kept as the digest of :attr:`~autopay_soap.batch.rows.ChargeRow.instrument` (never a
binding id in clear); binding ids are compared as the gateway compares them (case-insensitively).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Optional, Union

__all__ = ["CardMemory", "default_card_memory"]


def default_card_memory() -> Path:
    """``$AUTOPAY_STATE_DIR/hard-declines.sqlite`` (see the module docstring)."""
    folder = os.environ.get("AUTOPAY_STATE_DIR")
    if not folder:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        folder = os.path.join(base, "autopay_soap")
    return Path(folder) / "hard-declines.sqlite"


class CardMemory:
    """The hard-declined cards of a merchant (a SQLite file; thread-safe; many processes may
    share it). Created on first use, with its folder (mode 0700)."""

    def __init__(self, path: Union[str, Path, None] = None) -> None:
        self.path = Path(path) if path is not None else default_card_memory()
        self._db: Optional[sqlite3.Connection] = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"CardMemory({str(self.path)!r})"

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path.exists() and not self.path.is_file():  # a folder, a FIFO (whose read would never end)...
                raise OSError(f"{self.path} is not a regular file")
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS hard_declines (instrument TEXT PRIMARY KEY, "
                       "order_number TEXT NOT NULL, declined_at REAL NOT NULL)")
            self._db = db
        return self._db

    def check(self) -> None:
        """Open (creating it if new) and read the file once, then close it: ``OSError`` or
        ``sqlite3.Error`` saying what is wrong (the runner's pre-flight, before any charge)."""
        try:
            with self._mutex:
                self._open().execute("SELECT COUNT(*) FROM hard_declines").fetchone()
        finally:
            self.close()

    def hard_decline(self, instrument: str, order_number: str) -> Optional[str]:
        """The order number on which ``instrument`` was declined hard (another than ``order_number``), if any."""
        with self._mutex:
            found = self._open().execute("SELECT order_number FROM hard_declines WHERE instrument = ? "
                                         "AND order_number <> ?", (instrument, order_number)).fetchone()
        return found[0] if found else None

    def remember(self, instrument: str, order_number: str) -> None:
        """Keep ``instrument`` as declined hard on ``order_number`` (the first such order stays)."""
        with self._mutex:
            self._open().execute("INSERT OR IGNORE INTO hard_declines VALUES (?, ?, ?)",
                                 (instrument, order_number, time.time()))

    def close(self) -> None:
        """Close the file."""
        with self._mutex:
            if self._db is not None:
                self._db.close()
                self._db = None
