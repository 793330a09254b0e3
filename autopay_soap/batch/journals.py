"""Which journal a batch writes: a file (SQLite, the default) or a PostgreSQL URL."""

from __future__ import annotations

from pathlib import Path
from typing import Union

from .journal import Journal
from .journal_pg import PostgresJournal

__all__ = ["AnyJournal", "is_url", "open_journal"]

AnyJournal = Union[Journal, PostgresJournal]


def is_url(journal: Union[str, Path]) -> bool:
    """True when ``journal`` names a PostgreSQL journal (``postgresql://…``), not a file."""
    return isinstance(journal, str) and journal.startswith(("postgresql://", "postgres://"))


def open_journal(journal: Union[str, Path], *, runner_lock: bool = True) -> AnyJournal:
    """The journal ``journal`` names, not yet opened: a PostgreSQL URL gives a
    :class:`~autopay_soap.batch.journal_pg.PostgresJournal` (psycopg: the ``postgres`` extra),
    anything else the SQLite :class:`~autopay_soap.batch.journal.Journal` of that file. Both
    have the same operations."""
    if is_url(journal):
        try:
            import psycopg  # noqa: F401 - only to say clearly what is missing
        except ImportError:
            raise RuntimeError('a PostgreSQL journal needs psycopg: pip install ".[postgres]" from a checkout '
                               '(or a built wheel with [postgres]: docs/installation.rst)') from None
        return PostgresJournal(str(journal), runner_lock=runner_lock)
    return Journal(journal, runner_lock=runner_lock)
