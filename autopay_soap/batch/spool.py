"""The rows a run checked, kept once: the pre-flight reads the input file, and every later pass
of the run (the charge passes, the worker processes, the summary and its report) reads the rows
it checked from here, never the file again.

One read of the file means one parse of each row (the pre-flight's, with every check), and the
rows charged are exactly the rows checked: a file edited while the run goes on changes nothing.

The spool is a SQLite table in a private temporary folder (mode 0700, removed by
:meth:`RowSpool.close`); memory stays flat however long the file is. Rows are stored pickled:
the spool is written and read by this run alone, and nothing outside it is ever unpickled.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

__all__ = ["RowSpool", "spooled_rows"]

_PAGE = 2000
"""Rows read back per statement."""


class RowSpool:
    """A run's checked rows (:class:`~autopay_soap.batch.rows.ChargeRow`, in file order), with
    the order numbers already seen. (It imports nothing of :mod:`~autopay_soap.batch.rows`,
    which fills it.)

    :param keep_rows: store each row (a run); False keeps only the order numbers, to find a
        repeated one (a dry run, :func:`~autopay_soap.batch.rows.validate_file` alone).
    """

    def __init__(self, *, keep_rows: bool = True) -> None:
        self.keep_rows = keep_rows
        self.folder = tempfile.mkdtemp(prefix="autopay-rows-")  # 0700: this user's alone
        self.path = os.path.join(self.folder, "rows.sqlite")
        self._db: Optional[sqlite3.Connection] = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE rows (position INTEGER PRIMARY KEY, order_number TEXT NOT NULL UNIQUE, "
                         "line INTEGER NOT NULL, row BLOB)")
        self.count = 0
        """Rows added."""

    def __repr__(self) -> str:
        return f"RowSpool({self.count} rows)"

    def add(self, row: Any) -> Optional[int]:
        """Keep ``row``; None, or the line of the row that already has its order number (the
        row is then not kept)."""
        assert self._db is not None, "the spool is closed"
        data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL) if self.keep_rows else None
        try:
            self._db.execute("INSERT INTO rows VALUES (?, ?, ?, ?)", (self.count, row.order_number, row.line, data))
        except sqlite3.IntegrityError:
            found = self._db.execute("SELECT line FROM rows WHERE order_number = ?", (row.order_number,)).fetchone()
            return int(found[0])
        self.count += 1
        return None

    def finish(self) -> "RowSpool":
        """Every row is in: make them readable (by other processes too)."""
        assert self._db is not None, "the spool is closed"
        self._db.commit()
        return self

    def rows(self, shard: Tuple[int, int] = (0, 1)) -> Iterator[Any]:
        """The rows in file order (``shard`` ``(k, n)``: those at positions ``k`` mod ``n``)."""
        if not self.keep_rows:
            raise RuntimeError("this spool keeps order numbers only")
        return spooled_rows(self.path, shard)

    def close(self) -> None:
        """Remove the spool (its folder and file). Idempotent."""
        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "RowSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spooled_rows(path: str, shard: Tuple[int, int] = (0, 1)) -> Iterator[Any]:
    """The rows of the spool at ``path`` in file order (``shard`` as :meth:`RowSpool.rows`): read
    2,000 at a time through a connection of the caller's own (a worker process opens the
    spool by its path)."""
    k, n = shard
    db = sqlite3.connect(f"file:{Path(path).as_posix()}?mode=ro", uri=True)
    try:
        after = -1
        while True:
            page: List[Tuple[int, bytes]] = db.execute(
                "SELECT position, row FROM rows WHERE position > ? AND position % ? = ? ORDER BY position LIMIT ?",
                (after, n, k, _PAGE)).fetchall()
            if not page:
                return
            after = page[-1][0]
            for _, data in page:
                yield pickle.loads(data)  # noqa: S301 - written by this run, in its private folder
    finally:
        db.close()
