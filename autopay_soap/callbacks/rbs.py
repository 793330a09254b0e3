"""RBS callbacks: the checksum (HMAC-SHA256 or RSA) and the shape checked offline, then the order
confirmed with the gateway (see :mod:`autopay_soap.callbacks`)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import attr

from ..errors import CallbackVerificationError, ValidationError
from ..models import OrderDetails
from ..secret import Secret, reveal
from ..signing import PublicKeyInput, verify_rbs_hmac, verify_rbs_rsa
from .common import confirm_order

__all__ = ["RbsNotification", "confirm_rbs_callback", "verify_rbs_callback_offline"]

_RBS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RbsNotification:
    """An RBS callback: verified offline, and confirmed when ``confirmed`` is True.

    Confirmed, ``details`` is the order as the gateway describes it now, and ``success`` means
    the order is paid (held or deposited) **now**, as on T-Bank: a replayed "deposited" callback
    of an order refunded since has ``success`` False. Unconfirmed, ``operation``/``success``
    are only what the callback claimed.
    """

    order_id: str
    order_number: Optional[str]
    operation: str
    success: bool
    amount: Optional[int] = None
    binding_id: Optional[str] = None
    client_id: Optional[str] = None
    params: Dict[str, str] = attr.ib(factory=dict, repr=False)
    confirmed: bool = False
    details: Optional[OrderDetails] = None

    @property
    def is_payment(self) -> bool:
        """True for a paid order: by the gateway's current state when confirmed, else by the claim."""
        if self.details is not None:
            return self.details.is_paid
        return self.success and self.operation in ("approved", "deposited")


def _values(params: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    """Each parameter with all its values: a framework's multi-valued mapping (Django's
    ``QueryDict``, Werkzeug's and Starlette's ``MultiDict``) is read through ``getlist``, since its
    ``items()`` shows one value of a repeated parameter (Flask the first, Django the last)."""
    getlist = getattr(params, "getlist", None)
    if callable(getlist):
        return [(str(key), list(getlist(key))) for key in dict.fromkeys(params.keys())]
    return [(str(key), value) for key, value in params.items()]


def _flatten_rbs(params: Mapping[str, Any], context: Dict[str, Any]) -> Dict[str, str]:
    flat: Dict[str, str] = {}
    for name, value in _values(params):
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise CallbackVerificationError(f"callback parameter {name!r} given {len(value)} times", **context)
            value = value[0]
        text = str(value)
        if not _RBS_NAME.match(name):
            raise CallbackVerificationError("callback parameter name with characters outside A-Z a-z 0-9 _ . -",
                                            **context)
        if ";" in text or any(ord(ch) < 32 for ch in text):
            raise CallbackVerificationError(f"callback parameter {name!r} holds ';' or a control character, "
                                            "which would shift the signed name;value; framing", **context)
        flat[name] = text
    return flat


def verify_rbs_callback_offline(params: Mapping[str, Any], *, secret: Union[str, Secret, None] = None,
                                public_key: Optional[PublicKeyInput] = None) -> RbsNotification:
    """Verify an RBS callback's checksum and shape, **without** asking the gateway (``confirmed`` False).

    Give exactly one of ``secret`` (HMAC-SHA256) and ``public_key`` (RSA: a certificate or key,
    PEM or DER). A missing, forged or tampered checksum, a parameter that could shift the
    ``name;value;`` framing (a ``;`` or a control character in a value, an odd name), a
    repeated parameter, a callback without ``mdOrder`` or ``operation``, or an ``amount`` or
    ``status`` that is not a number raise :class:`~autopay_soap.errors.CallbackVerificationError`.
    What the checksum proves, and what it does not, is in the security chapter of the docs:
    confirm with :func:`confirm_rbs_callback` before acting on it.
    """
    if (secret is None) == (public_key is None):
        raise ValidationError("give exactly one of secret and public_key", field="secret")
    context: Dict[str, Any] = {"operation": "callback"}
    flat = _flatten_rbs(params, context)
    context.update(order_id=flat.get("mdOrder"), order_number=flat.get("orderNumber"))
    if not flat.get("checksum"):
        raise CallbackVerificationError("callback without a checksum", **context)
    if secret is not None:
        ok = verify_rbs_hmac(flat, reveal(secret) or "")
    else:
        ok = verify_rbs_rsa(flat, public_key)  # type: ignore[arg-type]
    if not ok:
        raise CallbackVerificationError("callback checksum does not verify", **context)
    if not flat.get("mdOrder") or not flat.get("operation"):
        raise CallbackVerificationError("callback without mdOrder or operation", **context)
    for name in ("amount", "status"):
        if name in flat and not (flat[name].isascii() and flat[name].isdigit()):
            raise CallbackVerificationError(f"callback {name} is not a number", **context)
    amount = flat.get("amount")
    return RbsNotification(
        order_id=flat["mdOrder"], order_number=flat.get("orderNumber"), operation=flat["operation"],
        success=flat.get("status") == "1", amount=int(amount) if amount else None,
        binding_id=flat.get("bindingId"), client_id=flat.get("clientId"), params=flat,
    )


def confirm_rbs_callback(notification: RbsNotification, gateway: Any) -> RbsNotification:
    """Confirm a verified callback with ``getOrderStatusExtended`` (any RBS gateway of this library).

    ``mdOrder``, ``orderNumber`` and ``amount`` (where the callback has them) must match the
    gateway's answer exactly, else :class:`CallbackVerificationError`. Returns the
    notification with ``confirmed`` set and ``details`` the order's state now. A gateway that
    cannot be asked raises its own error (the receiver answers 500, so the callback comes again).
    """
    context = {"operation": "callback", "order_id": notification.order_id, "order_number": notification.order_number}
    details = confirm_order(gateway, order_id=notification.order_id, order_number=notification.order_number,
                             amount=notification.amount, context=context)
    return attr.evolve(notification, confirmed=True, success=details.is_paid, details=details)
