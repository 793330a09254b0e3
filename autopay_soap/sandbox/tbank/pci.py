"""Card data on the sandbox's T-Bank front end (the PCI DSS merchant's own form): the sandbox's
``CardData`` key, ``Check3dsVersion``, ``FinishAuthorize`` and the two ``Submit3DSAuthorization``
calls that finish a 3-D Secure challenge."""

from __future__ import annotations

import base64
import uuid
from typing import Any, Dict, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .._card_key import D, N
from ..cards import Behaviour, card_behaviour
from .core import TBankCore
from .records import TBankError, TBankTerminal, ok_answer

__all__ = ["CardDataMethods", "SANDBOX_CARD_KEY_PEM", "decrypt_card_data"]


def _card_key() -> rsa.RSAPrivateKey:
    """The sandbox's fixed RSA key (a test key, published with the package), built by ``cryptography``."""
    e = 65537
    p, q = rsa.rsa_recover_prime_factors(N, e, D)
    numbers = rsa.RSAPrivateNumbers(p, q, D, rsa.rsa_crt_dmp1(D, p), rsa.rsa_crt_dmq1(D, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(e, N))
    return numbers.private_key()


_CARD_KEY = _card_key()


def _public_key_pem() -> str:
    return _CARD_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def decrypt_card_data(card_data: str) -> str:
    """Decrypt a ``CardData`` made for the sandbox key (PKCS#1 v1.5); ValueError if it is not one."""
    raw = base64.b64decode(card_data, validate=True)
    return _CARD_KEY.decrypt(raw, padding.PKCS1v15()).decode("utf-8")


SANDBOX_CARD_KEY_PEM = _public_key_pem()
"""The sandbox's public key for ``CardData`` (pass it as ``TBankGateway(card_data_key=...)``)."""


def _card_data(body: Mapping[str, Any]) -> Dict[str, str]:
    try:
        plain = decrypt_card_data(str(body.get("CardData") or ""))
        fields = dict(part.split("=", 1) for part in plain.split(";") if "=" in part)
    except ValueError:
        raise TBankError(1, "Неверные параметры", "CardData cannot be decrypted") from None
    if not fields.get("PAN") or len(fields.get("ExpDate", "")) != 4:
        raise TBankError(1, "Неверные параметры", "CardData needs PAN and ExpDate")
    return fields


class CardDataMethods:
    """The methods that take card data or finish its 3-D Secure challenge."""

    METHODS = ("Check3dsVersion", "FinishAuthorize", "Submit3DSAuthorization", "Submit3DSAuthorizationV2")

    def __init__(self, front: TBankCore) -> None:
        self.front = front

    def Check3dsVersion(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``Check3dsVersion``: 2.1.0 for a card with 3-D Secure, else 1.0.0."""
        self.front.payment(terminal, body)
        card = _card_data(body)
        three_ds = card_behaviour(card["PAN"]) is Behaviour.APPROVE_3DS
        return ok_answer(terminal, Version="2.1.0" if three_ds else "1.0.0", TdsServerTransID=str(uuid.uuid4()),
                         PaymentSystem="MIR" if card["PAN"].startswith("2") else "VISA")

    def FinishAuthorize(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``FinishAuthorize``: pay with the decrypted card; a 3-D Secure card answers 3DS_CHECKING
        with the ACS (v2 when the request names ``DATA.cresCallbackUrl``, else MD and PaReq)."""
        front = self.front
        payment = front.payment(terminal, body)
        card = _card_data(body)
        exp = card["ExpDate"]
        payment.form_shown = True
        result = front.engine.pay_with_card(payment.engine_id, pan=card["PAN"], expiry=f"{exp[:2]}/{exp[2:]}",
                                            cvc=card.get("CVV", ""), cardholder=card.get("CardHolder"))
        if not result.paid and not result.declined and not result.needs_3ds:
            raise TBankError(1, "Неверные параметры", result.message)
        if not result.needs_3ds:
            return front.payment_reply(terminal, payment, result)
        data = body.get("DATA") or {}
        cres_url = data.get("cresCallbackUrl") if isinstance(data, dict) else None
        reply = ok_answer(terminal, Status="3DS_CHECKING", PaymentId=payment.payment_id, OrderId=payment.order_id,
                          Amount=front.order(payment).amount, ACSUrl=front.urls("/payment/sandbox/acs"))
        if cres_url:
            reply.update(TdsServerTransId=str(uuid.uuid4()), AcsTransId=payment.engine_id)
        else:
            reply.update(MD=payment.engine_id, PaReq=result.pa_req)
        return reply

    def Submit3DSAuthorization(self, terminal: TBankTerminal, body: Mapping[str, Any]) -> Dict[str, Any]:  # noqa: N802
        """``Submit3DSAuthorization`` (3-D Secure 1): the ACS's PaRes for the payment named by MD."""
        md = str(body.get("MD") or "")
        payment_id = self.front.by_engine.get(md)
        if payment_id is None or (body.get("PaymentId") and str(body["PaymentId"]) != payment_id):
            raise TBankError(255, "Платеж не найден")
        payment = self.front.payment(terminal, {"PaymentId": payment_id})
        result = self.front.engine.finish_3ds(md, str(body.get("PaRes") or ""))
        return self.front.payment_reply(terminal, payment, result)

    def Submit3DSAuthorizationV2(self, terminal: TBankTerminal,  # noqa: N802
                                 body: Mapping[str, Any]) -> Dict[str, Any]:
        """``Submit3DSAuthorizationV2``: finish with what the ACS answered (9999 until it has)."""
        payment = self.front.payment(terminal, body)
        if payment.acs_pa_res is None:
            raise TBankError(9999, "RReq not found for provided threeDSServerTransID", "try again later")
        result = self.front.engine.finish_3ds(payment.engine_id, payment.acs_pa_res)
        return self.front.payment_reply(terminal, payment, result)
