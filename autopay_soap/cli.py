"""The ``autopay-soap`` command.

Sub-commands import what they need when they run, so ``autopay-soap --help`` stays fast
and never imports zeep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["main", "sandbox_banner"]


def _cmd_wsdl(args: argparse.Namespace) -> int:
    from .gateways.rbs_soap import RbsSoapGateway
    from .wsdl_bundle import wsdl_path

    print(f"bundled WSDL: {wsdl_path()}")
    gateway = RbsSoapGateway("https://offline.invalid/payment/webservices/merchant-ws", "offline", "offline")
    for name in gateway.operations():
        print(f"  {name}")
    gateway.close()
    return 0


def _duration(text: str) -> float:
    """``20ms``, ``1.5s`` or ``0.02`` (seconds) to seconds."""
    given = text
    text = text.strip().lower()
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 0.001
    elif text.endswith("s"):
        text = text[:-1]
    try:
        value = float(text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{given!r} is not a duration: use 20ms, 1.5s or 0.02") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{given!r}: must be 0 or more")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import FaultPlan, Sandbox

    faults = FaultPlan.parse(args.faults, seed=args.seed) if args.faults else None
    if args.state and not os.path.isdir(os.path.dirname(os.path.abspath(args.state))):
        print(f"autopay-soap: --state: the folder of {args.state} does not exist", file=sys.stderr)
        return 2
    try:
        sandbox = Sandbox(args.host, args.port, username=args.username, password=args.password,
                          latency=args.latency, faults=faults, callback_url=args.callback_url,
                          callback_secret=args.callback_secret, allow_remote=args.allow_remote,
                          tbank_repeated_order_ids=args.tbank_repeated_order_ids, state=args.state,
                          receipts_required=args.receipts_required, rbs_tii=args.rbs_tii)
    except ValueError as exc:  # a state file the sandbox did not write (or one edited by hand)
        print(f"autopay-soap: --state: {exc}", file=sys.stderr)
        return 2
    try:
        sandbox.start()
    except OSError as exc:
        print(f"autopay-soap: cannot listen on {args.host}:{args.port}: {exc.strerror or exc} (another sandbox "
              "running? choose another --port, or 0 for any free one)", file=sys.stderr)
        return 2
    for line in sandbox_banner(sandbox, default_password=args.password == "sandbox-password"):
        print(line, flush=True)
    if not args.quiet:
        _show_access_log()
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def _show_access_log() -> None:
    """The sandbox's access log on stderr: this command is an application, so it may set up its
    own logging (the library never does)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access = logging.getLogger("autopay_soap.sandbox.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def sandbox_banner(sandbox: Any, *, default_password: bool) -> List[str]:
    """What ``autopay-soap sandbox`` prints: every endpoint and the credentials to use."""
    password = sandbox.password if default_password else "(as given with --password)"
    return [
        f"sandbox listening on {sandbox.url}",
        f"  RBS SOAP   {sandbox.soap_url}  (WSDL: {sandbox.wsdl_url})",
        f"  RBS REST   {sandbox.rest_url}<method>.do",
        f"             userName {sandbox.username}  password {password}",
        f"  T-Bank     {sandbox.tbank_url}<Method>",
        f"             TerminalKey {sandbox.tbank_terminal_key}  password {password}",
        f"  payer      POST {sandbox.url}/_sandbox/pay  {{\"form_url\": ..., \"card\": \"SUCCESS\"}}",
        f"  ledger     {sandbox.url}/_sandbox/ledger   order: {sandbox.url}/_sandbox/orders/<orderId>",
        f"  dashboard  {sandbox.url}/_sandbox/",
    ]


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main(args.transport, verbose=args.verbose)


STATUS_FOUND, STATUS_SETTING, STATUS_NOT_FOUND, STATUS_UNREACHABLE, STATUS_REFUSED = 0, 2, 3, 4, 5

_STATUS_EPILOG = """\
exit codes:
  0    the order was found (printed)
  2    a setting is wrong: profile, credentials refused, TLS trust, option
  3    the gateway has no such order
  4    the gateway could not be asked, or its answer read: try again later
  5    the gateway refused the look-up for another reason (its message is printed)
with --json, stdout holds one JSON object either way: the order, or {"error": KIND,
"message": TEXT} with KIND one of setting, not_found, unreachable, refused.
"""


def _status_failure(exc: Exception) -> Tuple[int, str]:
    """The exit code and JSON kind of a failed look-up."""
    from .errors import (
        AuthenticationError,
        ConfigurationError,
        OrderNotFound,
        TLSError,
        TransportError,
        ValidationError,
    )

    if isinstance(exc, OrderNotFound):
        return STATUS_NOT_FOUND, "not_found"
    if isinstance(exc, (ConfigurationError, AuthenticationError, ValidationError, TLSError)):
        return STATUS_SETTING, "setting"
    if isinstance(exc, TransportError):
        return STATUS_UNREACHABLE, "unreachable"
    return STATUS_REFUSED, "refused"


def _money(value: Any) -> Any:
    return None if value is None else {"minor": value.minor, "currency": value.currency.alpha}


def order_json(details: Any) -> Dict[str, Any]:
    """An order as ``autopay-soap status --json`` prints it (amounts in minor units; no card
    number beyond the gateway's own mask)."""
    return {
        "order_number": details.order_number, "order_id": details.order_id, "status": int(details.status),
        "status_name": details.status.name, "gateway_status": details.gateway_status,
        "amount": _money(details.amount), "approved": _money(details.approved),
        "deposited": _money(details.deposited), "refunded": _money(details.refunded),
        "action_code": details.action_code, "action_code_description": details.action_code_description,
        "masked_pan": details.card.masked_pan if details.card else None,
        "binding_id": details.binding.binding_id if details.binding else None,
        "client_id": details.binding.client_id if details.binding else None,
    }


def _cmd_status(args: argparse.Namespace) -> int:
    from .client import AutopayClient
    from .errors import AutopayError

    settings = {k: v for k, v in (("transport", args.transport), ("sandbox_url", args.sandbox_url)) if v}
    try:
        with AutopayClient.from_profile(args.profile, **settings) as client:
            uuid_like = len(args.order) == 36 and args.order.count("-") == 4
            payment_id_like = client.gateway.name == "tbank" and args.order.isdigit()  # T-Bank PaymentId
            by_id = (uuid_like or payment_id_like) and not args.by_number
            details = client.status(order_id=args.order) if by_id else client.status(order_number=args.order)
    except AutopayError as exc:
        code, kind = _status_failure(exc)
        if args.json:
            print(json.dumps({"error": kind, "message": str(exc)}, ensure_ascii=False))
        print(f"autopay-soap: {exc}", file=sys.stderr)
        return code
    if args.json:
        print(json.dumps(order_json(details), ensure_ascii=False))
        return STATUS_FOUND
    _print_order(details)
    return STATUS_FOUND


def _print_order(details: Any) -> None:
    print(f"order number   {details.order_number}")
    print(f"order id       {details.order_id}")
    print(f"status         {int(details.status)} {details.status.name}"
          + (f" (gateway: {details.gateway_status})" if details.gateway_status else ""))
    print(f"amount         {details.amount}")
    for label, value in (("approved", details.approved), ("deposited", details.deposited),
                         ("refunded", details.refunded)):
        print(f"{label:<15}{value}")
    if details.action_code is not None:
        print(f"action code    {details.action_code} {details.action_code_description or ''}".rstrip())
    if details.card:
        print(f"card           {details.card.masked_pan} exp {details.card.expiration}")
    if details.binding:
        print(f"binding        {details.binding.binding_id} (client {details.binding.client_id})")


_CHARGE_EPILOG = """\
exit codes:
  0    every row paid (or held)
  2    a setting is wrong (option, credentials, return URL, report path, gateway
       unreachable at the pre-flight): nothing was charged, or the run stopped at
       the first refusal and left those rows to the next run; fix it and run again
  3    some rows declined or refused by the gateway, none unknown
  4    some rows unknown or not started: run again later with the same journal
  5    the file is missing or has bad rows: nothing was charged
  6    another runner holds the journal: nothing was charged
  7    some rows reuse an order number of another charge: not charged, see the report
  8    the journal's PostgreSQL server stayed unreachable (past 60 s of reconnecting): run again once it is back
  130  stopped by SIGINT (Ctrl-C), 143 by SIGTERM: no charge started after the
       signal, those in flight were recorded; a second signal stops at once

environment (an option wins over its variable):
  AUTOPAY_PROFILE, AUTOPAY_TRANSPORT, AUTOPAY_RETURN_URL, AUTOPAY_SANDBOX_URL,
  AUTOPAY_USERNAME, AUTOPAY_PASSWORD, AUTOPAY_TERMINAL_KEY, AUTOPAY_TERMINAL_TYPE,
  AUTOPAY_SOAP_URL, AUTOPAY_REST_URL, AUTOPAY_TBANK_URL, AUTOPAY_NOTIFICATION_URL,
  AUTOPAY_CA_BUNDLE, AUTOPAY_TIMEOUT (read timeout, seconds)
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number above 0")
    return value


def _delimiter(text: str) -> str:
    named = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t"}
    if text not in named:
        raise argparse.ArgumentTypeError(f"{text!r}: use ',', ';' or tab")
    return named[text]


def _say(text: str) -> None:
    print(f"autopay-soap: {text}", file=sys.stderr, flush=True)


def _charge_client_factory(args: argparse.Namespace) -> Any:
    """The runner's client factory from the options and ``AUTOPAY_*`` (a partial: picklable)."""
    import functools

    from .client import AutopayClient
    from .retry import RetryPolicy

    settings = {k: v for k, v in (("transport", args.transport), ("sandbox_url", args.sandbox_url)) if v}
    return_url = args.return_url or os.environ.get("AUTOPAY_RETURN_URL")
    profile = args.profile or os.environ.get("AUTOPAY_PROFILE")
    if not return_url and profile == "sandbox":
        return_url = (args.sandbox_url or os.environ.get("AUTOPAY_SANDBOX_URL") or "http://127.0.0.1:8089") \
            + "/_sandbox/return"
    # a partial, not a closure: worker processes (--processes) must be able to unpickle it
    return functools.partial(AutopayClient.from_profile, profile, return_url=return_url,
                             retry=RetryPolicy(attempts=args.attempts), **settings)


def _charge_refused(exc: BaseException, args: argparse.Namespace) -> int:
    """One line (or the bad rows) for a run that could not start or was cut short; its exit code."""
    from . import batch

    if isinstance(exc, batch.BatchInputError):
        _say(str(exc))
        for error in exc.errors:
            if error.line:
                print(f"  {args.file}, {error}", file=sys.stderr)
        return batch.EXIT_INVALID_INPUT
    if isinstance(exc, batch.BatchConfigError):
        hint = "; give --return-url or set AUTOPAY_RETURN_URL" if exc.setting == "return_url" else ""
        _say(f"{exc}{hint}")
        return batch.EXIT_CONFIG
    if isinstance(exc, batch.JournalBusy):
        _say(f"{exc}; nothing was charged")
        return batch.EXIT_JOURNAL_BUSY
    if isinstance(exc, batch.JournalUnavailable):
        _say(f"{exc}; no new charge was started after that. Run the same command again once the database is "
             "back: rows in flight are reconciled by order number, nothing is charged twice")
        return batch.EXIT_JOURNAL_UNAVAILABLE
    if isinstance(exc, batch.BatchWorkerError):
        _say(str(exc))
        return batch.EXIT_UNKNOWN
    if isinstance(exc, batch.BatchAborted):
        _say(f"{exc}; charges that were in flight are reconciled by the next run with the same journal")
        return 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):  # during the pre-flight: nothing was charged
        _say("interrupted before the first charge; nothing was charged")
        return batch.EXIT_INTERRUPTED
    _say(str(exc))  # the runner's own ValidationError (options) and the like
    return batch.EXIT_CONFIG


def _charge_runner(args: argparse.Namespace, local: Any) -> Any:
    """The local runner, or with ``--celery`` the producer of a cluster run (the celery extra)."""
    settings = dict(concurrency=args.concurrency, rate_limit=args.rate, processes=args.processes, quiet=args.quiet,
                    delimiter=args.delimiter, card_memory=args.card_memory)
    journal = args.journal or args.file + ".journal.sqlite"
    if not args.celery:
        return local(_charge_client_factory(args), journal, **settings)
    try:
        from .celery import ClusterRunner
    except ImportError:
        from .errors import ConfigurationError

        raise ConfigurationError('--celery needs the celery extra: pip install ".[celery]" from a checkout, or a '
                                 'built wheel with [celery] (docs/installation.rst)') from None
    return ClusterRunner(_charge_client_factory(args), journal, broker=args.celery, resend_after=args.resend_after,
                         **settings)


def _cmd_charge(args: argparse.Namespace) -> int:
    import json as _json

    from .batch import BatchRunner, JournalBusy, JournalUnavailable
    from .errors import AutopayError

    if args.metrics_file and (not Path(args.metrics_file).parent.is_dir() or Path(args.metrics_file).is_dir()):
        _say(f"--metrics-file: {args.metrics_file} must be a file in a folder that exists")
        return 2
    try:
        runner = _charge_runner(args, BatchRunner)
        summary = runner.run(args.file, dry_run=args.dry_run, report=args.report)
    except (AutopayError, JournalBusy, JournalUnavailable, KeyboardInterrupt) as exc:
        return _charge_refused(exc, args)
    if args.metrics_file and not args.dry_run:
        _write_metrics(args.metrics_file, summary)
    if summary.config_error:
        _say(f"stopped: {summary.config_error}; {summary.retry + summary.not_started} row(s) left for the next run "
             "with the same journal")
    elif summary.interrupted:
        _say(f"stopped by {summary.stopped_by}: {summary.not_started} row(s) not started; run again with the same "
             "journal to go on")
    if summary.report_error:
        _say(f"the report could not be written: {summary.report_error}")
    print(_json.dumps(summary.as_dict()), flush=True)
    return summary.exit_code


def _write_metrics(path: str, summary: Any) -> None:
    import time as _time

    from .batch.metrics_file import write_metrics_file

    try:
        write_metrics_file(path, summary, finished_at=_time.time())
    except OSError as exc:  # the run is done and recorded: say so, keep its exit code
        _say(f"the metrics file {path} could not be written: {exc.strerror or exc}")


def _cmd_dunning(args: argparse.Namespace) -> int:
    import json as _json
    import time as _time

    from .batch import EXIT_CONFIG, EXIT_INVALID_INPUT, EXIT_JOURNAL_BUSY, JournalBusy
    from .batch.dunning import create_rebind_links, parse_due, plan_dunning
    from .batch.journal import is_url, open_journal
    from .batch.report import iso_time
    from .errors import AutopayError

    try:
        due = parse_due(args.due, _time.time())
    except ValueError as exc:
        _say(str(exc))
        return EXIT_CONFIG
    missing = [name for name in args.files if not Path(name).is_file()]
    if missing:
        _say(f"{missing[0]} does not exist (give the input files of the runs that used this journal)")
        return EXIT_INVALID_INPUT
    if not is_url(args.journal) and not Path(args.journal).is_file():
        _say(f"journal: {args.journal} does not exist; give the journal the charge runs wrote")
        return EXIT_CONFIG
    try:
        with open_journal(args.journal) as journal:
            plan = plan_dunning(args.files, journal, due=due, now=_time.time(), include_merchant=args.include_merchant,
                                delimiter=args.delimiter)
    except JournalBusy as exc:
        _say(f"{exc}; wait for the charge run to end")
        return EXIT_JOURNAL_BUSY
    except ValueError as exc:
        _say(str(exc))
        return EXIT_INVALID_INPUT
    if plan.retries:
        plan.write(args.output)
    else:
        _say(f"no retry is due at {iso_time(due)}; {args.output} was not written")
    links = None
    if args.rebind_links and plan.rebind:
        try:
            with _charge_client_factory(args)() as client:
                links = create_rebind_links(plan, client, args.rebind_links)
        except AutopayError as exc:
            _say(f"the first-payment links could not be made: {exc}")
            return EXIT_CONFIG
    summary = {"due": iso_time(due), **plan.counts(), "next_due": iso_time(plan.next_due()),
               "output": args.output if plan.retries else None, "rebind_links": links}
    print(_json.dumps(summary), flush=True)
    return 0


def _version() -> str:
    from . import __version__

    return __version__


def _add_sandbox(sub: Any) -> None:
    """``autopay-soap sandbox``."""
    sandbox = sub.add_parser("sandbox", help="run the offline gateway emulator (SOAP, REST, payer's page)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=_port, default=8089, help="port (default 8089; 0 picks a free one)")
    sandbox.add_argument("--allow-remote", action="store_true",
                         help="allow a non-loopback --host (the sandbox is for offline use)")
    sandbox.add_argument("--latency", type=_duration, default=0.0, help="added to every answer, e.g. 20ms")
    sandbox.add_argument("--faults", default="", help="fault plan, e.g. 'paymentOrderBinding:drop_after=0.3'")
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    sandbox.add_argument("--username", default="sandbox-api", help="merchant API login")
    sandbox.add_argument("--password", default="sandbox-password", help="merchant API password")
    sandbox.add_argument("--callback-url", default=None, help="where to send callbacks")
    sandbox.add_argument("--callback-secret", default=None, help="HMAC-SHA256 key for callback checksums")
    sandbox.add_argument("--state", default=None, metavar="FILE",
                         help="keep orders, bindings, the ledger and pending notifications in this SQLite file, "
                              "written before each answer, so that a restart loses nothing (default: in memory)")
    sandbox.add_argument("--tbank-repeated-order-ids", action="store_true",
                         help="T-Bank Init accepts an OrderId already used (refusing it is undocumented); test that "
                              "your client never relies on the refusal")
    sandbox.add_argument("--receipts-required", action="store_true",
                         help="the terminals fiscalise (54-FZ): a payment without a receipt, or with one that does "
                              "not add up, is refused as the gateways refuse it")
    sandbox.add_argument("--rbs-tii", choices=["optional", "required", "absent"], default="optional",
                         help="RBS REST paymentOrderBinding's tii: recorded when valid (default), required (BPC's "
                              "newer platform) or refused (an older generation)")
    sandbox.add_argument("--quiet", action="store_true",
                         help="no access log (by default one line per request on stderr, secrets masked)")
    sandbox.set_defaults(func=_cmd_sandbox)


def _add_demo(sub: Any) -> None:
    """``autopay-soap demo``."""
    demo = sub.add_parser("demo", help="run first payments and autopayments against the embedded sandbox")
    demo.add_argument("--transport", choices=["soap", "rest", "tbank", "all"], default="all",
                      help="which transport to show (default: all three)")
    demo.add_argument("--verbose", action="store_true", help="print envelopes and bodies, secrets masked")
    demo.set_defaults(func=_cmd_demo)


def _add_charge(sub: Any) -> None:
    """``autopay-soap charge``."""
    charge = sub.add_parser("charge", help="charge a CSV or JSON Lines file of autopayments, exactly once",
                            description="Charge a file of autopayments exactly once. A pre-flight checks every "
                                        "row, every setting and the credentials before the first charge.",
                            epilog=_CHARGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    charge.add_argument("file", help="CSV (',' ';' or tab; UTF-8) or JSON Lines (.jsonl): order_number, client_id, "
                                     "binding_id, amount...")
    charge.add_argument("--journal", help="SQLite journal (default FILE.journal.sqlite; its folder must exist), or "
                                          "postgresql://...?merchant=M&batch=B; reuse it to resume")
    charge.add_argument("--report", help="write one row per input row (.csv or .jsonl); checked before charging")
    charge.add_argument("--profile", default=None, help="gateway profile (or AUTOPAY_PROFILE)")
    charge.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    charge.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    charge.add_argument("--return-url", default=None, help="returnUrl of the registrations (or AUTOPAY_RETURN_URL)")
    charge.add_argument("--concurrency", type=_positive_int, default=8, help="charges in flight (default 8)")
    charge.add_argument("--rate", type=_positive_number, default=None,
                        help="charges started per second at most (default: no limit)")
    charge.add_argument("--processes", type=_positive_int, default=1,
                        help="worker processes sharing the concurrency (default 1); more when one CPU is the limit")
    charge.add_argument("--card-memory", metavar="PATH", default=None,
                        help="the merchant's hard-decline memory, kept across files and journals (default "
                             "$AUTOPAY_STATE_DIR/hard-declines.sqlite, ~/.local/state/autopay_soap/...)")
    charge.add_argument("--celery", metavar="BROKER_URL", default=None,
                        help="charge on Celery workers through this broker; needs a postgresql:// journal, the "
                             "workers' (docs: Running on a cluster)")
    charge.add_argument("--resend-after", type=_positive_number, default=120.0, metavar="SECONDS",
                        help="with --celery: send the tasks of rows still pending again after this long without "
                             "progress (a broker that lost them; default 120)")
    charge.add_argument("--attempts", type=_positive_int, default=6,
                        help="attempts per step before 'unknown' (default 6)")
    charge.add_argument("--delimiter", type=_delimiter, default=None,
                        help="CSV separator: ',', ';' or tab (default: found from the header line)")
    charge.add_argument("--quiet", action="store_true", help="no progress display")
    charge.add_argument("--metrics-file", metavar="FILE", default=None,
                        help="write the run's counters for the node exporter's textfile collector (FILE.prom)")
    charge.add_argument("--dry-run", action="store_true",
                        help="run the pre-flight (rows, settings, credentials) and stop; nothing is charged")
    charge.set_defaults(func=_cmd_charge)


_DUNNING_EPILOG = """\
the loop (docs: Declines and retries):
  autopay-soap charge subs.csv --journal subs.db                    # the night's charges
  autopay-soap dunning subs.csv retries-*.csv --journal subs.db --output retries-$(date +%F).csv
  autopay-soap charge retries-$(date +%F).csv --journal subs.db     # the retries due today

exit codes: 0 planned (the JSON line says how many), 2 a setting (journal, --due), 5 an input
file is missing or bad, 6 a charge run holds the journal
"""


def _add_dunning(sub: Any) -> None:
    """``autopay-soap dunning``."""
    dunning = sub.add_parser("dunning", help="write the retries of declined autopayments that are due",
                             description="Read the input files of earlier charge runs and their journal; write "
                                         "a batch file of the retries due (soft declines, by the retry schedule), "
                                         "each numbered from its first order number.",
                             epilog=_DUNNING_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    dunning.add_argument("files", nargs="+", metavar="FILE",
                         help="the input files of the runs that used the journal (earlier retry files too)")
    dunning.add_argument("--journal", required=True,
                         help="the journal the charge runs wrote (SQLite path or postgresql://...)")
    dunning.add_argument("--output", required=True, help="the retry file to write (.csv or .jsonl)")
    dunning.add_argument("--due", default=None, metavar="DATE",
                         help="retries due by then: YYYY-MM-DD (the end of that UTC day) or an ISO 8601 time "
                              "(default: now)")
    dunning.add_argument("--include-merchant", action="store_true",
                         help="also retry the charges refused for the merchant's own settings (after fixing them)")
    dunning.add_argument("--rebind-links", metavar="FILE", default=None,
                         help="for rebind declines, register the first payment that binds a new card and write "
                              "the links to send the customers (needs the gateway settings below)")
    dunning.add_argument("--profile", default=None, help="gateway profile, for --rebind-links (or AUTOPAY_PROFILE)")
    dunning.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    dunning.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    dunning.add_argument("--return-url", default=None, help="returnUrl of the first payments")
    dunning.add_argument("--attempts", type=_positive_int, default=6, help=argparse.SUPPRESS)
    dunning.add_argument("--delimiter", type=_delimiter, default=None,
                         help="CSV separator of the input files (default: found from the header line)")
    dunning.set_defaults(func=_cmd_dunning)


def _amount(text: str) -> Any:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount such as 1.00") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError(f"{text!r}: an amount above 0 in kopecks at most (1.00, 250.50)")
    return value


def _prefix(text: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,19}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: letters, digits and '-', at most 20")
    return text


def _cmd_sandbox_bindings(args: argparse.Namespace) -> int:
    from .sandbox_bindings import main as bindings_main

    return bindings_main(args.sandbox_url, args.count, args.out, transport=args.transport, amount=args.amount,
                         prefix=args.prefix, say=_say)


def _add_sandbox_bindings(sub: Any) -> None:
    """``autopay-soap sandbox-bindings``."""
    command = sub.add_parser("sandbox-bindings", help="make saved cards on a running sandbox and a batch file "
                                                      "that charges them")
    command.add_argument("--count", type=_positive_int, required=True, help="how many bindings (customers)")
    command.add_argument("--out", required=True, metavar="FILE", help="the batch CSV to write (never overwritten)")
    command.add_argument("--sandbox-url", default=None,
                         help="base URL of the running sandbox (or AUTOPAY_SANDBOX_URL; default http://127.0.0.1:8089)")
    command.add_argument("--transport", choices=["soap", "rest", "tbank"], default="soap", help="default: soap")
    command.add_argument("--amount", type=_amount, default=_amount("1.00"), help="each row's amount (default 1.00)")
    command.add_argument("--prefix", type=_prefix, default="SANDBOX", help="order numbers PREFIX-1, PREFIX-2...")
    command.set_defaults(func=_cmd_sandbox_bindings)


def _add_status(sub: Any) -> None:
    """``autopay-soap status``."""
    status = sub.add_parser("status", help="look an order up by gateway id or by order number",
                            epilog=_STATUS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("order", metavar="ORDER_ID_OR_NUMBER")
    status.add_argument("--profile", default=None, help="gateway profile (or AUTOPAY_PROFILE)")
    status.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    status.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    status.add_argument("--by-number", action="store_true", help="treat the argument as an order number")
    status.add_argument("--json", action="store_true", help="print one JSON object (the order, or the error)")
    status.set_defaults(func=_cmd_status)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``autopay-soap`` (no heavy imports)."""
    parser = argparse.ArgumentParser(
        prog="autopay-soap",
        description="Autopayments through RBS (SOAP/REST) and T-Bank, with an offline sandbox.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wsdl = sub.add_parser("wsdl", help="show the bundled MerchantService WSDL and its operations")
    wsdl.set_defaults(func=_cmd_wsdl)
    from .expiring.command import add_parser as _add_expiring
    from .reconcile.command import add_parser as _add_reconcile

    for add in (_add_sandbox, _add_sandbox_bindings, _add_demo, _add_charge, _add_dunning, _add_status,
                _add_reconcile, _add_expiring):
        add(sub)
    for command_parser in sub.choices.values():  # unknown options are refused with the command's own usage
        command_parser.set_defaults(command_parser=command_parser)
    return parser


_SECRET_OPTIONS = {"--password": "AUTOPAY_PASSWORD", "--username": "AUTOPAY_USERNAME",
                   "--terminal-password": "AUTOPAY_PASSWORD"}


def _refuse_unknown(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: List[str]) -> None:
    """Unknown options are refused with the sub-command's own usage; a credential given as an
    option is pointed to its environment variable (an option shows in ``ps`` and in the history)."""
    command_parser = getattr(args, "command_parser", None) or parser
    for option in extra:
        name = option.split("=", 1)[0]
        if name in _SECRET_OPTIONS:
            command_parser.error(f"{name}: credentials are not options (they would show in ps and in the shell "
                                 f"history): set {_SECRET_OPTIONS[name]} in the environment")
    command_parser.error(f"unrecognized arguments: {' '.join(extra)}")


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``autopay-soap`` console script.

    A reader that goes away (``autopay-soap wsdl | head``) ends the command quietly with exit
    141, as a Unix tool killed by SIGPIPE does, instead of a ``BrokenPipeError`` traceback.
    """
    try:
        return _run(argv)
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
        except (OSError, ValueError):
            pass
        return 128 + 13  # SIGPIPE


def _run(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _refuse_unknown(parser, args, extra)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ValueError as exc:  # bad option values, ValidationError included
        print(f"autopay-soap: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
