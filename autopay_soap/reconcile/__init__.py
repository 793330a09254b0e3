"""Reconciliation: the journal against the gateway's own records (``autopay-soap reconcile``).

The journal proves that autopay_soap charged each row once; it cannot see what happened outside
it — a refund in the bank's cabinet, another system charging the same cards, a journal restored
from an old backup. :func:`reconcile` reads the gateway's orders of a window and the journal's
rows and reports every difference, one line each (:class:`Difference`, :class:`Kind`); the only
journal change it makes is settling rows of unknown outcome by the gateway's answer.

* :mod:`.compare`: the rules, pure functions;
* :mod:`.listing`: the gateway's list, page by page, within bounds;
* :mod:`.run`: the three passes and the summary; :mod:`.report`: the CSV / JSON Lines report;
* :mod:`.command`: ``autopay-soap reconcile``.
"""

from .differences import COLUMNS, Difference, Kind
from .report import ReportWriter
from .run import EXIT_DIFFERENCES, EXIT_INCOMPLETE, EXIT_OK, ReconcileSummary, reconcile

__all__ = ["COLUMNS", "EXIT_DIFFERENCES", "EXIT_INCOMPLETE", "EXIT_OK", "Difference", "Kind", "ReconcileSummary",
           "ReportWriter", "reconcile"]
