"""The embedded sandbox gateway (see the sandbox chapter of the docs)."""
