"""The ``autopay-soap`` command.

Sub-commands import what they need when they run, so ``autopay-soap --help`` stays fast
and never imports zeep.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

__all__ = ["main"]


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
    text = text.strip().lower()
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    return float(text)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import FaultPlan, Sandbox

    faults = FaultPlan.parse(args.faults, seed=args.seed) if args.faults else None
    sandbox = Sandbox(args.host, args.port, username=args.username, password=args.password,
                      latency=args.latency, faults=faults, callback_url=args.callback_url,
                      callback_secret=args.callback_secret, allow_remote=args.allow_remote,
                      tbank_repeated_order_ids=args.tbank_repeated_order_ids)
    sandbox.start()
    print(f"sandbox listening on {sandbox.url}", flush=True)
    print(f"  SOAP  {sandbox.soap_url}  (WSDL: {sandbox.wsdl_url})", flush=True)
    print(f"  REST  {sandbox.rest_url}<method>.do", flush=True)
    print(f"  login {sandbox.username} / (password as configured)", flush=True)
    print(f"  dashboard {sandbox.url}/_sandbox/", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo_main

    return demo_main(args.transport, verbose=args.verbose)


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
        print(f"autopay-soap: {exc}", file=sys.stderr)
        return 1
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
    return 0


def _cmd_charge(args: argparse.Namespace) -> int:
    import functools
    import json as _json
    import os

    from .batch import (
        EXIT_INVALID_INPUT,
        EXIT_JOURNAL_BUSY,
        EXIT_UNKNOWN,
        BatchInputError,
        BatchRunner,
        BatchWorkerError,
        JournalBusy,
    )
    from .client import AutopayClient
    from .errors import AutopayError
    from .retry import RetryPolicy

    settings = {k: v for k, v in (("transport", args.transport), ("sandbox_url", args.sandbox_url)) if v}
    return_url = args.return_url or os.environ.get("AUTOPAY_RETURN_URL")
    profile = args.profile or os.environ.get("AUTOPAY_PROFILE")
    if not return_url and profile == "sandbox":
        return_url = (args.sandbox_url or os.environ.get("AUTOPAY_SANDBOX_URL") or "http://127.0.0.1:8089") \
            + "/_sandbox/return"

    # a partial, not a closure: worker processes (--processes) must be able to unpickle it
    client_factory = functools.partial(AutopayClient.from_profile, profile, return_url=return_url,
                                       retry=RetryPolicy(attempts=args.attempts), **settings)

    if not args.dry_run:
        try:
            client_factory().close()  # settings problems surface before anything starts
        except AutopayError as exc:
            print(f"autopay-soap: {exc}", file=sys.stderr)
            return 2
    try:
        runner = BatchRunner(client_factory, args.journal or args.file + ".journal.sqlite",
                             concurrency=args.concurrency, rate_limit=args.rate or None, processes=args.processes)
    except AutopayError as exc:
        print(f"autopay-soap: {exc}", file=sys.stderr)
        return 2
    try:
        summary = runner.run(args.file, dry_run=args.dry_run, report=args.report)
    except BatchInputError as exc:
        print(f"autopay-soap: {exc}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except JournalBusy as exc:
        print(f"autopay-soap: {exc}; nothing was charged", file=sys.stderr)
        return EXIT_JOURNAL_BUSY
    except BatchWorkerError as exc:
        print(f"autopay-soap: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    print(_json.dumps(summary.as_dict()), flush=True)
    return summary.exit_code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``autopay-soap`` (no heavy imports)."""
    parser = argparse.ArgumentParser(
        prog="autopay-soap",
        description="Autopayments through RBS (SOAP/REST) and T-Bank, with an offline sandbox.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wsdl = sub.add_parser("wsdl", help="show the bundled MerchantService WSDL and its operations")
    wsdl.set_defaults(func=_cmd_wsdl)

    sandbox = sub.add_parser("sandbox", help="run the offline gateway emulator (SOAP, REST, payer's page)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8089, help="port (default 8089; 0 picks a free one)")
    sandbox.add_argument("--allow-remote", action="store_true",
                         help="allow a non-loopback --host (the sandbox is for offline use)")
    sandbox.add_argument("--latency", type=_duration, default=0.0, help="added to every answer, e.g. 20ms")
    sandbox.add_argument("--faults", default="", help="fault plan, e.g. 'paymentOrderBinding:drop_after=0.3'")
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    sandbox.add_argument("--username", default="sandbox-api", help="merchant API login")
    sandbox.add_argument("--password", default="sandbox-password", help="merchant API password")
    sandbox.add_argument("--callback-url", default=None, help="where to send callbacks")
    sandbox.add_argument("--callback-secret", default=None, help="HMAC-SHA256 key for callback checksums")
    sandbox.add_argument("--tbank-repeated-order-ids", action="store_true",
                         help="T-Bank Init accepts an OrderId already used (refusing it is undocumented); test that "
                              "your client never relies on the refusal")
    sandbox.set_defaults(func=_cmd_sandbox)

    demo = sub.add_parser("demo", help="run first payments and autopayments against the embedded sandbox")
    demo.add_argument("--transport", choices=["soap", "rest", "tbank", "all"], default="all",
                      help="which transport to show (default: all three)")
    demo.add_argument("--verbose", action="store_true", help="print envelopes and bodies, secrets masked")
    demo.set_defaults(func=_cmd_demo)

    charge = sub.add_parser("charge", help="charge a CSV or JSON Lines file of autopayments, exactly once")
    charge.add_argument("file", help="CSV or JSON Lines (.jsonl): order_number, client_id, binding_id, amount...")
    charge.add_argument("--journal", help="SQLite journal (default FILE.journal.sqlite); reuse it to resume")
    charge.add_argument("--report", help="write one row per input row (.csv or .jsonl)")
    charge.add_argument("--profile", default=None, help="gateway profile (or AUTOPAY_PROFILE)")
    charge.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    charge.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    charge.add_argument("--return-url", default=None, help="returnUrl of the registrations (or AUTOPAY_RETURN_URL)")
    charge.add_argument("--concurrency", type=int, default=8, help="charges in flight (default 8)")
    charge.add_argument("--rate", type=float, default=0, help="charges started per second at most (default: no limit)")
    charge.add_argument("--processes", type=int, default=1,
                        help="worker processes sharing the concurrency (default 1); more when one CPU is the limit")
    charge.add_argument("--attempts", type=int, default=6, help="attempts per step before 'unknown' (default 6)")
    charge.add_argument("--dry-run", action="store_true", help="validate the file and stop")
    charge.set_defaults(func=_cmd_charge)

    status = sub.add_parser("status", help="look an order up by gateway id or by order number")
    status.add_argument("order", metavar="ORDER_ID_OR_NUMBER")
    status.add_argument("--profile", default=None, help="gateway profile (or AUTOPAY_PROFILE)")
    status.add_argument("--transport", choices=["soap", "rest", "tbank"], default=None, help="default: soap")
    status.add_argument("--sandbox-url", default=None, help="base URL of a running sandbox (profile sandbox)")
    status.add_argument("--by-number", action="store_true", help="treat the argument as an order number")
    status.set_defaults(func=_cmd_status)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``autopay-soap`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
