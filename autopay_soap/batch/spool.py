"""The rows a run checked, kept once: the pre-flight reads the input file, and every later pass
of the run (the charge passes, the worker processes, the summary and its report) reads the rows
it checked from here, never the file again.

One read of the file means one parse of each row (the pre-flight's, with every check), and the
rows charged are exactly the rows checked: a file edited while the run goes on changes nothing.

The spool lives in a private temporary folder (mode 0700, removed by :meth:`RowSpool.close`):
a SQLite table of the order numbers seen (a repeated one is found there) and a file of the
rows, appended in file order as pickled pages of 2,000 rows (one pickle a page costs a third of
one a row), then the row count. Memory stays flat however long the file is. The spool is
written and read by this run alone, and nothing outside it is ever unpickled.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import sqlite3
import tempfile
from typing import IO, Any, Iterator, List, Optional, Tuple

__all__ = ["FileDigest", "RowSpool", "spooled_rows"]

_PAGE = 2000
"""Rows written, and read back, at a time."""


class FileDigest:
    """SHA-256 of an input file's bytes, taken while the pre-flight reads it (what a batch in
    PostgreSQL is tied to): the digest of exactly the bytes that were checked, with no second
    read that a file edited meanwhile could change."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.complete = False
        """True once the file was read to its end."""

    def update(self, data: bytes) -> None:
        """Add the next bytes read."""
        self._hash.update(data)

    def hexdigest(self) -> str:
        """The digest, once the whole file was read (else RuntimeError)."""
        if not self.complete:
            raise RuntimeError("the file was not read to its end")
        return self._hash.hexdigest()


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
        self.path = os.path.join(self.folder, "rows.pickle")
        """The rows' file, which :func:`spooled_rows` reads (once :meth:`finish` is called)."""
        self._db: Optional[sqlite3.Connection] = sqlite3.connect(os.path.join(self.folder, "numbers.sqlite"),
                                                                 check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE numbers (order_number TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID")
        self._rows: Optional[IO[bytes]] = open(self.path, "wb") if keep_rows else None  # noqa: SIM115 - closed by close()
        self._page: List[Any] = []
        self.digest = FileDigest()
        """The input file's digest, taken as the pre-flight read it."""
        self.count = 0
        """Rows added."""

    def __repr__(self) -> str:
        return f"RowSpool({self.count} rows)"

    def add(self, row: Any) -> Optional[int]:
        """Keep ``row``; None, or the line of the row that already has its order number (the
        row is then not kept)."""
        assert self._db is not None, "the spool is closed"
        try:
            self._db.execute("INSERT INTO numbers VALUES (?, ?)", (row.order_number, row.line))
        except sqlite3.IntegrityError:
            found = self._db.execute("SELECT line FROM numbers WHERE order_number = ?", (row.order_number,)).fetchone()
            return int(found[0])
        self.count += 1
        if self._rows is not None:
            self._page.append(row)
            if len(self._page) >= _PAGE:
                self._write_page()
        return None

    def _write_page(self) -> None:
        assert self._rows is not None
        pickle.dump(self._page, self._rows, protocol=pickle.HIGHEST_PROTOCOL)  # a page in one pickle: 1.2 us a row
        self._page = []

    def finish(self) -> "RowSpool":
        """Every row is in: make them readable (by other processes too)."""
        assert self._db is not None, "the spool is closed"
        self._db.commit()
        if self._rows is not None and not self._rows.closed:
            if self._page:
                self._write_page()
            pickle.dump(self.count, self._rows)  # the end: a reader that does not meet it was cut short
            self._rows.close()
        return self

    def rows(self, shard: Tuple[int, int] = (0, 1)) -> Iterator[Any]:
        """The rows in file order (``shard`` ``(k, n)``: those at positions ``k`` mod ``n``)."""
        if not self.keep_rows:
            raise RuntimeError("this spool keeps order numbers only")
        return spooled_rows(self.path, shard)

    def close(self) -> None:
        """Remove the spool (its folder and files). Idempotent."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._rows is not None:
            self._rows.close()
            self._rows = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "RowSpool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spooled_rows(path: str, shard: Tuple[int, int] = (0, 1)) -> Iterator[Any]:
    """The rows of the spool at ``path`` in file order (``shard`` as :meth:`RowSpool.rows`): read
    a page of 2,000 at a time through a file handle of the caller's own (a worker process opens
    the spool by its path). A spool that ends before the row count :meth:`RowSpool.finish`
    wrote (a file truncated or damaged under the run) raises RuntimeError: rows are never
    dropped without a word."""
    k, n = shard
    position = 0
    with open(path, "rb") as source:
        while True:
            try:
                page: Any = pickle.load(source)  # noqa: S301 - written by this run, in its private folder
            except (EOFError, pickle.UnpicklingError):
                page = None
            if isinstance(page, int) and page == position:
                return  # the end, after every row
            if not isinstance(page, list):
                raise RuntimeError(f"the row spool {path} is cut short after {position} rows: nothing more is read "
                                   "from it")
            first, position = position, position + len(page)
            yield from page[(k - first) % n::n]
