"""Every signature and checksum of both gateways, in one module below the gateways and callbacks.

* T-Bank ``Token`` (requests and notifications): the root-level scalars plus ``Password``,
  sorted by key, the values joined, SHA-256 in lower-case hex (:func:`make_token`).
* RBS callback checksum: ``name;value;`` for every parameter but ``checksum`` and
  ``sign_alias``, sorted by name; HMAC-SHA256 with the merchant's secret (upper-case hex), or
  an RSA PKCS#1 v1.5 signature of the same string (SHA-512, or SHA-256).
* T-Bank ``CardData``: RSA PKCS#1 v1.5 encryption with the bank's public key, base64.
* A cluster batch's task message: HMAC-SHA256 (lower-case hex) of the row's names (merchant,
  batch, order number) joined by newlines, with the key producers and workers share
  (:func:`task_signature`).

RSA and key loading are the ``cryptography`` package's; nothing here is hand-written
cryptography. Comparisons of secrets and signatures are constant-time. The published test
vectors (``tests/``) are the oracle, and the sandbox signs with this same code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Mapping, Sequence, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import ValidationError

__all__ = [
    "RBS_EXCLUDED",
    "PublicKeyInput",
    "encrypt_pkcs1v15",
    "load_rsa_public_key",
    "make_token",
    "rbs_hmac_checksum",
    "rbs_signed_string",
    "task_signature",
    "task_signature_valid",
    "token_value",
    "tokens_equal",
    "verify_rbs_hmac",
    "verify_rbs_rsa",
]

RBS_EXCLUDED = ("checksum", "sign_alias")
PublicKeyInput = Union[str, bytes, rsa.RSAPublicKey]
"""An RSA public key: a PEM or DER (or base64 DER) certificate or public key, or a loaded key."""


# -- T-Bank Token ------------------------------------------------------------------------------


def token_value(value: Any) -> str:
    """How one value enters the Token: ``true``/``false``, integers as decimal text, strings as is.

    A float is refused: amounts are integer kopecks, and ``100.0`` would break the token.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        raise ValidationError("a float cannot be signed: send amounts as integer kopecks", field="Amount")
    return str(value)


def make_token(payload: Mapping[str, Any], password: str) -> str:
    """The request (or notification) Token of ``payload`` for the terminal ``password``.

    Root-level scalars only (objects and arrays such as ``DATA``, ``Receipt``, ``Data`` are
    left out, as is ``Token`` itself), ``None`` dropped, ``Password`` added, sorted by key,
    values concatenated, SHA-256 of the UTF-8 bytes as lower-case hex.
    """
    pairs = {key: value for key, value in payload.items()
             if key != "Token" and value is not None and not isinstance(value, (dict, list, tuple))}
    pairs["Password"] = password
    joined = "".join(token_value(pairs[key]) for key in sorted(pairs))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def tokens_equal(given: str, expected: str) -> bool:
    """Compare a received Token (any case) with the expected one in constant time."""
    return hmac.compare_digest(given.lower().encode("utf-8", "replace"), expected.encode("ascii"))


# -- RBS callback checksum ------------------------------------------------------------------------


def rbs_signed_string(params: Mapping[str, str]) -> str:
    """The string RBS signs: ``name;value;`` for each parameter but checksum/sign_alias, by name.

    The framing has no escaping: a value holding ``;`` could stand for two parameters. The
    callback verifier refuses such names and values before it signs anything.
    """
    return "".join(f"{name};{params[name]};" for name in sorted(params) if name not in RBS_EXCLUDED)


def rbs_hmac_checksum(params: Mapping[str, str], secret: str) -> str:
    """The HMAC-SHA256 checksum (upper-case hex) of a callback's parameters."""
    digest = hmac.new(secret.encode("utf-8"), rbs_signed_string(params).encode("utf-8"), hashlib.sha256)
    return digest.hexdigest().upper()


def verify_rbs_hmac(params: Mapping[str, str], secret: str) -> bool:
    """True when ``params['checksum']`` is the HMAC-SHA256 checksum (compared in constant time)."""
    given = params.get("checksum") or ""
    expected = rbs_hmac_checksum(params, secret)
    return hmac.compare_digest(given.upper().encode("utf-8", "replace"), expected.encode("ascii"))


def verify_rbs_rsa(params: Mapping[str, str], key: PublicKeyInput) -> bool:
    """True when ``params['checksum']`` (hex) is an RSA PKCS#1 v1.5 signature of the signed string,
    with SHA-512 (the gateway's examples) or SHA-256."""
    try:
        signature = bytes.fromhex(params.get("checksum") or "")
    except ValueError:
        return False
    public = load_rsa_public_key(key)
    message = rbs_signed_string(params).encode("utf-8")
    for algorithm in (hashes.SHA512(), hashes.SHA256()):
        try:
            public.verify(signature, message, padding.PKCS1v15(), algorithm)
            return True
        except InvalidSignature:
            continue
    return False


# -- keys and card data -------------------------------------------------------------------------------

_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)


def load_rsa_public_key(data: PublicKeyInput) -> rsa.RSAPublicKey:
    """An RSA public key from an X.509 certificate or a public key (SPKI or PKCS#1), PEM, DER or
    base64 DER. Certificate dates are not checked (the gateway's published keys outlive them)."""
    if isinstance(data, rsa.RSAPublicKey):
        return data
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    key: Any = None
    try:
        pem = _PEM.search(raw)
        if pem:
            kind = pem.group(1)
            if kind == b"CERTIFICATE":
                key = x509.load_pem_x509_certificate(pem.group(0)).public_key()
            else:
                key = serialization.load_pem_public_key(pem.group(0))
        else:
            der = raw if raw[:1] == b"\x30" else base64.b64decode(b"".join(raw.split()), validate=True)
            try:
                key = serialization.load_der_public_key(der)
            except ValueError:
                key = x509.load_der_x509_certificate(der).public_key()
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"public_key: cannot read an RSA key ({type(exc).__name__})",
                              field="public_key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValidationError("public_key: not an RSA public key", field="public_key")
    return key


def encrypt_pkcs1v15(key: PublicKeyInput, message: bytes) -> str:
    """``message`` encrypted with the RSA public ``key`` (PKCS#1 v1.5), base64 (T-Bank ``CardData``)."""
    public = load_rsa_public_key(key)
    if len(message) > public.key_size // 8 - 11:
        raise ValidationError("card data too long for the key", field="cardholder")
    return base64.b64encode(public.encrypt(message, padding.PKCS1v15())).decode("ascii")


# -- a cluster batch's task messages -------------------------------------------------------------

def task_signature(key: bytes, names: Sequence[str]) -> str:
    """HMAC-SHA256 in lower-case hex of ``names`` joined by newlines (names hold no newline:
    the message reader refuses control characters, so the joining is unambiguous)."""
    return hmac.new(key, "\n".join(names).encode("utf-8"), hashlib.sha256).hexdigest()


def task_signature_valid(key: bytes, names: Sequence[str], given: Any) -> bool:
    """True when ``given`` is exactly :func:`task_signature` of ``names`` (constant time)."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), task_signature(key, names).encode("ascii"))
