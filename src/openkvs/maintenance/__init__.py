"""Offline and online care of a store: backup, restore, check (the `openkvs` commands of those
names, in maintenance_cli.py)."""
