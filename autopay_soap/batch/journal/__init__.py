"""The batch journal: the port every journal implements, and the factory that opens one.

* :mod:`.port`: the :class:`Journal` and :class:`ClusterJournal` protocols, :class:`JournalEntry`,
  the errors;
* :mod:`.sql`: the table and every statement, once, over a small dialect;
* :mod:`.sqlite`: a file of one batch (the default) — its locks and connections;
* :mod:`.postgres`: a merchant's PostgreSQL database, shared by runners, hosts and a cluster's
  workers — its sessions, reconnection, leases and the cluster's operations.

Nothing outside this package names a journal class: :func:`open_journal` picks one from what
the ``--journal`` setting says, and the rest of the batch wing sees the protocols only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Tuple, Union

from .port import Claim, ClusterJournal, Journal, JournalBusy, JournalEntry, JournalUnavailable
from .sql import RESULT_FIELDS

__all__ = ["RESULT_FIELDS", "Claim", "ClusterJournal", "Journal", "JournalBusy", "JournalEntry",
           "JournalUnavailable", "cluster_session", "is_url", "open_cluster_journal", "open_journal", "split_url"]


def is_url(journal: Union[str, Path]) -> bool:
    """True when ``journal`` names a PostgreSQL journal (``postgresql://…``), not a file."""
    return isinstance(journal, str) and journal.startswith(("postgresql://", "postgres://"))


def open_journal(journal: Union[str, Path], *, runner_lock: bool = True, reconnect_for: float = 60.0) -> Journal:
    """The journal ``journal`` names, not yet opened: a PostgreSQL URL gives the merchant's
    PostgreSQL journal (psycopg: the ``postgres`` extra; ``reconnect_for``: seconds a lost
    connection is tried again), anything else the SQLite journal of that file. Both have the
    operations of :class:`Journal`.

    :param runner_lock: take the one-runner lock when opening (the default); a worker of the
        runner that holds it opens with ``False``.
    """
    if is_url(journal):
        return open_cluster_journal(str(journal), runner_lock=runner_lock, reconnect_for=reconnect_for)
    from .sqlite import SqliteJournal

    return SqliteJournal(journal, runner_lock=runner_lock)


def open_cluster_journal(url: str, *, runner_lock: bool = True, reconnect_for: float = 60.0,
                         session: object = None) -> ClusterJournal:
    """The PostgreSQL journal of a merchant's batch (``url``: ``postgresql://…?merchant=…&batch=…``),
    not yet opened; ``session``: a :class:`~.postgres.PgSession` to share (a worker's journals of
    many batches share one connection). Raises :class:`ValueError` for a URL that is not PostgreSQL's
    and :class:`RuntimeError` without psycopg."""
    if not is_url(url):
        raise ValueError("journal: a cluster run needs the workers' PostgreSQL journal (postgresql://...)")
    try:
        import psycopg  # noqa: F401 - only to say clearly what is missing
    except ImportError:
        raise RuntimeError('a PostgreSQL journal needs psycopg: pip install ".[postgres]" from a checkout '
                           '(or a built wheel with [postgres]: docs/installation.rst)') from None
    from .postgres import PgSession, PostgresJournal

    shared = session if isinstance(session, PgSession) else None
    return PostgresJournal(url, runner_lock=runner_lock, session=shared, reconnect_for=reconnect_for)


def split_url(url: str) -> Tuple[str, str, str]:
    """``(libpq URL, merchant, batch)``: a PostgreSQL journal URL with its own parameters taken off."""
    from .postgres import split_url as split

    return split(url)


def cluster_session(dsn: str, *, reconnect_for: float = 60.0, application_name: str = "autopay_soap") -> Any:
    """One PostgreSQL connection that comes back after the server does (a
    :class:`~.postgres.PgSession`), to share between the journals of the batches a worker
    process meets (:func:`open_cluster_journal`'s ``session``)."""
    from .postgres import PgSession

    return PgSession(dsn, reconnect_for=reconnect_for, application_name=application_name)
