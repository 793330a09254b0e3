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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``autopay-soap`` (no heavy imports)."""
    parser = argparse.ArgumentParser(
        prog="autopay-soap",
        description="Autopayments through RBS (SOAP/REST) and T-Bank, with an offline sandbox.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wsdl = sub.add_parser("wsdl", help="show the bundled MerchantService WSDL and its operations")
    wsdl.set_defaults(func=_cmd_wsdl)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``autopay-soap`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
