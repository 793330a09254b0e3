"""The embedded sandbox gateway: engine, front ends, payer, state, faults, browser."""
