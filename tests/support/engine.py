"""Driving the sandbox engine directly: register, pay, a saved card."""

from autopay_soap.sandbox import TestCards


def register(engine, number="N1", amount=1000, **kw):
    kw.setdefault("return_url", "https://shop/ok")
    return engine.register(order_number=number, amount=amount, **kw)


def pay(engine, order, card=TestCards.SUCCESS):
    return engine.pay_with_card(order.order_id, pan=card.pan, expiry=card.expiry, cvc=card.cvc)


def bound(engine, client="c1", card=TestCards.SUCCESS):
    first = register(engine, "FIRST-" + client, client_id=client)
    result = pay(engine, first, card)
    if result.needs_3ds:
        engine.finish_3ds(first.order_id, "12345678")
    return engine.order(first.order_id).binding_id
