"""``autopay-soap reconcile``: the journal against the gateway for a window, from the shell.

Prints one JSON summary on stdout and exits with :data:`~autopay_soap.reconcile.run.EXIT_OK` (no
difference), :data:`~autopay_soap.reconcile.run.EXIT_DIFFERENCES`,
:data:`~autopay_soap.reconcile.run.EXIT_INCOMPLETE`, 2 for a setting, 6 while a charge run holds
a SQLite journal, 8 when the PostgreSQL journal cannot be reached, or 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, Optional

MOSCOW = dt.timezone(dt.timedelta(hours=3), "MSK")
"""The gateway's zone (no import of the gateways: ``--help`` stays light)."""

__all__ = ["add_parser", "parse_moment"]

EXIT_CONFIG = 2
EXIT_JOURNAL_BUSY = 6
EXIT_JOURNAL_UNAVAILABLE = 8
EXIT_INTERRUPTED = 130


def parse_moment(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` (midnight, Moscow time: the gateway's zone) or an ISO 8601 date and time
    (Moscow time unless it names its zone)."""
    try:
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)


def _say(text: str) -> None:
    print(f"autopay-soap: {text}", file=sys.stderr, flush=True)


def _client(args: argparse.Namespace) -> Any:
    from ..client import AutopayClient

    settings = {k: v for k, v in (("transport", args.transport), ("sandbox_url", args.sandbox_url)) if v}
    return AutopayClient.from_profile(args.profile, **settings)


def run_command(args: argparse.Namespace) -> int:
    """The command's body (see the module docstring)."""
    from ..batch.journal import JournalBusy, JournalUnavailable, is_url, open_journal
    from ..errors import AutopayError
    from .report import ReportWriter, check_report_path
    from .run import reconcile

    if not args.since < args.until:
        _say("--from must be before --to")
        return EXIT_CONFIG
    if not is_url(args.journal) and not Path(args.journal).is_file():
        _say(f"journal: {args.journal} does not exist; give the journal the charge runs wrote")
        return EXIT_CONFIG
    writer: Optional[ReportWriter] = None
    try:
        if args.report:
            check_report_path(args.report)
        with _client(args) as client, open_journal(args.journal, runner_lock=not is_url(args.journal)) as journal:
            writer = ReportWriter(args.report) if args.report else None
            summary = reconcile(client, journal, args.since, args.until, report=writer,
                                lookups_per_second=args.rate, ignore=args.ignore)
    except JournalBusy as exc:
        _say(f"{exc}; reconcile once the charge run has ended")
        return EXIT_JOURNAL_BUSY
    except KeyboardInterrupt:
        _say("interrupted: the report holds the differences found so far, and each row settled is settled whole; "
             "run the same command again")
        return EXIT_INTERRUPTED
    except sqlite3.DatabaseError as exc:
        _say(f"journal: {args.journal} cannot be read as a journal ({exc})")
        return EXIT_CONFIG
    except JournalUnavailable as exc:
        _say(f"{exc}; nothing more was changed. Run again once the database is back")
        return EXIT_JOURNAL_UNAVAILABLE
    except (AutopayError, ValueError, RuntimeError) as exc:
        _say(str(exc))
        return EXIT_CONFIG
    finally:
        if writer is not None:
            writer.close()
    result = summary.as_dict()
    result["report"] = args.report
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return summary.exit_code


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of look-ups per second, above 0 and at most 1000")
    return value


def add_parser(sub: Any) -> None:
    """Add ``reconcile`` to the ``autopay-soap`` sub-commands."""
    command = sub.add_parser(
        "reconcile", help="compare a journal with the gateway's own records for a window (report the differences)",
        description="Compare the journal's rows with the gateway's orders of [--from, --to): charges the journal "
                    "does not know, paid rows the gateway does not show paid, amounts that differ, refunds and "
                    "reversals since the last report. Rows of unknown outcome are settled by the gateway's answer "
                    "(the only journal change). Exit 0: no difference; 10: differences; 11: the gateway's list "
                    "could not be read in full; 2: settings; 6: a charge run holds the journal.")
    command.add_argument("--journal", required=True, help="the SQLite journal file, or a postgresql:// URL "
                                                           "(a merchant's batches together)")
    command.add_argument("--from", dest="since", type=parse_moment, required=True, metavar="DATE",
                         help="start of the window: YYYY-MM-DD (00:00 Moscow time) or an ISO date and time")
    command.add_argument("--to", dest="until", type=parse_moment, required=True, metavar="DATE",
                         help="end of the window, not included (same forms)")
    command.add_argument("--report", default=None, metavar="FILE", help="write the differences (.csv or .jsonl)")
    command.add_argument("--profile", default=None, help="gateway profile (or AUTOPAY_PROFILE)")
    command.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    command.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    command.add_argument("--rate", type=_rate, default=5.0,
                         help="order look-ups per second (T-Bank's CheckOrder, rows the list did not show); default 5")
    command.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                         help="order numbers another system makes (the website's first payments), e.g. 'WEB-*'; "
                              "may be given more than once")
    command.set_defaults(func=run_command)
