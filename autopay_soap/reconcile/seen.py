"""The order numbers the gateway listed, on disk: memory stays flat however long the list is."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import Iterable, List

__all__ = ["SeenOrders"]


class SeenOrders:
    """A temporary SQLite file of the listed order numbers (deleted on :meth:`close`)."""

    def __init__(self) -> None:
        handle, self._path = tempfile.mkstemp(prefix="autopay-reconcile-", suffix=".sqlite")
        os.close(handle)
        self._db = sqlite3.connect(self._path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (order_number TEXT PRIMARY KEY, repeats INTEGER NOT NULL DEFAULT 0)")

    def add(self, order_numbers: Iterable[str]) -> List[str]:
        """Note ``order_numbers``; those met for the second time (reported once each as duplicates)."""
        again: List[str] = []
        with self._db:
            self._db.execute("BEGIN")
            for number in order_numbers:
                if self._db.execute("INSERT OR IGNORE INTO seen (order_number) VALUES (?)", (number,)).rowcount:
                    continue
                self._db.execute("UPDATE seen SET repeats = repeats + 1 WHERE order_number = ?", (number,))
                if self._db.execute("SELECT repeats FROM seen WHERE order_number = ?", (number,)).fetchone()[0] == 1:
                    again.append(number)
        return again

    def __contains__(self, order_number: object) -> bool:
        return self._db.execute("SELECT 1 FROM seen WHERE order_number = ?", (order_number,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        """Delete the file."""
        self._db.close()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass
