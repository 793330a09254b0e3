"""The batch wing on one machine: runs, journal, stop and resume, dunning, the CLI, reconciliation."""
