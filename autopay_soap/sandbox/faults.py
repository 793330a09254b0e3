"""Seeded fault plans: make the sandbox fail like a real network and gateway do.

A plan maps an operation (SOAP operation, REST method without ``.do``, or ``*`` for all)
to fault kinds with probabilities. The spec string reads
``OPERATION:KIND=P[,KIND=P...][;OPERATION:...]``, e.g.
``paymentOrderBinding:drop_after=0.3,http500=0.1;*:slow=0.05``.

Kinds, and whether the gateway's state changed:

============== ======================================================= ===========
kind            what the client sees                                    committed?
============== ======================================================= ===========
``refuse``      the connection is reset before the request is handled   no
``http500``     HTTP 500 with an HTML page                              no
``http503``     HTTP 503 with an HTML page                              no
``soap_fault``  a SOAP Fault (``soap:Server``) / REST errorCode 7       no
``drop_after``  the request is handled, then the connection is closed   **yes**
``slow``        the answer comes after ``slow_seconds`` (default 2 s)   yes
``garbage``     the request is handled, the answer is not XML/JSON      **yes**
``truncated``   the request is handled, the answer is cut in half       **yes**
============== ======================================================= ===========

The random draws come from one ``random.Random(seed)``, so a run is reproducible.
"""

from __future__ import annotations

import random
import threading
from typing import Dict, List, Optional, Tuple

__all__ = ["FAULT_KINDS", "BEFORE_COMMIT", "FaultPlan"]

BEFORE_COMMIT = ("refuse", "http500", "http503", "soap_fault")
AFTER_COMMIT = ("drop_after", "slow", "garbage", "truncated")
FAULT_KINDS = BEFORE_COMMIT + AFTER_COMMIT


class FaultPlan:
    """Which faults to inject, per operation, with which probability; seeded."""

    def __init__(self, rules: Optional[Dict[str, List[Tuple[str, float]]]] = None, seed: int = 0,
                 slow_seconds: float = 2.0) -> None:
        self.rules: Dict[str, List[Tuple[str, float]]] = {}
        for operation, kinds in (rules or {}).items():
            for kind, probability in kinds:
                self.add(operation, kind, probability)
        self.slow_seconds = slow_seconds
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Dict[str, int] = {}

    def add(self, operation: str, kind: str, probability: float) -> "FaultPlan":
        """Add a rule: ``kind`` on ``operation`` with ``probability`` (0..1)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability of {kind} must be within 0..1")
        self.rules.setdefault(operation, []).append((kind, probability))
        return self

    @classmethod
    def parse(cls, spec: str, seed: int = 0, slow_seconds: float = 2.0) -> "FaultPlan":
        """Build a plan from ``OPERATION:KIND=P[,KIND=P];...``."""
        plan = cls(seed=seed, slow_seconds=slow_seconds)
        for chunk in filter(None, (c.strip() for c in spec.split(";"))):
            operation, _, kinds = chunk.partition(":")
            if not kinds:
                raise ValueError(f"fault rule {chunk!r}: expected OPERATION:KIND=P")
            for item in filter(None, (k.strip() for k in kinds.split(","))):
                kind, _, probability = item.partition("=")
                plan.add(operation.strip(), kind.strip(), float(probability or 1.0))
        return plan

    def draw(self, operation: Optional[str]) -> Optional[str]:
        """The fault to inject into this call of ``operation``, or None."""
        rules = self.rules.get(operation or "", []) + self.rules.get("*", [])
        if not rules:
            return None
        with self._lock:
            roll = self._random.random()
            for kind, probability in rules:
                if roll < probability:
                    self.injected[kind] = self.injected.get(kind, 0) + 1
                    return kind
                roll -= probability
        return None
