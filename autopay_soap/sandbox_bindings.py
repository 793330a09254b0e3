"""``autopay-soap sandbox-bindings``: saved cards on a running sandbox, and a batch file for them.

Trying ``autopay-soap charge`` against a sandbox needs bindings first, and a binding needs a
first payment that a payer completes. This does both for ``count`` customers (the payer's part
through the sandbox's payer API, ``POST /_sandbox/pay``, with the test card ``SUCCESS``) and
writes a CSV the batch runner reads as it is::

    autopay-soap sandbox --state sandbox.sqlite          # in another terminal
    autopay-soap sandbox-bindings --count 100 --out batch.csv
    autopay-soap charge batch.csv --profile sandbox

The file has ``order_number,client_id,binding_id,amount``: one autopayment per binding, the
order numbers ``<prefix>-<n>``. Only the sandbox has a payer API, so only a sandbox is asked.
An existing ``--out`` file is never overwritten (a batch file may already have been charged);
the file appears whole or not at all.
"""

from __future__ import annotations

import csv
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

import requests

from .client import AutopayClient
from .errors import AutopayError, ConfigurationError
from .money import Money

__all__ = ["make_bindings", "write_batch"]

DEFAULT_SANDBOX_URL = "http://127.0.0.1:8089"


def make_bindings(sandbox_url: str, count: int, *, transport: str = "soap", client_prefix: str = "sandbox-customer",
                  timeout: float = 30.0, progress: Optional[Callable[[int], None]] = None) -> List[Tuple[str, str]]:
    """``count`` first payments on the sandbox at ``sandbox_url``, each paid by the payer API;
    returns ``(client_id, binding_id)`` pairs. Raises :class:`~autopay_soap.errors.AutopayError`
    when the sandbox cannot be reached or a payment is not completed."""
    base = sandbox_url.rstrip("/")
    made: List[Tuple[str, str]] = []
    with AutopayClient.from_profile("sandbox", sandbox_url=base, transport=transport,
                                    return_url=base + "/_sandbox/return") as client:
        for number in range(1, count + 1):
            client_id = f"{client_prefix}-{number}"
            first = client.start_first_payment(f"{client_prefix}-first-{number}", Money.of("1.00", "RUB"),
                                               client_id, description="a card saved for a sandbox batch")
            try:
                paid = requests.post(base + "/_sandbox/pay", json={"form_url": first.payment_url(), "card": "SUCCESS"},
                                     timeout=timeout)
            except requests.RequestException as exc:
                raise ConfigurationError(f"the sandbox's payer API at {base}/_sandbox/pay did not answer "
                                         f"({type(exc).__name__}); is {base} a sandbox?") from None
            if paid.status_code != 200:
                raise ConfigurationError(f"the sandbox's payer API at {base}/_sandbox/pay answered HTTP "
                                         f"{paid.status_code}; is {base} an autopay-soap sandbox?")
            done = client.finish_first_payment(order_id=first.order_id, client_id=client_id)
            made.append((client_id, done.new_binding().binding_id))
            if progress is not None:
                progress(number)
    return made


def write_batch(path: Union[str, Path], bindings: List[Tuple[str, str]], *, amount: Decimal,
                prefix: str = "SANDBOX") -> None:
    """A batch file of one autopayment of ``amount`` per binding (see the module docstring);
    ``FileExistsError`` if ``path`` exists."""
    target = Path(path)
    if target.exists() or target.is_symlink():
        raise FileExistsError(f"{target} exists: a batch file is never overwritten (it may have been charged)")
    handle = tempfile.NamedTemporaryFile("w", newline="", encoding="utf-8", dir=target.parent or ".",
                                         prefix=f".{target.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            writer = csv.writer(handle)
            writer.writerow(["order_number", "client_id", "binding_id", "amount"])
            for number, (client_id, binding_id) in enumerate(bindings, 1):
                writer.writerow([f"{prefix}-{number}", client_id, binding_id, f"{amount:.2f}"])
        os.link(handle.name, target)  # fails if the file appeared meanwhile: never replaces it
    finally:
        os.unlink(handle.name)


def main(sandbox_url: Optional[str], count: int, out: str, *, transport: str, amount: Decimal, prefix: str,
         say: Callable[[str], None]) -> int:
    """The command: exit 0 when the file is written, 2 when the sandbox or the file refused."""
    url = sandbox_url or os.environ.get("AUTOPAY_SANDBOX_URL") or DEFAULT_SANDBOX_URL
    if Path(out).exists() or Path(out).is_symlink():
        say(f"--out: {out} exists: a batch file is never overwritten (it may have been charged)")
        return 2
    try:
        bindings = make_bindings(url, count, transport=transport, client_prefix=prefix.lower() + "-customer",
                                 progress=lambda n: say(f"{n}/{count} bindings") if n % 100 == 0 else None)
        write_batch(out, bindings, amount=amount, prefix=prefix)
    except (AutopayError, OSError) as exc:
        say(str(exc))
        return 2
    say(f"{len(bindings)} bindings on {url}; batch file {out} (charge it: autopay-soap charge {out} "
        "--profile sandbox" + (f" --sandbox-url {url}" if url != DEFAULT_SANDBOX_URL else "")
        + (f" --transport {transport}" if transport != "soap" else "") + ")")
    return 0
