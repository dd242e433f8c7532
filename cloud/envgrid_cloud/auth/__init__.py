"""Accounts and access: passwords, sessions, API tokens, login throttling, the audit log."""
