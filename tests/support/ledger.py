"""The exactly-once check every fault-plan test makes against the sandbox's ledger."""

from collections import Counter

from autopay_soap.client import ChargeOutcome
from autopay_soap.sandbox.faults import FAULT_KINDS


def assert_exactly_once(label, results, sb, plan, client, prefix="AP-"):
    """Each charge reported paid was taken once, none reported declined was taken, every unknown
    resolves by number (the sandbox must still run) and agrees with the ledger; every fault kind
    was injected. Prints the counts for the closing notes; returns the outcomes."""
    charges = sb.engine.charges_by_order_number()
    outcomes = Counter(r.outcome for r in results)
    print(f"\n{label}: outcomes {dict((k.value, v) for k, v in outcomes.items())}; "
          f"faults injected {sum(plan.injected.values())} {plan.injected}")
    assert set(plan.injected) == set(FAULT_KINDS) and sum(plan.injected.values()) > 150
    assert all(count == 1 for count in charges.values())  # no double charge
    for r in results:
        if r.ok:
            assert charges.get(r.order_number) == 1, r
        elif r.outcome is ChargeOutcome.DECLINED:
            assert r.order_number not in charges, r
        else:
            assert r.outcome is ChargeOutcome.UNKNOWN, r
            assert client.finish_first_payment(order_number=r.order_number).ok == (r.order_number in charges)
    assert sum(1 for r in results if r.ok) == sum(1 for n in charges if n.startswith(prefix))  # none lost
    assert outcomes[ChargeOutcome.PAID] + outcomes[ChargeOutcome.DECLINED] >= 190
    return outcomes
