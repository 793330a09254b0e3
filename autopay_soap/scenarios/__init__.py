"""The scenarios of :class:`~autopay_soap.client.AutopayClient`, one module a concern.

``steps`` (the retry loop, the look-up, registering and paying with their reconciliation),
``results`` (:class:`~autopay_soap.scenarios.results.ChargeResult`), ``money_back`` (capture,
reverse, refund), ``cards`` (saving a card, bindings), ``sbp_receipts`` (SBP account bindings,
receipts after the payment). ``AutopayClient`` joins them with the first payment and the
autopayment.
"""
