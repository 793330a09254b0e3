"""What each gateway's codes mean, one module a gateway: :mod:`.rbs` (``errorCode`` as an
exception, ``actionCode`` as a decline kind) and :mod:`.tbank` (``ErrorCode`` as an exception and
as a decline kind, ``Status`` as an order status), each also saying what it answers for the
sandbox engine's neutral :class:`~.reasons.DeclineReason`. The gateways, the declines and the
sandbox read them here; no other module keeps a table of a gateway's codes.
"""

from .table import DeclineKind

__all__ = ["DeclineKind"]
