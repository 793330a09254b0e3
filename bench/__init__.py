"""Benchmarks of autopay_soap, all against the embedded sandbox: ``python -m bench [--quick]``."""
