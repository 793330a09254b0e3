"""``autopay-soap bindings expiring --before DATE --clients FILE``: the cards to renew, as CSV or JSON.

Exit codes: 0 the report was written (cards listed or not; clients whose bindings could not be
read are in it, and in the summary on stderr); 2 a bad option or date; 3 an unreadable
schedule file; 4 the gateway refused the credentials or could not be reached for every client.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run_command"]

EXIT_CONFIG = 2
EXIT_INVALID_INPUT = 3
EXIT_GATEWAY = 4


def _say(text: str) -> None:
    print(f"autopay-soap: {text}", file=sys.stderr, flush=True)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_parser(sub: Any) -> None:
    """``autopay-soap bindings expiring``."""
    bindings = sub.add_parser("bindings", help="saved cards: the ones to renew before they expire")
    inner = bindings.add_subparsers(dest="bindings_command", metavar="SUBCOMMAND", required=True)
    expiring = inner.add_parser("expiring", help="list the cards that expire before a date or before the client's "
                                                 "next charge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    expiring.add_argument("--before", type=_date, required=True, metavar="YYYY-MM-DD",
                          help="list cards that cannot be charged on this day")
    expiring.add_argument("--clients", required=True, metavar="FILE",
                          help="CSV with client_id and, optionally, next_charge (YYYY-MM-DD)")
    expiring.add_argument("--format", choices=["csv", "json"], default="csv")
    expiring.add_argument("--output", default=None, metavar="FILE", help="write here (default: standard output)")
    expiring.add_argument("--save-card-links", action="store_true",
                          help="start a card save for each client listed and put its link in the report")
    expiring.add_argument("--return-url", default=None, help="where the save-card page sends the customer back")
    expiring.add_argument("--profile", default=None, help="gateway profile (or AUTOPAY_PROFILE)")
    expiring.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    expiring.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    expiring.add_argument("--delimiter", default=",", help="the schedule's column delimiter")
    expiring.set_defaults(func=run_command, command_parser=expiring)


def run_command(args: argparse.Namespace) -> int:
    """The command's body (see the module docstring)."""
    from ..client import AutopayClient
    from ..errors import AutopayError, ConfigurationError, ValidationError
    from .report import find_expiring, read_schedule, render, save_card_links

    try:
        schedule = read_schedule(args.clients, delimiter=args.delimiter)
    except FileNotFoundError:
        _say(f"{args.clients} does not exist")
        return EXIT_INVALID_INPUT
    except (ValidationError, UnicodeDecodeError, OSError) as exc:
        _say(f"the schedule cannot be read: {exc}")
        return EXIT_INVALID_INPUT
    settings = {k: v for k, v in (("transport", args.transport), ("sandbox_url", args.sandbox_url)) if v}
    return_url = args.return_url or os.environ.get("AUTOPAY_RETURN_URL")
    if not return_url and (args.profile or os.environ.get("AUTOPAY_PROFILE")) == "sandbox":
        return_url = (args.sandbox_url or os.environ.get("AUTOPAY_SANDBOX_URL") or "http://127.0.0.1:8089") \
            + "/_sandbox/return"
    if args.save_card_links and not return_url:
        _say("--save-card-links needs --return-url (or AUTOPAY_RETURN_URL): where the save-card page sends "
             "the customer back")
        return EXIT_CONFIG
    try:
        with AutopayClient.from_profile(args.profile, return_url=return_url, **settings) as client:
            report = find_expiring(client, schedule, args.before)
            if report.clients and len(report.problems) == report.clients:
                _say(f"no client's bindings could be read: {report.problems[0][1]}")
                return EXIT_GATEWAY
            if args.save_card_links and report.cards:
                save_card_links(report, client, return_url=return_url)
    except ConfigurationError as exc:
        _say(str(exc))
        return EXIT_CONFIG
    except AutopayError as exc:
        _say(f"the gateway: {exc}")
        return EXIT_GATEWAY
    text = render(report, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    _say(f"{len(report.cards)} card(s) to renew among {report.clients} client(s); "
         f"{len(report.problems)} client(s) could not be read")
    return 0
