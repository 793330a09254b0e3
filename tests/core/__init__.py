"""The bottom row: money, errors, declines, receipts, initiators, signing, observation, limits (no I/O)."""
