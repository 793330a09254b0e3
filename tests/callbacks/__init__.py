"""Notifications: offline checks, confirmation, the framework receivers."""
